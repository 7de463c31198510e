package ginmsm_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"

	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/ginmsm"
)

// A visit counter in gin. With core.Config{} the sessions stay in this
// process; set Nodes to back them up to memcached.
func Example() {
	m, err := core.New(core.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.Recovery(), ginmsm.Middleware(m))
	r.GET("/visit", func(c *gin.Context) {
		s := ginmsm.Session(c)
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		c.String(http.StatusOK, "visit %d", n)
	})

	srv := httptest.NewServer(r)
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
