package core_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// The benchmarks run one request at a time through the Middleware on an
// httptest.ResponseRecorder, with a real memcached node. Compare
// BenchmarkStickyReadOnly with BenchmarkBareHandler, the same handler
// without the middleware: the difference is what gomsm costs a request
// whose session is local and unchanged, counting included (counters are
// atomics: no lock, no allocation).

// benchHandler reads the session's "name" (when there is a session: the
// bare baseline has none) and writes a short body.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	name := "anonymous"
	if s := core.FromContext(r.Context()); s != nil {
		name = s.GetString("name")
	}
	io.WriteString(w, name)
})

// benchModify sets "n" to the query's n: a changed value each request.
var benchModify = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	core.FromContext(r.Context()).Set("n", r.URL.RawQuery)
	io.WriteString(w, "ok")
})

// benchManager starts memcached and a sticky Manager with async backup.
func benchManager(b *testing.B) *core.Manager {
	b.Helper()
	mc := msmtest.Start(b)
	m, err := core.New(core.Config{Nodes: "n1:" + mc.Addr(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	return m
}

// benchSession creates a session through h and returns its cookie.
func benchSession(b *testing.B, m *core.Manager) *http.Cookie {
	b.Helper()
	create := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("name", "ann")
	}))
	rec := httptest.NewRecorder()
	create.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		b.Fatalf("no session cookie: %v", rec.Result().Header)
	}
	return cookies[0]
}

func BenchmarkStickyReadOnly(b *testing.B) {
	m := benchManager(b)
	h := m.Middleware(benchHandler)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(benchSession(b, m))
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Body.Len() != 3 {
			b.Fatalf("body %q", rec.Body)
		}
	}
}

func BenchmarkStickyReadOnlyParallel(b *testing.B) {
	m := benchManager(b)
	h := m.Middleware(benchHandler)
	c := benchSession(b, m)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/", nil)
		req.AddCookie(c)
		for pb.Next() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}

func BenchmarkBareHandler(b *testing.B) {
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(&http.Cookie{Name: core.DefaultCookieName, Value: "0123456789abcdef0123456789abcdef-n1"})
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		benchHandler.ServeHTTP(rec, req)
		if rec.Body.Len() == 0 {
			b.Fatal("empty body")
		}
	}
}

func BenchmarkStickyModify(b *testing.B) {
	m := benchManager(b)
	h := m.Middleware(benchModify)
	c := benchSession(b, m)
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", "/?"+strconv.Itoa(i), nil)
		reqs[i].AddCookie(c)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		h.ServeHTTP(httptest.NewRecorder(), reqs[i%len(reqs)])
		i++
	}
	b.StopTimer()
	m.Close() // flush, so the counts below are final
	st := m.Stats()
	// Backups that reached memcached per request: below 1 when the workers
	// fell behind and a newer backup superseded a queued one (dropped).
	b.ReportMetric(float64(st.BackupsOK)/float64(i), "sets/op")
}

func BenchmarkStatsSnapshot(b *testing.B) {
	m := benchManager(b)
	h := m.Middleware(benchHandler)
	req := httptest.NewRequest("GET", "/", nil)
	req.AddCookie(benchSession(b, m))
	h.ServeHTTP(httptest.NewRecorder(), req)
	b.ReportAllocs()
	for b.Loop() {
		if m.Stats().Requests == 0 {
			b.Fatal("no requests counted")
		}
	}
}

// BenchmarkStickyReadLargeBytes reads a large []byte attribute on every
// request and changes nothing. A byte slice can be changed in place, so
// the end of the request must find out whether it was: by hashing its
// bytes, not by encoding the session again and hashing the encoding. At
// 8 MB the session is over MaxSessionBytes (kept locally only): it must not
// be encoded again either until it changes.
func BenchmarkStickyReadLargeBytes(b *testing.B) {
	for _, size := range []int{512 << 10, 8 << 20} {
		b.Run(strconv.Itoa(size>>10)+"KB", func(b *testing.B) {
			m := benchManager(b)
			big := make([]byte, size)
			for i := range big {
				big[i] = byte(i)
			}
			create := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				core.FromContext(r.Context()).Set("blob", big)
			}))
			rec := httptest.NewRecorder()
			create.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			req := httptest.NewRequest("GET", "/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			h := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, strconv.Itoa(len(core.FromContext(r.Context()).GetBytes("blob"))))
			}))
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Body.String() != strconv.Itoa(size) {
					b.Fatalf("body %q", rec.Body)
				}
			}
		})
	}
}
