//go:build e2e

package e2e

// The policies that judge workloads' containers against the real API
// server: feature_flags, mutable_tags and security_context, each on its
// main path, in namespace workload-containers, which is made a tenant
// namespace (params.tenantNamespaces) for the length of the test; the
// default config is restored afterwards.

import (
	"fmt"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/config"
)

const containersNS = "workload-containers"

// setContainersConfig loads the default config with workload-containers
// added to the tenant namespaces of mutable_tags and security_context (and
// the no-digest warning on), and restores the default config when the
// test ends.
func setContainersConfig(t *testing.T) {
	t.Helper()
	var cfg map[string]any
	if err := yaml.Unmarshal(config.DefaultYAML(), &cfg); err != nil {
		t.Fatal(err)
	}
	pols, _ := cfg["policies"].(map[string]any)
	if pols == nil {
		pols = map[string]any{}
	}
	tenants := []any{"tenant-*", containersNS}
	pols["mutable_tags"] = map[string]any{"mode": "enforce", "params": map[string]any{"tenantNamespaces": tenants, "warnWithoutDigest": true}}
	pols["security_context"] = map[string]any{"mode": "enforce", "params": map[string]any{"tenantNamespaces": tenants}}
	cfg["policies"] = pols
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	loads := metric(t, "driftguard_policy_loads_total", nil)
	if err := writeFileAtomic(s.configFile, b); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	t.Cleanup(func() {
		loads := metric(t, "driftguard_policy_loads_total", nil)
		if err := writeFileAtomic(s.configFile, config.DefaultYAML()); err != nil {
			t.Error(err)
			return
		}
		waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	})
}

func containersDeployment(name, image, env, securityContext string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[5]s
spec:
  replicas: 1
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      securityContext: {runAsNonRoot: true}
      containers:
      - name: api
        image: %[2]s
        env:
        - {name: LOG_LEVEL, value: info}%[3]s
        securityContext: %[4]s
`, name, image, env, securityContext, containersNS)
}

const hardenedSC = `{readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`

func TestWorkloadContainers(t *testing.T) {
	setContainersConfig(t)
	mustSucceed(t, s.kubectl("create", "namespace", containersNS))
	t.Cleanup(func() { s.kubectl("delete", "namespace", containersNS, "--wait=false") })

	tfApply := func(manifest string) result {
		return kIn(asTerraform, manifest, "apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-")
	}
	mustSucceed(t, tfApply(containersDeployment("api", "ghcr.io/acme/api:1.0.0", "", hardenedSC)))

	t.Run("feature_flags: alice sets a flag on the Terraform-owned Deployment: denied, pointing at the ExternalSecret", func(t *testing.T) {
		r := k(asAlice, "set", "env", "deployment/api", "-n", containersNS, "FEATURE_FLAG_ENABLE_AGENTS=true")
		expectDenied(t, r,
			"[feature_flags] spec.template.spec.containers[api].env[FEATURE_FLAG_ENABLE_AGENTS] of Deployment workload-containers/api (add by alice) is managed by Terraform",
			"feature flags belong in the parameter store: add FEATURE_FLAG_ENABLE_AGENTS to ExternalSecret workload-containers/api-feature-flags")
		if env := get(t, "deployment/api", containersNS, "{.spec.template.spec.containers[0].env[*].name}"); env != "LOG_LEVEL" {
			t.Fatalf("env after the denied edit: %q", env)
		}
		// the owner's own apply may set it
		r = tfApply(containersDeployment("api", "ghcr.io/acme/api:1.0.0", "\n        - {name: FEATURE_FLAG_ENABLE_AGENTS, value: \"true\"}", hardenedSC))
		expectAllowed(t, r)
	})

	t.Run("mutable_tags: latest and untagged images are denied, a version tag warns without a digest", func(t *testing.T) {
		r := k(asAlice, "create", "deployment", "web", "-n", containersNS, "--image=ghcr.io/acme/web:latest")
		expectDenied(t, r, "[mutable_tags] spec.template.spec.containers[web].image of Deployment workload-containers/web is ghcr.io/acme/web:latest, which has the mutable tag latest")
		r = k(asAlice, "create", "deployment", "web", "-n", containersNS, "--image=localhost:5000/web")
		expectDenied(t, r, "is localhost:5000/web, which has no tag (so latest)")
		r = k(asAlice, "set", "image", "deployment/api", "-n", containersNS, "api=ghcr.io/acme/api")
		expectDenied(t, r, "spec.template.spec.containers[api].image of Deployment workload-containers/api is ghcr.io/acme/api, which has no tag")
		r = k(asAlice, "create", "deployment", "web", "-n", containersNS, "--image=ghcr.io/acme/web:1.4.2")
		expectAllowed(t, r)
		expectWarning(t, r, 1, "[mutable_tags]", "ghcr.io/acme/web:1.4.2 without a digest")
	})

	t.Run("security_context: even Terraform may not loosen the hardened container; privileged pods are denied", func(t *testing.T) {
		r := tfApply(containersDeployment("api", "ghcr.io/acme/api:1.0.0", "\n        - {name: FEATURE_FLAG_ENABLE_AGENTS, value: \"true\"}",
			`{readOnlyRootFilesystem: false, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}`))
		expectDenied(t, r,
			"[security_context] spec.template.spec.containers[api].securityContext.readOnlyRootFilesystem of Deployment workload-containers/api",
			"readOnlyRootFilesystem of container api loosened from true to false")
		if v := get(t, "deployment/api", containersNS, "{.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}"); v != "true" {
			t.Fatalf("readOnlyRootFilesystem after the denied apply: %q", v)
		}
		r = kIn(asAlice, `apiVersion: v1
kind: Pod
metadata: {name: debug, namespace: workload-containers}
spec:
  containers: [{name: shell, image: "ghcr.io/acme/toolbox:1.0.0", securityContext: {privileged: true}}]
`, "create", "-f", "-")
		expectDenied(t, r, "[security_context] spec.containers[shell].securityContext.privileged of Pod workload-containers/debug: container shell is privileged")
	})
}
