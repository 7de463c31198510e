package msmtest

import (
	"net"
	"os"
	"testing"
)

// TestListeningSeesOnlyTheOwner: listening is true only for the process
// that holds the listening socket, so Start never probes a port another
// process took.
func TestListeningSeesOnlyTheOwner(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if !listening(os.Getpid(), port) {
		t.Errorf("listening(self, %d) = false for our own listener", port)
	}
	s := Start(t)
	if listening(os.Getpid(), s.Port()) {
		t.Errorf("listening(self, %d) = true for memcached's port", s.Port())
	}
	l.Close()
	if listening(os.Getpid(), port) {
		t.Errorf("listening(self, %d) = true after the listener closed", port)
	}
}
