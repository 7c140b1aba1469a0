//go:build e2e

package e2e

// The policies about what controllers and upgrades do with an edit later
// against the real API server: version_label, operator_state,
// reconciler_parents, latent_drift and deprecated_apis, each on its main
// path in a namespace of its own; the config is restored.

import (
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

var (
	asTenantOperator = []string{"--as=system:serviceaccount:operators:tenant-operator"}
	asPlatformAdmin  = []string{"--as=alice", "--as-group=devs", "--as-group=platform-admins"}
)

func noWarningFrom(t *testing.T, r result, prefix string) {
	t.Helper()
	for _, w := range r.warnings() {
		if strings.Contains(w, prefix) {
			t.Fatalf("unexpected %s warning:\n%s", prefix, r)
		}
	}
}

func policyNamespace(t *testing.T, name string, labels ...string) {
	t.Helper()
	mustSucceed(t, s.kubectl("create", "namespace", name))
	if len(labels) > 0 {
		mustSucceed(t, s.kubectl(append([]string{"label", "namespace", name}, labels...)...))
	}
	// pods need the namespace's default service account (no controller-manager here)
	s.kubectl("create", "serviceaccount", "default", "-n", name)
	t.Cleanup(func() { s.kubectl("delete", "namespace", name, "--wait=false") })
}

func TestControllersAndVersions(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}

	t.Run("version_label: an image bump without the version label warns", func(t *testing.T) {
		const ns = "versions-tenant-a"
		// tenant namespaces from config: the policy's params
		def := string(config.DefaultYAML())
		cfg := strings.Replace(def, `params: {tenantNamespaces: ["tenant-*"], label: version}`,
			`params: {tenantNamespaces: ["versions-tenant-*"], label: version}`, 1)
		if cfg == def {
			t.Fatal("the default config has no version_label params to point at versions-tenant-*")
		}
		reload(t, []byte(cfg))
		t.Cleanup(func() { reload(t, config.DefaultYAML()) })
		policyNamespace(t, ns)
		r := s.kubectlIn(`apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: versions-tenant-a}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api, version: 1.0.0}}
    spec:
      containers: [{name: api, image: "ghcr.io/acme/api:1.0.0"}]
`, "apply", "-f", "-")
		expectAllowed(t, r)
		noWarningFrom(t, r, "[version_label]")

		r = k(asAlice, "set", "image", "deployment/api", "api=ghcr.io/acme/api:1.1.0", "-n", ns)
		expectAllowed(t, r)
		anyWarning(t, r, "[version_label] spec.template.metadata.labels.version of Deployment versions-tenant-a/api", `is "1.0.0" but container api runs image tag "1.1.0"`)

		r = k(asAlice, "patch", "deployment/api", "-n", ns, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"labels":{"version":"1.1.0"}}}}}`)
		expectAllowed(t, r)
		noWarningFrom(t, r, "[version_label]")
	})

	t.Run("operator_state: bookkeeping annotations and credential passwords", func(t *testing.T) {
		const ns = "operator-state"
		policyNamespace(t, ns)
		// the operator's service account may act (RBAC must never be what answers)
		mustSucceed(t, s.kubectl("create", "clusterrolebinding", "operator-state-tenant-operator", "--clusterrole=cluster-admin",
			"--serviceaccount=operators:tenant-operator"))
		t.Cleanup(func() { s.kubectl("delete", "clusterrolebinding", "operator-state-tenant-operator") })
		mustSucceed(t, s.kubectlIn(`apiVersion: v1
kind: ConfigMap
metadata:
  name: api-db
  namespace: operator-state
  annotations:
    kopf.zalando.org/last-handled-configuration: '{"spec":{"size":"small"}}'
data: {size: small}
`, "apply", "-f", "-"))
		r := k(asAlice, "annotate", "configmap/api-db", "-n", ns, "kopf.zalando.org/last-handled-configuration-")
		expectDenied(t, r, "[operator_state] metadata.annotations[kopf.zalando.org/last-handled-configuration] of ConfigMap operator-state/api-db", "removed by alice")
		expectAllowed(t, k(asTenantOperator, "annotate", "--overwrite", "configmap/api-db", "-n", ns, `kopf.zalando.org/last-handled-configuration={"spec":{"size":"large"}}`))

		mustSucceed(t, s.kubectlIn(`apiVersion: v1
kind: Secret
metadata:
  name: api-db-credentials
  namespace: operator-state
  labels: {driftguard.io/credentials: "true"}
