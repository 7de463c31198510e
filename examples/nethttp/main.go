// Command nethttp is the smallest gomsm app: a visit counter on plain
// net/http, with a sign-in (/login?user=ann) that ties the session to the
// user and leaves a flash message for the next page. Set MSM_NODES (for example "n1:localhost:11211") to back the
// sessions up to memcached; without it the sessions are local only. It
// stops gracefully on Ctrl-C or SIGTERM, as README's quick start does:
// running requests finish, then the queued backups are sent.
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gomsm/msm/core"
	"github.com/gomsm/msm/examples/internal/appenv"
)

func main() {
	cfg, addr, err := appenv.Config() // MSM_NODES, ADDR, ... (see examples/internal/appenv)
	if err != nil {
		log.Fatal(err)
	}
	m, err := core.New(cfg)
	if err != nil {
		log.Fatal(err)
	}

	mux := routes()
	srv := &http.Server{Addr: addr, Handler: m.Middleware(mux)}
	go func() {
		log.Printf("listening on http://%s", addr)
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			log.Fatal(err)
		}
	}()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	<-ctx.Done() // Ctrl-C or SIGTERM
	stop()       // a second Ctrl-C kills the process at once
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil { // running requests finish first
		log.Print(err)
	}
	if err := m.Close(); err != nil { // then the queued backups go to memcached
		log.Print(err)
	}
	log.Print("stopped: the queued backups were sent")
}

// routes returns the app: the counter on /, the sign-in on /login.
func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		n := s.GetInt("visits") + 1
		s.Set("visits", n)
		fmt.Fprintf(w, "visit %d (session %s)\n", n, s.ID())
		for _, f := range s.Flashes() { // shown once
			fmt.Fprintln(w, f)
		}
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := core.FromContext(r.Context())
		user := r.URL.Query().Get("user") // a real app checks a password first
		s.RenewID()                       // a new id at login defeats session fixation
		s.SetPrincipal(user)              // Manager.InvalidatePrincipal logs the user out everywhere
		s.AddFlash("signed in as " + user)
		http.Redirect(w, r, "/", http.StatusSeeOther)
	})
	return mux
}
