package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/net/netutil"
)

// webhookServer is the HTTPS server of /validate and /mutate. It replaces
// controller-runtime's webhook.Server, whose http.Server has no read or
// write timeout: a client dripping its body held a handler forever.
// net/http applies ReadTimeout and WriteTimeout per request (the
// deadlines are set anew for each request on a keep-alive connection) and
// IdleTimeout between requests.
type webhookServer struct {
	host string
	port int
	tls  *tls.Config
	mux  *http.ServeMux
	opts Options // the timeouts and MaxConnections
	log  logr.Logger

	started atomic.Bool
}

func newWebhookServer(o Options, tlsCfg *tls.Config, log logr.Logger) *webhookServer {
	return &webhookServer{host: o.Host, port: o.Port, tls: tlsCfg, mux: http.NewServeMux(), opts: o, log: log}
}

// Register serves h at path.
func (s *webhookServer) Register(path string, h http.Handler) { s.mux.Handle(path, h) }

func (s *webhookServer) addr() string { return net.JoinHostPort(s.host, strconv.Itoa(s.port)) }

// Start serves until ctx ends, then drains in-flight requests (at most a
// minute) and returns.
func (s *webhookServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr())
	if err != nil {
		return err
	}
	if s.opts.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.opts.MaxConnections) // Accept waits while n are open; the backlog holds the rest
	}
	ln = tls.NewListener(ln, s.tls)
	srv := &http.Server{
		Handler:           s.mux,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: s.opts.ReadTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
	}
	done := make(chan struct{})
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.log.Error(err, "shutting down the webhook server")
		}
		close(done)
	}()
	s.log.Info("serving", "endpoint", "webhook", "addr", ln.Addr().String(),
		"readTimeout", s.opts.ReadTimeout, "writeTimeout", s.opts.WriteTimeout, "idleTimeout", s.opts.IdleTimeout, "maxConnections", s.opts.MaxConnections)
	s.started.Store(true)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-done
	return nil
}

// StartedChecker is healthy once the server accepts TLS connections.
func (s *webhookServer) StartedChecker() func(*http.Request) error {
	return func(*http.Request) error {
		if !s.started.Load() {
			return errors.New("webhook server has not been started yet")
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		if s.tls.ClientAuth != tls.NoClientCert {
			// with --client-ca-file the checker, holding no client
			// certificate, would be refused: a connection must do
			conn, err := d.Dial("tcp", s.addr())
			if err != nil {
				return fmt.Errorf("webhook server is not reachable: %w", err)
			}
			return conn.Close()
		}
		conn, err := tls.DialWithDialer(d, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reachability is checked
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}
