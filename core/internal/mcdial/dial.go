package mcdial

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// ErrAuthFailed: memcached refused the username and password (or wants
// authentication that was not configured).
var ErrAuthFailed = errors.New("memcached refused the credentials")

// Dialer opens memcached connections. Its zero value dials plain TCP.
type Dialer struct {
	// TLS, when set, wraps every connection in TLS with this
	// configuration (cloned per connection). An empty ServerName is set
	// to the host of the address dialed, so the certificate is verified
	// against it.
	TLS *tls.Config
	// Username and Password, when Username is set, are sent on every new
	// connection as memcached's ASCII authentication.
	Username, Password string
	// Timeout bounds each step when the dial's context has no deadline.
	Timeout time.Duration
}

// Error is a failed dial: the server, the step that failed ("connect",
// "tls" or "auth") and why.
type Error struct {
	Addr string
	Step string
	Err  error
}

func (e *Error) Error() string {
	hint := ""
	switch e.Step {
	case "tls":
		hint = " (check Config.TLS: the CA that signed the server's certificate, and its name)"
	case "auth":
		hint = " (check Config.Username and Config.Password against memcached's -Y file)"
	}
	return fmt.Sprintf("memcached %s: %s: %v%s", e.Addr, e.Step, e.Err, hint)
}

func (e *Error) Unwrap() error { return e.Err }

// Refused reports whether err is a dial that reached a server which then
// refused it (TLS or authentication), as opposed to a server that is not
// there: retrying soon will not help, the configuration is wrong.
func Refused(err error) bool {
	var de *Error
	return errors.As(err, &de) && de.Step != "connect"
}

// DialContext connects to addr, then does the TLS handshake and the
// authentication the Dialer asks for.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if _, ok := ctx.Deadline(); !ok && d.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.Timeout)
		defer cancel()
	}
	nd := net.Dialer{}
	conn, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err // a net.Error: the client and the node set know it
	}
	if d.TLS != nil {
		cfg := d.TLS.Clone()
		if cfg.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			cfg.ServerName = host
		}
		tc := tls.Client(conn, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &Error{Addr: addr, Step: "tls", Err: err}
		}
		conn = tc
	}
	if d.Username != "" {
		if err := d.authenticate(ctx, conn); err != nil {
			conn.Close()
			return nil, &Error{Addr: addr, Step: "auth", Err: err}
		}
	}
	return conn, nil
}

// authenticate sends memcached's ASCII authentication: a set whose data is
// "username password", answered STORED when the server accepts it.
func (d *Dialer) authenticate(ctx context.Context, conn net.Conn) error {
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
		defer conn.SetDeadline(time.Time{})
	}
	data := d.Username + " " + d.Password
	if _, err := fmt.Fprintf(conn, "set auth 0 0 %d\r\n%s\r\n", len(data), data); err != nil {
		return err
	}
	line, err := bufio.NewReaderSize(conn, 128).ReadString('\n')
	if err != nil {
		return err
	}
	// (The reader may not hold more than this line: memcached sends
	// nothing else until the client's next command.)
	switch reply := strings.TrimRight(line, "\r\n"); reply {
	case "STORED":
		return nil
	default:
		return fmt.Errorf("%w: %q", ErrAuthFailed, reply)
	}
}

// CheckCredentials says what is wrong with a username and password that
// go on the wire in an authentication line, nil when nothing is.
func CheckCredentials(username, password string) error {
	switch {
	case username == "" && password != "":
		return errors.New("Password is set without Username")
	case username == "":
		return nil
	case strings.ContainsAny(username, " \t\r\n"):
		return errors.New("Username contains a space or a line break; memcached's -Y file format (user:password) cannot hold one")
	case strings.ContainsAny(password, " \t\r\n"):
		return errors.New("Password contains a space or a line break; memcached's authentication line (username password) cannot carry one")
	case password == "":
		return errors.New("Username is set without Password")
	}
	return nil
}
