package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
)

// rotationFlags select self-managed certificates: open-policy-agent's
// cert-controller keeps a CA and serving certificate in a Secret, rotates
// them before expiry and injects the CA bundle into the webhook
// configurations; the Secret is mounted at --cert-dir, where
// controller-runtime's certwatcher picks up each rotation.
type rotationFlags struct {
	enabled        bool
	secret         string // [namespace/]name
	dnsName        string // the Service's DNS name
	webhookConfigs string // validating,mutating configuration names
}

// addCertRotation adds the rotator to the manager; the returned channel
// closes when the certificates are in --cert-dir and the webhook server
// may start.
func addCertRotation(mgr ctrl.Manager, f rotationFlags, certDir string) (chan struct{}, error) {
	ns, name, ok := strings.Cut(f.secret, "/")
	if !ok {
		ns, name = os.Getenv("POD_NAMESPACE"), f.secret
	}
	if ns == "" || name == "" {
		return nil, fmt.Errorf("--cert-secret %q: give namespace/name or set POD_NAMESPACE", f.secret)
	}
	if f.dnsName == "" {
		return nil, fmt.Errorf("--cert-rotation needs --cert-dns-name (the webhook Service's DNS name, e.g. driftguard.driftguard.svc)")
	}
	validating, mutating, _ := strings.Cut(f.webhookConfigs, ",")
	if validating == "" || mutating == "" {
		return nil, fmt.Errorf("--webhook-config-names %q: want <validating>,<mutating>", f.webhookConfigs)
	}
	ready := make(chan struct{})
	err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: ns, Name: name},
		CertDir:        certDir,
		CAName:         "driftguard-ca",
		CAOrganization: "driftguard",
		DNSName:        f.dnsName,
		IsReady:        ready,
		Webhooks: []rotator.WebhookInfo{
			{Name: validating, Type: rotator.Validating},
			{Name: mutating, Type: rotator.Mutating},
		},
		// every replica keeps its own files current; only writes race, and
		// the rotator resolves those with resourceVersion conflicts
		RequireLeaderElection: false,
	})
	if err != nil {
		return nil, fmt.Errorf("certificate rotation: %w", err)
	}
	return ready, nil
}
