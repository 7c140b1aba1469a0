package input

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/config"
)

var statefulSetGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"}

// statefulSet renders StatefulSet tenant-a/db; extraMeta is inserted in
// metadata (starting with a comma).
func statefulSet(extraMeta, image string) string {
	return `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"tenant-a","uid":"s-1","resourceVersion":"7"` + extraMeta +
		`},"spec":{"replicas":1,"serviceName":"db","selector":{"matchLabels":{"app":"db"}},"template":{"metadata":{"labels":{"app":"db"}},` +
		`"spec":{"containers":[{"name":"db","image":"` + image + `"}]}}}}`
}

// typedManaged is what the Terraform provider's kubernetes_stateful_set_v1
// writes: an Update by manager (as given) owning the spec.
func typedManaged(manager string) string {
	return `,"managedFields":[{"manager":"` + manager + `","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":` +
		`{"f:spec":{"f:replicas":{},"f:serviceName":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},` +
		`"f:spec":{"f:containers":{"k:{\"name\":\"db\"}":{".":{},"f:image":{},"f:name":{}}}}}}}}]`
}

func parseConfig(t *testing.T, managers, handEdit string) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`owners:
  - name: terraform
    display: Terraform
    managers: ` + managers + `
    identities: {serviceAccounts: [infra/terraform]}
    source: "the tenant's Terraform module"
handEditManagers: ` + handEdit + `
`))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The Terraform provider's typed resources write manager "HashiCorp": with
// the default config (and with a config that spells the name in another
// case) alice's image change of the StatefulSet is a change owned by
// terraform, and the manager keeps the spelling managedFields has.
func TestManagerNamesMatchCaseInsensitively(t *testing.T) {
	cases := []struct {
		name     string
		cfg      *config.Config
		managed  string // manager name as written in managedFields
		wantMgrs []string
	}{
		{"default config, HashiCorp", config.Default(), "HashiCorp", []string{"HashiCorp"}},
		{"default config, Terraform in upper case", config.Default(), "TERRAFORM", []string{"TERRAFORM"}},
		{"config says hashicorp, managedFields HashiCorp", parseConfig(t, "[hashicorp]", "[]"), "HashiCorp", []string{"HashiCorp"}},
		{"config says HashiCorp, managedFields hashicorp", parseConfig(t, "[HashiCorp]", "[]"), "hashicorp", []string{"hashicorp"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder(c.cfg, nil).WithoutCache()
			in := build(t, b, request{gvk: statefulSetGVK, ns: "tenant-a", name: "db", user: alice, fieldManager: "kubectl-set",
				old: statefulSet(typedManaged(c.managed), "ghcr.io/acme/db:1.0.0"),
				obj: statefulSet(typedManaged(c.managed), "ghcr.io/acme/db:9.9.9-hand")})
			if len(in.Changes) != 1 {
				t.Fatalf("changes %+v", in.Changes)
			}
			ch := in.Changes[0]
			if ch.Path != "spec.template.spec.containers[db].image" || ch.Owner != "terraform" || ch.Via != "managedFields" ||
				strings.Join(ch.Managers, ",") != strings.Join(c.wantMgrs, ",") {
				t.Errorf("change %+v, want the image owned by terraform via managedFields, managers %v", ch, c.wantMgrs)
			}
			if in.ObjectOwner != "terraform" {
				t.Errorf("object owner %q, want terraform", in.ObjectOwner)
			}
			doc, _ := json.Marshal(in.Doc["changes"])
			if !strings.Contains(string(doc), `"managers":["`+c.managed+`"]`) {
				t.Errorf("input.changes lost the manager's spelling: %s", doc)
			}
		})
	}
}

