package main

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gomsm/msm/core"
)

// TestLoginLeavesAFlash: /login ties the session to the user and the next
// page shows "signed in as" once.
func TestLoginLeavesAFlash(t *testing.T) {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	srv := httptest.NewServer(m.Middleware(routes()))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	get := func(path string) string {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/login?user=ann"); !strings.Contains(got, "visit 1") || !strings.Contains(got, "signed in as ann") {
		t.Errorf("after login (redirected to /): %q, want visit 1 and the flash", got)
	}
	if got := get("/"); !strings.Contains(got, "visit 2") || strings.Contains(got, "signed in") {
		t.Errorf("the next page: %q, want visit 2 and no flash", got)
	}
	if list, err := m.SessionsOf(t.Context(), "ann"); err != nil || len(list) != 1 {
		t.Errorf("SessionsOf(ann) = %v, %v; want the one session", list, err)
	}
}
