package core

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
)

// maxAdminBody bounds the request body of an admin operation.
const maxAdminBody = 64 << 10

// AdminStatus is what the admin handler's GET / (or /stats) answers: the
// Stats snapshot, with every per-node status in Stats.Nodes, and whether
// memcached is in use.
type AdminStatus struct {
	Enabled bool
	Stats
}

// AdminHandler returns an http.Handler for operators, the counterpart of the
// Java original's JMX bean. It has no authentication of its own: mount it
// behind your own (an internal listener, mTLS, a login check), never on the
// public mux as it is, since it can switch memcached off, change the nodes
// and destroy sessions.
//
// Paths are relative to where it is mounted; use http.StripPrefix:
//
//	mux.Handle("/admin/sessions/", http.StripPrefix("/admin/sessions", requireAdmin(m.AdminHandler())))
//
// The operations, each answering JSON:
//
//	GET  /, /stats   AdminStatus: every counter and timing, per-node status
//	POST /enable     SetEnabled(true)
//	POST /disable    SetEnabled(false): sessions stay local, no memcached traffic
//	POST /nodes      SetNodes(nodes, failover); 400 with the error on a bad list
//	POST /invalidate Invalidate(id); 400 on a malformed id
//	POST /reset      ResetStats
//
// POST parameters come in the body, as a form (nodes=...&failover=...,
// id=...) or as a JSON object of strings ({"nodes": "...", "failover":
// "..."}); never in the URL, which ends up in access logs. A missing
// "nodes" is an error; an empty one means local-only. Another method answers
// 405, another path 404. Cross-origin browser POSTs are refused with 403
// (http.CrossOriginProtection), so a page an operator visits cannot drive
// the handler through the operator's browser.
//
// The answers never hold session contents or whole session ids: an
// invalidated session is named by the same short fingerprint the logs use.
// Invalidate reaches this instance's memory and memcached; in sticky mode
// another instance that holds the session in its memory keeps serving it,
// so send the request to the instance that serves the session (or to all).
func (m *Manager) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", m.adminStats)
	mux.HandleFunc("GET /stats", m.adminStats)
	mux.HandleFunc("POST /enable", func(w http.ResponseWriter, r *http.Request) { m.adminSetEnabled(w, r, true) })
	mux.HandleFunc("POST /disable", func(w http.ResponseWriter, r *http.Request) { m.adminSetEnabled(w, r, false) })
	mux.HandleFunc("POST /nodes", m.adminNodes)
	mux.HandleFunc("POST /invalidate", m.adminInvalidate)
	mux.HandleFunc("POST /reset", m.adminReset)
	protected := http.NewCrossOriginProtection().Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// StripPrefix("/admin/") leaves "stats", and "" for "/admin/".
		if !strings.HasPrefix(r.URL.Path, "/") {
			r2 := *r
			u := *r.URL
			u.Path, u.RawPath = "/"+u.Path, ""
			r2.URL = &u
			r = &r2
		}
		protected.ServeHTTP(w, r)
	})
}

func (m *Manager) adminStats(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, AdminStatus{Enabled: m.Enabled(), Stats: m.Stats()})
}

func (m *Manager) adminSetEnabled(w http.ResponseWriter, r *http.Request, on bool) {
	m.SetEnabled(on)
	writeJSON(w, http.StatusOK, map[string]bool{"enabled": m.Enabled()})
}

func (m *Manager) adminNodes(w http.ResponseWriter, r *http.Request) {
	in, err := adminInput(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	nodes, ok := in["nodes"]
	if !ok {
		writeError(w, http.StatusBadRequest, errors.New(`missing "nodes" (send an empty value for local-only)`))
		return
	}
	if err := m.SetNodes(nodes, in["failover"]); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	m.cfg.Logger.Info("gomsm: admin: nodes set", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string][]NodeStats{"nodes": m.Stats().Nodes})
}

func (m *Manager) adminInvalidate(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("id") {
		writeError(w, http.StatusBadRequest, errors.New(`send "id" in the request body, not in the URL (URLs are logged)`))
		return
	}
	in, err := adminInput(w, r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	id := in["id"]
	sid, ok := parseID(id)
	if !ok || !m.Invalidate(id) {
		// Never echo the value: it may be a live id with a typo.
		writeError(w, http.StatusBadRequest, errors.New(`missing or malformed "id"`))
		return
	}
	fp := fingerprint(sid.base)
	m.cfg.Logger.Info("gomsm: admin: session invalidated", "session", fp, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]any{"invalidated": true, "session": fp})
}

func (m *Manager) adminReset(w http.ResponseWriter, r *http.Request) {
	m.ResetStats()
	m.cfg.Logger.Info("gomsm: admin: statistics reset", "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
}

// adminInput reads the parameters of a POST from its body: a JSON object of
// strings when the Content-Type says JSON, else an urlencoded form. The
// first value of a repeated form field wins.
func adminInput(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxAdminBody)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/json" {
		in := map[string]string{}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			return nil, errors.New("body: want a JSON object of strings")
		}
		return in, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, errors.New("body: want an urlencoded form or a JSON object")
	}
	in := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		in[k] = v[0]
	}
	return in, nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
