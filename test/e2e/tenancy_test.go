//go:build e2e

package e2e

// Opting out of enforcement (policy tenancy_guard) through the real API
// server and kubectl: the tenant label of a Namespace and a ConfigMap
// holding driftguard's settings are for config admins only (the default
// admins group is system:masters, the suite's own kubectl identity).
// Namespaces tenancy-*; the config is restored.

import (
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
)

const (
	tenantLabel     = "driftguard.io/tenant"
	settingsNS      = "tenancy-settings"
	settingsCM      = "driftguard-config"
	guardAdminsText = "Only driftguard admins may change or remove it (groups system:masters)"
)

func tenancyNamespace(t *testing.T, name string, labels ...string) {
	t.Helper()
	mustSucceed(t, s.kubectl("create", "namespace", name))
	if len(labels) > 0 {
		mustSucceed(t, s.kubectl(append([]string{"label", "namespace", name}, labels...)...))
	}
	t.Cleanup(func() { s.kubectl("delete", "namespace", name, "--wait=false") })
}

func tenantLabelOf(t *testing.T, ns string) string {
	t.Helper()
	return get(t, "namespace/"+ns, "", `{.metadata.labels.driftguard\.io/tenant}`)
}

// setGuardConfig writes the default config with protectedConfigMaps set
// and waits until driftguard has loaded it; the default comes back at the end.
func setGuardConfig(t *testing.T, protected string) {
	t.Helper()
	def := string(config.DefaultYAML())
	const line = "protectedConfigMaps: []"
	if strings.Count(def, line) != 1 {
		t.Fatalf("the default config has no %q line to replace", line)
	}
	write := func(cfg string) {
		t.Helper()
		loads := metric(t, "driftguard_policy_loads_total", nil)
		if err := writeFileAtomic(s.configFile, []byte(cfg)); err != nil {
			t.Fatal(err)
		}
		waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	}
	write(strings.Replace(def, line, "protectedConfigMaps: ["+protected+"]", 1))
	t.Cleanup(func() { write(def) })
}

func TestTenancyGuard(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}

	t.Run("alice cannot remove or change the tenant label", func(t *testing.T) {
		const ns = "tenancy-a"
		tenancyNamespace(t, ns, tenantLabel+"=true")

		r := k(asAlice, "label", "namespace", ns, tenantLabel+"-")
		expectDenied(t, r,
			"[tenancy_guard] metadata.labels[driftguard.io/tenant] of Namespace tenancy-a removes the tenant label driftguard.io/tenant=true (by alice): that opts the namespace out of enforcement.",
			"Tenant namespaces are enforced and fail closed", guardAdminsText)
		if got := tenantLabelOf(t, ns); got != "true" {
			t.Fatalf("tenant label = %q after the denial", got)
		}

		r = k(asAlice, "label", "--overwrite", "namespace", ns, tenantLabel+"=false")
		expectDenied(t, r, `changes the tenant label driftguard.io/tenant from "true" to "false"`, guardAdminsText)
		if got := tenantLabelOf(t, ns); got != "true" {
			t.Fatalf("tenant label = %q after the denial", got)
		}

		// other labels of a tenant namespace stay open to alice
		expectAllowed(t, k(asAlice, "label", "namespace", ns, "team=payments"))

		// the suite's kubectl identity is in system:masters, the default admins
		expectAllowed(t, s.kubectl("label", "namespace", ns, tenantLabel+"-"))
		if got := tenantLabelOf(t, ns); got != "" {
			t.Fatalf("tenant label = %q after the admin removed it", got)
		}
	})

	t.Run("alice may opt a namespace in", func(t *testing.T) {
		const ns = "tenancy-b"
		tenancyNamespace(t, ns)
		expectAllowed(t, k(asAlice, "label", "namespace", ns, tenantLabel+"=true"))
		if got := tenantLabelOf(t, ns); got != "true" {
			t.Fatalf("tenant label = %q, want true", got)
		}
	})

	t.Run("alice cannot edit driftguard's settings ConfigMap", func(t *testing.T) {
		tenancyNamespace(t, settingsNS)
		mustSucceed(t, s.kubectl("create", "configmap", settingsCM, "-n", settingsNS, "--from-literal=config.yaml=defaultMode: enforce"))
		setGuardConfig(t, settingsNS+"/"+settingsCM)

		r := k(asAlice, "patch", "configmap", settingsCM, "-n", settingsNS, "--type=merge", "-p", `{"data":{"config.yaml":"defaultMode: dryrun"}}`)
		expectDenied(t, r,
			"[tenancy_guard] ConfigMap tenancy-settings/driftguard-config holds driftguard's own settings",
			"changing it can switch enforcement off, so only driftguard admins may do it (groups system:masters); alice is not one")
		if got := get(t, "configmap/"+settingsCM, settingsNS, `{.data.config\.yaml}`); got != "defaultMode: enforce" {
			t.Fatalf("config.yaml = %q after the denial", got)
		}
		expectDenied(t, k(asAlice, "delete", "configmap", settingsCM, "-n", settingsNS), "deleting it can switch enforcement off")

		// another ConfigMap in the same namespace is not guarded
		expectAllowed(t, k(asAlice, "create", "configmap", "app-settings", "-n", settingsNS, "--from-literal=a=b"))

		expectAllowed(t, s.kubectl("patch", "configmap", settingsCM, "-n", settingsNS, "--type=merge", "-p", `{"data":{"config.yaml":"defaultMode: warn"}}`))
	})
}
