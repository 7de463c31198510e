// Package shoptest drives an example cart app through one visit, the same
// for every framework: the apps share their HTTP API.
package shoptest

import (
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// View is the JSON answer of the cart routes.
type View struct {
	User    string         `json:"user"`
	Items   map[string]int `json:"items"`
	Session string         `json:"session"`
	Flashes []string       `json:"flashes"`
}

// Run serves app and checks a visit: a first look creates no session,
// adding items does, and leaves a flash message per item for the next
// look at the cart (once), login renews the id and keeps the cart,
// clearing empties it, logout ends the session.
func Run(t *testing.T, app http.Handler) {
	srv := httptest.NewServer(app)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, hc: &http.Client{Jar: jar}, base: srv.URL}

	if v := c.view("GET", "/cart", ""); v.Session != "" || len(v.Items) != 0 {
		t.Errorf("a first look = %+v, want no session and no items", v)
	}
	if cs := jar.Cookies(c.url()); len(cs) != 0 {
		t.Errorf("a first look set cookies %v", cs)
	}
	c.view("POST", "/cart/items/apple", "")
	c.view("POST", "/cart/items/pear", "")
	v := c.view("POST", "/cart/items/apple", "")
	if want := map[string]int{"apple": 2, "pear": 1}; !maps.Equal(v.Items, want) || v.Session == "" {
		t.Errorf("after adding = %+v, want items %v and a session", v, want)
	}
	if v := c.view("GET", "/cart", ""); !slices.Equal(v.Flashes, []string{"added apple", "added pear", "added apple"}) {
		t.Errorf("the look after adding: flashes %q, want one per item added", v.Flashes)
	}
	if v := c.view("GET", "/cart", ""); len(v.Flashes) != 0 {
		t.Errorf("the next look: flashes %q, want none (shown once)", v.Flashes)
	}
	login := c.view("POST", "/login", "user=ann")
	if login.Session == v.Session || login.User != "ann" || !maps.Equal(login.Items, v.Items) {
		t.Errorf("after login = %+v, want a new id than %q, user ann, the same items", login, v.Session)
	}
	if again := c.view("GET", "/cart", ""); again.Session != login.Session || again.User != "ann" {
		t.Errorf("after login the browser's session = %+v, want %q", again, login.Session)
	}
	if body := c.do("DELETE", "/cart", ""); !strings.Contains(body, `"items":{}`) {
		t.Errorf("after clearing = %s, want \"items\":{} (an empty cart, not null)", body)
	}
	if cleared := c.view("GET", "/cart", ""); len(cleared.Items) != 0 || cleared.User != "ann" {
		t.Errorf("after clearing = %+v, want no items, user ann", cleared)
	}
	if body := c.do("POST", "/logout", ""); body != "logged out\n" {
		t.Errorf("logout = %q", body)
	}
	if cs := jar.Cookies(c.url()); len(cs) != 0 {
		t.Errorf("after logout the browser holds cookies %v", cs)
	}
	if v := c.view("GET", "/cart", ""); v.Session != "" || v.User != "" {
		t.Errorf("after logout = %+v, want no session", v)
	}
}

type client struct {
	t    *testing.T
	hc   *http.Client
	base string
}

func (c *client) url() *url.URL {
	u, _ := url.Parse(c.base)
	return u
}

// do sends a request with an optional form body and returns the body.
func (c *client) do(method, path, form string) string {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(form))
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, body)
	}
	return string(body)
}

// view sends a request and decodes the cart view it answers.
func (c *client) view(method, path, form string) View {
	c.t.Helper()
	var v View
	if body := c.do(method, path, form); json.Unmarshal([]byte(body), &v) != nil {
		c.t.Fatalf("%s %s: not a cart view: %q", method, path, body)
	}
	return v
}
