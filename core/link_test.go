package core_test

import (
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// Tests of the memcached link (Config.TLS, Config.Username/Password):
// real memcached started with -Z and -Y, sessions that survive the loss
// of an instance through it, and configurations that cannot work failing
// loudly and closed.

// linkServers starts n memcached that speak as l says.
func linkServers(t *testing.T, n int, l msmtest.Link) []*msmtest.Server {
	t.Helper()
	if l.Dir == "" {
		l.Dir = t.TempDir()
	}
	o, err := msmtest.WithLink(msmtest.Options{}, l)
	if err != nil {
		t.Fatal(err)
	}
	return msmtest.StartN(t, n, o)
}

// testCA is a fresh test CA.
func testCA(t *testing.T) *msmtest.TestCA {
	t.Helper()
	ca, err := msmtest.NewTestCA(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// survivesInstanceLoss checks that a session written on one instance is
// served, with its data, by a second instance once the first is gone.
func survivesInstanceLoss(t *testing.T, cfg core.Config) {
	t.Helper()
	a := start(t, cfg, shop())
	br := newBrowser(t)
	br.get(a, "/set?name=ann")
	br.get(a, "/cart/add?item=tea")
	if !cfg.NonSticky {
		waitFor(t, effectWait, "the backup", func() bool { return a.m.Stats().BackupsOK >= 2 })
	}
	a.srv.Close()
	a.m.Close()
	b := start(t, cfg, shop())
	if got, _ := br.get(b, "/cart"); got != "tea|3|ann" {
		t.Errorf("instance B serves cart %q, want tea|3|ann", got)
	}
	for _, n := range b.m.Stats().Nodes {
		if !n.Up || n.LastError != "" {
			t.Errorf("node %s: up %v, last error %q", n.ID, n.Up, n.LastError)
		}
	}
}

func TestTLSLinkSurvivesInstanceLoss(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	mcs := linkServers(t, 2, msmtest.Link{CA: ca})
	for _, nonSticky := range []bool{false, true} {
		cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: nonSticky, TLS: ca.ClientTLS()}
		survivesInstanceLoss(t, cfg)
	}
}

func TestAuthLinkSurvivesInstanceLoss(t *testing.T) {
	t.Parallel()
	mcs := linkServers(t, 2, msmtest.Link{Username: "shop", Password: "s3cret"})
	for _, nonSticky := range []bool{false, true} {
		cfg := core.Config{Nodes: nodesOf(mcs...), NonSticky: nonSticky, Username: "shop", Password: "s3cret"}
		survivesInstanceLoss(t, cfg)
	}
}

func TestTLSAndAuthTogether(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	mcs := linkServers(t, 2, msmtest.Link{CA: ca, Username: "shop", Password: "pw"})
	survivesInstanceLoss(t, core.Config{Nodes: nodesOf(mcs...), NonSticky: true, TLS: ca.ClientTLS(), Username: "shop", Password: "pw"})
}

// refusedLink runs a non-sticky instance whose link memcached refuses
// and checks that it fails closed and loudly: the request is answered 503
// (nothing acknowledged, nothing in clear), the node is counted down with
// a last error that names want, and an error is logged.
func refusedLink(t *testing.T, cfg core.Config, want string) core.NodeStats {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.NonSticky = true
	a := start(t, cfg, shop())
	resp := rawGet(t, a, "/set?name=ann", "")
	if resp.StatusCode != 503 {
		t.Errorf("write over a refused link answered %d, want 503", resp.StatusCode)
	}
	st := a.m.Stats()
	if st.NodeDownEvents == 0 || st.Nodes[0].Up {
		t.Errorf("node not counted down: %d down events, up %v", st.NodeDownEvents, st.Nodes[0].Up)
	}
	if !strings.Contains(st.Nodes[0].LastError, want) {
		t.Errorf("NodeStats.LastError = %q, want it to name %q", st.Nodes[0].LastError, want)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "refused the connection") {
		t.Errorf("no error logged for the refused link:\n%s", logs.String())
	}
	return st.Nodes[0]
}

func TestTLSWithTheWrongCAFailsClosed(t *testing.T) {
	t.Parallel()
	mcs := linkServers(t, 1, msmtest.Link{CA: testCA(t)})
	other := testCA(t) // trusts a CA that did not sign the server
	cfg := core.Config{Nodes: nodesOf(mcs...), TLS: other.ClientTLS()}
	refusedLink(t, cfg, "Config.TLS")
	// A handler sees it too: the session is unavailable, and under that
	// is crypto/x509's own error.
	err := sessionErrOver(t, cfg)
	var unknown x509.UnknownAuthorityError
	if !errors.Is(err, core.ErrUnavailable) || !errors.As(err, &unknown) {
		t.Errorf("Session.Err = %v; want ErrUnavailable with an x509.UnknownAuthorityError under it", err)
	}
}

// sessionErrOver returns what Session.Err reports to a sticky handler
// whose client sends the id of a session on the first node of cfg.
func sessionErrOver(t *testing.T, cfg core.Config) error {
	t.Helper()
	cfg.NonSticky = false
	var got error
	rt := routes{"/err": func(s *core.Session, w http.ResponseWriter, r *http.Request) {
		s.Get("name")
		got = s.Err()
	}}
	a := start(t, cfg, rt)
	rawGet(t, a, "/err", core.DefaultCookieName+"="+secBase(t)+"-n1")
	return got
}

func TestTLSToAPlaintextServerFailsClosed(t *testing.T) {
	t.Parallel()
	mc := msmtest.Start(t)
	refusedLink(t, core.Config{Nodes: nodesOf(mc), TLS: testCA(t).ClientTLS()}, "tls")
}

func TestWrongPasswordIsAClearError(t *testing.T) {
	t.Parallel()
	mcs := linkServers(t, 1, msmtest.Link{Username: "shop", Password: "right"})
	cfg := core.Config{Nodes: nodesOf(mcs...), Username: "shop", Password: "wrong"}
	refusedLink(t, cfg, "Config.Password")
	if err := sessionErrOver(t, cfg); !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, core.ErrAuthFailed) {
		t.Errorf("Session.Err = %v; want ErrUnavailable and ErrAuthFailed", err)
	}
}

func TestMissingCredentialsAreAClearError(t *testing.T) {
	t.Parallel()
	mcs := linkServers(t, 1, msmtest.Link{Username: "shop", Password: "right"})
	// No credentials: memcached answers every command with an error; the
	// request must fail, not run local-only.
	a := start(t, core.Config{Nodes: nodesOf(mcs...), NonSticky: true}, shop())
	if resp := rawGet(t, a, "/set?name=ann", ""); resp.StatusCode != 503 {
		t.Errorf("write without credentials answered %d, want 503", resp.StatusCode)
	}
}

func TestCredentialsAreChecked(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ user, pass, want string }{
		{"", "pw", "Password is set without Username"},
		{"shop", "", "Username is set without Password"},
		{"sh op", "pw", "Username contains a space"},
		{"shop", "p\nw", "Password contains a space or a line break"},
		{"shop", "p w", "Password contains a space or a line break"},
	} {
		_, err := core.New(core.Config{Username: c.user, Password: c.pass})
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Count(err.Error(), "core:") != 1 {
			t.Errorf("Username %q Password %q: error %v, want one that says %q", c.user, c.pass, err, c.want)
		}
	}
}

// The startup probe (and sticky mode's check of a node that came back
// empty) opens its connections as the clients do: over TLS with the
// login, it finds every node up.
func TestStartupProbeSpeaksTheLink(t *testing.T) {
	t.Parallel()
	ca := testCA(t)
	mcs := linkServers(t, 2, msmtest.Link{CA: ca, Username: "shop", Password: "pw"})
	logs := &logBuffer{}
	cfg := core.Config{Nodes: nodesOf(mcs...), TLS: ca.ClientTLS(), Username: "shop", Password: "pw",
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	start(t, cfg, shop())
	waitFor(t, effectWait, "the startup probe's line", func() bool { return strings.Contains(logs.String(), "memcached at startup") })
	if !strings.Contains(logs.String(), "every node answered") {
		t.Errorf("startup probe over TLS with a login:\n%s", logs.String())
	}
}
