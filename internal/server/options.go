package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/driftguard/driftguard/internal/certs"
)

// The listen addresses of the side endpoints when their flags are not
// given; --dev moves them to 127.0.0.1.
const (
	DefaultMetricsAddr = ":8080"
	DefaultHealthAddr  = ":8081"
)

// Options are the serve flags; each field is named after its flag (the
// flag's help text, in cmd/webhook, says what it does).
type Options struct {
	Config            string   // --config; empty: the embedded defaults
	Policies          []string // --policies: extra policy directories
	NoBundledPolicies bool     // --no-bundled-policies
	ReloadInterval    time.Duration

	CertDir     string   // --cert-dir: tls.crt and tls.key
	Dev         bool     // --dev: see applyDev
	DevHosts    []string // --dev-hosts
	Host        string   // --host: the webhook's listen host
	Port        int      // --port: the webhook's HTTPS port
	EnableHTTP2 bool     // --enable-http2
	// ClientCAFile (--client-ca-file): callers of the webhook port must
	// present a client certificate signed by one of its CAs; with
	// ClientNames (--client-names) one of those names (clientauth.go).
	ClientCAFile string
	ClientNames  []string

	// the webhook server's bounds per caller
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxConnections int // 0: no limit

	MetricsAddr   string
	HealthAddr    string
	MetricsSecure bool // --metrics-secure: HTTPS, authenticated and authorized
	// MetricsSecureSet: --metrics-secure was given explicitly (--dev
	// turns it off only when it was not)
	MetricsSecureSet bool

	ShutdownDelay time.Duration
	GCPercent     int
	LogFormat     string // --log-format: text or json

	Cluster                 bool // --cluster: in-cluster config or KUBECONFIG
	Audit                   bool
	AuditInterval           time.Duration
	LeaderElect             bool
	LeaderElectionNamespace string
	LeaderElectionID        string

	CertRotation       bool   // --cert-rotation (needs --cluster)
	CertSecret         string // [namespace/]name
	CertDNSName        string // the webhook Service's DNS name
	WebhookConfigNames string // <validating>,<mutating>
	CAOverlap          time.Duration
	// NarrowWebhooks (--narrow-webhooks, needs --cert-rotation) keeps the
	// a-policy-can-answer matchCondition on the webhook configurations,
	// computed from the loaded policies and config (internal/narrowing).
	NarrowWebhooks bool
}

// Validate checks the flags that are wrong whatever else is given.
func (o Options) Validate() error {
	switch {
	case o.ReadTimeout <= 0 || o.WriteTimeout <= 0 || o.IdleTimeout <= 0:
		return errors.New("--read-timeout, --write-timeout and --idle-timeout must be positive")
	case o.MaxConnections < 0:
		return errors.New("--max-connections must not be negative")
	case o.LogFormat != "" && o.LogFormat != "text" && o.LogFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", o.LogFormat)
	}
	return nil
}

// applyDev makes --dev a local set-up: every listener on 127.0.0.1
// unless its flag says otherwise, plain HTTP metrics unless
// --metrics-secure is given, and a self-signed CA and certificate in a
// fixed directory when --cert-dir is empty.
func (o *Options) applyDev() error {
	if !o.Dev {
		return nil
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.MetricsAddr == DefaultMetricsAddr {
		o.MetricsAddr = "127.0.0.1" + DefaultMetricsAddr
	}
	if o.HealthAddr == DefaultHealthAddr {
		o.HealthAddr = "127.0.0.1" + DefaultHealthAddr
	}
	if !o.MetricsSecureSet {
		o.MetricsSecure = false
	}
	if o.CertDir == "" {
		// a fixed place, so the README's curl finds the CA and restarts reuse it
		o.CertDir = filepath.Join(os.TempDir(), "driftguard-dev-certs")
	}
	if _, err := os.Stat(filepath.Join(o.CertDir, certs.CertFile)); errors.Is(err, os.ErrNotExist) {
		hosts := append([]string{"localhost", "127.0.0.1", "::1"}, o.DevHosts...)
		if err := certs.Generate(o.CertDir, hosts, 365*24*time.Hour); err != nil {
			return fmt.Errorf("generating dev certificate: %w", err)
		}
	}
	fmt.Printf("driftguard dev mode: CA certificate at %s\n", filepath.Join(o.CertDir, certs.CAFile))
	return nil
}

// checkCombinations checks the flags that need one another (after the
// --dev defaults).
func (o Options) checkCombinations() error {
	switch {
	case o.CertDir == "":
		return errors.New("--cert-dir is required (or use --dev for a self-signed certificate)")
	case len(o.ClientNames) > 0 && o.ClientCAFile == "":
		return errors.New("--client-names needs --client-ca-file")
	case o.CertRotation && !o.Cluster:
		return errors.New("--cert-rotation needs --cluster")
	case o.NarrowWebhooks && !o.CertRotation:
		return errors.New("--narrow-webhooks needs --cert-rotation (driftguard then manages its webhook configurations)")
	case o.MetricsSecure && !o.Cluster:
		return errMetricsNeedCluster
	}
	return nil
}
