//go:build e2e

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

// Names and values of the scenarios (docs/scenarios.md).
const (
	ns        = "tenant-a"
	imgV1     = "ghcr.io/acme/api:1.0.0"
	imgV2     = "ghcr.io/acme/api:1.1.0"
	imgHand   = "ghcr.io/acme/api:9.9.9-hand"
	imgHotfix = "ghcr.io/acme/api:1.1.1-hotfix"
	imgWarn   = "ghcr.io/acme/api:1.1.2-warn"
	imagePath = "spec.template.spec.containers[api].image"
	envPath   = "spec.template.spec.containers[api].env[LOG_LEVEL]"
	imageJP   = "{.spec.template.spec.containers[0].image}"
	kfpImage  = "ghcr.io/kubeflow/kfp-frontend:2.5.0"
	kfpImage2 = "ghcr.io/kubeflow/kfp-frontend:2.6.0"
	rsName    = "api-7d9f"
	secret    = "api-feature-flags"
	// a Secret value that must never appear in a message
	dbURLB64 = "cG9zdGdyZXM6Ly9hcGk6aHVudGVyMkBkYi9hcGk=" // postgres://api:hunter2@db/api
)

// terraformDeployment is what the tenant's Terraform module applies.
func terraformDeployment(name, image string) string { return terraformDeploymentIn(ns, name, image) }

func terraformDeploymentIn(namespace, name, image string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
  namespace: %[3]s
spec:
  replicas: 2
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
      containers:
      - name: api
        image: %[2]s
        env:
        - {name: LOG_LEVEL, value: info}
`, name, image, namespace)
}

// terraformApply is the Terraform runner's server-side apply (the
// kubernetes provider forces conflicts: it is the source of truth).
func terraformApply(name, image string) result {
	return kIn(asTerraform, terraformDeployment(name, image),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-")
}

func imageOf(t *testing.T) string {
	t.Helper()
	return get(t, "deployment/api", ns, imageJP)
}

func expectImage(t *testing.T, want string) {
	t.Helper()
	if got := imageOf(t); got != want {
		t.Fatalf("stored image of Deployment tenant-a/api is %q, want %q", got, want)
	}
}

func expectNoDrift(t *testing.T, resource, namespace string) {
	t.Helper()
	if raw, _ := driftRecord(t, resource, namespace); raw != "" {
		t.Fatalf("%s has a drift record, want none: %s", resource, raw)
	}
}

// secretKeys lists the data keys of the synced Secret.
func secretKeys(t *testing.T) []string {
	t.Helper()
	obj := getObj(t, "secret/"+secret, ns)
	data, _ := obj["data"].(map[string]any)
	var keys []string
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TestScenarios runs docs/scenarios.md against the live system. Subtests share
// state and run in order; a failed setup stops the rest.
func TestScenarios(t *testing.T) {
	var deployUID string

	if !t.Run("setup: objects created the way their owners create them", func(t *testing.T) {
		for _, n := range []string{ns, "admin"} {
			mustSucceed(t, s.kubectl("create", "namespace", n))
		}
		// Terraform's Deployment (with an env var it owns)
		r := terraformApply("api", imgV1)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		deployUID = uid(t, "deployment/api", ns)
		if mgrs := get(t, "deployment/api", ns, "{.metadata.managedFields[*].manager}"); mgrs != "Terraform" {
			t.Fatalf("managedFields managers %q, want only Terraform", mgrs)
		}

		// ESO: the ExternalSecret and the Secret it controls
		mustSucceed(t, kIn(asESO, `apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: api-feature-flags, namespace: tenant-a}
spec:
  refreshInterval: 1h
  secretStoreRef: {kind: ClusterSecretStore, name: parameter-store}
  target: {name: api-feature-flags}
  dataFrom:
  - extract: {key: /tenant-a/api/feature-flags}
