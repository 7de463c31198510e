package mcdial

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// A server that accepts and then says nothing (a hung memcached, or a
// plaintext port that waits for a command) cannot hang a dial: the TLS
// handshake and the authentication end with the dial's deadline, as an
// *Error that names the step.
func TestDialEndsWhenTheServerSaysNothing(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	for _, d := range []*Dialer{
		{TLS: &tls.Config{MinVersion: tls.VersionTLS12}},
		{Username: "u", Password: "p"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := d.DialContext(ctx, "tcp", ln.Addr().String())
		cancel()
		var de *Error
		if !errors.As(err, &de) || !Refused(err) {
			t.Errorf("dial %+v: error %v, want an *Error of a refused step", d, err)
		}
	}
}

func TestCheckCredentials(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ user, pass, want string }{
		{"", "", ""},
		{"shop", "pw", ""},
		{"", "pw", "without Username"},
		{"shop", "", "without Password"},
		{"a b", "pw", "Username contains"},
		{"shop", "p\rw", "Password contains"},
	} {
		err := CheckCredentials(c.user, c.pass)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckCredentials(%q, %q) = %v, want %q", c.user, c.pass, err, c.want)
		}
	}
}

// A refused connect is the network's error, not a refused step: the node
// is gone, not misconfigured.
func TestConnectErrorIsNotRefused(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	d := &Dialer{Username: "u", Password: "p", Timeout: time.Second}
	_, err := d.DialContext(context.Background(), "tcp", addr)
	var ne net.Error
	if err == nil || Refused(err) || !errors.As(err, &ne) {
		t.Errorf("dial of a closed port: %v, want a net.Error that is not Refused", err)
	}
}
