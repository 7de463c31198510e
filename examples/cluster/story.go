package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomsm/msm/core"
)

// options configures run.
type options struct {
	// Interactive starts the cluster, prints its URLs and waits for the
	// context to end (Ctrl-C) instead of walking through the story.
	Interactive bool
	// Nodes, when set (MSM_NODES), are the memcached nodes to use instead
	// of two that the demo starts. The demo never kills nodes it did not
	// start: the node failure steps are skipped.
	Nodes string
	// Verbose shows the instances' own gomsm log lines.
	Verbose bool
	// Delay is how long a slow request of the locking step holds its
	// session. Default 300ms.
	Delay time.Duration
}

// errFailed is run's error when some evidence did not hold.
var errFailed = errors.New("the evidence of a step did not hold")

// cookieName is the session cookie, core's default.
const cookieName = core.DefaultCookieName

// demo is the running cluster: memcached nodes, two instances of the shop
// app, the balancer, and what the story prints.
type demo struct {
	ctx   context.Context
	opts  options
	out   *printer
	nodes []*memcached // nil when MSM_NODES is set
	addrs map[string]string
	spec  string // core.Config.Nodes
	apps  [2]*instance
	lb    *balancer
	lbURL string
	lbSrv *http.Server

	visitor *client    // the browser of the story's cart
	killed  *memcached // the node step 3 killed
	failed  []string
}

// run starts the cluster and walks through the story (or, interactive,
// serves until ctx ends). It returns errFailed if any step's evidence did
// not hold, another error if the cluster could not be set up. Everything it
// started is stopped when it returns.
func run(ctx context.Context, w io.Writer, opts options) (err error) {
	if opts.Delay <= 0 {
		opts.Delay = 300 * time.Millisecond
	}
	d := &demo{ctx: ctx, opts: opts, out: &printer{w: w}, addrs: map[string]string{}}
	defer func() { err = errors.Join(err, d.shutdown()) }()
	if err := d.setUp(); err != nil {
		return err
	}
	if opts.Interactive {
		return d.interactive()
	}
	steps := []struct {
		title string
		do    func(*step) error
	}{
		{"Create a cart on instance 1", d.createCart},
		{"Stop instance 1: the cart continues on instance 2", d.stopInstance},
		{"kill -9 the session's memcached node: the session moves to the other node", d.killNode},
		{"Restart the node and instance 1: traffic resumes", d.restart},
		{"Non-sticky mode with locking: two parallel read-modify-writes on one session", d.nonSticky},
	}
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &step{d: d, n: i + 1}
		d.out.printf("\n%d. %s\n", i+1, s.title)
		if err := s.do(st); err != nil {
			st.fail("%v", err)
		}
		switch {
		case st.skipped != "":
			d.out.printf("   SKIP step %d: %s\n", st.n, st.skipped)
		case st.failed:
			d.out.printf("   FAIL step %d\n", st.n)
			d.failed = append(d.failed, fmt.Sprint(st.n))
		default:
			d.out.printf("   PASS step %d\n", st.n)
		}
	}
	if len(d.failed) > 0 {
		d.out.printf("\nFAIL: the evidence of step %s did not hold\n", strings.Join(d.failed, ", "))
		return errFailed
	}
	d.out.printf("\nPASS: every step's evidence held\n")
	return nil
}