`, "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))
		esUID := uid(t, "externalsecret/"+secret, ns)
		mustSucceed(t, kIn(asESO, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: api-feature-flags
  namespace: tenant-a
  ownerReferences:
  - {apiVersion: external-secrets.io/v1, kind: ExternalSecret, name: api-feature-flags, uid: %s, controller: true}
type: Opaque
data:
  DATABASE_URL: %s
`, esUID, dbURLB64), "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))

		// Kubeflow: a Deployment rendered from the profile Namespace
		nsUID := uid(t, "namespace/admin", "")
		mustSucceed(t, kIn(asKubeflow, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ml-pipeline-ui-artifact
  namespace: admin
  ownerReferences:
  - {apiVersion: v1, kind: Namespace, name: admin, uid: %s, controller: true}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ml-pipeline-ui-artifact}
  template:
    metadata:
      labels: {app: ml-pipeline-ui-artifact}
    spec:
      containers:
      - {name: ml-pipeline-ui-artifact, image: %s}
`, nsUID, kfpImage), "create", "-f", "-"))

		// A ReplicaSet controlled by Deployment tenant-a/api
		mustSucceed(t, s.kubectlIn(fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: %s
  namespace: tenant-a
  labels: {app: api, pod-template-hash: 7d9f}
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: api, uid: %s, controller: true}
spec:
  replicas: 2
  selector:
    matchLabels: {app: api, pod-template-hash: 7d9f}
  template:
    metadata:
      labels: {app: api, pod-template-hash: 7d9f}
    spec:
      containers:
      - {name: api, image: %s}
`, rsName, deployUID, imgV1), "create", "-f", "-"))
	}) {
		t.FailNow()
	}

	t.Run("1: alice kubectl edit adds a feature flag to the ExternalSecret's Secret: denied", func(t *testing.T) {
		rv := get(t, "secret/"+secret, ns, "{.metadata.resourceVersion}")
		deny := decisions(t, "externalsecret_owned", "deny", "false")
		// Secret data is base64 in the editor: True -> VHJ1ZQ==
		env := editor(t, `s/^data:$/data:\n  FEATURE_FLAG_ENABLE_AGENTS: VHJ1ZQ==/`)
		r := s.run(kopts{env: env}, append([]string{"edit", "secret", secret, "-n", ns}, asAlice...)...)
		expectDenied(t, r,
			"[externalsecret_owned] FEATURE_FLAG_ENABLE_AGENTS (add) of Secret tenant-a/api-feature-flags",
			"is synced by ExternalSecret tenant-a/api-feature-flags",
			"Feature flags belong in the parameter store",
			"parameter store entries synced by ExternalSecret tenant-a/api-feature-flags")
		for _, v := range []string{"VHJ1ZQ==", "True", dbURLB64, "hunter2"} {
			if strings.Contains(denial(r), v) {
				t.Errorf("the denial leaks a Secret value %q:\n%s", v, r)
			}
		}
		if strings.Contains(r.stderr, "[owned_fields]") {
			t.Errorf("owned_fields answered a Secret synced by an ExternalSecret too:\n%s", r)
		}
		deny.expectDelta(t, 1)
		if got := secretKeys(t); !slices.Equal(got, []string{"DATABASE_URL"}) {
			t.Errorf("Secret keys after the denied edit: %v", got)
		}
		if got := get(t, "secret/"+secret, ns, "{.metadata.resourceVersion}"); got != rv {
			t.Errorf("Secret changed (resourceVersion %s -> %s)", rv, got)
		}
	})

	t.Run("1b: alice spoofing --field-manager=external-secrets: denied", func(t *testing.T) {
		r := k(asAlice, "patch", "secret", secret, "-n", ns, "--type=merge", "--field-manager=external-secrets",
			"-p", `{"data":{"FEATURE_FLAG_ENABLE_AGENTS":"VHJ1ZQ=="}}`)
		expectDenied(t, r, "FEATURE_FLAG_ENABLE_AGENTS (add)", "ExternalSecret tenant-a/api-feature-flags")
		if got := secretKeys(t); !slices.Equal(got, []string{"DATABASE_URL"}) {
			t.Errorf("Secret keys after the denied patch: %v", got)
		}
	})

	t.Run("1c: alice labels the synced Secret (metadata, not synced data): allowed", func(t *testing.T) {
		r := k(asAlice, "label", "secret", secret, "-n", ns, "team=x")
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := secretKeys(t); !slices.Equal(got, []string{"DATABASE_URL"}) {
			t.Errorf("Secret keys after the label: %v", got)
		}
	})

	t.Run("2: ESO's service account updates the Secret: allowed", func(t *testing.T) {
		r := k(asESO, "patch", "secret", secret, "-n", ns, "--type=merge", "--field-manager=external-secrets",
			"-p", `{"data":{"FEATURE_FLAG_ENABLE_AGENTS":"VHJ1ZQ=="}}`)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := secretKeys(t); !slices.Equal(got, []string{"DATABASE_URL", "FEATURE_FLAG_ENABLE_AGENTS"}) {
			t.Errorf("Secret keys after ESO's update: %v", got)
		}
	})

	t.Run("3: alice kubectl set image of the Terraform-owned image: denied", func(t *testing.T) {
		deny := decisions(t, "owned_fields", "deny", "false")
		denied := watch(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "answer": "denied", "kind": "Deployment", "dry_run": "false"})
		r := k(asAlice, "set", "image", "deployment/api", "api="+imgV2, "-n", ns)
		expectDenied(t, r,
			"[owned_fields] spec.template.spec.containers[api].image of Deployment tenant-a/api is owned by Terraform",
			`managedFields manager "Terraform"`,
			"alice is not Terraform's identity",
			"Change it in the tenant's Terraform module for Deployment tenant-a/api")
		if strings.Contains(r.stderr, "--field-manager") {
			t.Errorf("no field manager was spoofed, yet the denial mentions one:\n%s", r)
		}
		expectNoWarning(t, r)
		expectImage(t, imgV1)
		deny.expectDelta(t, 1)
		denied.expectDelta(t, 1)
	})

	t.Run("3b: alice kubectl patch of the image (merge, strategic, json): denied", func(t *testing.T) {
		patches := []struct{ typ, patch string }{
			{"merge", `{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"` + imgHand + `"}]}}}}`},
			{"strategic", `{"spec":{"template":{"spec":{"containers":[{"name":"api","image":"` + imgHand + `"}]}}}}`},
			{"json", `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"` + imgHand + `"}]`},
		}
		for _, p := range patches {
			t.Run(p.typ, func(t *testing.T) {
				deny := decisions(t, "owned_fields", "deny", "false")
				r := k(asAlice, "patch", "deployment", "api", "-n", ns, "--type="+p.typ, "-p", p.patch)
				expectDenied(t, r, imagePath+" of Deployment tenant-a/api is owned by Terraform", "alice is not Terraform's identity")
				expectImage(t, imgV1)
				deny.expectDelta(t, 1)
			})
		}
	})

	t.Run("3c: alice kubectl set env of a Terraform-owned env var: denied", func(t *testing.T) {
		r := k(asAlice, "set", "env", "deployment/api", "LOG_LEVEL=debug", "-n", ns)
		expectDenied(t, r, envPath, "of Deployment tenant-a/api is owned by Terraform")
		if got := get(t, "deployment/api", ns, `{.spec.template.spec.containers[0].env[?(@.name=="LOG_LEVEL")].value}`); got != "info" {
			t.Errorf("LOG_LEVEL is %q after the denied set env, want info", got)
		}
	})

	handApply := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api, namespace: tenant-a}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: api, image: " + imgHand + "}\n"

	t.Run("3d: alice kubectl apply --server-side: conflict, then with --force-conflicts denied", func(t *testing.T) {
		r := kIn(asAlice, handApply, "apply", "--server-side", "-f", "-")
		if r.code == 0 {
			t.Fatalf("server-side apply over Terraform's field succeeded without --force-conflicts:\n%s", r)
		}
		if !strings.Contains(r.stderr, "conflict") || !strings.Contains(r.stderr, `"Terraform"`) {
			t.Errorf("expected the API server's apply conflict with Terraform:\n%s", r)
		}
		expectImage(t, imgV1)

		deny := decisions(t, "owned_fields", "deny", "false")
		r = kIn(asAlice, handApply, "apply", "--server-side", "--force-conflicts", "-f", "-")
		expectDenied(t, r, imagePath+" of Deployment tenant-a/api is owned by Terraform", "alice is not Terraform's identity")
		expectImage(t, imgV1)
		deny.expectDelta(t, 1)
	})

	t.Run("5: alice with --field-manager=Terraform: denied, spoof explained", func(t *testing.T) {
		r := kIn(asAlice, terraformDeployment("api", imgHand), "apply", "--server-side", "--field-manager=Terraform", "-f", "-")
		expectDenied(t, r, imagePath+" of Deployment tenant-a/api is owned by Terraform",
			"alice is not Terraform's identity",
			"--field-manager=Terraform does not make alice that owner")
		expectImage(t, imgV1)

		r = k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns, "--field-manager=Terraform")
		expectDenied(t, r, imagePath, "--field-manager=Terraform does not make alice that owner")
		expectImage(t, imgV1)
	})

	t.Run("4: the Terraform runner applies a new image: allowed", func(t *testing.T) {
		allow := decisions(t, "owned_fields", "allow", "false")
		r := terraformApply("api", imgV2)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		expectImage(t, imgV2)
		expectNoDrift(t, "deployment/api", ns)
		allow.expectDelta(t, 1)
	})

	t.Run("6: alice kubectl rollout restart: allowed", func(t *testing.T) {
		r := k(asAlice, "rollout", "restart", "deployment/api", "-n", ns)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := get(t, "deployment/api", ns, `{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}`); got == "" {
			t.Error("restartedAt annotation not stored")
		}
		expectImage(t, imgV2)
		expectNoDrift(t, "deployment/api", ns)
	})

	t.Run("7: alice kubectl scale of replicas no declared owner manages, and an unowned label: allowed", func(t *testing.T) {
		// Terraform's module for web leaves spec.replicas to people (no
		// replicas in the manifest): nobody declared owns them
		web := strings.Replace(terraformDeployment("web", imgV1), "  replicas: 2\n", "", 1)
		mustSucceed(t, kIn(asTerraform, web, "apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		scaleReviews := watch(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "Scale", "answer": "allowed"})
		r := k(asAlice, "scale", "deployment/web", "--replicas=3", "-n", ns)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := get(t, "deployment/web", ns, "{.spec.replicas}"); got != "3" {
			t.Errorf("replicas %q after scale, want 3", got)
		}
		// the scale subresource is reviewed (an autoscaling/v1 Scale)
		scaleReviews.expectDelta(t, 1)
		expectNoDrift(t, "deployment/web", ns)

		r = k(asAlice, "label", "deployment", "api", "team=x", "-n", ns)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := get(t, "deployment/api", ns, "{.metadata.labels.team}"); got != "x" {
			t.Errorf("label team=%q, want x", got)
		}
		expectNoDrift(t, "deployment/api", ns)
	})

	t.Run("scale subresource: alice kubectl scale of Terraform-owned replicas: denied; the Terraform identity's: allowed", func(t *testing.T) {
		// Terraform's apply wrote spec.replicas: 2 of Deployment api
		deny := decisions(t, "owned_fields", "deny", "false")
		r := k(asAlice, "scale", "deployment/api", "--replicas=3", "-n", ns)
		expectDenied(t, r,
			"[owned_fields] spec.replicas of Deployment tenant-a/api (scale subresource) is owned by Terraform",
			`managedFields manager "Terraform"`, "alice is not Terraform's identity",
			"Change it in the tenant's Terraform module for Deployment tenant-a/api")
		deny.expectDelta(t, 1)
		if got := get(t, "deployment/api", ns, "{.spec.replicas}"); got != "2" {
			t.Errorf("replicas %q after a denied scale, want 2", got)
		}
		r = k(asTerraform, "scale", "deployment/api", "--replicas=3", "-n", ns, "--dry-run=server")
		expectAllowed(t, r)
		expectNoWarning(t, r)

		// a StatefulSet the same way
		mustSucceed(t, kIn(asTerraform, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: tenant-a}
spec:
  replicas: 1
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - {name: db, image: postgres:16.3}
`, "apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		r = k(asAlice, "scale", "statefulset/db", "--replicas=3", "-n", ns)
		expectDenied(t, r, "[owned_fields] spec.replicas of StatefulSet tenant-a/db (scale subresource) is owned by Terraform",
			"Change it in the tenant's Terraform module for StatefulSet tenant-a/db")
		if got := get(t, "statefulset/db", ns, "{.spec.replicas}"); got != "1" {
			t.Errorf("StatefulSet replicas %q after a denied scale, want 1", got)
		}
		r = k(asTerraform, "scale", "statefulset/db", "--replicas=3", "-n", ns, "--dry-run=server")
		expectAllowed(t, r)

		// a ReplicaSet a Deployment controls: nobody declared owns its
		// replicas, but the Deployment controller sets them back
		r = k(asAlice, "scale", "replicaset/"+rsName, "--replicas=3", "-n", ns, "--dry-run=server")
		expectAllowed(t, r)
		expectWarning(t, r, 1, "[revert_warning] spec.replicas of ReplicaSet tenant-a/"+rsName+" (scale subresource) will be reverted",
			"its controlling owner is Deployment/api", "Scale Deployment tenant-a/api instead")
	})

	t.Run("7b: an exempt identity (system:kube-controller-manager) is not evaluated", func(t *testing.T) {
		exempt := watch(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "answer": "exempt", "kind": "Deployment", "dry_run": "true"})
		deny := decisions(t, "owned_fields", "deny", "true")
		r := k([]string{"--as=system:kube-controller-manager"}, "set", "image", "deployment/api", "api="+imgHand, "-n", ns, "--dry-run=server")
		expectAllowed(t, r)
		expectNoWarning(t, r)
		exempt.expectDelta(t, 1)
		deny.expectDelta(t, 0)
		expectImage(t, imgV2)
	})

	t.Run("8: alice changes the image of a Deployment controlled by Namespace/admin: allowed with a revert warning", func(t *testing.T) {
		warn := decisions(t, "revert_warning", "warn", "false")
		r := k(asAlice, "set", "image", "deployment/ml-pipeline-ui-artifact", "ml-pipeline-ui-artifact="+kfpImage2, "-n", "admin")
		expectAllowed(t, r)
		expectWarning(t, r, 1,
			"[revert_warning] spec.template.spec.containers[ml-pipeline-ui-artifact].image of Deployment admin/ml-pipeline-ui-artifact will be reverted",
			"its controlling owner is Namespace/admin",
			"reconciled by the Kubeflow profile controller",
			"kubeflow/pipeline-install-config ConfigMap")
		if got := get(t, "deployment/ml-pipeline-ui-artifact", "admin", imageJP); got != kfpImage2 {
			t.Errorf("image %q, want %q", got, kfpImage2)
		}
		warn.expectDelta(t, 1)
	})

	t.Run("8b: the same change when metacontroller's field manager wrote the image: allowed with a revert warning", func(t *testing.T) {
		// How the child really looks: metacontroller renders it, so managedFields
		// name manager "metacontroller". The profile controller is a reconciler,
		// not a declared owner: a revert warning, never an owned-field denial.
		nsUID := uid(t, "namespace/admin", "")
		mustSucceed(t, kIn(asKubeflow, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ml-pipeline-ui
  namespace: admin
  ownerReferences:
  - {apiVersion: v1, kind: Namespace, name: admin, uid: %s, controller: true}
spec:
  replicas: 1
  selector:
    matchLabels: {app: ml-pipeline-ui}
  template:
    metadata:
      labels: {app: ml-pipeline-ui}
    spec:
      containers:
      - {name: ml-pipeline-ui, image: %s}
`, nsUID, kfpImage), "apply", "--server-side", "--field-manager=metacontroller", "-f", "-"))
		r := k(asAlice, "set", "image", "deployment/ml-pipeline-ui", "ml-pipeline-ui="+kfpImage2, "-n", "admin")
		expectAllowed(t, r)
		if got := get(t, "deployment/ml-pipeline-ui", "admin", imageJP); got != kfpImage2 {
			t.Errorf("image %q, want %q", got, kfpImage2)
		}
		expectWarning(t, r, 1, "Deployment admin/ml-pipeline-ui will be reverted", "its controlling owner is Namespace/admin", "pipeline-install-config ConfigMap")
	})

	t.Run("9: alice edits the pod template image of a ReplicaSet owned by a Deployment: allowed with a warning", func(t *testing.T) {
		rsPatch := func(image string, extra ...string) result {
			return k(asAlice, append([]string{"patch", "replicaset", rsName, "-n", ns, "--type=json",
				"-p", `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"` + image + `"}]`}, extra...)...)
		}
		r := rsPatch(imgHand)
		expectAllowed(t, r)
		expectWarning(t, r, 1,
			"[revert_warning] spec.template.spec.containers[api].image of ReplicaSet tenant-a/api-7d9f will be reverted",
			"its controlling owner is Deployment/api, reconciled by the Deployment controller",
			"Change the pod template of Deployment tenant-a/api instead")
		if got := get(t, "replicaset/"+rsName, ns, imageJP); got != imgHand {
			t.Errorf("ReplicaSet image %q, want %q", got, imgHand)
		}

		// A paused Deployment reverts nothing: no warning once driftguard sees it paused.
		mustSucceed(t, k(asAlice, "rollout", "pause", "deployment/api", "-n", ns))
		deadline := time.Now().Add(10 * time.Second)
		for {
			r = rsPatch(imgV1, "--dry-run=server")
			expectAllowed(t, r)
			if len(r.warnings()) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("still warning of a revert 10s after Deployment tenant-a/api was paused:\n%s", r)
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		mustSucceed(t, k(asAlice, "rollout", "resume", "deployment/api", "-n", ns))
	})

	t.Run("10: break-glass", func(t *testing.T) {
		bgPatch := `{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-1"}},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"` + imgHotfix + `"}]}}}}`

		t.Run("without the break-glass group: still denied", func(t *testing.T) {
			r := k(asAlice, "patch", "deployment", "api", "-n", ns, "-p", bgPatch)
			expectDenied(t, r, imagePath, "break-glass was requested, but alice is not in a break-glass group")
			expectImage(t, imgV2)
			if got := get(t, "deployment/api", ns, `{.metadata.annotations.driftguard\.io/break-glass}`); got != "" {
				t.Errorf("break-glass annotation stored by a denied request: %q", got)
			}
		})

		t.Run("in the break-glass group: allowed, warned, recorded", func(t *testing.T) {
			bg := decisions(t, "owned_fields", "break_glass", "false")
			stamp := watch(t, "driftguard_drift_records_total", map[string]string{"action": "stamp", "kind": "Deployment"})
			r := k(asBreakGlass, "patch", "deployment", "api", "-n", ns, "-p", bgPatch)
			expectAllowed(t, r)
			expectWarning(t, r, 1, "[owned_fields] allowed by break-glass: INC-1, recorded as drift", imagePath, "owned by Terraform")
			expectImage(t, imgHotfix)
			raw, edits := driftRecord(t, "deployment/api", ns)
			if len(edits) != 1 {
				t.Fatalf("drift record %q, want one edit", raw)
			}
			e := edits[0]
			if e.By != "alice" || e.Owner != "terraform" || !slices.Contains(e.Fields, imagePath) ||
				e.Policy != "owned_fields" || e.Reason != "break-glass: INC-1" || e.At == "" {
				t.Errorf("drift record %s", raw)
			}
			if _, err := time.Parse(time.RFC3339, e.At); err != nil {
				t.Errorf("drift record time %q: %v", e.At, err)
			}
			bg.expectDelta(t, 1)
			stamp.expectDelta(t, 1)
		})

		t.Run("the Terraform runner re-applies: drift record cleared", func(t *testing.T) {
			clear := watch(t, "driftguard_drift_records_total", map[string]string{"action": "clear", "kind": "Deployment"})
			r := terraformApply("api", imgV2)
			expectAllowed(t, r)
			expectNoWarning(t, r)
			expectImage(t, imgV2)
			expectNoDrift(t, "deployment/api", ns)
			clear.expectDelta(t, 1)
		})

		t.Run("another member edits under the reason left on the object: denied, told how", func(t *testing.T) {
			// INC-1 is still on the object (Terraform's apply does not own it)
			if got := get(t, "deployment/api", ns, `{.metadata.annotations.driftguard\.io/break-glass}`); got != "INC-1" {
				t.Fatalf("break-glass annotation %q, want the INC-1 left by alice", got)
			}
			deny := decisions(t, "owned_fields", "deny", "false")
			r := k(asBob, "set", "image", "deployment/api", "api="+imgHotfix, "-n", ns)
			expectDenied(t, r, imagePath, `the break-glass reason "INC-1" on the object was set by an earlier request`,
				"bob is in break-glass group driftguard:break-glass: to push this change through, set the annotation driftguard.io/break-glass")
			expectImage(t, imgV2)
			deny.expectDelta(t, 1)

			// with a reason of his own in the same request: allowed, recorded with his name
			bg := decisions(t, "owned_fields", "break_glass", "false")
			r = k(asBob, "patch", "deployment", "api", "-n", ns, "-p",
				`{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-2"}},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"`+imgHotfix+`"}]}}}}`)
			expectAllowed(t, r)
			anyWarning(t, r, "allowed by break-glass: INC-2, recorded as drift")
			expectImage(t, imgHotfix)
			raw, edits := driftRecord(t, "deployment/api", ns)
			if len(edits) != 1 || edits[0].By != "bob" || edits[0].Reason != "break-glass: INC-2" {
				t.Errorf("drift record %s, want bob's INC-2 edit", raw)
			}
			bg.expectDelta(t, 1)
			r = terraformApply("api", imgV2)
			expectAllowed(t, r)
			expectImage(t, imgV2)
			expectNoDrift(t, "deployment/api", ns)
		})

		t.Run("alice removes the break-glass annotation: allowed", func(t *testing.T) {
			r := k(asAlice, "annotate", "deployment", "api", "-n", ns, "driftguard.io/break-glass-")
			expectAllowed(t, r)
			expectNoWarning(t, r)
			if got := get(t, "deployment/api", ns, `{.metadata.annotations.driftguard\.io/break-glass}`); got != "" {
				t.Errorf("break-glass annotation still there: %q", got)
			}
		})
	})

	def := string(config.DefaultYAML())
	t.Run("11: owned_fields in warn mode: allowed with a warning and a drift record", func(t *testing.T) {
		warnCfg := strings.Replace(def, "  owned_fields:\n", "  owned_fields:\n    mode: warn\n", 1)
		if warnCfg == def {
			t.Fatal("could not switch owned_fields to warn mode in the default config")
		}
		reload(t, []byte(warnCfg))

		warn := decisions(t, "owned_fields", "warn", "false")
		stamp := watch(t, "driftguard_drift_records_total", map[string]string{"action": "stamp", "kind": "Deployment"})
		r := k(asAlice, "set", "image", "deployment/api", "api="+imgWarn, "-n", ns)
		expectAllowed(t, r)
		expectWarning(t, r, 1, "[owned_fields] allowed by warn mode, recorded as drift", imagePath, "owned by Terraform")
		expectImage(t, imgWarn)
		raw, edits := driftRecord(t, "deployment/api", ns)
		if len(edits) != 1 || edits[0].By != "alice" || edits[0].Owner != "terraform" ||
			!slices.Contains(edits[0].Fields, imagePath) || edits[0].Reason != "warn mode" || edits[0].Policy != "owned_fields" {
			t.Errorf("drift record %q", raw)
		}
		warn.expectDelta(t, 1)
		stamp.expectDelta(t, 1)
	})

	t.Run("11b: alice cannot erase the drift record of her hand edit", func(t *testing.T) {
		before, edits := driftRecord(t, "deployment/api", ns)
		if len(edits) == 0 {
			t.Fatal("no drift record from S11 to erase")
		}
		r := k(asAlice, "annotate", "deployment", "api", "-n", ns, "driftguard.io/drift-")
		after, _ := driftRecord(t, "deployment/api", ns)
		if after == "" {
			t.Fatal("a person can erase the drift record of an allowed hand edit: `kubectl annotate deployment api driftguard.io/drift-` " +
				"by alice (no owner identity) is allowed and removes driftguard.io/drift although the Terraform-owned image is still drifted " +
				"(owned_fields ignores metadata.annotations[driftguard.io/drift] via ignoredPaths and the mutating webhook does not keep the record); " +
				"exit " + fmt.Sprint(r.code) + ", record before: " + before)
		}
		if after != before {
			t.Errorf("drift record changed by alice's annotate: %q -> %q", before, after)
		}
	})

	t.Run("11c: back to enforce mode; the Terraform runner clears the record", func(t *testing.T) {
		reload(t, []byte(def))
		r := terraformApply("api", imgV2)
		expectAllowed(t, r)
		expectImage(t, imgV2)
		expectNoDrift(t, "deployment/api", ns)
		expectDenied(t, k(asAlice, "set", "image", "deployment/api", "api="+imgWarn, "-n", ns), imagePath)
		expectImage(t, imgV2)
	})

	t.Run("15: kubectl --dry-run=server: same answer, counted as dry run, no drift record", func(t *testing.T) {
		dry := decisions(t, "owned_fields", "deny", "true")
		wet := decisions(t, "owned_fields", "deny", "false")
		r := k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns, "--dry-run=server")
		expectDenied(t, r, "[owned_fields] "+imagePath+" of Deployment tenant-a/api is owned by Terraform", "alice is not Terraform's identity")
		expectImage(t, imgV2)
		expectNoDrift(t, "deployment/api", ns)
		dry.expectDelta(t, 1)
		wet.expectDelta(t, 0)

		// break-glass dry run: the answer shows the record, nothing is stored or counted as written
		bgDry := decisions(t, "owned_fields", "break_glass", "true")
		stamp := watch(t, "driftguard_drift_records_total", map[string]string{"action": "stamp"})
		r = k(asBreakGlass, "patch", "deployment", "api", "-n", ns, "--dry-run=server",
			"-p", `{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-2"}},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"`+imgHotfix+`"}]}}}}`,
			"-o", `jsonpath={.metadata.annotations.driftguard\.io/drift}`)
		expectAllowed(t, r)
		expectWarning(t, r, 1, "allowed by break-glass: INC-2", imagePath)
		if !strings.Contains(r.stdout, `"reason":"break-glass: INC-2"`) {
			t.Errorf("the dry-run answer does not show the drift record it would stamp:\n%s", r)
		}
		expectImage(t, imgV2)
		expectNoDrift(t, "deployment/api", ns)
		bgDry.expectDelta(t, 1)
		stamp.expectDelta(t, 0)
	})

	t.Run("16: malformed, wrong-version and oversized reviews get 4xx; serving goes on", func(t *testing.T) {
		c := s.httpsClient()
		url := fmt.Sprintf("https://127.0.0.1:%d/validate", s.webhookPort)
		cases := []struct {
			name   string
			body   []byte
			code   int
			reason string
			want   string
		}{
			{"garbage", []byte("{not json"), 400, "malformed", "not an AdmissionReview"},
			{"v1beta1", []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"apps","version":"v1","kind":"Deployment"},"operation":"UPDATE"}}`), 400, "api_version", "only admission.k8s.io/v1"},
			{"oversized", bytes.Repeat([]byte(" "), 7<<20+1024), 413, "too_large", "over the limit"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				bad := watch(t, "driftguard_admission_bad_requests_total", map[string]string{"webhook": "validate", "reason": tc.reason})
				resp, err := c.Post(url, "application/json", bytes.NewReader(tc.body))
				if err != nil {
					t.Fatalf("POST %s: %v", tc.name, err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.code {
					t.Errorf("HTTP %d, want %d: %s", resp.StatusCode, tc.code, b)
				}
				var st struct {
					Kind    string `json:"kind"`
					Code    int    `json:"code"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(b, &st); err != nil || st.Kind != "Status" || st.Code != tc.code || !strings.Contains(st.Message, tc.want) {
					t.Errorf("body %s: want a Status %d with a message containing %q (%v)", b, tc.code, tc.want, err)
				}
				bad.expectDelta(t, 1)
			})
		}
		resp, err := http.Get("http://" + s.healthAddr + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz after bad requests: %v %v", resp, err)
		}
		resp.Body.Close()
		expectDenied(t, k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns), imagePath)
		expectAllowed(t, k(asAlice, "label", "deployment", "api", "team=y", "--overwrite", "-n", ns))
		expectImage(t, imgV2)
	})

	t.Run("17: a policy file with a Rego syntax error during hot reload: counted, previous policies keep serving", func(t *testing.T) {
		loadErrs := metric(t, "driftguard_policy_load_errors_total", nil)
		loads := metric(t, "driftguard_policy_loads_total", nil)
		broken := filepath.Join(s.policyDir, "zz_broken.rego")
		if err := writeFileAtomic(broken, []byte("package driftguard.policies.zz_broken\n\ndeny contains msg if {\n\tmsg := \"unterminated\n")); err != nil {
			t.Fatal(err)
		}
		removed := false
		defer func() {
			if !removed {
				os.Remove(broken)
			}
		}()
		waitMetricAbove(t, "driftguard_policy_load_errors_total", nil, loadErrs, 10*time.Second)
		if got := metric(t, "driftguard_policy_last_load_failed", nil); got != 1 {
			t.Errorf("driftguard_policy_last_load_failed = %v, want 1", got)
		}
		if got := metric(t, "driftguard_policy_loads_total", nil); got != loads {
			t.Errorf("the broken set was counted as loaded (%v -> %v)", loads, got)
		}
		if b, _ := os.ReadFile(s.logFile); !strings.Contains(string(b), "policy reload failed") || !strings.Contains(string(b), "zz_broken.rego") {
			t.Errorf("driftguard did not log the failed reload naming zz_broken.rego; log tail:\n%s", tail(string(b), 20))
		}
		// S3 is still answered by the previous set
		deny := decisions(t, "owned_fields", "deny", "false")
		expectDenied(t, k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns),
			imagePath+" of Deployment tenant-a/api is owned by Terraform")
		deny.expectDelta(t, 1)
		expectImage(t, imgV2)

		if err := os.Remove(broken); err != nil {
			t.Fatal(err)
		}
		removed = true
		waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 10*time.Second)
		if got := metric(t, "driftguard_policy_last_load_failed", nil); got != 0 {
			t.Errorf("driftguard_policy_last_load_failed = %v after the fix, want 0", got)
		}
	})

	t.Run("17b: an invalid config file during hot reload: counted, previous config keeps serving", func(t *testing.T) {
		loadErrs := metric(t, "driftguard_policy_load_errors_total", nil)
		loads := metric(t, "driftguard_policy_loads_total", nil)
		def := config.DefaultYAML()
		bad := strings.Replace(string(def), "  owned_fields:\n", "  owned_fields:\n    mode: warn\n    bogusField: 1\n", 1)
		if bad == string(def) {
			t.Fatal("could not break the default config")
		}
		if err := writeFileAtomic(s.configFile, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		restored := false
		defer func() {
			if !restored {
				_ = writeFileAtomic(s.configFile, def)
			}
		}()
		waitMetricAbove(t, "driftguard_policy_load_errors_total", nil, loadErrs, 10*time.Second)
		// the warn mode of the broken file is not in force
		expectDenied(t, k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns), imagePath)
		expectImage(t, imgV2)
		if err := writeFileAtomic(s.configFile, def); err != nil {
			t.Fatal(err)
		}
		restored = true
		waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 10*time.Second)
	})

	t.Run("3e: alice strips managedFields, then changes the image: denied", func(t *testing.T) {
		// Whatever happens, the Terraform runner restores its ownership afterwards.
		defer func() {
			if r := terraformApply("api", imgV2); r.code != 0 {
				t.Errorf("restoring Terraform's ownership: %s", r)
			}
		}()
		strip := k(asAlice, "patch", "deployment", "api", "-n", ns, "--type=merge", "-p", `{"metadata":{"managedFields":[{}]}}`)
		mgrs := get(t, "deployment/api", ns, "{.metadata.managedFields[*].manager}")
		r := k(asAlice, "set", "image", "deployment/api", "api="+imgHand, "-n", ns)
		if strip.code == 0 && r.code == 0 && imageOf(t) == imgHand {
			drift, _ := driftRecord(t, "deployment/api", ns)
			t.Fatal(fmt.Sprintf("ownership can be stripped by hand: alice's `kubectl patch --type=merge -p '{\"metadata\":{\"managedFields\":[{}]}}'` "+
				"on Terraform's Deployment is allowed (managedFields is bookkeeping, left out of input.changes, and nothing else "+
				"guards it), the API server drops Terraform's managedFields (managers now: %q), and alice's next "+
				"`kubectl set image` of the Terraform-owned image is then allowed (warnings: %d, drift record: %q)", mgrs, len(r.warnings()), drift))
		}
		if strip.code == 0 {
			expectDenied(t, r, imagePath)
		} else {
			expectDenied(t, strip, "managedFields")
		}
		expectImage(t, imgV2)
	})

	t.Run("metrics: mutating reviews are counted with webhook=\"mutate\"", func(t *testing.T) {
		validate := watch(t, "driftguard_admission_requests_total", map[string]string{"webhook": "validate", "kind": "Deployment", "operation": "UPDATE"})
		mutate := watch(t, "driftguard_admission_requests_total", map[string]string{"webhook": "mutate", "kind": "Deployment", "operation": "UPDATE"})
		mutateLatency := watch(t, "driftguard_admission_duration_seconds", map[string]string{"webhook": "mutate"})
		expectAllowed(t, k(asAlice, "label", "deployment", "api", "team=z", "--overwrite", "-n", ns))
		validate.expectDelta(t, 1)
		if got := metric(t, mutateLatency.name, mutateLatency.labels) - mutateLatency.before; got < 1 {
			t.Fatalf("the mutating webhook was not called (duration count +%v)", got)
		}
		if got := metric(t, mutate.name, mutate.labels) - mutate.before; got != 1 {
			t.Fatal(fmt.Sprintf("driftguard_admission_requests_total never counts the mutating webhook: docs/metrics.md documents webhook=\"mutate\", "+
				"but only Validator.Handle calls Engine.count (internal/admit/handler.go); a mutating review of an UPDATE changed the series by %v, want 1", got))
		}
	})

	t.Run("18: DELETE", func(t *testing.T) {
		t.Run("alice deletes the Terraform-owned Deployment: denied", func(t *testing.T) {
			deny := decisions(t, "owned_fields", "deny", "false")
			r := k(asAlice, "delete", "deployment", "api", "-n", ns, "--wait=false")
			expectDenied(t, r, "[owned_fields] Deployment tenant-a/api is owned by Terraform", "alice may not delete it by hand",
				"Remove it from the tenant's Terraform module for Deployment tenant-a/api")
			if got := uid(t, "deployment/api", ns); got != deployUID {
				t.Errorf("Deployment uid %s, want %s (recreated?)", got, deployUID)
			}
			deny.expectDelta(t, 1)
		})
		t.Run("the Terraform runner deletes a Deployment it created: allowed", func(t *testing.T) {
			expectAllowed(t, terraformApply("worker", imgV1))
			r := k(asTerraform, "delete", "deployment", "worker", "-n", ns, "--wait=false")
			expectAllowed(t, r)
			expectNoWarning(t, r)
			if r := s.kubectl("get", "deployment", "worker", "-n", ns, "--ignore-not-found", "-o", "name"); strings.TrimSpace(r.stdout) != "" {
				t.Errorf("Deployment worker still exists: %s", r)
			}
		})
		t.Run("alice deletes an object nobody declared: allowed", func(t *testing.T) {
			mustSucceed(t, k(asAlice, "create", "configmap", "scratch", "-n", ns, "--from-literal=a=b"))
			r := k(asAlice, "delete", "configmap", "scratch", "-n", ns, "--wait=false")
			expectAllowed(t, r)
			expectNoWarning(t, r)
		})
		t.Run("alice deletes the ExternalSecret's Secret: allowed, warned it will be recreated", func(t *testing.T) {
			r := k(asAlice, "delete", "secret", secret, "-n", ns, "--wait=false")
			expectAllowed(t, r)
			expectWarning(t, r, 1, "[externalsecret_owned] Secret tenant-a/api-feature-flags is synced by ExternalSecret tenant-a/api-feature-flags",
				"will recreate it from the parameter store")
		})
	})
}

// reload writes the config file and waits until driftguard has loaded it.
func reload(t *testing.T, cfg []byte) {
	t.Helper()
	before := metric(t, "driftguard_policy_loads_total", nil)
	if err := writeFileAtomic(s.configFile, cfg); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_loads_total", nil, before, 10*time.Second)
}
