package docstest_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"github.com/gomsm/msm/core"
)

// checkPassword stands for the application's own credential check.
func checkPassword(r *http.Request) (string, bool) {
	return r.FormValue("user"), r.FormValue("password") == "secret"
}

// docs/sessions.md: a login handler with RenewID, SetPrincipal,
// SetPersist and a flash message.
func Example_sessionsLogin() {
	m, err := core.New(core.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	mux := http.NewServeMux()

	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		user, ok := checkPassword(r)
		if !ok {
			http.Error(w, "wrong password", http.StatusUnauthorized)
			return
		}
		s := core.FromContext(r.Context())
		s.RenewID()                                   // a new id at login: no session fixation
		s.SetPrincipal(user)                          // listed for SessionsOf and InvalidatePrincipal
		s.SetPersist(r.FormValue("remember") == "on") // "keep me signed in"
		s.AddFlash("Welcome back, " + user)           // shown once, after the redirect
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})

	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		for _, f := range core.FromContext(r.Context()).Flashes() {
			fmt.Fprintln(w, f)
		}
	})
	h := m.Middleware(mux)
	form := url.Values{"user": {"ann"}, "password": {"secret"}, "remember": {"on"}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	cookie := rec.Result().Cookies()[0]
	fmt.Println(rec.Code, "persistent cookie:", cookie.MaxAge > 0)

	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body, _ := io.ReadAll(rec.Body)
	fmt.Print(string(body))
	// Output:
	// 303 persistent cookie: true
	// Welcome back, ann
}