// setUp starts the memcached nodes (unless given), both instances in sticky
// mode and the balancer.
// Longer than 50 lines: the demo's pieces started in the order they
// depend on each other, each with its error.
func (d *demo) setUp() error {
	d.out.printf("gomsm cluster demo: two instances of the gin shop (examples/internal/shop), two memcached nodes, a sticky load balancer\n\n")
	if d.opts.Nodes != "" {
		nodes, err := core.ParseNodes(d.opts.Nodes)
		if err != nil {
			return fmt.Errorf("MSM_NODES: %w", err)
		}
		if len(nodes) == 0 {
			return errors.New("MSM_NODES: no node")
		}
		for _, n := range nodes {
			d.addrs[n.ID] = n.Addr
			d.out.printf("   memcached %-4s %s (MSM_NODES)\n", n.ID, n.Addr)
		}
		d.spec = d.opts.Nodes
	} else {
		var spec []string
		for _, id := range []string{"n1", "n2"} {
			mc, err := startMemcached(id)
			if err != nil {
				return err
			}
			d.nodes = append(d.nodes, mc)
			d.addrs[id] = mc.Addr()
			spec = append(spec, id+":"+mc.Addr())
			d.out.printf("   memcached %-4s %s (pid %d, started by the demo)\n", id, mc.Addr(), mc.Pid())
		}
		d.spec = strings.Join(spec, ",")
	}
	var backends []backend
	for i := range d.apps {
		app := &instance{name: fmt.Sprintf("app%d", i+1), delay: d.opts.Delay}
		if err := app.start(d.stickyConfig(app.name)); err != nil {
			return err
		}
		d.apps[i] = app
		u, _ := url.Parse(app.URL())
		backends = append(backends, backend{route: app.name, url: u})
		d.out.printf("   instance  %-4s %s (sticky, Route %q)\n", app.name, app.URL(), app.name)
	}
	d.lb = newBalancer(cookieName, backends)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	d.lbSrv = &http.Server{Handler: d.lb, ReadHeaderTimeout: 5 * time.Second}
	go d.lbSrv.Serve(ln)
	d.lbURL = "http://" + ln.Addr().String()
	d.out.printf("   balancer       %s (routes on the route suffix of the %s cookie, fails over on refused connections)\n", d.lbURL, cookieName)
	return nil
}

// stickyConfig is the Config of an instance in sticky mode. Everything but
// Nodes, Route and Logger is gomsm's default.
func (d *demo) stickyConfig(route string) core.Config {
	return core.Config{Nodes: d.spec, Route: route, Logger: d.logger(route)}
}

