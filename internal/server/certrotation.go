package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/certs"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/narrowing"
	"github.com/driftguard/driftguard/internal/policy"
)

// addCertRotation selects self-managed certificates (--cert-rotation):
// open-policy-agent's cert-controller keeps a CA and serving certificate
// in a Secret and rotates them before expiry; driftguard's
// certs.BundleKeeper injects the CA bundle into the webhook
// configurations, keeping the previous CA for --ca-overlap after a CA
// rotation; the Secret is mounted at --cert-dir, where
// controller-runtime's certwatcher picks up each rotation and certs.Gate
// serves a new certificate only once the caBundles trust it.
//
// It adds the rotator and the CA bundle keeper to the manager; the
// returned channel closes when the certificates are in --cert-dir and
// both configurations trust their CA, so the webhook server may start.
// The gate is to be the server's GetCertificate.
func addCertRotation(mgr ctrl.Manager, log logr.Logger, o Options) (chan struct{}, *certs.Gate, error) {
	ns, name, ok := strings.Cut(o.CertSecret, "/")
	if !ok {
		ns, name = os.Getenv("POD_NAMESPACE"), o.CertSecret
	}
	if ns == "" || name == "" {
		return nil, nil, fmt.Errorf("--cert-secret %q: give namespace/name or set POD_NAMESPACE", o.CertSecret)
	}
	if o.CertDNSName == "" {
		return nil, nil, fmt.Errorf("--cert-rotation needs --cert-dns-name (the webhook Service's DNS name, e.g. driftguard.driftguard.svc)")
	}
	validating, mutating, _ := strings.Cut(o.WebhookConfigNames, ",")
	if validating == "" || mutating == "" {
		return nil, nil, fmt.Errorf("--webhook-config-names %q: want <validating>,<mutating>", o.WebhookConfigNames)
	}
	if o.CAOverlap < 0 {
		return nil, nil, fmt.Errorf("--ca-overlap %s: must not be negative", o.CAOverlap)
	}
	mounted := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: ns, Name: name},
		CertDir:        o.CertDir,
		CAName:         "driftguard-ca",
		CAOrganization: "driftguard",
		DNSName:        o.CertDNSName,
		IsReady:        mounted,
		// no Webhooks: the BundleKeeper injects the CA (with overlap)
		// every replica keeps its own files current; only writes race, and
		// the rotator resolves those with resourceVersion conflicts
		RequireLeaderElection: false,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("certificate rotation: %w", err)
	}
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, nil, fmt.Errorf("certificate rotation: %w", err)
	}
	gate := &certs.Gate{}
	keeper := &certs.BundleKeeper{
		Client: cs, Namespace: ns, Secret: name,
		Validating: validating, Mutating: mutating,
		Overlap: o.CAOverlap, Gate: gate,
		Log:      log.WithName("ca-bundle"),
		Injected: make(chan struct{}),
	}
	if err := mgr.Add(keeper); err != nil {
		return nil, nil, fmt.Errorf("certificate rotation: %w", err)
	}
	ready := make(chan struct{})
	go func() {
		<-mounted
		<-keeper.Injected
		close(ready)
	}()
	return ready, gate, nil
}

// addNarrowing adds the keeper of the a-policy-can-answer matchCondition
// (--narrow-webhooks) to the manager and returns what sets it from a
// loaded state: at start and after each reload. The engine serves a
// reloaded state before the keeper's write lands, so a reload that adds
// kinds leaves them unsent for that write's round trip (the keeper logs
// "webhook matchCondition a-policy-can-answer updated").
func addNarrowing(mgr ctrl.Manager, log logr.Logger, o Options, m *metrics.Metrics) (func(*admit.State, []policy.Source), error) {
	validating, mutating, _ := strings.Cut(o.WebhookConfigNames, ",")
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("--narrow-webhooks: %w", err)
	}
	log = log.WithName("narrowing")
	k := &narrowing.Keeper{Client: cs, Validating: validating, Mutating: mutating, Log: log, Metrics: m}
	if err := mgr.Add(k); err != nil {
		return nil, fmt.Errorf("--narrow-webhooks: %w", err)
	}
	return func(st *admit.State, src []policy.Source) {
		c, err := narrowing.For(st, src)
		if err != nil {
			log.Error(err, "computing the webhook matchCondition "+narrowing.Name+"; every request is sent")
			c = narrowing.Conditions{Wide: err.Error()}
		}
		if !c.Narrowed() {
			log.Info("the webhook configurations are not narrowed: every request is sent", "reason", c.Wide)
		}
		k.Set(c)
	}, nil
}
