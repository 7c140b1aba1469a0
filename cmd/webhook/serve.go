package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
)

type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type serveFlags struct {
	config       string
	policyDirs   listFlag
	noBundled    bool
	certDir      string
	dev          bool
	host         string
	port         int
	metricsAddr  string
	healthAddr   string
	reload       time.Duration
	http2        bool
	devHosts     listFlag
	kubeconfig   bool
	shutdownWait time.Duration
	gcPercent    int
	cluster      clusterFlags
	rotation     rotationFlags
	server       serverFlags
}

func runServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var f serveFlags
	fs.StringVar(&f.config, "config", "", "config file (YAML); empty: the embedded defaults")
	fs.Var(&f.policyDirs, "policies", "extra policy directory (repeatable or comma-separated); hot reloaded")
	fs.BoolVar(&f.noBundled, "no-bundled-policies", false, "do not load the policies embedded in the binary")
	fs.StringVar(&f.certDir, "cert-dir", "", "directory with tls.crt and tls.key (reloaded on change)")
	fs.BoolVar(&f.dev, "dev", false, "generate a self-signed CA and certificate when --cert-dir is empty, listen on 127.0.0.1")
	fs.Var(&f.devHosts, "dev-hosts", "extra DNS names or IPs for the --dev certificate")
	fs.StringVar(&f.host, "host", "", "webhook listen address (default all interfaces; 127.0.0.1 with --dev)")
	fs.IntVar(&f.port, "port", 9443, "webhook HTTPS port")
	fs.StringVar(&f.metricsAddr, "metrics-addr", ":8080", "Prometheus /metrics listen address")
	fs.StringVar(&f.healthAddr, "health-addr", ":8081", "/healthz and /readyz listen address")
	fs.DurationVar(&f.reload, "reload-interval", 2*time.Second, "how often config and policy files are checked for changes")
	fs.BoolVar(&f.http2, "enable-http2", false, "serve HTTP/2 (off by default: the API server speaks HTTP/1.1 to webhooks)")
	fs.BoolVar(&f.kubeconfig, "cluster", false, "look up controlling owners and the workloads of scale requests in the cluster (in-cluster config or KUBECONFIG)")
	fs.DurationVar(&f.shutdownWait, "shutdown-delay", 0, "keep serving this long after SIGTERM before draining (lets endpoints update)")
	fs.BoolVar(&f.rotation.enabled, "cert-rotation", false, "with --cluster: self-managed certificates (a CA and serving certificate in --cert-secret, rotated, CA injected into the webhook configurations)")
	fs.StringVar(&f.rotation.secret, "cert-secret", "driftguard-cert", "with --cert-rotation: the Secret ([namespace/]name) that holds the certificates and is mounted at --cert-dir")
	fs.StringVar(&f.rotation.dnsName, "cert-dns-name", "", "with --cert-rotation: the webhook Service's DNS name")
	fs.StringVar(&f.rotation.webhookConfigs, "webhook-config-names", "driftguard,driftguard", "with --cert-rotation: <validating>,<mutating> webhook configuration names to inject the CA into")
	fs.DurationVar(&f.rotation.overlap, "ca-overlap", time.Hour, "with --cert-rotation: how long the previous CA stays in the caBundles after a CA rotation (every replica must have loaded the new certificate by then)")
	fs.IntVar(&f.gcPercent, "gc-percent", 400, "garbage collection target percentage (GOGC; the GOGC environment variable wins); a soft memory limit of 80% of the container's memory limit applies unless GOMEMLIMIT is set")
	fs.BoolVar(&f.cluster.audit, "audit", true, "with --cluster: run the drift audit (policies' drift rules on live objects)")
	fs.DurationVar(&f.cluster.auditInterval, "audit-interval", 0, "override the config's audit.interval")
	fs.BoolVar(&f.cluster.leaderElect, "leader-elect", false, "with --cluster: run the audit on the elected leader only (use with several replicas)")
	fs.StringVar(&f.cluster.leaseNS, "leader-election-namespace", "", "namespace of the leader election Lease (default $POD_NAMESPACE)")
	fs.StringVar(&f.cluster.leaseName, "leader-election-id", "driftguard-audit", "name of the leader election Lease (one per installation sharing a namespace)")
	f.server.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	f.server.parsed(fs)
	if err := f.server.check(); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 2
	}
	log := zap.New(zap.UseDevMode(f.dev))
	ctrl.SetLogger(log)
	tuneGC(log, f.gcPercent, "/sys/fs/cgroup")
	if err := serve(log, f); err != nil {
		log.Error(err, "driftguard serve failed")
		return 1
	}
	return 0
}

