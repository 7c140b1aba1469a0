package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"

	// named: the tests of this package have a type server
	srv "github.com/driftguard/driftguard/internal/server"
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

// serveFlags binds the serve flags to the fields of o named after them.
func serveFlags(o *srv.Options) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.Config, "config", "", "config file (YAML); empty: the embedded defaults")
	fs.Var((*listFlag)(&o.Policies), "policies", "extra policy directory (repeatable or comma-separated); hot reloaded")
	fs.BoolVar(&o.NoBundledPolicies, "no-bundled-policies", false, "do not load the policies embedded in the binary")
	fs.StringVar(&o.CertDir, "cert-dir", "", "directory with tls.crt and tls.key (reloaded on change)")
	fs.BoolVar(&o.Dev, "dev", false, "generate a self-signed CA and certificate when --cert-dir is empty, listen on 127.0.0.1")
	fs.Var((*listFlag)(&o.DevHosts), "dev-hosts", "extra DNS names or IPs for the --dev certificate")
	fs.StringVar(&o.Host, "host", "", "webhook listen address (default all interfaces; 127.0.0.1 with --dev)")
	fs.IntVar(&o.Port, "port", 9443, "webhook HTTPS port")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", "", "PEM CA certificates: the webhook port then accepts only callers with a client certificate (for client authentication) they signed, such as the one kube-apiserver's AdmissionConfiguration gives it (reread on change)")
	fs.Var((*listFlag)(&o.ClientNames), "client-names", "with --client-ca-file: the client certificate's subject common name or a DNS name must be one of these")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", srv.DefaultMetricsAddr, "Prometheus /metrics listen address")
	fs.StringVar(&o.HealthAddr, "health-addr", srv.DefaultHealthAddr, "/healthz and /readyz listen address")
	fs.DurationVar(&o.ReloadInterval, "reload-interval", 2*time.Second, "how often config and policy files are checked for changes")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "serve HTTP/2 (off by default: the API server speaks HTTP/1.1 to webhooks)")
	fs.BoolVar(&o.Cluster, "cluster", false, "look up controlling owners and the workloads of scale requests in the cluster (in-cluster config or KUBECONFIG)")
	fs.DurationVar(&o.ShutdownDelay, "shutdown-delay", 0, "keep serving this long after SIGTERM before draining (lets endpoints update)")
	fs.BoolVar(&o.CertRotation, "cert-rotation", false, "with --cluster: self-managed certificates (a CA and serving certificate in --cert-secret, rotated, CA injected into the webhook configurations)")
	fs.StringVar(&o.CertSecret, "cert-secret", "driftguard-cert", "with --cert-rotation: the Secret ([namespace/]name) that holds the certificates and is mounted at --cert-dir")
	fs.StringVar(&o.CertDNSName, "cert-dns-name", "", "with --cert-rotation: the webhook Service's DNS name")
	fs.StringVar(&o.WebhookConfigNames, "webhook-config-names", "driftguard,driftguard", "with --cert-rotation: <validating>,<mutating> webhook configuration names to inject the CA into")
	fs.BoolVar(&o.NarrowWebhooks, "narrow-webhooks", false, "with --cert-rotation: keep the matchCondition a-policy-can-answer on every entry of the --webhook-config-names configurations, computed from the loaded policies and config at start and after each reload, so the API server sends only what a policy can answer")
	fs.DurationVar(&o.CAOverlap, "ca-overlap", time.Hour, "with --cert-rotation: how long the previous CA stays in the caBundles after a CA rotation (every replica must have loaded the new certificate by then)")
	fs.IntVar(&o.GCPercent, "gc-percent", 400, "garbage collection target percentage (GOGC; the GOGC environment variable wins); a soft memory limit of 80% of the container's memory limit applies unless GOMEMLIMIT is set")
	fs.BoolVar(&o.Audit, "audit", true, "with --cluster: run the drift audit (policies' drift rules on live objects)")
	fs.DurationVar(&o.AuditInterval, "audit-interval", 0, "override the config's audit.interval")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "with --cluster: run the audit on the elected leader only (use with several replicas)")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the leader election Lease (default $POD_NAMESPACE)")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "driftguard-audit", "name of the leader election Lease (one per installation sharing a namespace)")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", 10*time.Second, "webhook server: time to read one request, headers and body, counted from its first byte (per request, not per connection)")
	fs.DurationVar(&o.WriteTimeout, "write-timeout", 35*time.Second, "webhook server: time from the end of reading a request to the end of writing its answer (above the API server's longest webhook timeout, 30s)")
	fs.DurationVar(&o.IdleTimeout, "idle-timeout", 120*time.Second, "webhook server: how long a keep-alive connection may wait for its next request (keep it above the API server's 90s idle timeout)")
	fs.IntVar(&o.MaxConnections, "max-connections", 1024, "webhook server: open connections at most; further ones wait to be accepted (0: no limit)")
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS (the --cert-dir certificate) to callers the API server authenticates and authorizes for GET /metrics; needs --cluster. false: plain HTTP, for local use (--dev implies false)")
	fs.StringVar(&o.LogFormat, "log-format", "text", "log format: text (human-readable lines) or json (one JSON object per line)")
	return fs
}

// runServe parses the serve flags and runs the webhook until SIGINT or
// SIGTERM: exit 2 for bad flags, 1 when serving fails.
func runServe(args []string) int {
	var o srv.Options
	fs := serveFlags(&o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "metrics-secure" {
			o.MetricsSecureSet = true
		}
	})
	if err := o.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		return 2
	}
	log := newLogger(o)
	ctrl.SetLogger(log)
	klog.SetLogger(log) // client-go's own lines (the Events broadcaster's) in the same format
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := srv.Run(logr.NewContext(ctx, log), o); err != nil {
		log.Error(err, "driftguard serve failed")
		return 1
	}
	return 0
}
