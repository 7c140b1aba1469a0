package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// sideServer serves the health or the metrics endpoint, on a listener of
// its own.
type sideServer struct {
	name string
	addr string
	tls  *tls.Config // nil: plain HTTP
	srv  *http.Server
}

func newSideServer(name, addr string, h http.Handler, tlsCfg *tls.Config) *sideServer {
	return &sideServer{name: name, addr: addr, tls: tlsCfg, srv: &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}}
}

// serve listens on the address and serves until shutdown (which may come
// first: then it returns at once).
func (s *sideServer) serve(log logr.Logger) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("%s listener %s: %w", s.name, s.addr, err)
	}
	scheme := "http"
	if s.tls != nil {
		ln, scheme = tls.NewListener(ln, s.tls), "https"
	}
	log.Info("serving", "endpoint", s.name, "addr", ln.Addr().String(), "scheme", scheme)
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// healthMux answers the kubelet's probes: /healthz while the process
// runs, /readyz while the webhook server accepts TLS connections (started)
// and the server is not shutting down (draining closed).
func healthMux(draining <-chan struct{}, started func(*http.Request) error) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-draining:
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		default:
		}
		if err := started(r); err != nil {
			http.Error(w, "webhook server not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	return mux
}
