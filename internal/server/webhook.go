package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
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
		ln = limitListener(ln, s.opts.MaxConnections)
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
		conn, err := tls.DialWithDialer(d, "tcp", s.addr(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only reachability is checked
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}

// limitListener accepts at most n connections at a time; Accept waits for
// one to close (the kernel's backlog holds the rest).
func limitListener(l net.Listener, n int) net.Listener {
	return &limitedListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, release: func() { <-l.sem }}, nil
}

func (l *limitedListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
