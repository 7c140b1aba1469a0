package config

import (
	"strings"
	"testing"
)

func ownersConfig(owners ...[2]string) string {
	var b strings.Builder
	b.WriteString("owners:\n")
	for _, o := range owners {
		b.WriteString("  - name: " + o[0] + "\n    managers: " + o[1] + "\n    identities: {serviceAccounts: [infra/" + o[0] + "]}\n    source: \"somewhere\"\n")
	}
	return b.String()
}

// The shipped config carries the names the tools write and draws no warning.
func TestDefaultManagers(t *testing.T) {
	c := Default()
	if len(c.Warnings) != 0 {
		t.Errorf("default config warns: %q", c.Warnings)
	}
	tf := c.OwnerByName("terraform")
	if tf == nil || strings.Join(tf.Managers, ",") != "Terraform,HashiCorp" {
		t.Errorf("terraform managers %v, want [Terraform HashiCorp]", tf)
	}
	for _, m := range []string{"kubectl", "kubectl-client-side-apply", "kubectl-edit", "kubectl-patch", "kubectl-set", "kubectl-replace",
		"kubectl-label", "kubectl-annotate", "kubectl-scale", "kubectl-rollout", "kubectl-create", "kubectl-expose", "kubectl-run", "kubectl-autoscale"} {
		found := false
		for _, h := range c.HandEditManagers {
			found = found || h == m
		}
		if !found {
			t.Errorf("handEditManagers lack %s", m)
		}
	}
	// without handEditManagers in the file, the same list applies
	bare, err := Parse([]byte(ownersConfig([2]string{"terraform", "[Terraform]"})))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(bare.HandEditManagers, ",") != strings.Join(c.HandEditManagers, ",") {
		t.Errorf("handEditManagers default %v, shipped %v", bare.HandEditManagers, c.HandEditManagers)
	}
}

// A manager spelled unlike the tool writes it works but warns, naming the
// real spelling; the same name repeated up to case warns.
func TestManagerSpellingWarnings(t *testing.T) {
	c, err := Parse([]byte(ownersConfig([2]string{"terraform", "[terraform, hashicorp, HashiCorp]"}) +
		"handEditManagers: [kubectl-edit, KUBECTL-PATCH, Kubectl-Edit, my-script]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`owners[0].managers: manager "terraform" differs from the Terraform kubernetes provider's "Terraform" only by case; it matches (manager names match case-insensitively), but write "Terraform"`,
		`owners[0].managers: manager "hashicorp" differs from the Terraform kubernetes provider's "HashiCorp" only by case; it matches (manager names match case-insensitively), but write "HashiCorp"`,
		`owners[0].managers: "HashiCorp" repeats "hashicorp" (manager names match case-insensitively)`,
		`handEditManagers: manager "KUBECTL-PATCH" differs from kubectl's "kubectl-patch" only by case`,
		`handEditManagers: "Kubectl-Edit" repeats "kubectl-edit" (manager names match case-insensitively)`,
	}
	got := strings.Join(c.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("warnings lack %q:\n%s", w, got)
		}
	}
	if len(c.Warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(c.Warnings), len(want), got)
	}
	if strings.Contains(got, "my-script") {
		t.Errorf("an unknown manager name warned: %s", got)
	}
}

// Two owners claiming the same manager, up to case, is an error.
func TestManagerClaimedTwiceUpToCase(t *testing.T) {
	_, err := Parse([]byte(ownersConfig([2]string{"terraform", "[HashiCorp]"}, [2]string{"other", "[hashicorp]"})))
	want := `owners[1].managers: "hashicorp" is already a manager of owner "terraform" (manager names match case-insensitively)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
}

// The optional Helm / Argo CD / Flux owners of the shipped config work
// when uncommented: the config parses, without warnings, with the owners.
func TestOptionalOwnersUncommented(t *testing.T) {
	text := string(DefaultYAML())
	begin := strings.Index(text, "# --- optional owners: begin\n")
	end := strings.Index(text, "# --- optional owners: end\n")
	if begin < 0 || end < begin {
		t.Fatal("optional owners markers not found in default.yaml")
	}
	block := text[begin:end]
	var lines []string
	for _, l := range strings.Split(block, "\n") {
		if strings.HasPrefix(l, "#  ") {
			lines = append(lines, strings.TrimPrefix(l, "#"))
		}
	}
	c, err := Parse([]byte(text[:begin] + strings.Join(lines, "\n") + "\n" + text[end:]))
	if err != nil {
		t.Fatalf("uncommented optional owners: %v", err)
	}
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %q", c.Warnings)
	}
	for name, mgr := range map[string]string{"argocd": "argocd-controller", "flux": "kustomize-controller", "helm": "helm"} {
		o := c.OwnerByName(name)
		if o == nil || o.Managers[0] != mgr {
			t.Errorf("owner %s: %+v", name, o)
		}
	}
}

func TestManagerPatternsOnlyEndInStar(t *testing.T) {
	for _, bad := range []string{"*", "acme*io/x", "*/x"} {
		_, err := Parse([]byte("owners:\n  - name: acme\n    source: acme\n    identities: {users: [acme]}\n    managers: [\"" + bad + "\"]\n"))
		if err == nil || !strings.Contains(err.Error(), "a * may only end a name") {
			t.Errorf("managers [%q]: error %v", bad, err)
		}
	}
	if _, err := Parse([]byte("owners:\n  - name: acme\n    source: acme\n    identities: {users: [acme]}\n    managers: [\"acme.io/*\"]\n")); err != nil {
		t.Fatalf("a prefix pattern: %v", err)
	}
	if !ManagerMatches("acme.io/*", "Acme.io/db") || ManagerMatches("acme.io/*", "acme.io/") || !ManagerMatches("Terraform", "terraform") {
		t.Fatal("ManagerMatches")
	}
}
