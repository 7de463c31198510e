package docstest_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gomsm/msm/core"
)

// docs/configuration.md, "The zero value": core.Config{} is local-only.
func Example_configLocalOnly() {
	m, err := core.New(core.Config{}) // no Nodes: sessions live in this process only
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		fmt.Fprintf(w, "visit %d", n)
	}))
	var cookie string
	for range 2 {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if c := rec.Result().Cookies(); len(c) > 0 {
			cookie = c[0].Name + "=" + c[0].Value
		}
		fmt.Println(rec.Body.String())
	}
	// Output:
	// visit 1
	// visit 2
}

// docs/configuration.md, "A production sticky setup".
func Example_configSticky() {
	m, err := core.New(core.Config{
		Nodes:         "n1:10.0.0.1:11211,n2:10.0.0.2:11211",
		FailoverNodes: "n1",   // the node on this instance's own machine
		Route:         "app1", // this instance; the load balancer routes on it
		IgnorePattern: `^/static/|\.(css|js|png|ico)$`,
		MaxLifetime:   12 * time.Hour,
		Cookie:        core.CookieConfig{Name: "__Host-sid", Secure: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // flushes pending backups

	// core.New connects to nothing yet: the nodes are as configured.
	for _, n := range m.Stats().Nodes {
		fmt.Printf("%s %s failover=%v\n", n.ID, n.Addr, n.Failover)
	}
	// Output:
	// n1 10.0.0.1:11211 failover=true
	// n2 10.0.0.2:11211 failover=false
}

// docs/configuration.md, "Non-sticky".
func Example_configNonSticky() {
	m, err := core.New(core.Config{
		Nodes:       "n1:10.0.0.1:11211,n2:10.0.0.2:11211",
		NonSticky:   true,
		LockingMode: core.LockURIPattern + `^/(cart|checkout)/`, // lock only what writes
		LockWait:    time.Second,                                // then 503 (ProceedOnLockTimeout: run unlocked)
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("ok")
	// Output: ok
}

// docs/configuration.md, "Header mode": an API carries the id in a header.
func Example_configHeader() {
	m, err := core.New(core.Config{Header: "X-Session"})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("token", "t1")
		io.WriteString(w, "ok")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/login", nil))
	fmt.Println(len(rec.Header().Get("X-Session")), rec.Header().Get("Set-Cookie") == "")
	// Output: 32 true
}

// docs/configuration.md, "Mistakes are errors": core.New names the field.
func Example_configErrors() {
	_, err := core.New(core.Config{LockingMode: "sometimes"})
	fmt.Println(err)
	// Output: core: LockingMode "sometimes": want none, all, auto or uriPattern:<regexp>, as in "uriPattern:^/cart/"
}
