package input

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// obj decodes JSON the way the webhook does (numbers become float64).
func obj(t *testing.T, s string) map[string]any {
	t.Helper()
	if s == "" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return m
}

// changeStrings renders changes as "op path", in Diff's order.
func changeStrings(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Op + " " + c.Path
	}
	return out
}

const deployTmpl = `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"tenant-a"%s},"spec":{"replicas":2,"template":{"metadata":{"labels":{"app":"api"}%s},"spec":{"containers":[%s]}}}}`

func TestDiff(t *testing.T) {
	api := `{"name":"api","image":"ghcr.io/acme/api:1.0.0"}`
	api2 := `{"name":"api","image":"ghcr.io/acme/api:1.1.0"}`
	side := `{"name":"sidecar","image":"envoy:1"}`
	tests := []struct {
		name     string
		old, new string
		want     []string
	}{
		{
			name: "identical objects",
			old:  `{"spec":{"replicas":2,"selector":{"app":"x"}}}`,
			new:  `{"spec":{"replicas":2,"selector":{"app":"x"}}}`,
			want: []string{},
		},
		{
			name: "scalar change",
			old:  `{"spec":{"replicas":2,"paused":false}}`,
			new:  `{"spec":{"replicas":3,"paused":true}}`,
			want: []string{"replace spec.paused", "replace spec.replicas"},
		},
		{
			name: "numbers from encoding/json compare by value",
			old:  `{"spec":{"replicas":2}}`,
			new:  `{"spec":{"replicas":2.0}}`,
			want: []string{},
		},
		{
			name: "type change is a replace",
			old:  `{"spec":{"x":{"a":"b"}}}`,
			new:  `{"spec":{"x":"flat"}}`,
			want: []string{"replace spec.x"},
		},
		{
			name: "map key added and removed",
			old:  `{"metadata":{"labels":{"app":"api","tier":"web"}}}`,
			new:  `{"metadata":{"labels":{"app":"api","team":"a"}}}`,
			want: []string{"add metadata.labels.team", "remove metadata.labels.tier"},
		},
		{
			name: "annotation keys with dots and slashes are bracketed",
			old:  `{"metadata":{"annotations":{"a":"1"}}}`,
			new:  `{"metadata":{"annotations":{"a":"1","kubectl.kubernetes.io/restartedAt":"2024-01-01T00:00:00Z","driftguard.io/break-glass":"incident 42"}}}`,
			want: []string{
				"add metadata.annotations[driftguard.io/break-glass]",
				"add metadata.annotations[kubectl.kubernetes.io/restartedAt]",
			},
		},
		{
			name: "annotation added to an object without annotations names the key",
			old:  `{"metadata":{"name":"api"}}`,
			new:  `{"metadata":{"name":"api","annotations":{"driftguard.io/break-glass":"incident 42"}}}`,
			want: []string{"add metadata.annotations[driftguard.io/break-glass]"},
		},
		{
			name: "rollout restart of a template without annotations names the key",
			old:  `{"spec":{"template":{"metadata":{"labels":{"app":"api"}}}}}`,
			new:  `{"spec":{"template":{"metadata":{"labels":{"app":"api"},"annotations":{"kubectl.kubernetes.io/restartedAt":"2024-01-01T00:00:00Z"}}}}}`,
			want: []string{"add spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]"},
		},
		{
			name: "all annotations removed names each key",
			old:  `{"metadata":{"annotations":{"a.b/c":"1","d":"2"}}}`,
			new:  `{"metadata":{}}`,
			want: []string{"remove metadata.annotations.d", "remove metadata.annotations[a.b/c]"},
		},
		{
			name: "empty map and absent map are the same",
			old:  `{"metadata":{"annotations":{}}}`,
			new:  `{"metadata":{}}`,
			want: []string{},
		},
		{
			name: "explicit null and absent are the same",
			old:  `{"spec":{"x":null}}`,
			new:  `{"spec":{}}`,
			want: []string{},
		},
		{
			name: "containers reordered is no change",
			old:  `{"spec":{"containers":[` + api + `,` + side + `]}}`,
			new:  `{"spec":{"containers":[` + side + `,` + api + `]}}`,
			want: []string{},
		},
		{
			name: "container image change is keyed by name",
			old:  `{"spec":{"template":{"spec":{"containers":[` + side + `,` + api + `]}}}}`,
			new:  `{"spec":{"template":{"spec":{"containers":[` + side + `,` + api2 + `]}}}}`,
			want: []string{"replace spec.template.spec.containers[api].image"},
		},
		{
			name: "container added",
			old:  `{"spec":{"containers":[` + api + `]}}`,
			new:  `{"spec":{"containers":[` + api + `,` + side + `]}}`,
			want: []string{"add spec.containers[sidecar]"},
		},
		{
			name: "container removed",
			old:  `{"spec":{"containers":[` + api + `,` + side + `]}}`,
			new:  `{"spec":{"containers":[` + api + `]}}`,
			want: []string{"remove spec.containers[sidecar]"},
		},
		{
			name: "init containers keyed by name too",
			old:  `{"spec":{"initContainers":[{"name":"migrate","image":"m:1"}]}}`,
			new:  `{"spec":{"initContainers":[{"name":"migrate","image":"m:2"}]}}`,
			want: []string{"replace spec.initContainers[migrate].image"},
		},
		{
			name: "env by name: value change, add, remove, reorder",
			old:  `{"spec":{"containers":[{"name":"api","env":[{"name":"A","value":"1"},{"name":"B","value":"2"},{"name":"C","value":"3"}]}]}}`,
			new:  `{"spec":{"containers":[{"name":"api","env":[{"name":"C","value":"3"},{"name":"A","value":"9"},{"name":"FEATURE_FLAG_X","value":"True"}]}]}}`,
			want: []string{
				"replace spec.containers[api].env[A].value",
				"remove spec.containers[api].env[B]",
				"add spec.containers[api].env[FEATURE_FLAG_X]",
			},
		},
		{
			name: "env var added to a container without env",
			old:  `{"spec":{"containers":[{"name":"api"}]}}`,
			new:  `{"spec":{"containers":[{"name":"api","env":[{"name":"A","value":"1"}]}]}}`,
			want: []string{"add spec.containers[api].env"},
		},
		{
			name: "container ports keyed by containerPort and protocol",
			old:  `{"spec":{"containers":[{"name":"api","ports":[{"containerPort":8080,"protocol":"TCP","name":"http"},{"containerPort":9090,"protocol":"TCP"}]}]}}`,
			new:  `{"spec":{"containers":[{"name":"api","ports":[{"containerPort":9090,"protocol":"TCP"},{"containerPort":8080,"protocol":"TCP","name":"web"},{"containerPort":8080,"protocol":"UDP"}]}]}}`,
			want: []string{
				"replace spec.containers[api].ports[containerPort=8080,protocol=TCP].name",
				"add spec.containers[api].ports[containerPort=8080,protocol=UDP]",
			},
		},
		{
			name: "service ports keyed by port and protocol",
			old:  `{"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":8080}]}}`,
			new:  `{"spec":{"ports":[{"port":80,"protocol":"TCP","targetPort":9090}]}}`,
			want: []string{"replace spec.ports[port=80,protocol=TCP].targetPort"},
		},
		{
			name: "atomic list (args) replaced as a whole",
			old:  `{"spec":{"containers":[{"name":"api","args":["--a","--b"]}]}}`,
			new:  `{"spec":{"containers":[{"name":"api","args":["--b","--a"]}]}}`,
			want: []string{"replace spec.containers[api].args"},
		},
		{
			name: "keyed list with an item missing its key is atomic",
			old:  `{"spec":{"containers":[{"name":"api"}]}}`,
			new:  `{"spec":{"containers":[{"image":"x"}]}}`,
			want: []string{"replace spec.containers"},
		},
		{
			// CRDs may use these field names with any content; the diff
			// must not panic on non-scalar merge keys.
			name: "non-scalar merge key makes the list atomic",
			old:  `{"spec":{"containers":[{"name":{"a":1},"image":"x"}],"ports":[{"port":{"number":80}}],"env":[{"name":["x"]}]}}`,
			new:  `{"spec":{"containers":[{"name":{"a":1},"image":"y"}],"ports":[{"port":{"number":81}}],"env":[{"name":["y"]}]}}`,
			want: []string{"replace spec.containers", "replace spec.env", "replace spec.ports"},
		},
		{
			name: "duplicate merge keys do not panic",
			old:  `{"spec":{"containers":[{"name":"a","image":"1"},{"name":"a","image":"2"}]}}`,
			new:  `{"spec":{"containers":[{"name":"a","image":"1"},{"name":"a","image":"2"}]}}`,
			want: []string{},
		},
		{
			name: "boolean and null merge keys",
			old:  `{"spec":{"conditions":[{"type":true,"status":"a"},{"type":null,"status":"b"}]}}`,
			new:  `{"spec":{"conditions":[{"type":true,"status":"c"},{"type":null,"status":"b"}]}}`,
			want: []string{"replace spec.conditions[true].status"},
		},
		{
			name: "finalizers are a set",
			old:  `{"metadata":{"finalizers":["a","b"]}}`,
			new:  `{"metadata":{"finalizers":["c","b","a"]}}`,
			want: []string{"add metadata.finalizers[c]"},
		},
		{
			name: "finalizer removed",
			old:  `{"metadata":{"finalizers":["example.com/protect","b"]}}`,
			new:  `{"metadata":{"finalizers":["b"]}}`,
			want: []string{"remove metadata.finalizers[example.com/protect]"},
		},
		{
			name: "finalizers reordered is no change",
			old:  `{"metadata":{"finalizers":["a","b"]}}`,
			new:  `{"metadata":{"finalizers":["b","a"]}}`,
			want: []string{},
		},
		{
			name: "bookkeeping paths are ignored",
			old:  `{"metadata":{"resourceVersion":"1","generation":1,"uid":"u1","creationTimestamp":"t1","managedFields":[{"manager":"a"}]},"status":{"observedGeneration":1}}`,
			new:  `{"metadata":{"resourceVersion":"2","generation":2,"uid":"u2","creationTimestamp":"t2","managedFields":[{"manager":"b"}]},"status":{"observedGeneration":2}}`,
			want: []string{},
		},
		{
			name: "bookkeeping paths ignored when added",
			old:  `{"metadata":{"name":"x"}}`,
			new:  `{"metadata":{"name":"x","resourceVersion":"2","generation":2,"managedFields":[{"manager":"b"}]}}`,
			want: []string{},
		},
		{
			name: "nil old object (CREATE) adds every field",
			old:  ``,
			new:  `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","resourceVersion":"1"},"data":{"k":"v"}}`,
			want: []string{"add apiVersion", "add data.k", "add kind", "add metadata.name"},
		},
		{
			name: "nil new object (DELETE) removes every field",
			old:  `{"kind":"ConfigMap","data":{"k":"v"}}`,
			new:  ``,
			want: []string{"remove data.k", "remove kind"},
		},
		{
			name: "both nil",
			want: []string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := changeStrings(Diff(obj(t, tc.old), obj(t, tc.new)))
			// Diff sorts by path; compare as such.
			want := append([]string(nil), tc.want...)
			sortByPath(want)
			if len(got) != len(want) || len(got) > 0 && !reflect.DeepEqual(got, want) {
				t.Errorf("Diff:\n got  %q\n want %q", got, want)
			}
		})
	}
}

