package chart

import (
	"slices"
	"strings"
	"testing"
)

const fullname = release + "-driftguard"

// driftguardRole is driftguard's own ClusterRole (not the metrics reader role).
func driftguardRole(t *testing.T, r rendered) obj {
	t.Helper()
	return r.named(t, "ClusterRole", fullname)
}

// isMetricsReaderRule: the one rule with nonResourceURLs the chart renders.
func isMetricsReaderRule(role obj, rule any) bool {
	return str(role, "metadata.name") == fullname+"-metrics-reader" &&
		slices.Equal(strs(rule, "nonResourceURLs"), []string{"/metrics"}) && slices.Equal(strs(rule, "verbs"), []string{"get"})
}

func serviceMonitorEndpoint(t *testing.T, r rendered) obj {
	t.Helper()
	eps := list(r.one(t, "ServiceMonitor"), "spec.endpoints")
	if len(eps) != 1 {
		t.Fatalf("ServiceMonitor endpoints = %v", eps)
	}
	return eps[0].(obj)
}

// Secure metrics (the default): HTTPS with TokenReview/SubjectAccessReview,
// the RBAC for both sides, and a ServiceMonitor that scrapes over HTTPS
// with Prometheus' token and verifies the serving certificate.
func TestMetricsSecureByDefault(t *testing.T) {
	r := render(t, "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.readers[0].name=prometheus-k8s", "--set", "metrics.readers[0].namespace=monitoring")
	args := strs(container(t, r.one(t, "Deployment")), "args")
	if !slices.Contains(args, "--metrics-secure=true") {
		t.Errorf("args %v lack --metrics-secure=true", args)
	}
	if !slices.Contains(args, "--cluster") {
		t.Error("secure metrics need --cluster")
	}
	cr := rulesByResource(driftguardRole(t, r))
	for _, res := range []string{"authentication.k8s.io/tokenreviews", "authorization.k8s.io/subjectaccessreviews"} {
		if !slices.Equal(cr[res], []string{"create"}) {
			t.Errorf("driftguard's ClusterRole %s = %v, want [create] (once)", res, cr[res])
		}
	}
	reader := r.named(t, "ClusterRole", fullname+"-metrics-reader")
	rules := list(reader, "rules")
	if len(rules) != 1 || !isMetricsReaderRule(reader, rules[0]) || len(strs(rules[0], "resources")) != 0 {
		t.Errorf("metrics reader rules = %v, want only get on nonResourceURLs /metrics", rules)
	}
	b := r.named(t, "ClusterRoleBinding", fullname+"-metrics-reader")
	if str(b, "roleRef.name") != fullname+"-metrics-reader" || str(b, "roleRef.kind") != "ClusterRole" {
		t.Errorf("reader binding roleRef = %v", get(b, "roleRef"))
	}
	subj := list(b, "subjects")
	if len(subj) != 1 || str(subj[0], "kind") != "ServiceAccount" || str(subj[0], "name") != "prometheus-k8s" || str(subj[0], "namespace") != "monitoring" {
		t.Errorf("reader binding subjects = %v", subj)
	}
	checkNoWildcards(t, r)

	ep := serviceMonitorEndpoint(t, r)
	if str(ep, "scheme") != "https" || str(ep, "port") != "metrics" {
		t.Errorf("ServiceMonitor scheme %q port %q, want https on metrics", str(ep, "scheme"), str(ep, "port"))
	}
	if str(ep, "bearerTokenFile") != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
		t.Errorf("ServiceMonitor sends no service account token: %v", ep)
	}
	if get(ep, "tlsConfig.insecureSkipVerify") == true {
		t.Error("the default scrape skips certificate verification")
	}
	if str(ep, "tlsConfig.ca.secret.name") != fullname+"-tls" || str(ep, "tlsConfig.ca.secret.key") != "ca.crt" {
		t.Errorf("ServiceMonitor CA = %v, want ca.crt of %s-tls", get(ep, "tlsConfig.ca"), fullname)
	}
	if str(ep, "tlsConfig.serverName") != fullname+"."+namespace+".svc" {
		t.Errorf("ServiceMonitor serverName = %q", str(ep, "tlsConfig.serverName"))
	}
	// the certificate names the Service: what serverName verifies
	if cert := r.named(t, "Certificate", fullname+"-serving"); !slices.Contains(strs(cert, "spec.dnsNames"), str(ep, "tlsConfig.serverName")) {
		t.Errorf("serverName %s is not in the certificate's dnsNames %v", str(ep, "tlsConfig.serverName"), strs(cert, "spec.dnsNames"))
	}

	// no readers: the role without a binding
	r = render(t)
	if len(r.all("ClusterRoleBinding")) != 1 {
		t.Errorf("without metrics.readers only driftguard's ClusterRoleBinding is rendered, got %d", len(r.all("ClusterRoleBinding")))
	}
	r.named(t, "ClusterRole", fullname+"-metrics-reader")

	// a custom tlsConfig replaces the default
	r = render(t, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.tlsConfig.insecureSkipVerify=true")
	if ep := serviceMonitorEndpoint(t, r); get(ep, "tlsConfig.insecureSkipVerify") != true || get(ep, "tlsConfig.ca") != nil {
		t.Errorf("custom tlsConfig not rendered as given: %v", get(ep, "tlsConfig"))
	}
}

func TestMetricsInsecureOptIn(t *testing.T) {
	r := render(t, "--set", "metrics.secure=false", "--set", "metrics.serviceMonitor.enabled=true")
	if args := strs(container(t, r.one(t, "Deployment")), "args"); !slices.Contains(args, "--metrics-secure=false") {
		t.Errorf("args %v lack --metrics-secure=false", args)
	}
	ep := serviceMonitorEndpoint(t, r)
	if str(ep, "scheme") != "http" || get(ep, "tlsConfig") != nil || get(ep, "bearerTokenFile") != nil {
		t.Errorf("insecure ServiceMonitor endpoint = %v", ep)
	}
	for _, o := range r.all("ClusterRole") {
		if strings.HasSuffix(str(o, "metadata.name"), "-metrics-reader") {
			t.Error("metrics reader role rendered with metrics.secure=false")
		}
	}
	if cr := rulesByResource(driftguardRole(t, r)); cr["authentication.k8s.io/tokenreviews"] != nil {
		t.Error("tokenreviews granted with metrics.secure=false")
	}
}

// Secure metrics need the API server: without cluster mode the chart
// refuses to render rather than fall back to plain HTTP.
func TestMetricsSecureNeedsCluster(t *testing.T) {
	_, errOut, err := helm(t, "template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion, "--set", "server.clusterLookups=false")
	if err == nil || !strings.Contains(errOut, "metrics.secure") || !strings.Contains(errOut, "metrics.secure=false") {
		t.Fatalf("rendered without cluster mode and with metrics.secure, or without explaining: %v\n%s", err, errOut)
	}
}
