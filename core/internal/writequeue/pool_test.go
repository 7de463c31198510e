package writequeue

import (
	"sync"
	"testing"
	"time"
)

func TestJobsOfOneWorkerRunInOrder(t *testing.T) {
	var mu sync.Mutex
	got := map[int][]int{} // worker -> jobs in the order they ran
	p := New(4, 8, func(j [2]int) {
		mu.Lock()
		got[j[0]] = append(got[j[0]], j[1])
		mu.Unlock()
	})
	for i := range 100 {
		for w := range 4 {
			p.Submit(w, [2]int{w, i}, false, 0)
		}
	}
	p.Close() // runs every queued job first
	for w := range 4 {
		if len(got[w]) != 100 {
			t.Fatalf("worker %d ran %d jobs, want 100", w, len(got[w]))
		}
		for i, j := range got[w] {
			if j != i {
				t.Fatalf("worker %d ran job %d at place %d: out of order", w, j, i)
			}
		}
	}
}

func TestSubmitWaits(t *testing.T) {
	release := make(chan struct{})
	ran := make(chan int, 3)
	p := New(1, 8, func(j int) {
		if j == 0 {
			<-release // the worker is busy until the test says so
		}
		ran <- j
	})
	defer p.Close()
	p.Submit(0, 0, false, 0)
	// Behind the blocked job: the wait gives up after its timeout (a
	// short one: nothing can run before release).
	if p.Submit(0, 1, true, 10*time.Millisecond) {
		t.Fatal("Submit reported a job run while its worker was blocked")
	}
	if p.Queued() != 1 {
		t.Errorf("Queued = %d with one job behind the busy worker, want 1", p.Queued())
	}
	close(release)
	if !p.Submit(0, 2, true, 0) {
		t.Fatal("Submit without a bound did not wait for its job")
	}
	for want := range 3 {
		if j := <-ran; j != want {
			t.Fatalf("ran %d, want %d", j, want)
		}
	}
}

func TestSubmitAfterCloseRunsInline(t *testing.T) {
	var ran bool
	p := New(2, 1, func(bool) { ran = true })
	p.Close()
	p.Close() // twice is fine
	if !p.Submit(1, true, false, 0) || !ran {
		t.Error("a job submitted after Close did not run in the caller")
	}
}
