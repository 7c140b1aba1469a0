package input

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

func keyByFields(nv ...any) *value.FieldList { return fieldpath.KeyByFields(nv...) }

func valueElem(v any) value.Value { return value.NewValueInterface(v) }

// fieldsV1 parses a managedFields fieldsV1 document.
func fieldsV1(t *testing.T, js string) *fieldpath.Set {
	t.Helper()
	s := &fieldpath.Set{}
	if err := s.FromJSON(strings.NewReader(js)); err != nil {
		t.Fatalf("bad fieldsV1 %s: %v", js, err)
	}
	return s
}

// terraformFields is what the API server records for a Terraform apply of
// a Deployment (as in test/fixtures/managedfields/deployment-terraform.json).
const terraformFields = `{
  "f:metadata": {"f:labels": {"f:app": {}}, "f:annotations": {"f:example.com/team": {}}},
  "f:spec": {
    "f:replicas": {},
    "f:selector": {},
    "f:template": {
      "f:metadata": {"f:labels": {"f:app": {}}},
      "f:spec": {
        "f:nodeSelector": {},
        "f:containers": {
          "k:{\"name\":\"api\"}": {
            ".": {},
            "f:name": {},
            "f:image": {},
            "f:args": {},
            "f:env": {"k:{\"name\":\"LOG_LEVEL\"}": {".": {}, "f:name": {}, "f:value": {}}},
            "f:ports": {"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}, "f:protocol": {}}}
          }
        }
      }
    }
  }
}`

func TestOwns(t *testing.T) {
	tf := fieldsV1(t, terraformFields)
	fin := fieldsV1(t, `{"f:metadata":{"f:finalizers":{"v:\"example.com/protect\"":{}}}}`)
	containers := func(rest ...any) fieldpath.Path {
		return fieldpath.MakePathOrDie(append([]any{"spec", "template", "spec", "containers"}, rest...)...)
	}
	api := keyByFields("name", "api")
	tests := []struct {
		name string
		set  *fieldpath.Set
		path fieldpath.Path
		want bool
	}{
		{"member leaf", tf, containers(api, "image"), true},
		{"member scalar", tf, fieldpath.MakePathOrDie("spec", "replicas"), true},
		{"keyed list item with '.' entry", tf, containers(api), true},
		{"keyed item of another container", tf, containers(keyByFields("name", "sidecar")), false},
		{"field of a keyed item not owned", tf, containers(api, "resources"), false},
		{"below an unowned field of a keyed item", tf, containers(api, "resources", "limits", "cpu"), false},
		{"atomic list (args)", tf, containers(api, "args"), true},
		{"atomic ancestor: map below nodeSelector", tf, fieldpath.MakePathOrDie("spec", "template", "spec", "nodeSelector", "disk"), true},
		{"atomic ancestor: selector subfield", tf, fieldpath.MakePathOrDie("spec", "selector", "matchLabels", "app"), true},
		{"descendant owned: whole containers list", tf, fieldpath.MakePathOrDie("spec", "template", "spec", "containers"), true},
		{"descendant owned: whole env list", tf, containers(api, "env"), true},
		{"descendant owned: template", tf, fieldpath.MakePathOrDie("spec", "template"), true},
		{"env item by name", tf, containers(api, "env", keyByFields("name", "LOG_LEVEL"), "value"), true},
		{"env item added by someone else", tf, containers(api, "env", keyByFields("name", "FEATURE_FLAG_X")), false},
		{"port key from JSON float64", tf, containers(api, "ports", keyByFields("containerPort", float64(8080), "protocol", "TCP")), true},
		{"port key other protocol", tf, containers(api, "ports", keyByFields("containerPort", float64(8080), "protocol", "UDP")), false},
		{"unowned sibling", tf, fieldpath.MakePathOrDie("spec", "paused"), false},
		{"unowned sibling annotation", tf, fieldpath.MakePathOrDie("metadata", "annotations", "kubectl.kubernetes.io/restartedAt"), false},
		{"owned annotation with dots and slash", tf, fieldpath.MakePathOrDie("metadata", "annotations", "example.com/team"), true},
		{"unowned template annotations map", tf, fieldpath.MakePathOrDie("spec", "template", "metadata", "annotations"), false},
		{"unowned top-level", tf, fieldpath.MakePathOrDie("status"), false},
		{"set value owned", fin, fieldpath.MakePathOrDie("metadata", "finalizers", valueElem("example.com/protect")), true},
		{"set value not owned", fin, fieldpath.MakePathOrDie("metadata", "finalizers", valueElem("other")), false},
		{"nil set", nil, fieldpath.MakePathOrDie("spec"), false},
		{"empty path", tf, fieldpath.Path{}, false},
		{"empty set", &fieldpath.Set{}, fieldpath.MakePathOrDie("spec"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Owns(tc.set, tc.path); got != tc.want {
				t.Errorf("Owns(%s) = %v, want %v", tc.path, got, tc.want)
			}
		})
	}
}

