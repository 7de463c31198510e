package appenv

import (
	"context"
	"errors"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gomsm/msm/core"
)

// ShutdownTimeout bounds how long [Serve] waits for running requests once
// it was asked to stop.
const ShutdownTimeout = 10 * time.Second

// Serve serves h on addr until the process gets SIGINT (Ctrl-C) or SIGTERM,
// then stops gracefully: the server stops accepting connections and waits
// for the running requests (at most ShutdownTimeout), and only then is m
// closed, which sends the backups still queued to memcached. It returns
// when all of that is done, with the error that stopped the server early
// (nil after a signal). It is README's quick start as a function.
func Serve(addr string, h http.Handler, m *core.Manager) error {
	srv := &http.Server{Addr: addr, Handler: h}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	failed := make(chan error, 1)
	go func() {
		log.Printf("listening on http://%s", addr)
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			failed <- err
		}
	}()
	var err error
	select {
	case <-ctx.Done():
		stop() // a second signal kills the process at once
		log.Print("stopping: waiting for running requests")
		shutdown, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
		defer cancel()
		if err := srv.Shutdown(shutdown); err != nil {
			log.Printf("stopping: %v", err)
		}
	case err = <-failed:
	}
	if cerr := m.Close(); cerr != nil { // after the last request: flushes pending backups
		log.Printf("closing the session manager: %v", cerr)
	}
	log.Print("stopped: the queued backups were sent")
	return err
}
