package redact

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestObject(t *testing.T) {
	sec := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{LastApplied: "{...secret...}", "team": "a"}},
		"data":     map[string]any{"K": "c2VjcmV0"}, "stringData": map[string]any{"P": "plain"}, "type": "Opaque",
	}
	before, _ := json.Marshal(sec)
	got := Object("", sec)
	want := map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "s", "annotations": map[string]any{LastApplied: "(redacted: 14 bytes)", "team": "a"}},
		"data":     map[string]any{"K": "(redacted: 8 bytes)"}, "stringData": map[string]any{"P": "(redacted: 5 bytes)"}, "type": "Opaque",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Object = %v\nwant %v", got, want)
	}
	if after, _ := json.Marshal(sec); string(after) != string(before) {
		t.Errorf("Object modified its argument: %s", after)
	}
	// a Secret by the request's kind alone; malformed data hidden whole
	if got := Object("Secret", map[string]any{"data": "c2VjcmV0"}); got["data"] != "(redacted: 8 bytes)" {
		t.Errorf("malformed data: %v", got)
	}
	// other kinds keep data; their last-applied manifest is hidden
	cm := map[string]any{"kind": "ConfigMap", "data": map[string]any{"k": "v"},
		"metadata": map[string]any{"annotations": map[string]any{LastApplied: "{}"}}}
	got = Object("ConfigMap", cm)
	if got["data"].(map[string]any)["k"] != "v" || got["metadata"].(map[string]any)["annotations"].(map[string]any)[LastApplied] != "(redacted: 2 bytes)" {
		t.Errorf("ConfigMap: %v", got)
	}
}

func TestDoc(t *testing.T) {
	doc := map[string]any{
		"request":   map[string]any{"kind": map[string]any{"kind": "Secret"}},
		"object":    map[string]any{"data": map[string]any{"K": "bmV3"}},
		"oldObject": map[string]any{"data": map[string]any{"K": "b2xk"}},
		"changes":   []any{map[string]any{"path": "data.K"}},
	}
	got := Doc(doc)
	for _, f := range []string{"object", "oldObject"} {
		if v := got[f].(map[string]any)["data"].(map[string]any)["K"]; v != "(redacted: 4 bytes)" {
			t.Errorf("%s data.K = %v", f, v)
		}
	}
	if !reflect.DeepEqual(got["changes"], doc["changes"]) {
		t.Errorf("changes (paths name keys, not values) = %v", got["changes"])
	}
}

func TestPatchValue(t *testing.T) {
	for _, c := range []struct {
		kind, path string
		v, want    any
	}{
		{"Secret", "/data/K", "c2VjcmV0", "(redacted: 8 bytes)"},
		{"Secret", "/stringData", map[string]any{"P": "plain"}, map[string]any{"P": "(redacted: 5 bytes)"}},
		{"Secret", "/metadata/labels/x", "y", "y"},
		{"ConfigMap", "/data/K", "v", "v"},
		{"Deployment", "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration", "{}", "(redacted: 2 bytes)"},
		{"Deployment", "/metadata/annotations", map[string]any{LastApplied: "{}", "a": "b"}, map[string]any{LastApplied: "(redacted: 2 bytes)", "a": "b"}},
		{"Deployment", "/metadata/annotations/driftguard.io~1drift", "{}", "{}"},
		{"Secret", "", map[string]any{"kind": "Secret", "data": map[string]any{"K": "eA=="}}, map[string]any{"kind": "Secret", "data": map[string]any{"K": "(redacted: 4 bytes)"}}},
	} {
		if got := PatchValue(c.kind, c.path, c.v); !reflect.DeepEqual(got, c.want) {
			t.Errorf("PatchValue(%s, %s, %v) = %v, want %v", c.kind, c.path, c.v, got, c.want)
		}
	}
}