func TestOwnsOutsideMetadata(t *testing.T) {
	tests := []struct {
		name string
		js   string
		want bool
	}{
		{"spec", `{"f:spec":{"f:replicas":{}}}`, true},
		{"data", `{"f:data":{"f:X":{}}}`, true},
		{"metadata only", `{"f:metadata":{"f:labels":{"f:a":{}},"f:annotations":{"f:b":{}}}}`, false},
		{"empty", `{}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := OwnsOutsideMetadata(fieldsV1(t, tc.js)); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	if OwnsOutsideMetadata(nil) {
		t.Error("nil set owns nothing")
	}
}

func TestParseManagedFields(t *testing.T) {
	tests := []struct {
		name     string
		raw      string
		managers []string
		errHas   string
	}{
		{name: "empty raw", raw: ``},
		{name: "no managedFields", raw: `{"metadata":{"name":"x"}}`},
		{
			name: "entries in order with operation and subresource",
			raw: `{"metadata":{"managedFields":[
				{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}},
				{"manager":"kube-controller-manager","operation":"Update","subresource":"status","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:replicas":{}}}},
				{"manager":"no-fields","operation":"Update","fieldsType":"FieldsV1"}
			]}}`,
			managers: []string{"Terraform", "kube-controller-manager", "no-fields"},
		},
		{
			name:     "unknown fieldsType is skipped and reported",
			raw:      `{"metadata":{"managedFields":[{"manager":"x","fieldsType":"FieldsV9","fieldsV1":{"f:spec":{}}},{"manager":"y","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{}}}]}}`,
			managers: []string{"y"},
			errHas:   `managedFields[0] (x): fieldsType "FieldsV9" is not FieldsV1`,
		},
		{
			name:     "malformed fieldsV1 entry is skipped and reported",
			raw:      `{"metadata":{"managedFields":[{"manager":"bad","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"k:{not json":{}}}},{"manager":"good","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]}}`,
			managers: []string{"good"},
			errHas:   "managedFields[0] (bad)",
		},
		{
			name:   "managedFields of the wrong type",
			raw:    `{"metadata":{"managedFields":"oops"}}`,
			errHas: "managedFields",
		},
		{
			name:   "not JSON",
			raw:    `{"metadata":`,
			errHas: "managedFields",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseManagedFields([]byte(tc.raw))
			if tc.errHas == "" && err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if tc.errHas != "" && (err == nil || !strings.Contains(err.Error(), tc.errHas)) {
				t.Fatalf("error %v, want it to mention %q", err, tc.errHas)
			}
			var names []string
			for _, m := range got {
				names = append(names, m.Manager)
				if m.Set == nil {
					t.Errorf("%s: nil set", m.Manager)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.managers, ",") {
				t.Errorf("managers %q, want %q", names, tc.managers)
			}
		})
	}

	// operation and subresource are carried over
	ms, err := ParseManagedFields([]byte(`{"metadata":{"managedFields":[{"manager":"kcm","operation":"Update","subresource":"status","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:replicas":{}}}}]}}`))
	if err != nil || len(ms) != 1 {
		t.Fatalf("got %v, %v", ms, err)
	}
	if ms[0].Operation != "Update" || ms[0].Subresource != "status" {
		t.Errorf("got operation %q subresource %q", ms[0].Operation, ms[0].Subresource)
	}
	if !Owns(ms[0].Set, fieldpath.MakePathOrDie("status", "replicas")) {
		t.Error("parsed set does not own status.replicas")
	}
}

// The managedFields cache holds copies of what it parsed (never a slice of
// a request body), finds only the same bytes, skips large managedFields
// and stays within its byte budget.
func TestManagedCacheIsContentKeyedAndBounded(t *testing.T) {
	b := NewBuilder(config.Default(), nil)
	c := b.managed
	body := []byte(`[{"manager":"Terraform","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]`)
	m := b.managedFields(body)
	if got := b.managedFields(bytes.Clone(body)); got != m {
		t.Fatal("same bytes not found")
	}
	other := bytes.Replace(body, []byte("Terraform"), []byte("Terraforn"), 1)
	if c.get(other) != nil {
		t.Fatal("different bytes found an entry")
	}
	body[3] = 'X' // the request buffer is reused: the entry must not change
	if !bytes.Contains(m.content, []byte(`"manager"`)) || len(m.declared) != 1 {
		t.Fatal("the cache entry shares the caller's buffer")
	}
	big := &managedInfo{content: bytes.Repeat([]byte("x"), maxCachedManagedFields+1)}
	c.put(big)
	if c.get(big.content) != nil {
		t.Fatal("managedFields over the entry bound were cached")
	}
	for i := 0; i < 600; i++ {
		e := &managedInfo{content: append(bytes.Repeat([]byte("y"), maxCachedManagedFields-8), fmt.Sprintf("%08d", i)...)}
		c.put(e)
		if c.bytes > maxManagedCacheBytes {
			t.Fatalf("cache holds %d bytes, over its budget of %d", c.bytes, maxManagedCacheBytes)
		}
	}
}