// logger returns the instance's logger: its lines go to the output, marked
// with the instance's name, when -v is given; otherwise nowhere.
func (d *demo) logger(name string) *slog.Logger {
	if !d.opts.Verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(&logWriter{p: d.out, prefix: "   | " + name + ": "}, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}

// shutdown stops everything the demo started.
func (d *demo) shutdown() error {
	var errs []error
	if d.lbSrv != nil {
		d.lbSrv.Close()
	}
	for _, app := range d.apps {
		if app != nil {
			errs = append(errs, app.stop())
		}
	}
	for _, mc := range d.nodes {
		mc.Stop()
	}
	return errors.Join(errs...)
}

// step collects the evidence of one step of the story.
type step struct {
	d       *demo
	n       int
	failed  bool
	skipped string
}

// show prints a line of what happened.
func (s *step) show(format string, args ...any) {
	s.d.out.printf("   "+format+"\n", args...)
}

// check prints one piece of evidence and whether it held.
func (s *step) check(ok bool, format string, args ...any) bool {
	mark := "ok  "
	if !ok {
		mark = "FAIL"
		s.failed = true
	}
	s.d.out.printf("   %s %s\n", mark, fmt.Sprintf(format, args...))
	return ok
}

// checkErr is check for an evidence that err spoils; it prints err.
func (s *step) checkErr(err error, format string, args ...any) bool {
	if err != nil {
		format += ": %v"
		args = append(args, err)
	}
	return s.check(err == nil, format, args...)
}

func (s *step) fail(format string, args ...any) { s.check(false, format, args...) }

// 1. A cart on instance 1, backed up to a memcached node.
func (d *demo) createCart(s *step) error {
	c := d.newClient()
	d.visitor = c
	for _, item := range []string{"apple", "pear"} {
		r, err := c.do(s, http.MethodPost, d.lbURL+"/cart/items/"+item)
		if err != nil {
			return err
		}
		s.check(r.served == "app1", "served by app1 (got %q)", r.served)
	}
	id := c.sessionID()
	s.check(routeOf(id) == "app1", "the cookie's route is app1: %s", short(id))
	node := nodeOf(id)
	s.check(d.addrs[node] != "", "the cookie names node %s (%s)", nodeName(node), d.addrs[node])
	size, err := d.waitForKey(node, keyOf(id))
	s.checkErr(err, "memcached %s holds the backup, key %s (%d bytes)", nodeName(node), short(keyOf(id)), size)
	return nil
}

// 2. Instance 1 stops; the balancer sends the session to instance 2, which
// loads it from memcached.
func (d *demo) stopInstance(s *step) error {
	c := d.visitor
	before := c.sessionID()
	if err := d.apps[0].stop(); err != nil {
		return err
	}
	s.show("instance app1 stopped: server closed, Manager.Close flushed its backups; %s refuses connections", d.apps[0].addr)
	r, err := c.do(s, http.MethodGet, d.lbURL+"/cart")
	if err != nil {
		return err
	}
	s.check(r.served == "app2" && d.lb.failovers.Load() == 1, "the balancer tried app1 (the route), was refused and sent the request to app2 (got %q; failovers %d)", r.served, d.lb.failovers.Load())
	s.check(maps.Equal(r.view.Items, map[string]int{"apple": 1, "pear": 1}), "the cart is intact: %s", items(r.view.Items))
	id := c.sessionID()
	s.check(routeOf(id) == "app2" && nodeOf(id) == nodeOf(before) && baseOf(id) == baseOf(before),
		"the cookie now ends in .app2, same session, same node: %s -> %s", short(before), short(id))
	st := d.apps[1].m.Stats()
	s.check(st.SessionsLoaded >= 1, "app2 loaded the session from memcached (Stats().SessionsLoaded = %d)", st.SessionsLoaded)
	return nil
}

// 3. The session's node dies; the next change moves the session to the
// other node, under a new id and cookie.
func (d *demo) killNode(s *step) error {
	if d.nodes == nil {
		s.skipped = "MSM_NODES is set: the demo does not kill memcached nodes it did not start"
		return nil
	}
	c := d.visitor
	before := c.sessionID()
	from := d.node(nodeOf(before))
	if from == nil {
		return fmt.Errorf("the session's node %q is not one the demo started", nodeOf(before))
	}
	pid := from.Pid()
	from.Kill()
	d.killed = from
	s.show("kill -9 %d: memcached %s (%s) is gone with every session it held", pid, from.id, from.Addr())
	if _, err := c.do(s, http.MethodPost, d.lbURL+"/cart/items/fig"); err != nil {
		return err
	}
	s.show("(the response went out with the old cookie: app2 backs the change up after it, asynchronously, and finds %s dead)", from.id)
	app2 := d.apps[1].m
	relocated := waitFor(d.ctx, 15*time.Second, func() bool { return app2.Stats().SessionsRelocated >= 1 })
	st := app2.Stats()
	s.check(relocated, "app2's backup found %s dead and moved the session (Stats().SessionsRelocated = %d, NodeDownEvents = %d)",
		from.id, st.SessionsRelocated, st.NodeDownEvents)
	r, err := c.do(s, http.MethodGet, d.lbURL+"/cart")
	if err != nil {
		return err
	}
	id := c.sessionID()
	to := nodeOf(id)
	s.check(baseOf(id) == baseOf(before) && to != from.id && d.addrs[to] != "" && routeOf(id) == "app2",
		"new cookie with the other node: %s -> %s", short(before), short(id))
	s.check(maps.Equal(r.view.Items, map[string]int{"apple": 1, "pear": 1, "fig": 1}), "the cart is intact, with the item added after the kill: %s", items(r.view.Items))
	size, err := d.waitForKey(to, keyOf(id))
	s.checkErr(err, "memcached %s holds the session now, key %s (%d bytes)", to, short(keyOf(id)), size)
	return nil
}

// 4. The node comes back (empty) on the same port, instance 1 restarts;
// both take traffic and new sessions again.
func (d *demo) restart(s *step) error {
	if d.killed != nil {
		if err := d.killed.Restart(); err != nil {
			return err
		}
		s.show("memcached %s restarted on %s (pid %d, empty)", d.killed.id, d.killed.Addr(), d.killed.Pid())
	}
	if err := d.apps[0].start(d.stickyConfig("app1")); err != nil {
		return err
	}
	s.show("instance app1 restarted on %s with a new Manager", d.apps[0].addr)
	if d.killed != nil {
		s.show("(app2 skips %s until its NodeRetryInterval, 10s, has passed; app1 starts with every node up)", d.killed.id)
	}

	r, err := d.visitor.do(s, http.MethodGet, d.lbURL+"/cart")
	if err != nil {
		return err
	}
	want := map[string]int{"apple": 1, "pear": 1, "fig": 1}
	if d.killed == nil {
		delete(want, "fig") // step 3 was skipped
	}
	s.check(r.served == "app2" && maps.Equal(r.view.Items, want), "the first cart stays on app2, intact: %s", items(r.view.Items))

	var onApp1, onRestarted int
	for range 4 {
		c := d.newClient()
		r, err := c.do(s, http.MethodPost, d.lbURL+"/cart/items/apple")
		if err != nil {
			return err
		}
		id := c.sessionID()
		if r.served == "app1" && routeOf(id) == "app1" {
			onApp1++
		}
		if d.killed != nil && nodeOf(id) == d.killed.id {
			if _, err := d.waitForKey(d.killed.id, keyOf(id)); err == nil {
				onRestarted++
			}
		}
	}
	s.check(onApp1 > 0, "new visitors are served by app1 again (%d of 4)", onApp1)
	if d.killed != nil {
		s.check(onRestarted > 0, "new sessions land on the restarted node %s again (%d of 4, each found there)", d.killed.id, onRestarted)
	}
	return nil
}

// 5. Non-sticky mode, LockingMode all: two slow read-modify-writes of one
// session, one on each instance at the same time, are serialised by the
// session's lock, so neither update is lost.
func (d *demo) nonSticky(s *step) error {
	for _, app := range d.apps {
		if err := app.stop(); err != nil {
			return err
		}
	}
	d.lb.nonSticky.Store(true)
	for _, app := range d.apps {
		cfg := core.Config{Nodes: d.spec, NonSticky: true, LockingMode: core.LockAll, Logger: d.logger(app.name)}
		if err := app.start(cfg); err != nil {
			return err
		}
	}
	s.show("both instances restarted with NonSticky: true, LockingMode: %q; the balancer now goes round-robin", core.LockAll)

	c := d.newClient()
	if _, err := c.do(s, http.MethodPost, d.lbURL+"/cart/items/apple"); err != nil {
		return err
	}
	r, err := c.do(s, http.MethodGet, d.lbURL+"/cart")
	if err != nil {
		return err
	}
	s.check(maps.Equal(r.view.Items, map[string]int{"apple": 1}), "the next request, on the other instance, sees the cart: %s", items(r.view.Items))

	s.show("at the same time: POST /slow/cart/items/pear on app1 and POST /slow/cart/items/plum on app2 (each holds the session %v)", d.opts.Delay)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, item := range []string{"pear", "plum"} {
		wg.Go(func() {
			_, errs[i] = c.do(s, http.MethodPost, d.apps[i].URL()+"/slow/cart/items/"+item)
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if r, err = c.do(s, http.MethodGet, d.lbURL+"/cart"); err != nil {
		return err
	}
	s.check(maps.Equal(r.view.Items, map[string]int{"apple": 1, "pear": 1, "plum": 1}), "both updates are present: %s", items(r.view.Items))
	s1, s2 := d.apps[0].m.Stats(), d.apps[1].m.Stats()
	s.check(s1.LockWaits+s2.LockWaits > 0, "one request waited for the other's lock (Stats().LockWaits: app1 %d, app2 %d)", s1.LockWaits, s2.LockWaits)
	s.check(took >= 2*d.opts.Delay, "the two requests ran one after the other: %v for two of %v", took.Round(time.Millisecond), d.opts.Delay)
	return nil
}

// node returns the memcached the demo started as id, nil if none.
func (d *demo) node(id string) *memcached {
	for _, mc := range d.nodes {
		if mc.id == id {
			return mc
		}
	}
	return nil
}

// waitForKey waits (at most 3 s) until memcached node holds key, as an
// asynchronous backup may still be on its way, and returns its size.
func (d *demo) waitForKey(node, key string) (int, error) {
	addr := d.addrs[node]
	if addr == "" {
		return 0, fmt.Errorf("unknown node %q", node)
	}
	var size int
	var found bool
	var err error
	waitFor(d.ctx, 15*time.Second, func() bool {
		size, found, err = peek(addr, key)
		return err == nil && found
	})
	if err == nil && !found {
		err = fmt.Errorf("key %s not found", short(key))
	}
	return size, err
}

// waitFor polls cond every 10 ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// client is a browser: it keeps cookies and tells which instance answered.
type client struct {
	d   *demo
	hc  *http.Client
	jar *cookiejar.Jar
}

// reply is what a request to the shop returned.
type reply struct {
	served string // the instance that answered
	view   struct {
		Items   map[string]int `json:"items"`
		Session string         `json:"session"`
	}
}

func (d *demo) newClient() *client {
	jar, _ := cookiejar.New(nil)
	return &client{d: d, jar: jar, hc: &http.Client{Jar: jar, Timeout: 5 * time.Second}}
}

// do sends one request and prints it with the answer.
func (c *client) do(s *step, method, target string) (*reply, error) {
	req, err := http.NewRequestWithContext(c.d.ctx, method, target, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	r := &reply{served: resp.Header.Get(instanceHeader)}
	where := "via the balancer"
	if !strings.HasPrefix(target, c.d.lbURL) {
		where = "directly"
	}
	path := req.URL.Path
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s %s: %s: %s", method, path, where, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &r.view); err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	s.show("%-6s %-26s %-16s -> %s  cart %-24s cookie %s", method, path, where, r.served, items(r.view.Items), short(c.sessionID()))
	return r, nil
}

// sessionID is the value of the session cookie the client holds.
func (c *client) sessionID() string {
	u, _ := url.Parse(c.d.lbURL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

// The parts of a session id "<base>-<node>.<route>".
func baseOf(id string) string { b, _, _ := strings.Cut(id, "-"); return b }

func nodeOf(id string) string {
	_, rest, _ := strings.Cut(id, "-")
	n, _, _ := strings.Cut(rest, ".")
	return n
}

// keyOf is the memcached key of a session: its base and node, without the
// route (no KeyPrefix in the demo).
func keyOf(id string) string {
	if node := nodeOf(id); node != "" {
		return baseOf(id) + "-" + node
	}
	return baseOf(id)
}

// nodeName names a node id for printing; a single node may have none.
func nodeName(id string) string {
	if id == "" {
		return "(the only node, without id)"
	}
	return id
}

// short abbreviates the random base of an id or key for printing.
func short(id string) string {
	if len(id) < 32 {
		return id
	}
	return id[:8] + "…" + id[32:]
}

// items prints a cart in a stable order.
func items(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s:%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// printer serialises the story's output and the instances' log lines.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// logWriter writes slog lines through a printer, each with a prefix.
type logWriter struct {
	p      *printer
	prefix string
}

func (l *logWriter) Write(b []byte) (int, error) {
	l.p.printf("%s%s", l.prefix, b)
	return len(b), nil
}
