package msmtest

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy forwards a loopback port to a Server and records every
// client->server byte, so that a test can prove which keys and values reach
// memcached. Point the client under test at [Proxy.Addr] instead of
// [Server.Addr]. A Proxy is safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu      sync.Mutex
	streams []*bytes.Buffer // what each client connection sent, by accept order
	conns   map[net.Conn]struct{}
	closed  bool
}

// StartProxy starts a Proxy on 127.0.0.1 and a free port that forwards
// each connection to target, usually [Server.Addr], and registers a cleanup
// on t that closes it and its connections. Every client connection gets its
// own connection to target; when target refuses, the client's connection is
// closed.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("msmtest: start proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Addr returns the address clients should use, "127.0.0.1:PORT".
func (p *Proxy) Addr() string {
	return p.ln.Addr().String()
}

// Received returns a copy of every byte clients have sent so far: each
// connection's bytes in one piece, connections in the order they were
// accepted. A byte is recorded before it is forwarded, so once a client has
// memcached's reply, its request is in Received.
func (p *Proxy) Received() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var all []byte
	for _, s := range p.streams {
		all = append(all, s.Bytes()...)
	}
	return all
}

// Commands returns what clients have sent, split into memcached text
// protocol command lines without their "\r\n", in the order of
// [Proxy.Received]. The data block that follows a storage command (set,
// add, replace, append, prepend, cas, ms) is skipped by the byte count in
// its command line, so every returned line is a command and its key is the
// second field. A line still incomplete is left out until its end arrives.
func (p *Proxy) Commands() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var cmds []string
	for _, s := range p.streams {
		cmds = append(cmds, splitCommands(s.Bytes())...)
	}
	return cmds
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			client.Close()
			return
		}
		stream := new(bytes.Buffer)
		p.streams = append(p.streams, stream)
		p.conns[client] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(client, stream)
	}
}

// serve forwards one client connection, passing half-closes on, and
// records what the client sends into stream.
func (p *Proxy) serve(client net.Conn, stream *bytes.Buffer) {
	defer p.wg.Done()
	defer p.forget(client)
	server, err := net.DialTimeout("tcp", p.target, requestTimeout)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.forget(server)

	toClient := make(chan struct{})
	go func() {
		defer close(toClient)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		closeWrite(client)
	}()

	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			p.mu.Lock()
			stream.Write(buf[:n])
			p.mu.Unlock()
			if _, werr := server.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	closeWrite(server)
	<-toClient
}

// track adds conn to the connections close closes, unless the proxy is
// already closed.
func (p *Proxy) track(conn net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[conn] = struct{}{}
	return true
}

func (p *Proxy) forget(conn net.Conn) {
	conn.Close()
	p.mu.Lock()
	delete(p.conns, conn)
	p.mu.Unlock()
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for conn := range p.conns {
		// Unblock reads and writes; serve closes and forgets them.
		_ = conn.SetDeadline(time.Now())
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func closeWrite(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		conn.Close()
	}
}

// splitCommands splits one connection's bytes into command lines, skipping
// the data blocks of storage commands.
func splitCommands(b []byte) []string {
	var cmds []string
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return cmds
		}
		line := strings.TrimSuffix(string(b[:i]), "\r")
		b = b[i+1:]
		cmds = append(cmds, line)
		if n, ok := dataLen(line); ok {
			if n+2 > len(b) {
				return cmds // the data block is still arriving
			}
			b = b[n+2:] // data and its "\r\n"
		}
	}
}

// dataLen returns the length of the data block that follows a storage
// command line.
//
//	set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]
//	cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]
//	ms <key> <datalen> <flags>*
func dataLen(line string) (int, bool) {
	f := strings.Fields(line)
	var field string
	switch {
	case len(f) == 0:
		return 0, false
	case f[0] == "set" || f[0] == "add" || f[0] == "replace" || f[0] == "append" || f[0] == "prepend" || f[0] == "cas":
		if len(f) < 5 {
			return 0, false
		}
		field = f[4]
	case f[0] == "ms":
		if len(f) < 3 {
			return 0, false
		}
		field = f[2]
	default:
		return 0, false
	}
	n, err := strconv.Atoi(field)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}
