package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/revert"
)

// Run serves the admission webhook until ctx ends (then it shuts down in
// order and returns nil) or one of its components fails (then it returns
// that error); lifecycle.go has the order. It logs to the logger in ctx
// (logr.NewContext); none: it logs nothing.
func Run(ctx context.Context, o Options) error {
	log := logr.FromContextOrDiscard(ctx)
	if err := o.Validate(); err != nil {
		return err
	}
	tuneGC(log, o.GCPercent, "/sys/fs/cgroup")
	if err := o.applyDev(); err != nil {
		return err
	}
	if err := o.checkCombinations(); err != nil {
		return err
	}
	in, err := wire(ctx, log, o)
	if err != nil {
		return err
	}
	return in.run(ctx)
}

// instance is one Run's components, wired and not yet started.
type instance struct {
	opts Options
	log  logr.Logger
	m    *metrics.Metrics
	sm   *metrics.Serving

	mgr      ctrl.Manager // with --cluster: the audit, baseline and certificate rotation
	reloader *loader.Reloader
	webhook  *webhookServer
	health   *sideServer
	metrics  *sideServer
	// draining closes when the shutdown starts: /readyz answers 503
	draining chan struct{}

	// the serving certificate: loaded by wire, or with --cert-rotation
	// (certsReady, certGate) once the rotator has written it
	servingCert    *certs.Watcher
	certsReady     chan struct{}
	certGate       *certs.Gate
	metricsTLSCert atomic.Pointer[certs.Watcher] // the HTTPS metrics server's certificate
}

// wire builds the components: the metrics registry, the cluster clients
// and controller manager (--cluster), the config and policies, the
// admission engine, the serving certificate and the three servers.
func wire(ctx context.Context, log logr.Logger, o Options) (*instance, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	in := &instance{opts: o, log: log, m: metrics.New(reg), sm: metrics.NewServing(reg), draining: make(chan struct{})}

	opts := loader.Options{ConfigFile: o.Config, PolicyDirs: o.Policies, NoBundled: o.NoBundledPolicies}
	var (
		keeper   *baseline.Keeper
		engine   *admit.Engine
		metricsH http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
	)
	if o.Cluster {
		restCfg, err := restConfig()
		if err != nil {
			return nil, err
		}
		if o.MetricsSecure {
			if metricsH, err = metricsAuth(log.WithName("metrics-auth"), restCfg, metricsH); err != nil {
				return nil, err
			}
		}
		if opts.Scale, err = newScaleReader(log, restCfg); err != nil {
			return nil, err
		}
		if in.mgr, err = newManager(log, restCfg, o); err != nil {
			return nil, err
		}
		opts.Parents = newClusterParents(log, in.mgr)
		keeper = newKeeper(log, in.mgr, o, func() *admit.Engine { return engine }, in.m)
		opts.Baseline = keeper
		history := &revert.History{}
		opts.Reverts = history
		if err := in.mgr.Add(&revertHistory{mgr: in.mgr, history: history, log: log.WithName("reverts")}); err != nil {
			return nil, err
		}
		if o.CertRotation {
			if in.certsReady, in.certGate, err = addCertRotation(in.mgr, log, o); err != nil {
				return nil, err
			}
		}
	}
	st, src, err := loader.LoadWithSources(ctx, opts)
	if err != nil {
		in.m.LoadErrors.Inc()
		return nil, fmt.Errorf("loading config and policies: %w", err)
	}
	engine = admit.NewEngine(st, in.m)
	engine.Budget = reviewBudget(log)
	engine.Trail = admit.NewTrail(log.WithName("trail"), in.m, 0, 0)
	go engine.Trail.Run(ctx)
	in.reloader = &loader.Reloader{Options: opts, Engine: engine, Metrics: in.m, Log: log.WithName("reload"), Interval: o.ReloadInterval}
	in.reloader.Loaded(st)
	if o.NarrowWebhooks {
		narrow, err := addNarrowing(in.mgr, log, o, in.m)
		if err != nil {
			return nil, err
		}
		narrow(st, src)
		in.reloader.OnReload = narrow
	}
	log.Info("policies loaded", "policies", len(st.Policies.Policies), "files", len(st.Policies.Files))
	if in.mgr != nil {
		if err := addClusterLoops(log, in.mgr, o, engine, keeper, in.m); err != nil {
			return nil, err
		}
		if err := addEventRecorder(log, in.mgr, engine.Trail, in.m); err != nil {
			return nil, err
		}
	}

	var getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	if in.certGate != nil {
		// the rotated certificate's watcher is set behind the gate once
		// the certificates are mounted (serveWebhook); the gate holds a
		// new certificate back until it is trusted
		getCert = in.certGate.GetCertificate
	} else {
		if in.servingCert, err = loadServingCert(log, in.m, in.sm, o.CertDir); err != nil {
			return nil, fmt.Errorf("loading the serving certificate: %w", err)
		}
		in.metricsTLSCert.Store(in.servingCert)
		getCert = in.servingCert.GetCertificate
	}
	webhookTLS := serverTLS(o.EnableHTTP2, getCert)
	if o.ClientCAFile != "" {
		ca, err := newClientAuth(o.ClientCAFile, o.ClientNames, log.WithName("client-auth"), in.m)
		if err != nil {
			return nil, err
		}
		ca.apply(webhookTLS)
	}
	in.webhook = newWebhookServer(o, webhookTLS, log.WithName("webhook-server"))
	in.webhook.Register("/validate", admit.NewHTTPHandler("validate", &admit.Validator{Engine: engine}, engine, log))
	in.webhook.Register("/mutate", admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: engine}, engine, log))

	// health stays plain HTTP: the kubelet's probes carry no token
	in.health = newSideServer("health", o.HealthAddr, healthMux(in.draining, in.webhook.StartedChecker()), nil)
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", metricsH)
	var metricsTLSCfg *tls.Config
	if o.MetricsSecure {
		metricsTLSCfg = metricsTLS(&in.metricsTLSCert)
	}
	in.metrics = newSideServer("metrics", o.MetricsAddr, metricsMux, metricsTLSCfg)
	return in, nil
}
