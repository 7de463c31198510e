package echomsm_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/echomsm"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// A visit counter in echo. With core.Config{} the sessions stay in this
// process; set Nodes to back them up to memcached.
func Example() {
	m, err := core.New(core.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	e := echo.New()
	e.Use(middleware.Recover(), echomsm.Middleware(m))
	e.GET("/visit", func(c echo.Context) error {
		s := echomsm.Session(c)
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		return c.String(http.StatusOK, fmt.Sprintf("visit %d", n))
	})

	srv := httptest.NewServer(e)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar} // a browser: it sends the session cookie back
	for range 3 {
		resp, err := client.Get(srv.URL + "/visit")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
}
