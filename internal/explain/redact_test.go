package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The explain report (JSON and text) of a Secret with values planted in
// data, stringData and the last-applied annotation names keys, never values.
func TestExplainPrintsNoSecretValues(t *testing.T) {
	const plantedData, plantedString, plantedApplied = "cGw0bnRlZC1kYXRhLWV4cGxhaW4=", "pl4nted-string-explain", "pl4nted-applied-explain"
	sec := fixture(t, "secret-eso.json")
	sec["data"].(map[string]any)["PLANTED"] = plantedData
	sec["stringData"] = map[string]any{"PLANTED_S": plantedString}
	md := obj2md(sec)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann["kubectl.kubernetes.io/last-applied-configuration"] = `{"apiVersion":"v1","kind":"Secret","stringData":{"P":"` + plantedApplied + `"}}`
	f := newFake(sec)
	r, err := Explain(context.Background(), Env{Objects: f, State: state(t, f)}, targetFor(sec, "secrets"), Options{User: "alice", Groups: []string{"devs"}})
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(r)
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(js), `"field":"data.FEATURE_FLAG_X"`) {
		t.Fatalf("the report simulates no edit of the Secret's data (vacuous test):\n%s", js)
	}
	for what, out := range map[string]string{"json": string(js), "text": text.String()} {
		for _, v := range append(secretValues(sec), plantedData, plantedString, plantedApplied) {
			if strings.Contains(out, v) {
				t.Errorf("explain %s output contains the Secret value %q", what, v)
			}
		}
	}
}
