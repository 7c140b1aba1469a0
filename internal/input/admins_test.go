package input

import (
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/config"
)

var namespaceGVK = metav1.GroupVersionKind{Version: "v1", Kind: "Namespace"}

func TestActorAdmin(t *testing.T) {
	custom, err := config.Parse([]byte("admins: {users: [ops], groups: [platform-admins], serviceAccounts: [argocd/argocd-application-controller]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		cfg          *config.Config
		user         string
		groups       []string
		fieldManager string
		want         bool
	}{
		{name: "system:masters is the default admin group", user: "kubernetes-admin", groups: []string{"system:masters", "system:authenticated"}, want: true},
		{name: "a person outside it", user: alice, groups: []string{"devs", "system:authenticated"}},
		{name: "the user name system:masters is no group", user: "system:masters"},
		{name: "a field manager makes nobody admin", user: alice, groups: []string{"devs"}, fieldManager: "system:masters"},
		{name: "admin by user", cfg: custom, user: "ops", want: true},
		{name: "admin by group", cfg: custom, user: "bob", groups: []string{"devs", "platform-admins"}, want: true},
		{name: "admin by service account", cfg: custom, user: "system:serviceaccount:argocd:argocd-application-controller", want: true},
		{name: "same service account name elsewhere", cfg: custom, user: "system:serviceaccount:tenant-a:argocd-application-controller"},
		{name: "system:masters is not admin once admins is set", cfg: custom, user: "kubernetes-admin", groups: []string{"system:masters"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = config.Default()
			}
			in := build(t, NewBuilder(cfg, nil), request{
				gvk: namespaceGVK, ns: "team-a", name: "team-a", user: tc.user, groups: tc.groups, fieldManager: tc.fieldManager,
				old: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a","labels":{"driftguard.io/tenant":"true"}}}`,
				obj: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}`,
			})
			if in.Actor.Admin != tc.want {
				t.Errorf("Actor.Admin = %v, want %v", in.Actor.Admin, tc.want)
			}
			if got := in.Doc["actor"].(map[string]any)["admin"]; got != tc.want {
				t.Errorf("input.actor.admin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestInputAdmins(t *testing.T) {
	cfg, err := config.Parse([]byte("admins: {users: [ops], groups: [platform-admins]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(cfg, nil)
	ns := build(t, b, request{gvk: namespaceGVK, ns: "team-a", name: "team-a", user: alice,
		old: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}`, obj: `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-a"}}`})
	got, _ := json.Marshal(ns.Doc["admins"])
	if want := `{"groups":["platform-admins"],"serviceAccounts":[],"users":["ops"]}`; string(got) != want {
		t.Errorf("input.admins = %s, want %s", got, want)
	}
	cm := build(t, b, request{gvk: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, ns: "driftguard-system", name: "dg-driftguard-config", user: alice,
		old: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`, obj: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}`})
	if cm.Doc["admins"] == nil {
		t.Error("ConfigMap input lacks input.admins")
	}
	// other kinds do not carry it
	dep := build(t, b, request{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice,
		old: deployment("", "", img1, ""), obj: deployment("", "", img2, "")})
	if _, ok := dep.Doc["admins"]; ok {
		t.Error("Deployment input carries input.admins")
	}
}