func serve(log logr.Logger, f serveFlags) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if f.dev {
		if f.host == "" {
			f.host = "127.0.0.1"
		}
		if f.metricsAddr == ":8080" {
			f.metricsAddr = "127.0.0.1:8080"
		}
		if f.healthAddr == ":8081" {
			f.healthAddr = "127.0.0.1:8081"
		}
		if !f.server.metricsSecureSet {
			f.server.metricsSecure = false
		}
		if f.certDir == "" {
			// a fixed place, so the README's curl finds the CA and restarts reuse it
			f.certDir = filepath.Join(os.TempDir(), "driftguard-dev-certs")
		}
		if _, err := os.Stat(filepath.Join(f.certDir, certs.CertFile)); errors.Is(err, os.ErrNotExist) {
			hosts := append([]string{"localhost", "127.0.0.1", "::1"}, f.devHosts...)
			if err := certs.Generate(f.certDir, hosts, 365*24*time.Hour); err != nil {
				return fmt.Errorf("generating dev certificate: %w", err)
			}
		}
		fmt.Printf("driftguard dev mode: CA certificate at %s\n", filepath.Join(f.certDir, certs.CAFile))
	}
	if f.certDir == "" {
		return errors.New("--cert-dir is required (or use --dev for a self-signed certificate)")
	}
	if f.rotation.enabled && !f.kubeconfig {
		return errors.New("--cert-rotation needs --cluster")
	}
	if f.server.metricsSecure && !f.kubeconfig {
		return errMetricsNeedCluster
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	sm := metrics.NewServing(reg)

	opts := loader.Options{ConfigFile: f.config, PolicyDirs: f.policyDirs, NoBundled: f.noBundled}
	var (
		mgr            ctrl.Manager
		keeper         *baseline.Keeper
		engine         *admit.Engine
		certsReady     chan struct{}
		certGate       *certs.Gate
		metricsH       http.Handler                  = promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
		metricsTLSCert atomic.Pointer[certs.Watcher] // the HTTPS metrics server's certificate
	)
	if f.kubeconfig {
		restCfg, err := restConfig()
		if err != nil {
			return err
		}
		if f.server.metricsSecure {
			if metricsH, err = metricsAuth(log.WithName("metrics-auth"), restCfg, metricsH); err != nil {
				return err
			}
		}
		parents, err := newClusterParents(ctx, log, restCfg)
		if err != nil {
			return err
		}
		opts.Parents = parents
		if opts.Scale, err = newScaleReader(log, restCfg); err != nil {
			return err
		}
		if mgr, err = newManager(log, restCfg, f.cluster); err != nil {
			return err
		}
		keeper = newKeeper(log, mgr, f.cluster, func() *admit.Engine { return engine }, m)
		opts.Baseline = keeper
		if f.rotation.enabled {
			if certsReady, certGate, err = addCertRotation(mgr, log, f.rotation, f.certDir); err != nil {
				return err
			}
		}
	}
	st, err := loader.Load(ctx, opts)
	if err != nil {
		m.LoadErrors.Inc()
		return fmt.Errorf("loading config and policies: %w", err)
	}
	engine = admit.NewEngine(st, m)
	engine.Budget = reviewBudget(log)
	rl := &loader.Reloader{Options: opts, Engine: engine, Metrics: m, Log: log.WithName("reload"), Interval: f.reload}
	rl.Loaded(st)
	log.Info("policies loaded", "policies", len(st.Policies.Policies), "files", len(st.Policies.Files))
	// any of these failing ends serve: the webhook server, the side
	// listeners, or the controller manager (audit, baseline, certificate
	// rotation, leader election) — a process that can no longer do its job
	// must not stay alive behind a passing liveness probe
	errs := make(chan error, 4)
	if mgr != nil {
		if err := startCluster(ctx, log, mgr, f.cluster, engine, keeper, m, errs); err != nil {
			return err
		}
	}

	// the serving certificate: loaded now, or with --cert-rotation once the
	// rotator has written it (below)
	var servingCert *certs.Watcher
	if certsReady == nil {
		if servingCert, err = loadServingCert(log, m, sm, f.certDir); err != nil {
			return fmt.Errorf("loading the serving certificate: %w", err)
		}
		metricsTLSCert.Store(servingCert)
	}
	tlsCfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	modernTLS(tlsCfg)
	if !f.http2 {
		tlsCfg.NextProtos = []string{"http/1.1"}
	}
	if certGate != nil {
		// the watcher below (set once the certificates are mounted);
		// the gate holds a new certificate back until it is trusted
		tlsCfg.GetCertificate = certGate.GetCertificate
	} else {
		tlsCfg.GetCertificate = servingCert.GetCertificate
	}
	srv := newWebhookServer(f.host, f.port, tlsCfg, f.server, log.WithName("webhook-server"))
	srv.Register("/validate", admit.NewHTTPHandler("validate", &admit.Validator{Engine: engine}, engine, log))
	srv.Register("/mutate", admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: engine}, engine, log))

	var draining sync.Once
	drainCh := make(chan struct{})
	health := http.NewServeMux()
	health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	started := srv.StartedChecker()
	health.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-drainCh:
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
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", metricsH)

	side := func(addr string, h http.Handler, name string, tlsCfg *tls.Config) *http.Server {
		s := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			errs <- fmt.Errorf("%s listener %s: %w", name, addr, err)
			return s
		}
		scheme := "http"
		if tlsCfg != nil {
			ln, scheme = tls.NewListener(ln, tlsCfg), "https"
		}
		log.Info("serving", "endpoint", name, "addr", ln.Addr().String(), "scheme", scheme)
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
		return s
	}
	// health stays plain HTTP: the kubelet's probes carry no token
	healthSrv := side(f.healthAddr, health, "health", nil)
	var metricsTLSCfg *tls.Config
	if f.server.metricsSecure {
		metricsTLSCfg = metricsTLS(&metricsTLSCert)
	}
	metricsSrv := side(f.metricsAddr, metricsMux, "metrics", metricsTLSCfg)

	// The webhook server drains in-flight requests when its context ends.
	srvCtx, srvCancel := context.WithCancel(context.Background())
	defer srvCancel()
	go func() {
		if certsReady != nil {
			log.Info("waiting for the rotated certificates in --cert-dir")
			select {
			case <-certsReady:
			case <-srvCtx.Done():
				errs <- nil
				return
			}
			cw, err := loadServingCert(log, m, sm, f.certDir)
			if err != nil {
				errs <- fmt.Errorf("loading the rotated certificate: %w", err)
				return
			}
			// the gate may hold a new certificate back: the expiry gauge
			// follows what it serves, not what the watcher loaded
			cw.OnServe = nil
			certGate.Source = cw.GetCertificate
			metricsTLSCert.Store(cw)
			go watchServedExpiry(srvCtx, m, certGate)
			go func() { _ = cw.Start(srvCtx) }()
		} else {
			go func() { _ = servingCert.Start(srvCtx) }()
		}
		errs <- srv.Start(srvCtx)
	}()
	go rl.Run(ctx)

	select {
	case err := <-errs:
		if err != nil {
			return err
		}
	case <-ctx.Done():
	}
	draining.Do(func() { close(drainCh) })
	log.Info("shutting down", "delay", f.shutdownWait)
	time.Sleep(f.shutdownWait)
	srvCancel() // graceful: the webhook server waits for in-flight requests
	select {
	case <-errs:
	case <-time.After(70 * time.Second):
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = healthSrv.Shutdown(sctx)
	_ = metricsSrv.Shutdown(sctx)
	return nil
}
