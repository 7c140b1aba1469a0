package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/certs"
)

// rotationFlags select self-managed certificates: open-policy-agent's
// cert-controller keeps a CA and serving certificate in a Secret and
// rotates them before expiry; driftguard's certs.BundleKeeper injects the
// CA bundle into the webhook configurations, keeping the previous CA for
// --ca-overlap after a CA rotation; the Secret is mounted at --cert-dir,
// where controller-runtime's certwatcher picks up each rotation and
// certs.Gate serves a new certificate only once the caBundles trust it.
type rotationFlags struct {
	enabled        bool
	secret         string // [namespace/]name
	dnsName        string // the Service's DNS name
	webhookConfigs string // validating,mutating configuration names
	overlap        time.Duration
}

// addCertRotation adds the rotator and the CA bundle keeper to the
// manager; the returned channel closes when the certificates are in
// --cert-dir and both configurations trust their CA, so the webhook
// server may start. The gate is to be the server's GetCertificate.
func addCertRotation(mgr ctrl.Manager, log logr.Logger, f rotationFlags, certDir string) (chan struct{}, *certs.Gate, error) {
	ns, name, ok := strings.Cut(f.secret, "/")
	if !ok {
		ns, name = os.Getenv("POD_NAMESPACE"), f.secret
	}
	if ns == "" || name == "" {
		return nil, nil, fmt.Errorf("--cert-secret %q: give namespace/name or set POD_NAMESPACE", f.secret)
	}
	if f.dnsName == "" {
		return nil, nil, fmt.Errorf("--cert-rotation needs --cert-dns-name (the webhook Service's DNS name, e.g. driftguard.driftguard.svc)")
	}
	validating, mutating, _ := strings.Cut(f.webhookConfigs, ",")
	if validating == "" || mutating == "" {
		return nil, nil, fmt.Errorf("--webhook-config-names %q: want <validating>,<mutating>", f.webhookConfigs)
	}
	if f.overlap < 0 {
		return nil, nil, fmt.Errorf("--ca-overlap %s: must not be negative", f.overlap)
	}
	mounted := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: ns, Name: name},
		CertDir:        certDir,
		CAName:         "driftguard-ca",
		CAOrganization: "driftguard",
		DNSName:        f.dnsName,
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
		Overlap: f.overlap, Gate: gate,
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
