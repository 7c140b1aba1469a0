// Package chart tests the Helm chart in charts/driftguard by rendering it
// with the real Helm, run as a Go tool from its own module
// (tools/helm/go.mod), and checking the rendered objects:
//
//	go test ./test/chart/...
//
// The first run builds Helm into the Go build cache (a few minutes on two
// cores; hack/chart-check.sh warms it). With KUBEBUILDER_ASSETS set (see
// hack/e2e-assets.sh) TestAPIServer also creates the rendered objects in a
// real kube-apiserver and checks how it routes requests to the webhooks.
package chart

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"
)

const (
	release   = "dg"
	namespace = "driftguard-system"
	// helm built as a Go tool has no Kubernetes version stamped in (it
	// would default to v1.20, below the chart's kubeVersion).
	kubeVersion = "v1.37.0"
)

type obj = map[string]any

// repoRoot is the module root (this file lives in test/chart).
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// helmBin is the helm executable `go tool -modfile=tools/helm/go.mod helm`
// runs (the same command hack/chart-check.sh uses), resolved once by
// TestMain: each `go tool` call would spend seconds on staleness checks.
var helmBin string

// helm runs helm in the repo root with empty Helm home directories.
func helm(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = repoRoot(t)
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"))
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func TestMain(m *testing.M) {
	// Build helm (cached in the Go build cache afterwards), then ask go for
	// the cached executable.
	start := time.Now()
	gotool := func(args ...string) (string, error) {
		cmd := exec.Command("go", append([]string{"tool"}, args...)...)
		cmd.Dir = filepath.Join("..", "..")
		cmd.Env = append(os.Environ(), "GOWORK=off")
		var e bytes.Buffer
		cmd.Stderr = &e
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("go tool %s: %v\n%s", strings.Join(args, " "), err, e.String())
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := gotool("-modfile=tools/helm/go.mod", "helm", "version", "--short"); err != nil {
		fmt.Fprintln(os.Stderr, "building helm from tools/helm/go.mod:", err)
		os.Exit(1)
	}
	if d := time.Since(start); d > 30*time.Second {
		fmt.Fprintf(os.Stderr, "built helm in %s\n", d.Round(time.Second))
	}
	p, err := gotool("-n", "-modfile=tools/helm/go.mod", "helm")
	if err == nil {
		_, err = os.Stat(p)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "locating the helm executable:", err)
		os.Exit(1)
	}
	helmBin = p
	os.Exit(m.Run())
}

// rendered is one `helm template` result.
type rendered struct {
	objs []obj
	raw  string
}

func render(t *testing.T, args ...string) rendered {
	t.Helper()
	return renderAs(t, release, args...)
}

func renderAs(t *testing.T, release string, args ...string) rendered {
	t.Helper()
	out, errOut, err := helm(t, append([]string{"template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, errOut)
	}
	r := rendered{raw: out}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(out, -1) {
		var o obj
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		if len(o) == 0 {
			continue
		}
		r.objs = append(r.objs, o)
	}
	return r
}

func (r rendered) all(kind string) []obj {
	var out []obj
	for _, o := range r.objs {
		if o["kind"] == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r rendered) one(t *testing.T, kind string) obj {
	t.Helper()
	os := r.all(kind)
	if len(os) != 1 {
		t.Fatalf("want exactly one %s, got %d", kind, len(os))
	}
	return os[0]
}

func (r rendered) named(t *testing.T, kind, name string) obj {
	t.Helper()
	for _, o := range r.all(kind) {
		if str(o, "metadata.name") == name {
			return o
		}
	}
	t.Fatalf("no %s named %q", kind, name)
	return nil
}

// get walks a dotted path through maps ("spec.template.spec").
func get(o any, path string) any {
	cur := o
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func str(o any, path string) string {
	s, _ := get(o, path).(string)
	return s
}

func list(o any, path string) []any {
	l, _ := get(o, path).([]any)
	return l
}

func strs(o any, path string) []string {
	var out []string
	for _, v := range list(o, path) {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

func num(o any, path string) float64 {
	f, _ := get(o, path).(float64)
	return f
}

func container(t *testing.T, dep obj) obj {
	t.Helper()
	cs := list(dep, "spec.template.spec.containers")
	if len(cs) != 1 {
		t.Fatalf("want one container, got %d", len(cs))
	}
	return cs[0].(obj)
}

func webhooks(t *testing.T, r rendered, kind string) []obj {
	t.Helper()
	var out []obj
	for _, w := range list(r.one(t, kind), "webhooks") {
		out = append(out, w.(obj))
	}
	return out
}

func TestFilesConfigIsTheEmbeddedDefault(t *testing.T) {
	root := repoRoot(t)
	want, err := os.ReadFile(filepath.Join(root, "internal", "config", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "charts", "driftguard", "files", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("charts/driftguard/files/config.yaml differs from internal/config/default.yaml; run\n\tcp internal/config/default.yaml charts/driftguard/files/config.yaml")
	}
	// every top-level config field of the default is known to the values schema
	var def obj
	if err := yaml.Unmarshal(want, &def); err != nil {
		t.Fatal(err)
	}
	schemaJSON, err := os.ReadFile(filepath.Join(root, "charts", "driftguard", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema obj
	if err := yaml.Unmarshal(schemaJSON, &schema); err != nil {
		t.Fatal(err)
	}
	props, _ := get(schema, "properties.config.properties").(obj)
	for k := range def {
		if _, ok := props[k]; !ok {
			t.Errorf("config field %q of default.yaml is missing from values.schema.json (properties.config.properties): chart users could not set it", k)
		}
	}
	// the whole default, given as values.config, passes the schema
	values, err := yaml.Marshal(obj{"config": def})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, values, 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, "-f", f)
	var cfg obj
	if err := yaml.Unmarshal([]byte(getLabelish(r.named(t, "ConfigMap", release+"-driftguard-config"), "data", "config.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	// plus the tenancy_guard params the chart fills in
	setGuardParams(def, "driftguard.io/tenant", "true", namespace+"/"+release+"-driftguard-config", namespace+"/"+release+"-driftguard-policies")
	if fmt.Sprint(cfg) != fmt.Sprint(def) {
		t.Errorf("the default given as values.config renders differently:\n%v\nwant\n%v", cfg, def)
	}
}

func TestLint(t *testing.T) {
	for _, set := range [][]string{
		nil,
		{"--set", "certificates.mode=selfManaged"},
		{"--set", "certificates.mode=provided", "--set", "certificates.provided.secretName=tls", "--set", "certificates.provided.caBundle=Zm9v"},
		{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true"},
	} {
		out, errOut, err := helm(t, append([]string{"lint", "charts/driftguard", "--strict", "--kube-version", kubeVersion}, set...)...)
		if err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s%s", set, err, out, errOut)
		}
	}
}

func TestDefaults(t *testing.T) {
	r := render(t)
	dep := r.one(t, "Deployment")
	pod := get(dep, "spec.template.spec").(obj)
	c := container(t, dep)
	fullname := str(dep, "metadata.name")

	t.Run("labels", func(t *testing.T) {
		for _, o := range r.objs {
			for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
				if getLabel(o, l) == "" {
					t.Errorf("%s %s has no label %s", o["kind"], str(o, "metadata.name"), l)
				}
			}
		}
	})

	t.Run("replicas and disruption budget", func(t *testing.T) {
		if got := num(dep, "spec.replicas"); got != 2 {
			t.Errorf("replicas = %v, want 2", got)
		}
		pdb := r.one(t, "PodDisruptionBudget")
		if got := num(pdb, "spec.minAvailable"); got != 1 {
			t.Errorf("PDB minAvailable = %v, want 1", got)
		}
		if !subset(get(pdb, "spec.selector.matchLabels").(obj), get(dep, "spec.template.metadata.labels").(obj)) {
			t.Error("PDB selector does not select the pods")
		}
		if got := num(dep, "spec.strategy.rollingUpdate.maxUnavailable"); got != 0 {
			t.Errorf("rollout maxUnavailable = %v, want 0", got)
		}
	})

	t.Run("spread", func(t *testing.T) {
		tsc := list(pod, "topologySpreadConstraints")
		if len(tsc) != 1 || str(tsc[0], "topologyKey") != "kubernetes.io/hostname" {
			t.Errorf("topologySpreadConstraints = %v, want one by kubernetes.io/hostname", tsc)
		}
		pref := list(pod, "affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution")
		if len(pref) != 1 || str(pref[0], "podAffinityTerm.topologyKey") != "kubernetes.io/hostname" {
			t.Errorf("want a soft pod anti-affinity by hostname, got %v", get(pod, "affinity"))
		}
		if get(pod, "affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution") != nil {
			t.Error("pod anti-affinity must be soft by default")
		}
	})

	t.Run("security context", func(t *testing.T) {
		want := map[string]any{
			"spec.template.spec.securityContext.runAsNonRoot":        true,
			"spec.template.spec.securityContext.runAsUser":           float64(65532),
			"spec.template.spec.securityContext.seccompProfile.type": "RuntimeDefault",
		}
		for p, v := range want {
			if got := get(dep, p); got != v {
				t.Errorf("%s = %v, want %v", p, got, v)
			}
		}
		cwant := map[string]any{
			"securityContext.runAsNonRoot":             true,
			"securityContext.runAsUser":                float64(65532),
			"securityContext.readOnlyRootFilesystem":   true,
			"securityContext.allowPrivilegeEscalation": false,
			"securityContext.seccompProfile.type":      "RuntimeDefault",
		}
		for p, v := range cwant {
			if got := get(c, p); got != v {
				t.Errorf("container %s = %v, want %v", p, got, v)
			}
		}
		if got := strs(c, "securityContext.capabilities.drop"); !slices.Equal(got, []string{"ALL"}) {
			t.Errorf("capabilities.drop = %v, want [ALL]", got)
		}
		if get(c, "securityContext.capabilities.add") != nil {
			t.Error("no capabilities may be added")
		}
	})

	t.Run("resources", func(t *testing.T) {
		if get(c, "resources.requests.cpu") == nil || get(c, "resources.requests.memory") == nil {
			t.Errorf("want cpu and memory requests, got %v", get(c, "resources"))
		}
		if get(c, "resources.limits.cpu") != nil {
			t.Error("no CPU limit by default")
		}
	})

	t.Run("args and ports", func(t *testing.T) {
		args := strs(c, "args")
		if len(args) == 0 || args[0] != "serve" {
			t.Fatalf("args = %v, want serve first", args)
		}
		for _, a := range []string{"--config=/etc/driftguard/config/config.yaml", "--policies=/etc/driftguard/policies",
			"--cert-dir=/etc/driftguard/tls", "--port=9443", "--metrics-addr=:8080", "--health-addr=:8081",
			"--cluster", "--leader-elect", "--leader-election-id=" + str(dep, "metadata.name") + "-audit", "--shutdown-delay=10s", "--reload-interval=2s"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		for _, a := range args {
			if strings.HasPrefix(a, "--cert-rotation") || strings.HasPrefix(a, "--cert-secret") || strings.HasPrefix(a, "--audit") {
				t.Errorf("the defaults must not pass %s", a)
			}
		}
		env := list(c, "env")
		if len(env) != 2 || str(env[0], "name") != "POD_NAMESPACE" || str(env[0], "valueFrom.fieldRef.fieldPath") != "metadata.namespace" ||
			str(env[1], "name") != "POD_NAME" || str(env[1], "valueFrom.fieldRef.fieldPath") != "metadata.name" {
			t.Errorf("env = %v, want POD_NAMESPACE and POD_NAME (the Events' reportingInstance) from the downward API", env)
		}
		if get(pod, "automountServiceAccountToken") != true {
			t.Error("--cluster needs the service account token")
		}
		ports := map[string]float64{}
		for _, p := range list(c, "ports") {
			ports[str(p, "name")] = num(p, "containerPort")
		}
		if ports["webhook"] != 9443 || ports["metrics"] != 8080 || ports["health"] != 8081 {
			t.Errorf("container ports = %v", ports)
		}
		if str(c, "livenessProbe.httpGet.path") != "/healthz" || str(c, "livenessProbe.httpGet.port") != "health" {
			t.Errorf("liveness probe = %v", get(c, "livenessProbe"))
		}
		if str(c, "readinessProbe.httpGet.path") != "/readyz" || str(c, "readinessProbe.httpGet.port") != "health" {
			t.Errorf("readiness probe = %v", get(c, "readinessProbe"))
		}
		if grace := num(dep, "spec.template.spec.terminationGracePeriodSeconds"); grace < 10+5 {
			t.Errorf("terminationGracePeriodSeconds %v leaves no time to drain after the 10s shutdown delay", grace)
		}
	})

	t.Run("volumes", func(t *testing.T) {
		mounts := map[string]obj{}
		for _, m := range list(c, "volumeMounts") {
			mounts[str(m, "name")] = m.(obj)
			if get(m, "subPath") != nil {
				t.Errorf("mount %s uses subPath: the kubelet never updates it, hot reload would not see changes", str(m, "name"))
			}
		}
		vols := map[string]obj{}
		for _, v := range list(pod, "volumes") {
			vols[str(v, "name")] = v.(obj)
		}
		if str(mounts["tmp"], "mountPath") != "/tmp" || get(vols["tmp"], "emptyDir") == nil {
			t.Error("want an emptyDir at /tmp")
		}
		if str(vols["config"], "configMap.name") != fullname+"-config" || str(mounts["config"], "mountPath") != "/etc/driftguard/config" {
			t.Error("config ConfigMap not mounted at /etc/driftguard/config")
		}
		if str(vols["policies"], "configMap.name") != fullname+"-policies" || str(mounts["policies"], "mountPath") != "/etc/driftguard/policies" {
			t.Error("policies ConfigMap not mounted at /etc/driftguard/policies")
		}
		if str(vols["tls"], "secret.secretName") != fullname+"-tls" {
			t.Errorf("tls volume = %v", vols["tls"])
		}
		if ann := get(dep, "spec.template.metadata.annotations"); ann != nil {
			t.Errorf("no pod annotations by default (hot reload, not restarts), got %v", ann)
		}
	})

	t.Run("config", func(t *testing.T) {
		cm := r.named(t, "ConfigMap", fullname+"-config")
		def, err := os.ReadFile(filepath.Join(repoRoot(t), "internal", "config", "default.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		// verbatim (comments included) but for the tenancy_guard params the chart fills in
		want := guardParamLines(t, string(def), `{"key":"driftguard.io/tenant","value":"true"}`,
			`["`+namespace+`/`+fullname+`-config","`+namespace+`/`+fullname+`-policies"]`)
		if got := getLabelish(cm, "data", "config.yaml"); got != want {
			t.Errorf("config.yaml is not the embedded default verbatim with the chart's tenancy_guard params:\n%s", got)
		}
		if d := get(r.named(t, "ConfigMap", fullname+"-policies"), "data"); d == nil || len(d.(obj)) != 0 {
			t.Errorf("policies ConfigMap data = %v, want empty", d)
		}
	})

	t.Run("service", func(t *testing.T) {
		svc := r.one(t, "Service")
		ports := map[string]obj{}
		for _, p := range list(svc, "spec.ports") {
			ports[str(p, "name")] = p.(obj)
		}
		if num(ports["webhook"], "port") != 443 || str(ports["webhook"], "targetPort") != "webhook" {
			t.Errorf("webhook port = %v, want 443 -> webhook", ports["webhook"])
		}
		if num(ports["metrics"], "port") != 8080 || str(ports["metrics"], "targetPort") != "metrics" {
			t.Errorf("metrics port = %v", ports["metrics"])
		}
		if !subset(get(svc, "spec.selector").(obj), get(dep, "spec.template.metadata.labels").(obj)) {
			t.Error("Service selector does not select the pods")
		}
	})

	t.Run("webhooks", func(t *testing.T) {
		checkWebhooks(t, r, fullname, "driftguard.io/tenant", "true")
		for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
			wc := r.one(t, kind)
			inj := getLabelish(wc, "metadata.annotations", "cert-manager.io/inject-ca-from")
			if inj != namespace+"/"+fullname+"-serving" {
				t.Errorf("%s inject-ca-from = %q", kind, inj)
			}
			for _, w := range webhooks(t, r, kind) {
				if get(w, "clientConfig.caBundle") != nil {
					t.Errorf("%s: cert-manager injects the CA; the chart must not render one", str(w, "name"))
				}
			}
		}
	})

	t.Run("cert-manager", func(t *testing.T) {
		cert := r.named(t, "Certificate", fullname+"-serving")
		if str(cert, "spec.secretName") != fullname+"-tls" {
			t.Errorf("serving certificate secret = %q", str(cert, "spec.secretName"))
		}
		if !slices.Contains(strs(cert, "spec.dnsNames"), fullname+"."+namespace+".svc") {
			t.Errorf("dnsNames %v lack the Service name", strs(cert, "spec.dnsNames"))
		}
		if str(cert, "spec.issuerRef.name") != fullname+"-ca" {
			t.Errorf("serving certificate issuer = %v", get(cert, "spec.issuerRef"))
		}
		ca := r.named(t, "Certificate", fullname+"-ca")
		if get(ca, "spec.isCA") != true || str(ca, "spec.issuerRef.name") != fullname+"-selfsigned" {
			t.Errorf("CA certificate = %v", get(ca, "spec"))
		}
		if get(r.named(t, "Issuer", fullname+"-selfsigned"), "spec.selfSigned") == nil {
			t.Error("want a self-signed Issuer")
		}
		if str(r.named(t, "Issuer", fullname+"-ca"), "spec.ca.secretName") != fullname+"-ca" {
			t.Error("want a CA Issuer on the CA secret")
		}
		if len(r.all("Secret")) != 0 {
			t.Error("certManager mode renders no Secret")
		}
	})

	t.Run("rbac", func(t *testing.T) {
		checkNoWildcards(t, r)
		cr := driftguardRole(t, r)
		want := map[string][]string{ // group/resource -> verbs
			"/namespaces":                               {"get", "list", "watch"},
			"apps/deployments":                          {"get", "list", "watch"},
			"apps/replicasets":                          {"get", "list", "watch"},
			"apps/statefulsets":                         {"get", "list", "watch"},
			"apps/daemonsets":                           {"get", "list", "watch"},
			"external-secrets.io/externalsecrets":       {"get", "list", "watch"},
			"authorization.k8s.io/subjectaccessreviews": {"create"},
			"authentication.k8s.io/tokenreviews":        {"create"},          // metrics.secure
			"events.k8s.io/events":                      {"create", "patch"}, // the decision trail's Events
		}
		got := rulesByResource(cr)
		for res, verbs := range want {
			if !slices.Equal(got[res], verbs) {
				t.Errorf("ClusterRole %s verbs = %v, want %v", res, got[res], verbs)
			}
		}
		for res, verbs := range got {
			for _, v := range verbs {
				if v != "get" && v != "list" && v != "watch" && res != "authorization.k8s.io/subjectaccessreviews" && res != "authentication.k8s.io/tokenreviews" &&
					!strings.HasPrefix(res, "openreports.io/") && // the drift reports (TestReportsChart)
					res != "events.k8s.io/events" {
					t.Errorf("ClusterRole grants %s on %s: only reads (and Events, drift reports) are needed cluster-wide", v, res)
				}
			}
		}
		for res := range got {
			if strings.HasPrefix(res, "rbac.authorization.k8s.io/") || strings.HasPrefix(res, "admissionregistration.k8s.io/") {
				t.Errorf("ClusterRole grants %s, which the defaults do not need", res)
			}
		}
		role := r.one(t, "Role")
		wantRole := map[string][]string{
			"coordination.k8s.io/leases": {"get", "create", "update"},
			"/events":                    {"create", "patch"},
			"events.k8s.io/events":       {"create", "patch"},
		}
		if rr := rulesByResource(role); fmt.Sprint(rr) != fmt.Sprint(wantRole) {
			t.Errorf("Role rules = %v, want %v (leader election)", rr, wantRole)
		}
		sa := r.one(t, "ServiceAccount")
		if str(pod, "serviceAccountName") != str(sa, "metadata.name") {
			t.Error("the pod does not run as the chart's ServiceAccount")
		}
		for _, kind := range []string{"ClusterRoleBinding", "RoleBinding"} {
			b := r.one(t, kind)
			subj := list(b, "subjects")
			if len(subj) != 1 || str(subj[0], "name") != str(sa, "metadata.name") || str(subj[0], "namespace") != namespace {
				t.Errorf("%s subjects = %v", kind, subj)
			}
		}
	})

	t.Run("no monitoring by default", func(t *testing.T) {
		if len(r.all("ServiceMonitor"))+len(r.all("PrometheusRule")) != 0 {
			t.Error("ServiceMonitor and PrometheusRule are opt-in")
		}
	})
}

// scaleResources are the subresources the webhook rules add to "*".
var scaleResources = []string{"deployments/scale", "statefulsets/scale", "replicasets/scale"}

// checkWebhooks asserts the two-entries-per-configuration layout.
func checkWebhooks(t *testing.T, r rendered, fullname, tenantKey, tenantValue string) {
	t.Helper()
	for kind, path := range map[string]string{"ValidatingWebhookConfiguration": "/validate", "MutatingWebhookConfiguration": "/mutate"} {
		ws := layoutWebhooks(t, r, kind)
		if len(ws) != 2 {
			t.Fatalf("%s has %d webhooks, want 2", kind, len(ws))
		}
		byPolicy := map[string]obj{}
		for _, w := range ws {
			name := str(w, "name")
			byPolicy[str(w, "failurePolicy")] = w
			if !slices.Equal(strs(w, "admissionReviewVersions"), []string{"v1"}) {
				t.Errorf("%s admissionReviewVersions = %v", name, strs(w, "admissionReviewVersions"))
			}
			// Events are written, never on dry runs
			if str(w, "sideEffects") != "NoneOnDryRun" || num(w, "timeoutSeconds") != 5 {
				t.Errorf("%s sideEffects/timeoutSeconds = %v/%v", name, get(w, "sideEffects"), get(w, "timeoutSeconds"))
			}
			if str(w, "clientConfig.service.name") != fullname || str(w, "clientConfig.service.namespace") != namespace ||
				str(w, "clientConfig.service.path") != path || num(w, "clientConfig.service.port") != 443 {
				t.Errorf("%s clientConfig = %v", name, get(w, "clientConfig"))
			}
			var exprs []string
			for _, mc := range list(w, "matchConditions") {
				exprs = append(exprs, str(mc, "expression"))
			}
			all := strings.Join(exprs, "\n")
			for _, want := range []string{"'system:node:'", "'system:nodes' in request.userInfo.groups", "'system:serviceaccount:kube-system:'"} {
				if !strings.Contains(all, want) {
					t.Errorf("%s matchConditions lack %s:\n%s", name, want, all)
				}
			}
			excluded := false
			for _, e := range list(w, "namespaceSelector.matchExpressions") {
				if str(e, "key") == "kubernetes.io/metadata.name" && str(e, "operator") == "NotIn" {
					vals := strs(e, "values")
					excluded = slices.Contains(vals, "kube-system") && slices.Contains(vals, namespace)
				}
			}
			if !excluded {
				t.Errorf("%s does not exclude kube-system and %s: %v", name, namespace, get(w, "namespaceSelector"))
			}
			// main resources with CREATE, UPDATE, DELETE; the scale
			// subresources of the three apps/v1 workloads with UPDATE; no
			// other subresource
			scale := 0
			for _, rule := range list(w, "rules") {
				res := strs(rule, "resources")
				if slices.ContainsFunc(res, func(r string) bool { return strings.Contains(r, "/") }) {
					if !slices.Equal(res, scaleResources) || !slices.Equal(strs(rule, "apiGroups"), []string{"apps"}) ||
						!slices.Equal(strs(rule, "apiVersions"), []string{"v1"}) || !slices.Equal(strs(rule, "operations"), []string{"UPDATE"}) {
						t.Errorf("%s subresource rule %v, want apps/v1 %v UPDATE", name, rule, scaleResources)
					}
					scale++
					continue
				}
				if ops := strs(rule, "operations"); !slices.Equal(ops, []string{"CREATE", "UPDATE", "DELETE"}) {
					t.Errorf("%s rule operations = %v", name, ops)
				}
			}
			if scale != 1 {
				t.Errorf("%s has %d scale-subresource rules, want 1 (kubectl scale must be reviewed)", name, scale)
			}
		}
		tenant, other := byPolicy["Fail"], byPolicy["Ignore"]
		if tenant == nil || other == nil {
			t.Fatalf("%s: want one Fail and one Ignore entry, got %v", kind, slices.Sorted(maps.Keys(byPolicy)))
		}
		if ml := get(tenant, "namespaceSelector.matchLabels"); fmt.Sprint(ml) != fmt.Sprint(obj{tenantKey: tenantValue}) {
			t.Errorf("%s Fail entry matchLabels = %v, want %s=%s", kind, ml, tenantKey, tenantValue)
		}
		complement := false
		for _, e := range list(other, "namespaceSelector.matchExpressions") {
			if str(e, "key") == tenantKey && str(e, "operator") == "NotIn" && slices.Equal(strs(e, "values"), []string{tenantValue}) {
				complement = true
			}
		}
		if !complement || get(other, "namespaceSelector.matchLabels") != nil {
			t.Errorf("%s Ignore entry selector %v is not the complement of %s=%s", kind, get(other, "namespaceSelector"), tenantKey, tenantValue)
		}
		// Cluster-scoped objects ignore namespaceSelector: only the
		// fail-open entry may match them (Namespace objects excepted, which
		// are matched by their own labels).
		for _, rule := range list(tenant, "rules") {
			scope := str(rule, "scope")
			if scope == "*" || (scope == "Cluster" && !slices.Equal(strs(rule, "resources"), []string{"namespaces"})) {
				t.Errorf("%s Fail entry rule %v matches cluster-scoped objects", kind, rule)
			}
		}
		if rs := list(other, "rules"); len(rs) != 2 || str(rs[0], "scope") != "*" || !slices.Equal(strs(rs[0], "resources"), []string{"*"}) ||
			str(rs[1], "scope") != "*" || !slices.Equal(strs(rs[1], "resources"), scaleResources) {
			t.Errorf("%s Ignore entry rules = %v, want all main resources and the scale subresources, scope *", kind, rs)
		}
		if rs := list(tenant, "rules"); !slices.ContainsFunc(rs, func(r any) bool {
			return str(r, "scope") == "Namespaced" && slices.Equal(strs(r, "resources"), scaleResources)
		}) {
			t.Errorf("%s Fail entry rules = %v, want the scale subresources, scope Namespaced", kind, rs)
		}
	}
}

func checkNoWildcards(t *testing.T, r rendered) {
	t.Helper()
	for _, kind := range []string{"ClusterRole", "Role"} {
		for _, role := range r.all(kind) {
			for _, rule := range list(role, "rules") {
				for _, f := range []string{"verbs", "resources", "apiGroups", "resourceNames"} {
					for _, v := range strs(rule, f) {
						if strings.Contains(v, "*") {
							t.Errorf("%s %s has a wildcard in %s: %v", kind, str(role, "metadata.name"), f, rule)
						}
					}
				}
				if get(rule, "nonResourceURLs") != nil && !isMetricsReaderRule(role, rule) {
					t.Errorf("%s %s grants nonResourceURLs", kind, str(role, "metadata.name"))
				}
			}
		}
	}
}

// rulesByResource flattens rules to "group/resource" -> verbs (rules with
// resourceNames are keyed "group/resource:name1,name2").
func rulesByResource(role obj) map[string][]string {
	out := map[string][]string{}
	for _, rule := range list(role, "rules") {
		for _, g := range strs(rule, "apiGroups") {
			for _, res := range strs(rule, "resources") {
				key := g + "/" + res
				if names := strs(rule, "resourceNames"); len(names) > 0 {
					key += ":" + strings.Join(names, ",")
				}
				out[key] = append(out[key], strs(rule, "verbs")...)
			}
		}
	}
	return out
}

func TestSelfManagedCertificates(t *testing.T) {
	r := render(t, "--set", "certificates.mode=selfManaged")
	dep := r.one(t, "Deployment")
	fullname := str(dep, "metadata.name")
	args := strs(container(t, dep), "args")
	vwc := str(r.one(t, "ValidatingWebhookConfiguration"), "metadata.name")
	mwc := str(r.one(t, "MutatingWebhookConfiguration"), "metadata.name")
	secret := fullname + "-tls"
	for _, a := range []string{"--cluster", "--cert-rotation", "--cert-secret=" + namespace + "/" + secret,
		"--cert-dns-name=" + fullname + "." + namespace + ".svc", "--webhook-config-names=" + vwc + "," + mwc, "--ca-overlap=1h"} {
		if !slices.Contains(args, a) {
			t.Errorf("args %v lack %s", args, a)
		}
	}
	s := r.one(t, "Secret")
	if str(s, "metadata.name") != secret || get(s, "data") != nil || get(s, "stringData") != nil {
		t.Errorf("want an empty Secret %s for the binary to fill, got %v", secret, s)
	}
	for _, k := range []string{"Certificate", "Issuer"} {
		if len(r.all(k)) != 0 {
			t.Errorf("selfManaged mode renders no %s", k)
		}
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		if getLabelish(r.one(t, kind), "metadata.annotations", "cert-manager.io/inject-ca-from") != "" {
			t.Errorf("%s: no cert-manager annotation in selfManaged mode", kind)
		}
	}
	checkNoWildcards(t, r)
	cr := rulesByResource(driftguardRole(t, r))
	for key, want := range map[string][]string{
		"admissionregistration.k8s.io/validatingwebhookconfigurations":        {"get", "list", "watch"},
		"admissionregistration.k8s.io/mutatingwebhookconfigurations":          {"get", "list", "watch"},
		"admissionregistration.k8s.io/validatingwebhookconfigurations:" + vwc: {"update", "patch"},
		"admissionregistration.k8s.io/mutatingwebhookconfigurations:" + mwc:   {"update", "patch"},
	} {
		if !slices.Equal(cr[key], want) {
			t.Errorf("ClusterRole %s = %v, want %v", key, cr[key], want)
		}
	}
	for key, verbs := range cr {
		if strings.Contains(key, "webhookconfigurations") && !strings.Contains(key, ":") && !slices.Equal(verbs, []string{"get", "list", "watch"}) {
			t.Errorf("ClusterRole grants %v on every %s: writes must name the chart's configurations", verbs, key)
		}
	}
	role := rulesByResource(r.one(t, "Role"))
	if got := role["/secrets:"+secret]; !slices.Equal(got, []string{"update", "patch"}) {
		t.Errorf("Role secret write rule = %v (all: %v)", got, role)
	}
	if got := role["/secrets"]; !slices.Equal(got, []string{"get", "list", "watch"}) {
		t.Errorf("Role secret read rule = %v: the rotator's informer lists the namespace's Secrets", got)
	}
	checkWebhooks(t, r, fullname, "driftguard.io/tenant", "true")
}

func TestProvidedCertificates(t *testing.T) {
	r := render(t, "--set", "certificates.mode=provided", "--set", "certificates.provided.secretName=my-tls", "--set", "certificates.provided.caBundle=Q0EgUEVN")
	dep := r.one(t, "Deployment")
	for _, v := range list(dep, "spec.template.spec.volumes") {
		if str(v, "name") == "tls" && str(v, "secret.secretName") != "my-tls" {
			t.Errorf("tls volume = %v, want secret my-tls", v)
		}
	}
	for _, k := range []string{"Certificate", "Issuer", "Secret"} {
		if len(r.all(k)) != 0 {
			t.Errorf("provided mode renders no %s", k)
		}
	}
	for _, kind := range []string{"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration"} {
		for _, w := range webhooks(t, r, kind) {
			if str(w, "clientConfig.caBundle") != "Q0EgUEVN" {
				t.Errorf("%s caBundle = %q", str(w, "name"), str(w, "clientConfig.caBundle"))
			}
		}
	}
	checkNoWildcards(t, r)
}

func TestMonitoring(t *testing.T) {
	root := repoRoot(t)
	shippedYAML, err := os.ReadFile(filepath.Join(root, "deploy", "prometheus", "driftguard-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	copyYAML, err := os.ReadFile(filepath.Join(root, "charts", "driftguard", "files", "prometheus-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(copyYAML, shippedYAML) {
		t.Error("charts/driftguard/files/prometheus-rules.yaml differs from deploy/prometheus/driftguard-rules.yaml; run\n\tcp deploy/prometheus/driftguard-rules.yaml charts/driftguard/files/prometheus-rules.yaml")
	}
	var shipped obj
	if err := yaml.Unmarshal(shippedYAML, &shipped); err != nil {
		t.Fatal(err)
	}

	r := render(t, "--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
		"--set", "metrics.serviceMonitor.labels.release=prom")
	fullname := str(r.one(t, "Deployment"), "metadata.name")
	sm := r.one(t, "ServiceMonitor")
	if str(sm, "apiVersion") != "monitoring.coreos.com/v1" || getLabel(sm, "release") != "prom" {
		t.Errorf("ServiceMonitor = %v", sm["metadata"])
	}
	eps := list(sm, "spec.endpoints")
	if len(eps) != 1 || str(eps[0], "port") != "metrics" || str(eps[0], "path") != "/metrics" || get(eps[0], "honorLabels") != true {
		t.Errorf("ServiceMonitor endpoints = %v", eps)
	}
	if !subset(get(sm, "spec.selector.matchLabels").(obj), get(r.one(t, "Service"), "metadata.labels").(obj)) {
		t.Error("ServiceMonitor does not select the Service")
	}

	pr := r.one(t, "PrometheusRule")
	if fmt.Sprint(get(pr, "spec.groups")) != fmt.Sprint(shipped["groups"]) {
		t.Errorf("PrometheusRule groups are not the shipped groups of deploy/prometheus/driftguard-rules.yaml")
	}
	alerts := map[string]string{}
	for _, g := range list(pr, "spec.groups") {
		for _, rule := range list(g, "rules") {
			alerts[str(rule, "alert")] += str(rule, "expr")
		}
	}
	want := map[string][]string{
		"DriftguardDown":                     {"up{"},
		"DriftguardWebhookErrors":            {`decision="error"`},
		"DriftguardWebhookSlow":              {"histogram_quantile(0.99", "driftguard_admission_duration_seconds", "> 0.1"},
		"DriftguardPolicyLoadFailed":         {"driftguard_policy_last_load_failed", "== 1"},
		"DriftguardCertificateExpiringSoon":  {"driftguard_certificate_expiry_timestamp_seconds", "7 * 24 * 3600"},
		"DriftguardCertificateReloadFailing": {"driftguard_certificate_reload_failing"},
		"DriftguardHandEditDenialsSpike":     {"driftguard_admission_decisions_total", `decision="deny"`},
		"DriftguardBreakGlassUsed":           {`decision="break_glass"`},
	}
	for name, subs := range want {
		expr, ok := alerts[name]
		if !ok {
			t.Errorf("no alert %s", name)
			continue
		}
		for _, s := range subs {
			if !strings.Contains(expr, s) {
				t.Errorf("alert %s expr lacks %s:\n%s", name, s, expr)
			}
		}
	}
	// the rules' job selectors match the ServiceMonitor's job (the Service name)
	for name, expr := range alerts {
		for _, m := range regexp.MustCompile(`job=~"([^"]*)"`).FindAllStringSubmatch(expr, -1) {
			if !regexp.MustCompile("^(?:" + m[1] + ")$").MatchString(fullname) {
				t.Errorf("alert %s selects job=~%q, which does not match the scraped job %q", name, m[1], fullname)
			}
		}
	}
	// every metric the rules use is documented in docs/metrics.md
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name, expr := range alerts {
		for _, m := range regexp.MustCompile(`driftguard_[a-z_]+`).FindAllString(expr, -1) {
			base := strings.TrimSuffix(m, "_bucket")
			if !strings.Contains(string(doc), "`"+base+"`") {
				t.Errorf("alert %s uses %s, which docs/metrics.md does not list", name, m)
			}
		}
	}

	t.Run("alertLabels, disabledAlerts, additionalRules", func(t *testing.T) {
		r := render(t, "--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.prometheusRule.alertLabels.team=platform",
			"--set", "metrics.prometheusRule.alertLabels.severity=page", "--set", "metrics.prometheusRule.disabledAlerts={DriftguardTargetDown}",
			"--set-json", `metrics.prometheusRule.additionalRules=[{"alert":"Custom","expr":"vector(1) > 2"}]`)
		custom := false
		for _, g := range list(r.one(t, "PrometheusRule"), "spec.groups") {
			for _, rule := range list(g, "rules") {
				name := str(rule, "alert")
				switch {
				case name == "DriftguardTargetDown":
					t.Error("disabled alert DriftguardTargetDown is rendered")
				case name == "Custom":
					custom = str(g, "name") == "driftguard.custom"
				case getLabelish(rule.(obj), "labels", "team") != "platform":
					t.Errorf("alert %s lacks team=platform", name)
				case getLabelish(rule.(obj), "labels", "severity") == "page":
					t.Errorf("alert %s: alertLabels must not override the rule's severity", name)
				}
			}
		}
		if !custom {
			t.Error("additionalRules are not in group driftguard.custom")
		}
	})
}

func TestCustomTenantSelectorAndReplicas(t *testing.T) {
	r := render(t, "--set", "replicaCount=3", "--set", "webhook.tenantNamespaceLabel.key=platform.example.com/tenant",
		"--set-string", "webhook.tenantNamespaceLabel.value=yes", "--set", "webhook.excludeNamespaces={kube-system,monitoring}")
	dep := r.one(t, "Deployment")
	if got := num(dep, "spec.replicas"); got != 3 {
		t.Errorf("replicas = %v, want 3", got)
	}
	if len(r.all("PodDisruptionBudget")) != 1 {
		t.Error("want a PDB")
	}
	checkWebhooks(t, r, str(dep, "metadata.name"), "platform.example.com/tenant", "yes")
	for _, w := range webhooks(t, r, "ValidatingWebhookConfiguration") {
		for _, e := range list(w, "namespaceSelector.matchExpressions") {
			if str(e, "key") == "kubernetes.io/metadata.name" && str(e, "operator") == "NotIn" && !slices.Contains(strs(e, "values"), "monitoring") {
				t.Errorf("%s does not exclude monitoring", str(w, "name"))
			}
		}
	}
}

func TestSingleReplica(t *testing.T) {
	r := render(t, "--set", "replicaCount=1")
	if len(r.all("PodDisruptionBudget")) != 0 {
		t.Error("a PDB with minAvailable 1 on one replica blocks every drain")
	}
	if slices.Contains(strs(container(t, r.one(t, "Deployment")), "args"), "--leader-elect") || len(r.all("Role")) != 0 {
		t.Error("one replica needs no leader election")
	}
}

func TestWithoutCluster(t *testing.T) {
	r := render(t, "--set", "server.clusterLookups=false", "--set", "metrics.secure=false")
	dep := r.one(t, "Deployment")
	for _, a := range strs(container(t, dep), "args") {
		if a == "--cluster" || a == "--leader-elect" {
			t.Errorf("args contain %s", a)
		}
	}
	if get(dep, "spec.template.spec.automountServiceAccountToken") != false {
		t.Error("without --cluster the pod needs no service account token")
	}
	for _, k := range []string{"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"} {
		if len(r.all(k)) != 0 {
			t.Errorf("without --cluster no %s is needed", k)
		}
	}
	// self-managed certificates need the cluster, whatever clusterLookups says
	r = render(t, "--set", "server.clusterLookups=false", "--set", "certificates.mode=selfManaged")
	if !slices.Contains(strs(container(t, r.one(t, "Deployment")), "args"), "--cluster") {
		t.Error("--cert-rotation needs --cluster")
	}
}

func TestPermissionBaselineRBAC(t *testing.T) {
	r := render(t, "--set-json", `config.permissionBaseline=[{"serviceAccount":"kubeflow/argo","permissions":[{"verbs":["list","watch"],"group":"argoproj.io","resource":"workflows"}]}]`)
	cr := rulesByResource(driftguardRole(t, r))
	for _, res := range []string{"clusterroles", "clusterrolebindings", "roles", "rolebindings"} {
		if !slices.Equal(cr["rbac.authorization.k8s.io/"+res], []string{"get", "list", "watch"}) {
			t.Errorf("ClusterRole %s = %v, want get/list/watch for the permission baseline", res, cr["rbac.authorization.k8s.io/"+res])
		}
	}
	checkNoWildcards(t, r)
}

func TestConfigOverlayAndPolicies(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(values, []byte(`
config:
  defaultMode: warn
  policies:
    owned_fields:
      params:
        denyDelete: false
policies:
  team_labels.rego: |
    package driftguard.policies.team_labels
    import rego.v1
    deny contains msg if { false; msg := "never" }
rollOnConfigChange: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := render(t, "-f", values)
	fullname := str(r.one(t, "Deployment"), "metadata.name")
	var cfg obj
	if err := yaml.Unmarshal([]byte(getLabelish(r.named(t, "ConfigMap", fullname+"-config"), "data", "config.yaml")), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg["defaultMode"] != "warn" {
		t.Errorf("defaultMode = %v, want warn", cfg["defaultMode"])
	}
	if got := get(cfg, "policies.owned_fields.params.denyDelete"); got != false {
		t.Errorf("denyDelete = %v, want false (false must override true)", got)
	}
	if len(list(cfg, "policies.owned_fields.params.ignoredPaths")) == 0 || len(list(cfg, "owners")) == 0 || cfg["failurePolicy"] != "deny" {
		t.Error("the overlay dropped defaults it did not mention")
	}
	pol, _ := get(r.named(t, "ConfigMap", fullname+"-policies"), "data").(obj)
	if txt, _ := pol["team_labels.rego"].(string); !strings.HasPrefix(txt, "package driftguard.policies.team_labels\n") {
		t.Errorf("policies ConfigMap data = %v", pol)
	}
	if getLabelish(r.one(t, "Deployment"), "spec.template.metadata.annotations", "checksum/config") == "" {
		t.Error("rollOnConfigChange adds a checksum/config pod annotation")
	}
}

// TestRejected: value sets that must not render.
func TestRejected(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"zero replicas", []string{"--set", "replicaCount=0"}, "replicaCount"},
		{"unknown value (typo)", []string{"--set", "replicas=3"}, "replicas"},
		{"unknown certificate mode", []string{"--set", "certificates.mode=vault"}, "certificates"},
		{"provided without secret", []string{"--set", "certificates.mode=provided"}, "provided"},
		{"provided without CA", []string{"--set", "certificates.mode=provided", "--set", "certificates.provided.secretName=x"}, "caBundle"},
		{"wildcard RBAC", []string{"--set-json", `rbac.extraClusterRules=[{"apiGroups":[""],"resources":["*"],"verbs":["get"]}]`}, "extraClusterRules"},
		{"wildcard verb", []string{"--set-json", `rbac.extraClusterRules=[{"apiGroups":[""],"resources":["pods"],"verbs":["*"]}]`}, "extraClusterRules"},
		{"writable root filesystem", []string{"--set", "securityContext.readOnlyRootFilesystem=false"}, "readOnlyRootFilesystem"},
		{"privilege escalation", []string{"--set", "securityContext.allowPrivilegeEscalation=true"}, "allowPrivilegeEscalation"},
		{"root", []string{"--set", "podSecurityContext.runAsNonRoot=false"}, "runAsNonRoot"},
		{"webhook timeout over 30s", []string{"--set", "webhook.timeoutSeconds=31"}, "timeoutSeconds"},
		{"bad failure policy", []string{"--set", "webhook.failurePolicy.tenant=Deny"}, "failurePolicy"},
		{"tenant label value not a string", []string{"--set", "webhook.tenantNamespaceLabel.value=true"}, "tenantNamespaceLabel"},
		{"bad config mode", []string{"--set", "config.defaultMode=block"}, "defaultMode"},
		{"unknown config field", []string{"--set", "config.defaultmode=warn"}, "defaultmode"},
		{"bad eval timeout", []string{"--set", "config.evalTimeout=2"}, "evalTimeout"},
		{"policy file not .rego", []string{"--set", "policies.x\\.txt=package x"}, "x.txt"},
		{"grace shorter than drain", []string{"--set", "terminationGracePeriodSeconds=10"}, "terminationGracePeriodSeconds"},
		{"bad anti-affinity", []string{"--set", "podAntiAffinity=sometimes"}, "podAntiAffinity"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"template", release, "charts/driftguard", "-n", namespace, "--kube-version", kubeVersion}, c.args...)
			_, errOut, err := helm(t, args...)
			if err == nil {
				t.Fatalf("helm template %v succeeded, want a failure", c.args)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("helm did not run: %v", err)
			}
			if !strings.Contains(errOut, c.want) {
				t.Errorf("error does not mention %q:\n%s", c.want, errOut)
			}
		})
	}
}

// TestNotes renders NOTES.txt (helm template skips it and helm install
// --dry-run needs a cluster) through a copy of the chart.
func TestNotes(t *testing.T) {
	src := filepath.Join(repoRoot(t), "charts", "driftguard")
	dst := filepath.Join(t.TempDir(), "driftguard")
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	notes, err := os.ReadFile(filepath.Join(src, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dst, "files", "notes.txt"), notes, 0o600); err != nil {
		t.Fatal(err)
	}
	check := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n{{ tpl (.Files.Get \"files/notes.txt\") . | indent 4 }}\n"
	if err := os.WriteFile(filepath.Join(dst, "templates", "zz-notes.yaml"), []byte(check), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"certManager", "selfManaged"} {
		out, errOut, err := helm(t, "template", release, dst, "-n", namespace, "--kube-version", kubeVersion,
			"--show-only", "templates/zz-notes.yaml", "--set", "certificates.mode="+mode, "--set", "replicaCount=1")
		if err != nil {
			t.Fatalf("rendering NOTES.txt (%s): %v\n%s", mode, err, errOut)
		}
		var cm obj
		if err := yaml.Unmarshal([]byte(out), &cm); err != nil {
			t.Fatal(err)
		}
		text := str(cm, "data.notes")
		for _, want := range []string{"kubectl label namespace <tenant-namespace> driftguard.io/tenant=true", "replicaCount is 1", mode,
			"Opting out is for config.admins only (users -; groups system:masters; service accounts -; policy tenancy_guard)",
			"ConfigMaps\n" + release + "-driftguard-config and " + release + "-driftguard-policies"} {
			if !strings.Contains(text, want) {
				t.Errorf("NOTES (%s) lack %q:\n%s", mode, want, text)
			}
		}
	}
	// a NetworkPolicy that shuts Prometheus out is pointed out
	out, errOut, err := helm(t, "template", release, dst, "-n", namespace, "--kube-version", kubeVersion, "--show-only", "templates/zz-notes.yaml",
		"--set", "networkPolicy.enabled=true", "--set", "networkPolicy.webhook.cidrs={10.0.0.0/16}", "--set", "metrics.serviceMonitor.enabled=true")
	if err != nil {
		t.Fatalf("rendering NOTES.txt: %v\n%s", err, errOut)
	}
	if !strings.Contains(out, "WARNING: networkPolicy.enabled without networkPolicy.metrics.from") {
		t.Errorf("NOTES lack the NetworkPolicy warning:\n%s", out)
	}
}

func subset(sub, super obj) bool {
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return len(sub) > 0
}

func getLabel(o obj, key string) string { return getLabelish(o, "metadata.labels", key) }

// getLabelish reads a key containing dots from the map at path.
func getLabelish(o obj, path, key string) string {
	m, _ := get(o, path).(obj)
	s, _ := m[key].(string)
	return s
}

// startAPIServer starts a real kube-apiserver (envtest, KUBEBUILDER_ASSETS
// from hack/e2e-assets.sh; the test is skipped without it) and returns its
// config and a system:masters client.
func startAPIServer(t *testing.T) (*rest.Config, client.Client) {
	t.Helper()
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		t.Skip("KUBEBUILDER_ASSETS is not set: run with KUBEBUILDER_ASSETS=$(hack/e2e-assets.sh | tail -n1) to check the chart against a real kube-apiserver")
	}
	ctrllog.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: assets, ControlPlaneStartTimeout: 2 * time.Minute, ControlPlaneStopTimeout: time.Minute}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	admin, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, admin
}

// TestAPIServer creates the rendered chart (minus cert-manager and
// Prometheus Operator objects, whose CRDs are not installed) in a real
// kube-apiserver, which validates every object, compiles the CEL
// matchConditions, and then routes requests by the webhook configurations.
// No driftguard pod runs, so every call the API server makes fails: a write
// that reaches a Fail entry is rejected, one that reaches only an Ignore
// entry or no entry at all succeeds. That shows which requests the chart
// sends where. Needs KUBEBUILDER_ASSETS (hack/e2e-assets.sh).
func TestAPIServer(t *testing.T) {
	cfg, admin := startAPIServer(t)
	r := render(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	as := func(user string, groups ...string) client.Client {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append(groups, "system:authenticated")}
		cl, err := client.New(c, client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	apply := func(c client.Client, y string) error {
		var o obj
		if err := yaml.Unmarshal([]byte(y), &o); err != nil {
			t.Fatal(err)
		}
		return c.Create(ctx, &unstructured.Unstructured{Object: o})
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Before any webhook exists: namespaces (the release and kube-system
	// carry the tenant label too, to show the exclusions win), and RBAC
	// letting the impersonated users write ConfigMaps, so that only
	// admission can stop them.
	for _, ns := range []string{"apiVersion: v1\nkind: Namespace\nmetadata: {name: " + namespace + ", labels: {driftguard.io/tenant: \"true\"}}",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: tenant-a, labels: {driftguard.io/tenant: \"true\"}}",
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}",
		`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: probe-writer}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [create]}]`,
		`apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: probe-writer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: probe-writer}
subjects:
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: alice}
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:node:node-1"}
  - {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:serviceaccount:kube-system:job-runner"}`,
	} {
		must(apply(admin, ns))
	}
	ks := &unstructured.Unstructured{}
	ks.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	must(admin.Get(ctx, client.ObjectKey{Name: "kube-system"}, ks))
	ks.SetLabels(map[string]string{"driftguard.io/tenant": "true", "kubernetes.io/metadata.name": "kube-system"})
	must(admin.Update(ctx, ks))

	// The chart: everything else first, the webhook configurations last.
	var hooks []obj
	for _, o := range r.objs {
		apiVersion := str(o, "apiVersion")
		if strings.HasPrefix(apiVersion, "cert-manager.io/") || strings.HasPrefix(apiVersion, "monitoring.coreos.com/") {
			continue
		}
		if strings.HasSuffix(str(o, "kind"), "WebhookConfiguration") {
			hooks = append(hooks, o)
			continue
		}
		if err := admin.Create(ctx, &unstructured.Unstructured{Object: o}); err != nil {
			t.Fatalf("creating %s %s: %v", o["kind"], str(o, "metadata.name"), err)
		}
	}
	if len(hooks) != 2 {
		t.Fatalf("want 2 webhook configurations, got %d", len(hooks))
	}
	// The selfManaged variant's RBAC and Secret, as another release.
	for _, o := range renderAs(t, "dgs", "--set", "certificates.mode=selfManaged").objs {
		switch str(o, "kind") {
		case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Secret", "Deployment":
			if err := admin.Create(ctx, &unstructured.Unstructured{Object: o}); err != nil {
				t.Fatalf("creating selfManaged %s %s: %v", o["kind"], str(o, "metadata.name"), err)
			}
		}
	}
	for _, o := range hooks {
		if err := admin.Create(ctx, &unstructured.Unstructured{Object: o}); err != nil {
			t.Fatalf("the API server rejects %s: %v", str(o, "metadata.name"), err)
		}
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(schema.FromAPIVersionAndKind(str(o, "apiVersion"), str(o, "kind")))
		must(admin.Get(ctx, client.ObjectKey{Name: str(o, "metadata.name")}, got))
		want := map[string]int{}
		for _, w := range list(o, "webhooks") {
			want[str(w, "name")] = len(list(w, "matchConditions"))
		}
		for _, w := range list(got.Object, "webhooks") {
			if len(list(w, "matchConditions")) != want[str(w, "name")] {
				t.Errorf("%s: the API server dropped matchConditions", str(w, "name"))
			}
		}
	}

	// Webhook configurations take effect asynchronously; wait until a
	// tenant write is rejected.
	configMap := func(ns string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: probe-, namespace: " + ns + "}\ndata: {k: v}"
	}
	deadline := time.Now().Add(30 * time.Second)
	for apply(admin, configMap("tenant-a")) == nil {
		if time.Now().After(deadline) {
			t.Fatal("writes in the tenant namespace never reached the (absent) webhook")
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Which webhook answered is read from the API server's own metrics.
	httpClient, err := rest.HTTPClientFor(cfg)
	must(err)
	scrape := func() map[string]float64 {
		t.Helper()
		resp, err := httpClient.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics")
		must(err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		must(err)
		out := map[string]float64{}
		lbl := regexp.MustCompile(`name="([^"]*)"`)
		for _, line := range strings.Split(string(body), "\n") {
			for _, m := range []string{"apiserver_admission_webhook_fail_open_count", "apiserver_admission_match_condition_exclusions_total", "apiserver_admission_match_condition_evaluation_errors_total"} {
				if !strings.HasPrefix(line, m+"{") {
					continue
				}
				name := lbl.FindStringSubmatch(line)
				var v float64
				if _, err := fmt.Sscan(line[strings.LastIndex(line, " ")+1:], &v); err != nil || name == nil {
					t.Fatalf("cannot parse metric line %q", line)
				}
				out[m+"/"+name[1]] += v
			}
		}
		return out
	}
	const (
		blocked    = "blocked by the tenant entry (Fail)"
		failedOpen = "passed the others entry (Ignore)"
		skipped    = "skipped by matchConditions"
		unmatched  = "matched no entry"
	)
	probes := []struct {
		name string
		c    client.Client
		y    string
		want string
	}{
		{"tenant namespace", admin, configMap("tenant-a"), blocked},
		{"tenant namespace, ordinary user", as("alice"), configMap("tenant-a"), blocked},
		{"other namespace", admin, configMap("team-b"), failedOpen},
		{"default namespace", admin, configMap("default"), failedOpen},
		{"cluster-scoped object", admin, "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {generateName: probe-}\nrules: []", failedOpen},
		{"kube-system, even with the tenant label", admin, configMap("kube-system"), unmatched},
		{"release namespace, even with the tenant label", admin, configMap(namespace), unmatched},
		{"node in a tenant namespace", as("system:node:node-1", "system:nodes"), configMap("tenant-a"), skipped},
		{"kube-system service account in a tenant namespace", as("system:serviceaccount:kube-system:job-runner", "system:serviceaccounts", "system:serviceaccounts:kube-system"), configMap("tenant-a"), skipped},
		{"lease in a tenant namespace", admin, "apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {generateName: probe-, namespace: tenant-a}\nspec: {holderIdentity: x}", skipped},
		{"new tenant Namespace", admin, "apiVersion: v1\nkind: Namespace\nmetadata: {generateName: tenant-, labels: {driftguard.io/tenant: \"true\"}}", blocked},
		{"new ordinary Namespace", admin, "apiVersion: v1\nkind: Namespace\nmetadata: {generateName: team-}", failedOpen},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			before := scrape()
			err := apply(p.c, p.y)
			after := scrape()
			delta := func(metric, webhook string) float64 {
				k := "apiserver_admission_" + metric + "/" + webhook
				return after[k] - before[k]
			}
			var got []string
			if err != nil {
				if strings.Contains(err.Error(), "failed calling webhook \"tenants.") {
					got = append(got, blocked)
				} else {
					got = append(got, "rejected: "+err.Error())
				}
			}
			if delta("webhook_fail_open_count", "others.mutate.driftguard.io") > 0 && delta("webhook_fail_open_count", "others.validate.driftguard.io") > 0 {
				got = append(got, failedOpen)
			}
			if delta("match_condition_exclusions_total", "tenants.mutate.driftguard.io") > 0 && delta("match_condition_exclusions_total", "tenants.validate.driftguard.io") > 0 {
				got = append(got, skipped)
			}
			for k, v := range after {
				if strings.Contains(k, "driftguard.io") && v != before[k] && len(got) == 0 {
					got = append(got, "unexpected "+k)
				}
			}
			if len(got) == 0 {
				got = append(got, unmatched)
			}
			if len(got) != 1 || got[0] != p.want {
				t.Errorf("request %v; want it %s", got, p.want)
			}
		})
	}
	checkGuardRouting(t, ctx, admin, scrape, release+"-driftguard-config")
	for k, v := range scrape() {
		if strings.HasPrefix(k, "apiserver_admission_match_condition_evaluation_errors_total/") && v > 0 {
			t.Errorf("matchConditions failed to evaluate: %s = %v", k, v)
		}
	}
}
