//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
)

// TestEnforcementHoles closes ways past driftguard that a person had with
// the shipped defaults, through the real kube-apiserver and kubectl.
func TestEnforcementHoles(t *testing.T) {
	def := string(config.DefaultYAML())
	// its own namespace: the scenarios' tenant-a is created by TestScenarios
	const ns = "tenant-e"
	if r := s.kubectl("create", "namespace", ns); r.code != 0 && !strings.Contains(r.stderr, "AlreadyExists") {
		t.Fatalf("create namespace %s: %s", ns, r)
	}

	t.Run("the Terraform provider's typed resources write manager HashiCorp: a hand edit is denied", func(t *testing.T) {
		// kubernetes_stateful_set_v1 creates with an Update operation by
		// manager HashiCorp (kubernetes_manifest applies as Terraform).
		sts := `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: ` + ns + `
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: ghcr.io/acme/db:1.0.0
`
		mustSucceed(t, kIn(asTerraform, sts, "create", "--field-manager=HashiCorp", "-f", "-"))
		t.Cleanup(func() { k(asTerraform, "delete", "statefulset", "db", "-n", ns, "--wait=false") })
		if mgrs := get(t, "statefulset/db", ns, `{.metadata.managedFields[*].manager}`); !strings.Contains(mgrs, "HashiCorp") {
			t.Fatalf("managedFields managers %q, want HashiCorp", mgrs)
		}
		r := k(asAlice, "set", "image", "statefulset/db", "db=ghcr.io/acme/db:9.9.9-hand", "-n", ns)
		expectDenied(t, r, "[owned_fields] spec.template.spec.containers[db].image of StatefulSet "+ns+"/db is owned by Terraform",
			`managedFields manager "HashiCorp"`)
		if got := get(t, "statefulset/db", ns, imageJP); got != "ghcr.io/acme/db:1.0.0" {
			t.Errorf("image changed to %q", got)
		}
		// the owner itself may still change it
		mustSucceed(t, k(asTerraform, "set", "image", "statefulset/db", "db=ghcr.io/acme/db:1.0.1", "-n", ns, "--field-manager=HashiCorp"))
	})

	t.Run("a first rollout in dryrun: defaultMode dryrun allows and only counts", func(t *testing.T) {
		mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(ns, "modes", imgV1),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		t.Cleanup(func() { k(asTerraform, "delete", "deployment", "modes", "-n", ns, "--wait=false") })
		dry := strings.Replace(def, "\ndefaultMode: enforce\n", "\ndefaultMode: dryrun\n", 1)
		if dry == def {
			t.Fatal("could not set defaultMode in the default config")
		}
		reload(t, []byte(dry))
		restored := false
		t.Cleanup(func() {
			if !restored {
				reload(t, []byte(def))
			}
		})

		counted := decisions(t, "owned_fields", "dryrun", "false")
		denied := decisions(t, "owned_fields", "deny", "false")
		r := k(asAlice, "set", "image", "deployment/modes", "api="+imgHand, "-n", ns)
		expectAllowed(t, r)
		expectNoWarning(t, r)
		if got := get(t, "deployment/modes", ns, imageJP); got != imgHand {
			t.Errorf("image %q, want alice's %q", got, imgHand)
		}
		expectNoDrift(t, "deployment/modes", ns)
		counted.expectDelta(t, 1)
		denied.expectDelta(t, 0)

		// back to the shipped config: Terraform re-applies, alice is denied
		reload(t, []byte(def))
		restored = true
		mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(ns, "modes", imgV2),
			"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		expectDenied(t, k(asAlice, "set", "image", "deployment/modes", "api="+imgHand, "-n", ns),
			"[owned_fields] "+imagePath+" of Deployment "+ns+"/modes is owned by Terraform")
		if got := get(t, "deployment/modes", ns, imageJP); got != imgV2 {
			t.Errorf("image %q, want Terraform's %q", got, imgV2)
		}
	})
}
