package proctest

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartLogStop: the output is kept, Stop delivers SIGTERM and returns
// the exit status, and a second Stop (or the cleanup) does not block.
func TestStartLogStop(t *testing.T) {
	sh := Need(t, "sh")
	p := Start(t, []string{sh, "-c", `trap 'exit 3' TERM; echo "hello $GREETING"; while :; do sleep 0.05; done`}, "GREETING=world") // the trap first: the test sends TERM once it reads the greeting
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(p.Log(), "hello world"); {
		if time.Now().After(deadline) {
			t.Fatalf("log after 20 s: %q, want hello world (env passed)", p.Log())
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not an assertion
	}
	err := p.Stop(t, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Stop = %v, want exit status 3 from the TERM trap", err)
	}
	if err2 := p.Wait(t, time.Second); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("Wait after Stop = %v, want %v again", err2, err)
	}
}

func TestWaitListening(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sh := Need(t, "sh")
	p := Start(t, []string{sh, "-c", "exec sleep 60"})
	p.WaitListening(t, l.Addr().String()) // returns: the address accepts
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("FreeAddr %s cannot be listened on: %v", addr, err)
	}
	l.Close()
}
