package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
)

// balancer is a small sticky load balancer, the part of the setup that
// HAProxy or nginx plays in production (docs/load-balancers.md). In sticky
// mode it sends a request to the instance whose route ends the session id
// in the cookie ("<base>-<node>.<route>"), and to the next instance when
// that one refuses the connection (it is down). A request without a
// session, or with a route it does not know, goes round-robin. In
// non-sticky mode everything goes round-robin.
type balancer struct {
	cookie    string
	backends  []backend
	nonSticky atomic.Bool
	rr        atomic.Uint32
	failovers atomic.Uint64 // requests sent on because an instance refused
	proxy     *httputil.ReverseProxy
}

// backend is an instance behind the balancer.
type backend struct {
	route string // the instance's core.Config.Route
	url   *url.URL
}

// candidatesKey carries a request's backends, in the order to try them,
// from Rewrite to the transport.
type candidatesKey struct{}

func newBalancer(cookie string, backends []backend) *balancer {
	b := &balancer{cookie: cookie, backends: backends}
	b.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			order := b.order(pr.In)
			pr.SetURL(order[0].url)
			pr.SetXForwarded()
			pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), candidatesKey{}, order))
		},
		// One connection per request: a stopped instance then shows up at
		// once as a refused connection, never as a dead pooled one.
		Transport: &failoverTransport{next: &http.Transport{DisableKeepAlives: true}, failovers: &b.failovers},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "no instance available: "+err.Error(), http.StatusBadGateway)
		},
	}
	return b
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.proxy.ServeHTTP(w, r)
}

// order returns the backends in the order to try them for r: the one the
// session's route names first, else round-robin.
func (b *balancer) order(r *http.Request) []backend {
	first := -1
	if !b.nonSticky.Load() {
		if c, err := r.Cookie(b.cookie); err == nil {
			route := routeOf(c.Value)
			for i, be := range b.backends {
				if route != "" && be.route == route {
					first = i
				}
			}
		}
	}
	if first < 0 {
		first = int(b.rr.Add(1)-1) % len(b.backends)
	}
	order := make([]backend, 0, len(b.backends))
	for i := range b.backends {
		order = append(order, b.backends[(first+i)%len(b.backends)])
	}
	return order
}

// routeOf returns the route suffix of a session id "<base>-<node>.<route>",
// "" when it has none. docs/load-balancers.md shows the same rule for
// HAProxy and nginx.
func routeOf(id string) string {
	i := strings.LastIndexByte(id, '.')
	if i < 0 {
		return ""
	}
	return id[i+1:]
}

// failoverTransport sends a request to its first candidate backend and, when
// the connection is refused (nothing was sent), to the next one.
type failoverTransport struct {
	next      http.RoundTripper
	failovers *atomic.Uint64
}

func (t *failoverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	order, _ := req.Context().Value(candidatesKey{}).([]backend)
	if len(order) == 0 {
		return t.next.RoundTrip(req)
	}
	// The transport closes a request's body even when it could not
	// connect, so keep a copy to send again.
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		if body, err = io.ReadAll(io.LimitReader(req.Body, 1<<20)); err != nil {
			return nil, err
		}
		req.Body.Close()
	}
	var errs []error
	for _, be := range order {
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = be.url.Scheme, be.url.Host, be.url.Host
		if body != nil {
			out.Body = io.NopCloser(bytes.NewReader(body))
			out.ContentLength = int64(len(body))
		}
		resp, err := t.next.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		errs = append(errs, err)
		if !refused(err) {
			break
		}
		t.failovers.Add(1)
	}
	return nil, errors.Join(errs...)
}

// refused reports whether err is a failure to connect, after which nothing
// reached the backend and the request can go to another one.
func refused(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