stringData: {username: api, password: s3cr3t-old}
`, "apply", "-f", "-"))
		r = k(asTenantOperator, "patch", "secret/api-db-credentials", "-n", ns, "--type=merge", "-p", `{"stringData":{"password":"n3w-s3cr3t"}}`)
		expectDenied(t, r, "[operator_state] key password of credential Secret operator-state/api-db-credentials is changed by system:serviceaccount:operators:tenant-operator", "driftguard.io/rotation")
		for _, v := range []string{"s3cr3t-old", "n3w-s3cr3t", b64([]byte("s3cr3t-old")), b64([]byte("n3w-s3cr3t"))} {
			if strings.Contains(r.stderr, v) {
				t.Errorf("the denial shows a Secret value %q:\n%s", v, r)
			}
		}
		if got := get(t, "secret/api-db-credentials", ns, "{.data.password}"); got != b64([]byte("s3cr3t-old")) {
			t.Errorf("password changed despite the denial")
		}
		expectAllowed(t, k(asAlice, "patch", "secret/api-db-credentials", "-n", ns, "--type=merge", "-p",
			`{"metadata":{"annotations":{"driftguard.io/rotation":"CHG-1042"}},"stringData":{"password":"n3w-s3cr3t"}}`))
	})

	t.Run("reconciler_parents: profile Namespace labels warn, unenrolling is for admins", func(t *testing.T) {
		const ns = "reconciler-profile"
		policyNamespace(t, ns, "app.kubernetes.io/part-of=kubeflow-profile")
		r := k(asAlice, "label", "namespace", ns, "team=ml")
		expectAllowed(t, r)
		anyWarning(t, r, "[reconciler_parents] metadata.labels.team of Namespace reconciler-profile is an input of the Kubeflow profile controller")

		r = k(asAlice, "label", "namespace", ns, "app.kubernetes.io/part-of-")
		expectDenied(t, r, "[reconciler_parents] metadata.labels[app.kubernetes.io/part-of] of Namespace reconciler-profile removes the Namespace's enrollment", "platform-admins")
		if got := get(t, "namespace/"+ns, "", `{.metadata.labels.app\.kubernetes\.io/part-of}`); got != "kubeflow-profile" {
			t.Errorf("enrollment label = %q after the denial", got)
		}
		expectAllowed(t, k(asPlatformAdmin, "label", "namespace", ns, "app.kubernetes.io/part-of-"))
	})

	t.Run("latent_drift: OnDelete template changes and hand-edited pods", func(t *testing.T) {
		const ns = "latent-drift"
		policyNamespace(t, ns)
		mustSucceed(t, s.kubectlIn(`apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: latent-drift}
spec:
  replicas: 1
  serviceName: db
  selector: {matchLabels: {app: db}}
  updateStrategy: {type: OnDelete}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "postgres:16.2"}]
`, "apply", "-f", "-"))
		r := k(asTerraform, "set", "image", "statefulset/db", "db=postgres:16.4", "-n", ns)
		expectAllowed(t, r)
		anyWarning(t, r, "[latent_drift] spec.template.spec.containers[db].image of StatefulSet latent-drift/db changes the pod template", "OnDelete", "latent drift")

		stsUID := uid(t, "statefulset/db", ns)
		mustSucceed(t, s.kubectlIn(`apiVersion: v1
kind: Pod
metadata:
  name: db-0
  namespace: latent-drift
  labels: {app: db}
  ownerReferences:
  - {apiVersion: apps/v1, kind: StatefulSet, name: db, uid: `+stsUID+`, controller: true, blockOwnerDeletion: true}
spec:
  automountServiceAccountToken: false
  containers: [{name: db, image: "postgres:16.2"}]
`, "apply", "-f", "-"))
		r = k(asAlice, "set", "image", "pod/db-0", "db=postgres:16.4", "-n", ns)
		expectAllowed(t, r)
		anyWarning(t, r, "[latent_drift] spec.containers[db].image of Pod latent-drift/db-0 is a hand edit of a pod owned by StatefulSet/db")
	})

	t.Run("deprecated_apis: a deprecated API version warns with its replacement", func(t *testing.T) {
		const ns = "deprecated-apis"
		policyNamespace(t, ns)
		r := s.kubectlIn(`apiVersion: v1
kind: Endpoints
metadata: {name: legacy, namespace: deprecated-apis}
subsets: []
`, "apply", "-f", "-")
		expectAllowed(t, r)
		anyWarning(t, r, "[deprecated_apis] v1 Endpoints of Endpoints deprecated-apis/legacy is deprecated; use discovery.k8s.io/v1 EndpointSlice instead")

		r = s.kubectl("create", "configmap", "current", "-n", ns)
		expectAllowed(t, r)
		noWarningFrom(t, r, "[deprecated_apis]")
	})
}
