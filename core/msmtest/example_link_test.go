package msmtest_test

import (
	"fmt"
	"os"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/core/msmtest"
)

// A memcached that speaks only TLS and wants a login, and a Manager that
// talks to it: the test CA's pool verifies the server, the credentials go
// on every new connection. The example only compiles: it needs memcached.
func ExampleWithLink() {
	run := func() error {
		dir, err := os.MkdirTemp("", "link")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ca, err := msmtest.NewTestCA(dir)
		if err != nil {
			return err
		}
		link := msmtest.Link{CA: ca, Username: "shop", Password: "s3cret", Dir: dir}
		opts, err := msmtest.WithLink(msmtest.Options{}, link)
		if err != nil {
			return err
		}
		mc, err := msmtest.Launch(opts)
		if err != nil {
			return err
		}
		defer mc.Stop()
		m, err := core.New(core.Config{
			Nodes:    "n1:" + mc.Addr(),
			TLS:      ca.ClientTLS(),
			Username: "shop",
			Password: "s3cret",
		})
		if err != nil {
			return err
		}
		defer m.Close()
		fmt.Println("sessions on", mc.Addr(), "over TLS, logged in")
		return nil
	}
	_ = run
}
