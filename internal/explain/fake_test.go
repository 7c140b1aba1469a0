package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/loader"
)

// fakeObjects is an in-memory Objects: objects by apiVersion|kind|ns|name,
// cluster-scoped kinds by name, and kinds the "cluster" does not know.
type fakeObjects struct {
	objs    map[string]map[string]any
	cluster map[string]bool
	unknown map[string]bool
	gets    int
}

func newFake(objs ...map[string]any) *fakeObjects {
	f := &fakeObjects{objs: map[string]map[string]any{},
		cluster: map[string]bool{"Namespace": true, "Node": true, "ClusterRole": true},
		unknown: map[string]bool{}}
	for _, o := range objs {
		f.add(o)
	}
	return f
}

func (f *fakeObjects) add(o map[string]any) {
	md := obj2md(o)
	f.objs[str(o["apiVersion"])+"|"+str(o["kind"])+"|"+str(md["namespace"])+"|"+str(md["name"])] = o
}

func (f *fakeObjects) Get(_ context.Context, apiVersion, kind, ns, name string) (map[string]any, error) {
	f.gets++
	if f.unknown[kind] {
		return nil, fmt.Errorf("no matches for kind %q in version %q", kind, apiVersion)
	}
	o, ok := f.objs[apiVersion+"|"+kind+"|"+ns+"|"+name]
	if !ok {
		return nil, fmt.Errorf("%s %s/%s: %w", kind, ns, name, ErrNotFound)
	}
	return o, nil
}

func (f *fakeObjects) Namespaced(apiVersion, kind string) (bool, error) {
	if f.unknown[kind] {
		return false, fmt.Errorf("no matches for kind %q in version %q", kind, apiVersion)
	}
	return !f.cluster[kind], nil
}

// fakeAccess allows everything except delete, and records who asked.
type fakeAccess struct{ users []string }

func (a *fakeAccess) Review(_ context.Context, attrs authorizationv1.ResourceAttributes, user string, _ []string) (authorizationv1.SubjectAccessReviewStatus, error) {
	a.users = append(a.users, user)
	if attrs.Verb == "delete" {
		return authorizationv1.SubjectAccessReviewStatus{Reason: "no delete for you"}, nil
	}
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "RBAC: allowed by ClusterRoleBinding"}, nil
}

func (a *fakeAccess) WhoAmI(context.Context) (string, []string, error) {
	return "kube-admin", []string{"system:masters", "system:authenticated"}, nil
}

// obj builds an object from JSON.
func obj(t *testing.T, js string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatalf("bad test object: %v\n%s", err, js)
	}
	return m
}

// fixture reads a real API server object from test/fixtures/managedfields.
func fixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "test", "fixtures", "managedfields", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// state loads the embedded config and bundled policies, looking parents
// up in objs, as cmd/webhook's explain does.
func state(t *testing.T, objs Objects) *admit.State {
	t.Helper()
	st, err := loader.Load(context.Background(), loader.Options{Parents: NewParentLookup(objs)})
	if err != nil {
		t.Fatal(err)
	}
	st.Builder = st.Builder.WithoutCache()
	return st
}

func targetFor(o map[string]any, resource string) Target {
	gv, _ := schema.ParseGroupVersion(str(o["apiVersion"]))
	md := obj2md(o)
	return Target{
		GVK: gv.WithKind(str(o["kind"])), GVR: gv.WithResource(resource),
		Namespaced: str(md["namespace"]) != "", Namespace: str(md["namespace"]), Name: str(md["name"]),
	}
}

func deployment(ns, name, uid string, extraMeta string) string {
	return fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":%q,"namespace":%q,"uid":%q%s},
	  "spec":{"replicas":1,"selector":{"matchLabels":{"app":%q}},"template":{"metadata":{"labels":{"app":%q}},
	  "spec":{"containers":[{"name":"app","image":"ghcr.io/acme/app:1.0.0"}]}}}}`, name, ns, uid, extraMeta, name, name)
}

func ownerRefJSON(apiVersion, kind, name, uid string) string {
	return fmt.Sprintf(`,"ownerReferences":[{"apiVersion":%q,"kind":%q,"name":%q,"uid":%q,"controller":true}]`, apiVersion, kind, name, uid)
}