func sortByPath(xs []string) {
	path := func(s string) string { _, p, _ := strings.Cut(s, " "); return p }
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && path(xs[j]) < path(xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

func TestDiffSortedAndDeterministic(t *testing.T) {
	old := obj(t, `{"metadata":{"labels":{"a":"1","b":"2","c":"3","d":"4"}},"spec":{"z":1,"y":2,"x":3}}`)
	nw := obj(t, `{"metadata":{"labels":{"a":"9","b":"9","c":"9","d":"9"}},"spec":{"z":0,"y":0,"x":0}}`)
	first := changeStrings(Diff(old, nw))
	for i := 0; i < 20; i++ {
		if got := changeStrings(Diff(old, nw)); !reflect.DeepEqual(got, first) {
			t.Fatalf("Diff is not deterministic: %q vs %q", got, first)
		}
	}
	for i := 1; i < len(first); i++ {
		if first[i-1][strings.Index(first[i-1], " ")+1:] > first[i][strings.Index(first[i], " ")+1:] {
			t.Fatalf("Diff is not sorted by path: %q", first)
		}
	}
}

// The structured path of a change must be the one managedFields uses, so
// that ownership lookups match what the API server recorded.
func TestDiffFieldPaths(t *testing.T) {
	tests := []struct {
		name     string
		old, new string
		path     string
		fp       fieldpath.Path
	}{
		{
			name: "container image",
			old:  `{"spec":{"containers":[{"name":"api","image":"a"}]}}`,
			new:  `{"spec":{"containers":[{"name":"api","image":"b"}]}}`,
			path: "spec.containers[api].image",
			fp:   fieldpath.MakePathOrDie("spec", "containers", keyByFields("name", "api"), "image"),
		},
		{
			name: "container port (float64 from JSON matches int key)",
			old:  `{"spec":{"ports":[{"containerPort":8080,"protocol":"TCP","name":"a"}]}}`,
			new:  `{"spec":{"ports":[{"containerPort":8080,"protocol":"TCP","name":"b"}]}}`,
			path: "spec.ports[containerPort=8080,protocol=TCP].name",
			fp:   fieldpath.MakePathOrDie("spec", "ports", keyByFields("containerPort", int64(8080), "protocol", "TCP"), "name"),
		},
		{
			name: "annotation",
			old:  `{"metadata":{"annotations":{"x":"1"}}}`,
			new:  `{"metadata":{"annotations":{"x":"1","kubectl.kubernetes.io/restartedAt":"t"}}}`,
			path: "metadata.annotations[kubectl.kubernetes.io/restartedAt]",
			fp:   fieldpath.MakePathOrDie("metadata", "annotations", "kubectl.kubernetes.io/restartedAt"),
		},
		{
			name: "finalizer",
			old:  `{"metadata":{"finalizers":[]}}`,
			new:  `{"metadata":{"finalizers":["f"]}}`,
			path: "metadata.finalizers[f]",
			fp:   fieldpath.MakePathOrDie("metadata", "finalizers", valueElem("f")),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := Diff(obj(t, tc.old), obj(t, tc.new))
			if len(cs) != 1 {
				t.Fatalf("want 1 change, got %q", changeStrings(cs))
			}
			if cs[0].Path != tc.path {
				t.Errorf("path %q, want %q", cs[0].Path, tc.path)
			}
			if !cs[0].fp.Equals(tc.fp) {
				t.Errorf("field path %s, want %s", cs[0].fp, tc.fp)
			}
			// and the set the API server would write for that path owns it
			s := fieldpath.NewSet(tc.fp)
			js, err := s.ToJSON()
			if err != nil {
				t.Fatal(err)
			}
			parsed := &fieldpath.Set{}
			if err := parsed.FromJSON(strings.NewReader(string(js))); err != nil {
				t.Fatal(err)
			}
			if !Owns(parsed, cs[0].fp) {
				t.Errorf("set %s does not own %s", js, cs[0].fp)
			}
		})
	}
}
