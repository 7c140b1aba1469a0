package explain

import (
	"strings"
	"testing"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

// leaves parses a fieldsV1 document and renders its leaf paths.
func leaves(t *testing.T, fieldsV1 string) []string {
	t.Helper()
	s := &fieldpath.Set{}
	if err := s.FromJSON(strings.NewReader(fieldsV1)); err != nil {
		t.Fatal(err)
	}
	var out []string
	s.Leaves().Iterate(func(p fieldpath.Path) { out = append(out, input.PathText(p)) })
	return out
}

func TestPathTextFromManagedFields(t *testing.T) {
	cases := []struct {
		name, fieldsV1 string
		want           []string
	}{
		{"field names", `{"f:spec":{"f:replicas":{}}}`, []string{"spec.replicas"}},
		{"single-key list item", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{".":{},"f:image":{}}}}}}}`,
			[]string{"spec.template.spec.containers[api].image"}},
		{"nested keyed lists", `{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{"f:env":{"k:{\"name\":\"LOG_LEVEL\"}":{".":{},"f:value":{}}}}}}}`,
			[]string{"spec.containers[api].env[LOG_LEVEL].value"}},
		{"multi-key list item, keys in name order", `{"f:spec":{"f:ports":{"k:{\"containerPort\":8080,\"protocol\":\"TCP\"}":{".":{},"f:name":{}}}}}`,
			[]string{"spec.ports[containerPort=8080,protocol=TCP].name"}},
		{"keys that are not identifiers are bracketed", `{"f:metadata":{"f:annotations":{"f:kubectl.kubernetes.io/restartedAt":{}}}}`,
			[]string{"metadata.annotations[kubectl.kubernetes.io/restartedAt]"}},
		{"identifier-like keys keep dots off", `{"f:data":{"f:FEATURE_FLAG_X":{},"f:config.yaml":{}}}`,
			[]string{"data.FEATURE_FLAG_X", "data[config.yaml]"}},
		{"set members", `{"f:metadata":{"f:finalizers":{"v:\"example.com/cleanup\"":{}}}}`,
			[]string{"metadata.finalizers[example.com/cleanup]"}},
		{"volume mounts keyed by path", `{"f:volumeMounts":{"k:{\"mountPath\":\"/etc/api\"}":{".":{},"f:name":{}}}}`,
			[]string{"volumeMounts[/etc/api].name"}},
		{"an item without children is a leaf", `{"f:spec":{"f:containers":{"k:{\"name\":\"sidecar\"}":{".":{}}}}}`,
			[]string{"spec.containers[sidecar]"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := leaves(t, c.fieldsV1)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("leaves of %s:\n got %q\nwant %q", c.fieldsV1, got, c.want)
			}
		})
	}

	// Index and top-level bracketed names (not produced by FieldsV1 of
	// built-in types, but part of the syntax).
	weird := "a.b"
	p := fieldpath.MakePathOrDie(weird, "list", 3, "x")
	if got := input.PathText(p); got != "[a.b].list[3].x" {
		t.Errorf("PathText(%v) = %q", p, got)
	}
	v := value.NewValueInterface(true)
	if got := input.PathText(fieldpath.MakePathOrDie("flags", v)); got != "flags[true]" {
		t.Errorf("value element: %q", got)
	}
}

// The text of a managedFields path is the text of the same field in
// input.changes: explain's field list and policy messages agree.
func TestPathTextMatchesChanges(t *testing.T) {
	old := fixture(t, "deployment-terraform.json")
	fields, err := Managers(old, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range fields {
		listed[f.Path] = true
	}
	for _, want := range []string{
		"spec.template.spec.containers[api].image",
		"spec.template.spec.containers[api].env[LOG_LEVEL].value",
		"spec.replicas",
		"metadata.labels.app",
	} {
		if !listed[want] {
			t.Fatalf("field %s not listed; have %v", want, fields)
		}
		var f FieldManagers
		for _, x := range fields {
			if x.Path == want {
				f = x
			}
		}
		newObj := copyJSON(old)
		_, set, ok := locate(newObj, f.fp)
		if !ok {
			t.Fatalf("cannot locate %s", want)
		}
		set("changed")
		changes := input.Diff(old, newObj)
		if len(changes) != 1 || changes[0].Path != want {
			t.Errorf("changing %s: input.Diff reports %+v", want, changes)
		}
	}
}

func TestManagersPerField(t *testing.T) {
	o := fixture(t, "deployment-terraform-then-kubectl-edit.json")
	fields, err := Managers(o, config.Default())
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]FieldManagers{}
	for i, f := range fields {
		by[f.Path] = f
		if i > 0 && fields[i-1].Path >= f.Path {
			t.Errorf("not sorted: %s before %s", fields[i-1].Path, f.Path)
		}
	}
	img := by["spec.template.spec.containers[api].image"]
	if len(img.Managers) != 1 || img.Managers[0].Manager != "Terraform" || img.Managers[0].Operation != "Apply" ||
		img.Managers[0].Owner != "terraform" || img.Owner != "terraform" || img.Managers[0].Time == "" {
		t.Errorf("image managers: %+v", img)
	}
	val := by["spec.template.spec.containers[api].env[LOG_LEVEL].value"]
	if len(val.Managers) != 1 || val.Managers[0].Manager != "kubectl-edit" || val.Managers[0].Operation != "Update" ||
		val.Managers[0].Owner != "" || !val.Managers[0].HandEdit || val.Owner != "" {
		t.Errorf("env value managers: %+v", val)
	}
	if _, ok := by["spec.template.spec.containers[api]"]; ok {
		t.Errorf("a list item with children is listed as a leaf")
	}
	if _, ok := by["spec.selector"]; !ok {
		t.Errorf("atomic spec.selector missing: %v", fields)
	}
}

func TestManagersNoManagedFields(t *testing.T) {
	fields, err := Managers(obj(t, deployment("a", "b", "u", "")), config.Default())
	if err != nil || len(fields) != 0 {
		t.Errorf("fields %v err %v", fields, err)
	}
}

func TestLocateAndBump(t *testing.T) {
	o := obj(t, `{"spec":{"replicas":2,"paused":false,"ports":[{"containerPort":80,"protocol":"TCP","name":"http"},{"containerPort":8080,"protocol":"TCP","name":"api"}],
	  "args":["a","b"],"finalizers":["x"]}}`)
	key := value.FieldList{{Name: "containerPort", Value: value.NewValueInterface(int64(8080))}, {Name: "protocol", Value: value.NewValueInterface("TCP")}}
	cases := []struct {
		p    fieldpath.Path
		want any
		desc string
	}{
		{fieldpath.MakePathOrDie("spec", "replicas"), float64(3), "number + 1"},
		{fieldpath.MakePathOrDie("spec", "paused"), true, "boolean flipped"},
		{fieldpath.MakePathOrDie("spec", "ports", &key, "name"), "api-x", `string + "-x"`},
		{fieldpath.MakePathOrDie("spec", "args", 1), "b-x", `string + "-x"`},
	}
	for _, c := range cases {
		get, set, ok := locate(o, c.p)
		if !ok {
			t.Fatalf("locate %v failed", c.p)
		}
		nv, desc, ok := bump(get())
		if !ok || desc != c.desc {
			t.Fatalf("bump %v: %v %q %v", c.p, nv, desc, ok)
		}
		set(nv)
		if get() != c.want {
			t.Errorf("%v = %v, want %v", c.p, get(), c.want)
		}
	}
	if o["spec"].(map[string]any)["ports"].([]any)[0].(map[string]any)["name"] != "http" {
		t.Errorf("wrong list item changed: %v", o)
	}
	for _, p := range []fieldpath.Path{
		fieldpath.MakePathOrDie("spec", "missing"),
		fieldpath.MakePathOrDie("spec", "args", 5),
		fieldpath.MakePathOrDie("spec", "finalizers", value.NewValueInterface("x")),
		fieldpath.MakePathOrDie("spec", "replicas", "deeper"),
	} {
		if _, _, ok := locate(o, p); ok {
			t.Errorf("locate %v should fail", p)
		}
	}
	if _, _, ok := bump(map[string]any{}); ok {
		t.Errorf("maps are not bumped")
	}
	if v, _, _ := bump(int64(7)); v != int64(8) {
		t.Errorf("int64 bump: %v", v)
	}
}

func TestRetag(t *testing.T) {
	for in, want := range map[string]string{
		"ghcr.io/acme/api:1.0.0":              "ghcr.io/acme/api:1.0.0-explain",
		"nginx":                               "nginx:explain",
		"localhost:5000/app":                  "localhost:5000/app:explain",
		"localhost:5000/app:v2":               "localhost:5000/app:v2-explain",
		"ghcr.io/acme/api:1.0.0@sha256:abcd0": "ghcr.io/acme/api:1.0.0-explain",
		"ghcr.io/acme/api@sha256:abcd0":       "ghcr.io/acme/api:explain",
	} {
		if got := retag(in); got != want {
			t.Errorf("retag(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestImages(t *testing.T) {
	cron := obj(t, `{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"x","annotations":{"containers":"no"}},
	  "spec":{"jobTemplate":{"spec":{"template":{"spec":{
	    "initContainers":[{"name":"init","image":"busybox"}],
	    "containers":[{"name":"main","image":"app:1"},{"name":"noimage"}]}}}}},
	  "status":{"containers":[{"name":"s","image":"x"}]}}`)
	var got []string
	for _, p := range images(cron) {
		got = append(got, input.PathText(p))
	}
	want := []string{"spec.jobTemplate.spec.template.spec.containers[main].image", "spec.jobTemplate.spec.template.spec.initContainers[init].image"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("images = %v, want %v", got, want)
	}
	for _, p := range want {
		if !IsImagePath(p) {
			t.Errorf("IsImagePath(%s) false", p)
		}
	}
	if IsImagePath("spec.template.spec.containers[api].imagePullPolicy") {
		t.Errorf("imagePullPolicy is no image")
	}
}

func copyJSON(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = copyAny(v)
	}
	return out
}

func copyAny(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return copyJSON(x)
	case []any:
		l := make([]any, len(x))
		for i := range x {
			l[i] = copyAny(x[i])
		}
		return l
	}
	return v
}
