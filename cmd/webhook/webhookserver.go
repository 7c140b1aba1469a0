package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
)

// serverFlags bound what one caller can hold of the webhook server.
type serverFlags struct {
	readTimeout  time.Duration
	writeTimeout time.Duration
	idleTimeout  time.Duration
	maxConns     int
	// metricsSecure serves /metrics over HTTPS with authentication and
	// authorization (metricsserve.go); metricsSecureSet: given explicitly
	metricsSecure    bool
	metricsSecureSet bool
}

func (f *serverFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&f.readTimeout, "read-timeout", 10*time.Second, "webhook server: time to read one request, headers and body, counted from its first byte (per request, not per connection)")
	fs.DurationVar(&f.writeTimeout, "write-timeout", 35*time.Second, "webhook server: time from the end of reading a request to the end of writing its answer (above the API server's longest webhook timeout, 30s)")
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 120*time.Second, "webhook server: how long a keep-alive connection may wait for its next request (keep it above the API server's 90s idle timeout)")
	fs.IntVar(&f.maxConns, "max-connections", 1024, "webhook server: open connections at most; further ones wait to be accepted (0: no limit)")
	fs.BoolVar(&f.metricsSecure, "metrics-secure", true, "serve /metrics over HTTPS (the --cert-dir certificate) to callers the API server authenticates and authorizes for GET /metrics; needs --cluster. false: plain HTTP, for local use (--dev implies false)")
}

// parsed records which flags were given.
func (f *serverFlags) parsed(fs *flag.FlagSet) {
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "metrics-secure" {
			f.metricsSecureSet = true
		}
	})
}

func (f *serverFlags) check() error {
	switch {
	case f.readTimeout <= 0 || f.writeTimeout <= 0 || f.idleTimeout <= 0:
		return errors.New("--read-timeout, --write-timeout and --idle-timeout must be positive")
	case f.maxConns < 0:
		return errors.New("--max-connections must not be negative")
	}
	return nil
}

// webhookServer is the HTTPS server of /validate and /mutate. It replaces
// controller-runtime's webhook.Server, whose http.Server has no read or
// write timeout: a client dripping its body held a handler forever.
// net/http applies ReadTimeout and WriteTimeout per request (the
// deadlines are set anew for each request on a keep-alive connection) and
// IdleTimeout between requests.
type webhookServer struct {
	host  string
	port  int
	tls   *tls.Config
	mux   *http.ServeMux
	flags serverFlags
	log   logr.Logger

	started atomic.Bool
}

func newWebhookServer(host string, port int, tlsCfg *tls.Config, f serverFlags, log logr.Logger) *webhookServer {
	return &webhookServer{host: host, port: port, tls: tlsCfg, mux: http.NewServeMux(), flags: f, log: log}
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
	if s.flags.maxConns > 0 {
		ln = limitListener(ln, s.flags.maxConns)
	}
	ln = tls.NewListener(ln, s.tls)
	srv := &http.Server{
		Handler:           s.mux,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		MaxHeaderBytes:    1 << 20,
		ReadHeaderTimeout: s.flags.readTimeout,
		ReadTimeout:       s.flags.readTimeout,
		WriteTimeout:      s.flags.writeTimeout,
		IdleTimeout:       s.flags.idleTimeout,
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
		"readTimeout", s.flags.readTimeout, "writeTimeout", s.flags.writeTimeout, "idleTimeout", s.flags.idleTimeout, "maxConnections", s.flags.maxConns)
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
