package writequeue

import (
	"sync"
	"time"
)

// Pool runs jobs of type J on a fixed set of workers.
type Pool[J any] struct {
	run    func(J)
	queues []chan item[J]
	wg     sync.WaitGroup
	mu     sync.RWMutex // held for reading while submitting; Close takes it for writing
	closed bool
}

type item[J any] struct {
	job  J
	done chan struct{} // closed when run, for a waiting caller; nil if none
}

// New starts workers goroutines (at least one), each with a queue of
// depth jobs, that call run for each job.
func New[J any](workers, depth int, run func(J)) *Pool[J] {
	p := &Pool[J]{run: run, queues: make([]chan item[J], max(1, workers))}
	for i := range p.queues {
		q := make(chan item[J], depth)
		p.queues[i] = q
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for it := range q {
				p.runItem(it)
			}
		}()
	}
	return p
}

func (p *Pool[J]) runItem(it item[J]) {
	defer func() {
		if it.done != nil {
			close(it.done)
		}
	}()
	p.run(it.job)
}

// Submit queues j on worker w (modulo the workers), behind the jobs
// submitted to it before; a full queue blocks: a job is never dropped.
// With wait it blocks until j ran or timeout passed (0: no bound) and
// reports whether it ran; without, it reports true. After Close, j runs in
// the caller's goroutine.
func (p *Pool[J]) Submit(w int, j J, wait bool, timeout time.Duration) bool {
	it := item[J]{job: j}
	if wait {
		it.done = make(chan struct{})
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.runItem(it)
		return true
	}
	p.queues[w%len(p.queues)] <- it
	p.mu.RUnlock()
	if !wait {
		return true
	}
	if timeout <= 0 {
		<-it.done
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-it.done:
		return true
	case <-t.C:
		return false
	}
}

// Queued is the number of jobs waiting in the queues.
func (p *Pool[J]) Queued() int {
	n := 0
	for _, q := range p.queues {
		n += len(q)
	}
	return n
}

// Close runs every queued job, then stops the workers. Later Submits run
// their job at once, in the caller's goroutine.
func (p *Pool[J]) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for _, q := range p.queues {
		close(q)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
