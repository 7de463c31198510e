package core_test

import (
	"encoding/json"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"

	"github.com/gomsm/msm/core"
)

// The admin handler mounted under /admin/sessions/ of an internal mux,
// behind the application's own authentication.
func ExampleManager_AdminHandler() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	// requireAdmin stands for the application's own authentication.
	requireAdmin := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if user, pass, ok := r.BasicAuth(); !ok || user != "ops" || pass != "secret" {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	admin := http.NewServeMux()
	admin.Handle("/admin/sessions/", http.StripPrefix("/admin/sessions", requireAdmin(m.AdminHandler())))

	do := func(method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		req.SetBasicAuth("ops", "secret")
		rec := httptest.NewRecorder()
		admin.ServeHTTP(rec, req)
		return rec
	}
	fmt.Println(do("POST", "/admin/sessions/disable").Code)
	var st core.AdminStatus
	json.NewDecoder(do("GET", "/admin/sessions/stats").Body).Decode(&st)
	fmt.Println("enabled:", st.Enabled, "local sessions:", st.LocalSessions)
	fmt.Println(do("GET", "/admin/sessions/disable").Code)
	// Output:
	// 200
	// enabled: false local sessions: 0
	// 405
}

// Publishing the statistics on /debug/vars, for users without Prometheus.
func ExampleManager_PublishExpvar() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		panic(err)
	}
	defer m.Close()
	if err := m.PublishExpvar("gomsm_example"); err != nil {
		panic(err)
	}

	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("user", "ann")
	}))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))

	// What /debug/vars (expvar.Handler) shows under the name.
	var st core.Stats
	json.Unmarshal([]byte(expvar.Get("gomsm_example").String()), &st)
	fmt.Println("requests:", st.Requests, "sessions created:", st.SessionsCreated)

	// A name can be published once per process.
	err = m.PublishExpvar("gomsm_example")
	fmt.Println(errors.Is(err, core.ErrExpvarNameTaken))
	// Output:
	// requests: 1 sessions created: 1
	// true
}