// Rewriting managedFields so the owner's entry changes only its case does
// not drop its ownership; removing it does, named as written.
func TestDroppedOwnershipUpToCase(t *testing.T) {
	b := NewBuilder(config.Default(), nil).WithoutCache()
	old := statefulSet(typedManaged("HashiCorp"), "ghcr.io/acme/db:1.0.0")
	in := build(t, b, request{gvk: statefulSetGVK, ns: "tenant-a", name: "db", user: alice,
		old: old, obj: statefulSet(typedManaged("hashicorp"), "ghcr.io/acme/db:1.0.0")})
	if len(in.Changes) != 0 {
		t.Errorf("a case-only rename of the manager entry: changes %+v", in.Changes)
	}
	in = build(t, b, request{gvk: statefulSetGVK, ns: "tenant-a", name: "db", user: alice,
		old: old, obj: statefulSet(`,"managedFields":[]`, "ghcr.io/acme/db:1.0.0")})
	if len(in.Changes) != 1 || in.Changes[0].Path != "metadata.managedFields[HashiCorp]" || in.Changes[0].Owner != "terraform" {
		t.Errorf("stripped managedFields: changes %+v, want metadata.managedFields[HashiCorp] owned by terraform", in.Changes)
	}
}

// Hand-edit managers match case-insensitively in the audit of live objects.
func TestHandEditManagersMatchCaseInsensitively(t *testing.T) {
	cfg := parseConfig(t, "[HashiCorp]", "[Kubectl-Edit]")
	b := NewBuilder(cfg, nil).WithoutCache()
	raw := statefulSet(`,"managedFields":[`+strings.TrimPrefix(strings.TrimSuffix(typedManaged("HashiCorp"), "]"), `,"managedFields":[`)+
		`,{"manager":"kubectl-edit","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]`, "ghcr.io/acme/db:1.0.0")
	var obj map[string]any
	if err := json.Unmarshal([]byte(raw), &obj); err != nil {
		t.Fatal(err)
	}
	in, err := b.BuildLive(context.Background(), statefulSetGVK, obj)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.HandEdits) != 1 || in.HandEdits[0].Manager != "kubectl-edit" || strings.Join(in.HandEdits[0].Fields, ",") != "spec.replicas" {
		t.Errorf("hand edits %+v, want kubectl-edit's spec.replicas", in.HandEdits)
	}
}

// Matching a manager name costs no allocation (it runs per managedFields
// entry of every request).
func TestLookupManagerDoesNotAllocate(t *testing.T) {
	m := map[string]string{"hashicorp": "terraform"}
	if n := testing.AllocsPerRun(100, func() {
		if o, _ := lookupManager(m, "HashiCorp"); o != "terraform" {
			t.Fatal("no match")
		}
	}); n != 0 {
		t.Errorf("%v allocations per lookup", n)
	}
}

// A manager pattern ending in * matches every manager with that prefix:
// External Secrets Operator writes an ExternalSecret's Secret as
// externalsecrets.external-secrets.io/<name> (seen in the e2e suite).
func TestManagerPrefixPatterns(t *testing.T) {
	cases := []struct {
		name, pattern, managed, want string
	}{
		{"prefix matches", "[\"acme.io/*\"]", "acme.io/db", "terraform"},
		{"prefix matches up to case", "[\"ACME.io/*\"]", "acme.IO/db", "terraform"},
		{"the prefix alone is not a match", "[\"acme.io/*\"]", "acme.io/", ""},
		{"another prefix", "[\"acme.io/*\"]", "acme.com/db", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := NewBuilder(parseConfig(t, c.pattern, "[]"), nil).WithoutCache()
			in := build(t, b, request{gvk: statefulSetGVK, ns: "tenant-a", name: "db", user: alice, fieldManager: "kubectl-set",
				old: statefulSet(typedManaged(c.managed), "ghcr.io/acme/db:1.0.0"),
				obj: statefulSet(typedManaged(c.managed), "ghcr.io/acme/db:9.9.9-hand")})
			if len(in.Changes) != 1 || in.Changes[0].Owner != c.want {
				t.Fatalf("changes %+v, want owner %q", in.Changes, c.want)
			}
		})
	}
	eso := NewBuilder(config.Default(), nil)
	if o := eso.ownerOfManager("externalsecrets.external-secrets.io/api-db"); o != "external-secrets" {
		t.Fatalf("the default config gives ESO's Secret writer to %q, want external-secrets", o)
	}
}
