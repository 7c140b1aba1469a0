package input

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftguard/driftguard/internal/config"
)

// fuzzSeeds are old/new object pairs for FuzzDiff and FuzzBuild; the
// committed corpus in testdata/fuzz/ adds more (run as plain tests).
func fuzzSeeds(f *testing.F) {
	api := `{"name":"api","image":"ghcr.io/acme/api:1.0.0","env":[{"name":"A","value":"1"}],"ports":[{"containerPort":80,"protocol":"TCP"}]}`
	api2 := `{"name":"api","image":"ghcr.io/acme/api:1.1.0","env":[{"name":"A","value":"2"},{"name":"B","value":"x"}],"ports":[{"containerPort":8080}]}`
	dep := func(containers, extra string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"tenant-a","uid":"u1","resourceVersion":"7","finalizers":["a","b"]` + extra + `},"spec":{"replicas":2,"template":{"spec":{"containers":[` + containers + `]}}}}`
	}
	f.Add([]byte(dep(api, "")), []byte(dep(api2, "")))
	f.Add([]byte(dep(api, "")), []byte(dep(api, `,"labels":{"a.b/c":"d"}`)))
	f.Add([]byte(`{"metadata":{"finalizers":["x",1,true,null]}}`), []byte(`{"metadata":{"finalizers":["1","true"]}}`))
	f.Add([]byte(`{"spec":{"containers":[{"name":"a","image":"1"},{"name":"a","image":"2"}]}}`), []byte(`{"spec":{"containers":[{"name":"a","image":"3"}]}}`))
	f.Add([]byte(`{"spec":{"ports":[{"port":80,"protocol":"TCP"},{"port":443}]}}`), []byte(`{"spec":{"ports":[{"port":443,"protocol":"TCP"}]}}`))
	f.Add([]byte(`{"spec":{"containers":{"a":1}}}`), []byte(`{"spec":{"containers":[1,2]}}`))
	f.Add([]byte(`{"a":null,"b":{},"c":[],"d":1e308}`), []byte(`{"b":null,"c":{},"d":"1e308"}`))
	f.Add([]byte(`{"metadata":{"managedFields":[{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]},"spec":{"replicas":1}}`),
		[]byte(`{"metadata":{"managedFields":"garbage"},"spec":{"replicas":2}}`))
	f.Add([]byte(`null`), []byte(`{"x":1}`))
	f.Add([]byte(`[1,2]`), []byte(`"str"`))
	f.Add([]byte(`{"metadata":"x"}`), []byte(`{`))
	f.Add([]byte(``), []byte(`{"data":{"k":"dmFsdWU="}}`))
	for _, name := range []string{"deployment-update-8k.json", "set-image-alice.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "reviews", name))
		if err != nil {
			f.Fatal(err)
		}
		var rv struct {
			Request struct {
				Object, OldObject json.RawMessage
			}
		}
		if err := json.Unmarshal(b, &rv); err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(rv.Request.OldObject), []byte(rv.Request.Object))
	}
}

// fuzzCheckChanges asserts Diff's contract: sorted by path, no path twice
// (list items with equal keys, TestDiffDuplicateMergeKeys, and set members
// of different JSON types, TestDiffSetMembersOfDifferentTypes, once broke
// the second).
func fuzzCheckChanges(t *testing.T, cs []Change) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		if cs[i-1].Path > cs[i].Path {
			t.Fatalf("changes not sorted: %q before %q", cs[i-1].Path, cs[i].Path)
		}
	}
	for _, c := range cs {
		switch c.Op {
		case "add", "remove", "replace":
		default:
			t.Fatalf("change %q has op %q", c.Path, c.Op)
		}
	}
	for i := 1; i < len(cs); i++ {
		if cs[i-1].Path == cs[i].Path {
			t.Fatalf("change %q reported twice (%s, %s)", cs[i].Path, cs[i-1].Op, cs[i].Op)
		}
	}
}

// diffPart is the part of Build's changes that comes from Diff (Build
// appends dropped managedFields entries after it, unsorted: see
// TestBuildChangesSortedWithDroppedOwnership).
func diffPart(cs []Change) []Change {
	for i, c := range cs {
		if strings.HasPrefix(c.Path, "metadata.managedFields[") {
			return cs[:i]
		}
	}
	return cs
}

// FuzzDiff: arbitrary old/new JSON through DecodeObject and Diff never
// panics; Diff(a, a) has no changes; changes are sorted and unique.
func FuzzDiff(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, oldRaw, newRaw []byte) {
		a, _, errA := DecodeObject(oldRaw)
		b, _, errB := DecodeObject(newRaw)
		if errA == nil {
			if cs := Diff(a, a); len(cs) != 0 {
				t.Fatalf("Diff(a, a) has changes %v", changeStrings(cs))
			}
			// a fresh decode of the same bytes is equal too
			a2, _, _ := DecodeObject(oldRaw)
			if cs := Diff(a, a2); len(cs) != 0 {
				t.Fatalf("Diff(a, decode(a)) has changes %v", changeStrings(cs))
			}
		}
		if errA != nil || errB != nil {
			return
		}
		cs := Diff(a, b)
		fuzzCheckChanges(t, cs)
		// nothing added to one side is removed on the other
		back := Diff(b, a)
		if len(back) != len(cs) {
			t.Fatalf("Diff(a,b) has %d changes, Diff(b,a) %d: %v / %v", len(cs), len(back), changeStrings(cs), changeStrings(back))
		}
	})
}

// FuzzBuild: arbitrary old/new objects through Builder.Build with the
// default config (UPDATE, CREATE, DELETE) never panic; an UPDATE's
// changes are sorted and unique, and none when the objects are the same.
func FuzzBuild(f *testing.F) {
	fuzzSeeds(f)
	cfg, err := config.Load("")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, oldRaw, newRaw []byte) {
		b := NewBuilder(cfg, nil) // fresh: the managedFields cache is keyed by uid/resourceVersion
		ctx := context.Background()
		req := func(op admissionv1.Operation, kind string, o, n []byte) *admissionv1.AdmissionRequest {
			return &admissionv1.AdmissionRequest{
				UID: "fuzz", Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind}, Operation: op,
				Namespace: "tenant-a", Name: "x",
				UserInfo: authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs"}},
				Object:   runtime.RawExtension{Raw: n}, OldObject: runtime.RawExtension{Raw: o},
				Options: runtime.RawExtension{Raw: []byte(`{"fieldManager":"kubectl"}`)},
			}
		}
		for _, kind := range []string{"Deployment", "Secret", "ConfigMap"} {
			in, err := b.Build(ctx, req(admissionv1.Update, kind, oldRaw, newRaw))
			if err == nil {
				fuzzCheckChanges(t, diffPart(in.Changes))
				if in.Doc == nil {
					t.Fatal("no input document")
				}
			}
			if in, err := b.Build(ctx, req(admissionv1.Update, kind, oldRaw, oldRaw)); err == nil {
				if len(in.Changes) != 0 {
					t.Fatalf("%s UPDATE with old == new has changes %v", kind, changeStrings(in.Changes))
				}
			}
			_, _ = b.Build(ctx, req(admissionv1.Create, kind, nil, newRaw))
			_, _ = b.Build(ctx, req(admissionv1.Delete, kind, oldRaw, nil))
		}
	})
}

// TestDiffDuplicateMergeKeys: found by FuzzDiff. Items with the same merge
// key (env variables may repeat a name; the mutating webhook also sees
// objects before the API server validates them) are each matched to the
// first same-keyed item, so one path is reported twice, and a denial
// names the field twice.
func TestDiffDuplicateMergeKeys(t *testing.T) {
	a := obj(t, `{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"1"},{"name":"X","value":"2"}]}]}}`)
	b := obj(t, `{"spec":{"containers":[{"name":"a","env":[{"name":"X","value":"3"},{"name":"X","value":"4"}]}]}}`)
	cs := Diff(a, b)
	if len(cs) != 1 {
		t.Fatalf("changes %v, want one replace of spec.containers[a].env[X].value", changeStrings(cs))
	}
}

// TestDiffSetMembersOfDifferentTypes: found by FuzzDiff. Scalar-set
// members 1 and "1" once had the same path text, so a type change of a
// member read as "remove finalizers[1]" and "add finalizers[1]".
func TestDiffSetMembersOfDifferentTypes(t *testing.T) {
	cs := Diff(obj(t, `{"metadata":{"finalizers":[1]}}`), obj(t, `{"metadata":{"finalizers":["1"]}}`))
	fuzzCheckChanges(t, cs)
}

// TestBuildChangesSortedWithDroppedOwnership: found by FuzzBuild. Build
// appends metadata.managedFields[<manager>] removals after Diff's sorted
// changes, so input.changes is not sorted when a declared owner's
// managedFields entry is dropped.
func TestBuildChangesSortedWithDroppedOwnership(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	old := `{"metadata":{"name":"x","managedFields":[{"manager":"Terraform","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]},"spec":{"replicas":1}}`
	nw := `{"metadata":{"name":"x"},"spec":{"replicas":2}}`
	in, err := NewBuilder(cfg, nil).Build(context.Background(), &admissionv1.AdmissionRequest{
		UID: "u", Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Operation: admissionv1.Update,
		Namespace: "tenant-a", Name: "x", UserInfo: authenticationv1.UserInfo{Username: "alice"},
		Object: runtime.RawExtension{Raw: []byte(nw)}, OldObject: runtime.RawExtension{Raw: []byte(old)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Changes) != 2 {
		t.Fatalf("changes %v", changeStrings(in.Changes))
	}
	fuzzCheckChanges(t, in.Changes)
}
