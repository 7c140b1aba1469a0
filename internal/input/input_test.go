package input

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/driftguard/driftguard/internal/config"
)

const (
	alice     = "alice"
	terraform = "system:serviceaccount:infra:terraform"
	eso       = "system:serviceaccount:external-secrets:external-secrets"
	profile   = "system:serviceaccount:kubeflow:profile-controller"
)

var (
	deploymentGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	secretGVK     = metav1.GroupVersionKind{Version: "v1", Kind: "Secret"}
	replicaSetGVK = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}
)

// request is a compact description of an AdmissionRequest.
type request struct {
	op           admissionv1.Operation
	gvk          metav1.GroupVersionKind
	ns, name     string
	user         string
	groups       []string
	fieldManager string
	old, obj     string // raw JSON; "" means absent
	dryRun       bool
}

func (r request) build() *admissionv1.AdmissionRequest {
	req := &admissionv1.AdmissionRequest{
		UID:       "uid-1",
		Kind:      r.gvk,
		Resource:  metav1.GroupVersionResource{Group: r.gvk.Group, Version: r.gvk.Version, Resource: strings.ToLower(r.gvk.Kind) + "s"},
		Name:      r.name,
		Namespace: r.ns,
		Operation: r.op,
		UserInfo:  authenticationv1.UserInfo{Username: r.user, Groups: r.groups},
	}
	if req.Operation == "" {
		req.Operation = admissionv1.Update
	}
	if r.obj != "" {
		req.Object = runtime.RawExtension{Raw: []byte(r.obj)}
	}
	if r.old != "" {
		req.OldObject = runtime.RawExtension{Raw: []byte(r.old)}
	}
	if r.fieldManager != "" {
		req.Options = runtime.RawExtension{Raw: []byte(`{"apiVersion":"meta.k8s.io/v1","kind":"UpdateOptions","fieldManager":"` + r.fieldManager + `"}`)}
	}
	if r.dryRun {
		t := true
		req.DryRun = &t
	}
	return req
}

func build(t *testing.T, b *Builder, r request) *Input {
	t.Helper()
	in, err := b.Build(context.Background(), r.build())
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return in
}

func defaultBuilder(parents ParentLookup) *Builder { return NewBuilder(config.Default(), parents) }

// deployment renders a Deployment in tenant-a; extraMeta is inserted in
// metadata (starting with a comma), image and env set the api container.
func deployment(extraMeta, templateMeta, image, env string) string {
	c := `{"name":"api","image":"` + image + `"`
	if env != "" {
		c += `,"env":[` + env + `]`
	}
	c += `}`
	return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api","namespace":"tenant-a","uid":"d-1"` + extraMeta +
		`},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"api"}},"template":{"metadata":{"labels":{"app":"api"}` + templateMeta +
		`},"spec":{"containers":[` + c + `]}}}}`
}

const (
	img1 = "ghcr.io/acme/api:1.0.0"
	img2 = "ghcr.io/acme/api:1.1.0"
	// Terraform's server-side apply of the Deployment above.
	terraformManaged = `,"managedFields":[{"manager":"Terraform","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{".":{},"f:image":{},"f:name":{},"f:env":{"k:{\"name\":\"LOG_LEVEL\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}},` +
		`{"manager":"kube-controller-manager","operation":"Update","apiVersion":"apps/v1","subresource":"status","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:replicas":{}}}}]`
	logLevel = `{"name":"LOG_LEVEL","value":"info"}`
)

func TestActor(t *testing.T) {
	groupCfg, err := config.Parse([]byte(`
owners:
  - name: gitops
    managers: [argocd-controller]
    identities:
      users: [argo-admin]
      groups: [gitops-writers]
    source: the Git repository
  - name: terraform
    managers: [Terraform]
    identities: {serviceAccounts: [infra/terraform]}
    source: Terraform
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		cfg          *config.Config
		user         string
		groups       []string
		fieldManager string
		wantOwner    string
		wantPerson   bool
		wantSA       string
	}{
		{name: "terraform runner by service account", user: terraform, groups: []string{"system:serviceaccounts"}, wantOwner: "terraform", wantSA: "infra/terraform"},
		{name: "ESO by service account", user: eso, wantOwner: "external-secrets", wantSA: "external-secrets/external-secrets"},
		{name: "a reconciler's service account that is no declared identity", user: profile, wantSA: "kubeflow/profile-controller"},
		{name: "same SA name in another namespace is not the owner", user: "system:serviceaccount:tenant-a:terraform", wantSA: "tenant-a/terraform"},
		{name: "person with fieldManager Terraform is not terraform", user: alice, groups: []string{"devs"}, fieldManager: "Terraform", wantPerson: true},
		{name: "person", user: alice, groups: []string{"devs", "system:authenticated"}, wantPerson: true},
		{name: "system user is not a person", user: "system:kube-controller-manager"},
		{name: "anonymous empty user is not a person", user: ""},
		{name: "owner by group", cfg: groupCfg, user: "bob", groups: []string{"devs", "gitops-writers"}, wantOwner: "gitops", wantPerson: true},
		{name: "owner by user", cfg: groupCfg, user: "argo-admin", wantOwner: "gitops", wantPerson: true},
		{name: "person with fieldManager of a group owner is not that owner", cfg: groupCfg, user: "bob", groups: []string{"devs"}, fieldManager: "argocd-controller", wantPerson: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg == nil {
				cfg = config.Default()
			}
			in := build(t, NewBuilder(cfg, nil), request{
				gvk: deploymentGVK, ns: "tenant-a", name: "api", user: tc.user, groups: tc.groups, fieldManager: tc.fieldManager,
				old: deployment("", "", img1, ""), obj: deployment("", "", img2, ""),
			})
			a := in.Actor
			if a.Owner != tc.wantOwner {
				t.Errorf("owner %q, want %q", a.Owner, tc.wantOwner)
			}
			if a.Person != tc.wantPerson {
				t.Errorf("person %v, want %v", a.Person, tc.wantPerson)
			}
			if sa := a.SANamespace + "/" + a.SAName; tc.wantSA != "" && sa != tc.wantSA || tc.wantSA == "" && a.SAName != "" {
				t.Errorf("service account %q, want %q", sa, tc.wantSA)
			}
			if a.FieldManager != tc.fieldManager {
				t.Errorf("fieldManager %q, want %q", a.FieldManager, tc.fieldManager)
			}
			doc := in.Doc["actor"].(map[string]any)
			if doc["owner"] != tc.wantOwner || doc["person"] != tc.wantPerson || doc["fieldManager"] != tc.fieldManager || doc["username"] != tc.user {
				t.Errorf("doc actor %v", doc)
			}
			if _, ok := doc["serviceAccount"]; ok != (tc.wantSA != "") {
				t.Errorf("doc actor serviceAccount present=%v, want %v", ok, tc.wantSA != "")
			}
		})
	}
}

func TestBreakGlass(t *testing.T) {
	bg := func(reason string) string {
		return `,"annotations":{"driftguard.io/break-glass":` + mustJSON(reason) + `}`
	}
	tests := []struct {
		name        string
		groups      []string
		newMeta     string
		wantReason  string
		wantAllowed bool
	}{
		{"annotation and group", []string{"devs", "driftguard:break-glass"}, bg("INC-42 api down"), "INC-42 api down", true},
		{"annotation without group", []string{"devs"}, bg("INC-42"), "INC-42", false},
		{"group without annotation", []string{"driftguard:break-glass"}, "", "", false},
		{"blank reason does not count", []string{"driftguard:break-glass"}, bg("   "), "", false},
		{"reason is trimmed", []string{"driftguard:break-glass"}, bg("  INC-7 \n"), "INC-7", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, defaultBuilder(nil), request{
				gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice, groups: tc.groups,
				old: deployment(terraformManaged, "", img1, ""), obj: deployment(tc.newMeta, "", img2, ""),
			})
			if in.Actor.BreakGlassReason != tc.wantReason || in.Actor.BreakGlass != tc.wantAllowed {
				t.Errorf("break-glass reason %q allowed %v, want %q %v", in.Actor.BreakGlassReason, in.Actor.BreakGlass, tc.wantReason, tc.wantAllowed)
			}
			got := in.Doc["actor"].(map[string]any)["breakGlass"].(map[string]any)
			if got["reason"] != tc.wantReason || got["allowed"] != tc.wantAllowed {
				t.Errorf("doc breakGlass %v", got)
			}
			if in.Actor.BreakGlass && in.Actor.Owner != "" {
				t.Errorf("break-glass does not make the actor an owner: %q", in.Actor.Owner)
			}
		})
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestExempt(t *testing.T) {
	tests := []struct {
		name   string
		ns     string
		user   string
		groups []string
		want   string
	}{
		{"kube-system namespace", "kube-system", alice, nil, "namespace kube-system is exempt"},
		{"kube-node-lease namespace", "kube-node-lease", alice, nil, "namespace kube-node-lease is exempt"},
		{"nodes group", "tenant-a", "system:node:ip-10-0-0-1", []string{"system:nodes", "system:authenticated"}, "group system:nodes is exempt"},
		{"exempt user", "tenant-a", "system:kube-scheduler", nil, "user system:kube-scheduler is exempt"},
		{"tenant namespace, person", "tenant-a", alice, []string{"devs"}, ""},
		{"cluster-scoped, person", "", alice, []string{"devs"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, defaultBuilder(nil), request{
				gvk: deploymentGVK, ns: tc.ns, name: "api", user: tc.user, groups: tc.groups,
				old: deployment(terraformManaged, "", img1, ""), obj: deployment("", "", img2, ""),
			})
			if in.Exempt != tc.want {
				t.Errorf("exempt %q, want %q", in.Exempt, tc.want)
			}
			if tc.want != "" && len(in.Changes) != 0 {
				t.Errorf("exempt request must not be diffed, got %q", changeStrings(in.Changes))
			}
			if tc.want == "" && len(in.Changes) == 0 {
				t.Errorf("non-exempt request has no changes")
			}
		})
	}
}

const esoSecretManaged = `,"labels":{"reconcile.external-secrets.io/managed":"true"},` +
	`"ownerReferences":[{"apiVersion":"external-secrets.io/v1","kind":"ExternalSecret","name":"api-feature-flags","uid":"es-1","controller":true,"blockOwnerDeletion":true}],` +
	`"managedFields":[{"manager":"external-secrets","operation":"Update","apiVersion":"v1","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:FEATURE_FLAG_X":{}},"f:metadata":{"f:labels":{".":{},"f:reconcile.external-secrets.io/managed":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"es-1\"}":{}}},"f:type":{}}}]`

func secret(meta, data string) string {
	return `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"api-feature-flags","namespace":"tenant-a","uid":"s-1"` + meta + `},"type":"Opaque","data":{` + data + `}}`
}

func TestObjectOwner(t *testing.T) {
	tests := []struct {
		name    string
		op      admissionv1.Operation
		gvk     metav1.GroupVersionKind
		old     string
		obj     string
		owner   string
		via     string
		ctrlGrp string
	}{
		{
			name: "ownerReference to an ExternalSecret", gvk: secretGVK,
			old: secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ=="`), obj: secret(esoSecretManaged, `"FEATURE_FLAG_X":"ZmFsc2U="`),
			owner: "external-secrets", via: "ownerReference", ctrlGrp: "external-secrets.io",
		},
		{
			name: "ownerReference to another group's ExternalSecret kind is not ESO", gvk: secretGVK,
			old:   secret(`,"ownerReferences":[{"apiVersion":"example.com/v1","kind":"ExternalSecret","name":"x","uid":"u","controller":true}]`, `"A":"Yg=="`),
			obj:   secret(`,"ownerReferences":[{"apiVersion":"example.com/v1","kind":"ExternalSecret","name":"x","uid":"u","controller":true}]`, `"A":"Yw=="`),
			owner: "", ctrlGrp: "example.com",
		},
		{
			name: "non-controller ownerReference does not count", gvk: secretGVK,
			old:   secret(`,"ownerReferences":[{"apiVersion":"external-secrets.io/v1","kind":"ExternalSecret","name":"x","uid":"u"}]`, `"A":"Yg=="`),
			obj:   secret(`,"ownerReferences":[{"apiVersion":"external-secrets.io/v1","kind":"ExternalSecret","name":"x","uid":"u"}]`, `"A":"Yw=="`),
			owner: "",
		},
		{
			name: "driftguard.io/owner annotation", gvk: deploymentGVK,
			old:   deployment(`,"annotations":{"driftguard.io/owner":"terraform"}`, "", img1, ""),
			obj:   deployment(`,"annotations":{"driftguard.io/owner":"terraform"}`, "", img2, ""),
			owner: "terraform", via: "annotation",
		},
		{
			name: "annotation naming an undeclared owner is ignored", gvk: deploymentGVK,
			old:   deployment(`,"annotations":{"driftguard.io/owner":"pulumi"}`, "", img1, ""),
			obj:   deployment(`,"annotations":{"driftguard.io/owner":"pulumi"}`, "", img2, ""),
			owner: "",
		},
		{
			name: "annotation wins over managedFields", gvk: deploymentGVK,
			old:   deployment(`,"annotations":{"driftguard.io/owner":"external-secrets"}`+terraformManaged, "", img1, ""),
			obj:   deployment(`,"annotations":{"driftguard.io/owner":"external-secrets"}`, "", img2, ""),
			owner: "external-secrets", via: "annotation",
		},
		{
			name: "annotation added in the request does not count (old object decides)", gvk: deploymentGVK,
			old:   deployment("", "", img1, ""),
			obj:   deployment(`,"annotations":{"driftguard.io/owner":"terraform"}`, "", img2, ""),
			owner: "",
		},
		{
			name: "managedFields of a declared manager", gvk: deploymentGVK,
			old: deployment(terraformManaged, "", img1, ""), obj: deployment("", "", img2, ""),
			owner: "terraform", via: "managedFields",
		},
		{
			name: "declared manager owning only metadata does not own the object", gvk: deploymentGVK,
			old:   deployment(`,"labels":{"x":"y"},"managedFields":[{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:metadata":{"f:labels":{"f:x":{}}}}}]`, "", img1, ""),
			obj:   deployment(`,"labels":{"x":"y"}`, "", img2, ""),
			owner: "",
		},
		{
			name: "declared manager on a subresource does not own the object", gvk: deploymentGVK,
			old:   deployment(`,"managedFields":[{"manager":"Terraform","operation":"Update","subresource":"status","fieldsType":"FieldsV1","fieldsV1":{"f:status":{"f:replicas":{}}}}]`, "", img1, ""),
			obj:   deployment("", "", img2, ""),
			owner: "",
		},
		{
			name: "CREATE uses the new object", op: admissionv1.Create, gvk: deploymentGVK,
			obj:   deployment(`,"annotations":{"driftguard.io/owner":"terraform"}`, "", img1, ""),
			owner: "terraform", via: "annotation",
		},
		{
			name: "DELETE uses the old object", op: admissionv1.Delete, gvk: secretGVK,
			old:   secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ=="`),
			owner: "external-secrets", via: "ownerReference", ctrlGrp: "external-secrets.io",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, defaultBuilder(nil), request{op: tc.op, gvk: tc.gvk, ns: "tenant-a", name: "x", user: alice, old: tc.old, obj: tc.obj})
			if in.ObjectOwner != tc.owner || in.ObjectVia != tc.via {
				t.Errorf("object owner %q via %q, want %q via %q", in.ObjectOwner, in.ObjectVia, tc.owner, tc.via)
			}
			oo, ok := in.Doc["objectOwner"].(map[string]any)
			if ok != (tc.owner != "") || ok && (oo["name"] != tc.owner || oo["via"] != tc.via) {
				t.Errorf("doc objectOwner %v", in.Doc["objectOwner"])
			}
			o, ok := in.Doc["owner"].(map[string]any)
			if ok != (tc.ctrlGrp != "") || ok && o["group"] != tc.ctrlGrp {
				t.Errorf("doc owner %v, want group %q", in.Doc["owner"], tc.ctrlGrp)
			}
		})
	}
}

type wantChange struct {
	path, op, owner, via string
	managers             []string
}

// checkChanges compares changes; of their managers only those of declared
// owners are compared (the builder may skip parsing the others).
func checkChanges(t *testing.T, in *Input, want []wantChange) {
	t.Helper()
	declared := map[string]bool{}
	for _, o := range config.Default().Owners {
		for _, m := range o.Managers {
			declared[m] = true
		}
	}
	var got []wantChange
	for _, c := range in.Changes {
		var ms []string
		for _, m := range c.Managers {
			if declared[m] {
				ms = append(ms, m)
			}
		}
		got = append(got, wantChange{c.Path, c.Op, c.Owner, c.Via, ms})
	}
	norm := func(xs []wantChange) {
		for i := range xs {
			if len(xs[i].managers) == 0 {
				xs[i].managers = nil
			}
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].path < xs[j].path })
	}
	norm(got)
	w := append([]wantChange(nil), want...)
	norm(w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("changes:\n got  %+v\n want %+v", got, w)
	}
	// the doc carries the same attribution
	dc := in.Doc["changes"].([]any)
	if len(dc) != len(in.Changes) {
		t.Fatalf("doc has %d changes, input %d", len(dc), len(in.Changes))
	}
	for i, c := range in.Changes {
		m := dc[i].(map[string]any)
		if m["path"] != c.Path || m["op"] != c.Op || m["owner"] != c.Owner || m["via"] != c.Via {
			t.Errorf("doc change %d = %v, input %+v", i, m, c)
		}
		if _, ok := m["managers"].([]any); !ok {
			t.Errorf("doc change %d managers is %T, want []any", i, m["managers"])
		}
	}
}

func TestChangeAttribution(t *testing.T) {
	kubectlEdit := `{"manager":"kubectl-edit","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{"f:env":{"k:{\"name\":\"DEBUG\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}}`
	tests := []struct {
		name string
		gvk  metav1.GroupVersionKind
		user string
		old  string
		obj  string
		want []wantChange
	}{
		{
			name: "S3: image owned by Terraform in managedFields",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(terraformManaged, "", img1, logLevel),
			obj:  deployment("", "", img2, logLevel),
			want: []wantChange{{"spec.template.spec.containers[api].image", "replace", "terraform", "managedFields", []string{"Terraform"}}},
		},
		{
			name: "Terraform-owned env value",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(terraformManaged, "", img1, logLevel),
			obj:  deployment("", "", img1, `{"name":"LOG_LEVEL","value":"debug"}`),
			want: []wantChange{{"spec.template.spec.containers[api].env[LOG_LEVEL].value", "replace", "terraform", "managedFields", []string{"Terraform"}}},
		},
		{
			name: "env var added by hand is unowned",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(terraformManaged, "", img1, logLevel),
			obj:  deployment("", "", img1, logLevel+`,{"name":"FEATURE_FLAG_X","value":"True"}`),
			want: []wantChange{{"spec.template.spec.containers[api].env[FEATURE_FLAG_X]", "add", "", "", nil}},
		},
		{
			name: "removing a Terraform env var is owned (descendant owned)",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(terraformManaged, "", img1, logLevel),
			obj:  deployment("", "", img1, ""),
			want: []wantChange{{"spec.template.spec.containers[api].env", "remove", "terraform", "managedFields", []string{"Terraform"}}},
		},
		{
			name: "field owned by an undeclared manager has no owner",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(`,"managedFields":[`+kubectlEdit+`]`, "", img1, `{"name":"DEBUG","value":"1"}`),
			obj:  deployment("", "", img1, `{"name":"DEBUG","value":"0"}`),
			want: []wantChange{{"spec.template.spec.containers[api].env[DEBUG].value", "replace", "", "", nil}},
		},
		{
			name: "S6: rollout restart is unowned",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(terraformManaged, "", img1, ""),
			obj:  deployment("", `,"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}`, img1, ""),
			want: []wantChange{{"spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]", "add", "", "", nil}},
		},
		{
			name: "S7: scale when replicas are unowned",
			gvk:  deploymentGVK, user: alice,
			old:  deployment(`,"managedFields":[`+kubectlEdit+`]`, "", img1, ""),
			obj:  strings.Replace(deployment("", "", img1, ""), `"replicas":2`, `"replicas":5`, 1),
			want: []wantChange{{"spec.replicas", "replace", "", "", nil}},
		},
		{
			name: "annotation-declared owner covers spec, not metadata",
			gvk:  deploymentGVK, user: alice,
			old: deployment(`,"annotations":{"driftguard.io/owner":"terraform"}`, "", img1, ""),
			obj: deployment(`,"annotations":{"driftguard.io/owner":"terraform","note":"x"},"labels":{"team":"a"}`, `,"annotations":{"kubectl.kubernetes.io/restartedAt":"t"}`, img2, ""),
			want: []wantChange{
				{"metadata.annotations.note", "add", "", "", nil},
				{"metadata.labels.team", "add", "", "", nil},
				// the restart path names the key, so the default ignoredPaths match it
				{"spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]", "add", "terraform", "annotation", nil},
				{"spec.template.spec.containers[api].image", "replace", "terraform", "annotation", nil},
			},
		},
		{
			name: "S1: data added to an ESO Secret is owned via ownerReference",
			gvk:  secretGVK, user: alice,
			old:  secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ=="`),
			obj:  secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ==","FEATURE_FLAG_ENABLE_AGENTS":"VHJ1ZQ=="`),
			want: []wantChange{{"data.FEATURE_FLAG_ENABLE_AGENTS", "add", "external-secrets", "ownerReference", nil}},
		},
		{
			name: "ESO-written key is owned via managedFields",
			gvk:  secretGVK, user: eso,
			old:  secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ=="`),
			obj:  secret(esoSecretManaged, `"FEATURE_FLAG_X":"ZmFsc2U="`),
			want: []wantChange{{"data.FEATURE_FLAG_X", "replace", "external-secrets", "managedFields", []string{"external-secrets"}}},
		},
		{
			name: "status written by a subresource manager is not attributed",
			gvk:  deploymentGVK, user: alice,
			old:  strings.TrimSuffix(deployment(terraformManaged, "", img1, ""), "}") + `,"status":{"replicas":2}}`,
			obj:  strings.TrimSuffix(deployment("", "", img1, ""), "}") + `,"status":{"replicas":3}}`,
			want: []wantChange{{"status.replicas", "replace", "", "", nil}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := carryManagedFields(t, tc.old, tc.obj)
			in := build(t, defaultBuilder(nil), request{gvk: tc.gvk, ns: "tenant-a", name: "x", user: tc.user, old: tc.old, obj: obj})
			checkChanges(t, in, tc.want)
			if len(in.Notes) != 0 {
				t.Errorf("unexpected notes %q", in.Notes)
			}
		})
	}
}

// The review shipped in test/fixtures/reviews is docs/scenarios.md S3.
func TestBuildFixtureReviewSetImage(t *testing.T) {
	raw, err := os.ReadFile("../../test/fixtures/reviews/set-image-alice.json")
	if err != nil {
		t.Fatal(err)
	}
	var ar admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &ar); err != nil {
		t.Fatal(err)
	}
	in, err := defaultBuilder(nil).Build(context.Background(), ar.Request)
	if err != nil {
		t.Fatal(err)
	}
	checkChanges(t, in, []wantChange{{"spec.template.spec.containers[api].image", "replace", "terraform", "managedFields", []string{"Terraform"}}})
	if in.Actor.Owner != "" || !in.Actor.Person || in.Actor.FieldManager != "kubectl-set" {
		t.Errorf("actor %+v", in.Actor)
	}
}

// carryManagedFields models the API server: the object of an UPDATE
// review carries managedFields (the old ones, here) unless the request
// stripped them.
func carryManagedFields(t *testing.T, old, obj string) string {
	t.Helper()
	var o, n map[string]any
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(obj), &n); err != nil {
		t.Fatal(err)
	}
	om, _ := o["metadata"].(map[string]any)
	nm, _ := n["metadata"].(map[string]any)
	if mf, ok := om["managedFields"]; ok && nm != nil {
		if _, has := nm["managedFields"]; !has {
			nm["managedFields"] = mf
		}
	}
	b, _ := json.Marshal(n)
	return string(b)
}

// Stripping managedFields (kubectl patch -p '{"metadata":{"managedFields":[{}]}}')
// removes a declared owner's entry: that is a change owned by the owner.
func TestStrippedManagedFieldsIsAnOwnedChange(t *testing.T) {
	old := deployment(terraformManaged, "", img1, "")
	obj := strings.Replace(deployment("", "", img1, ""), `"metadata":{`, `"metadata":{"managedFields":[],`, 1)
	in := build(t, defaultBuilder(nil), request{gvk: deploymentGVK, ns: "tenant-a", name: "x", user: alice, old: old, obj: obj})
	checkChanges(t, in, []wantChange{{"metadata.managedFields[Terraform]", "remove", "terraform", "managedFields", []string{"Terraform"}}})
}

// parents is a ParentLookup stub.
type parents struct {
	mu    sync.Mutex
	obj   map[string]any
	err   error
	calls []string
}

func (p *parents) Parent(_ context.Context, apiVersion, kind, namespace, name string) (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, apiVersion+" "+kind+" "+namespace+"/"+name)
	return p.obj, p.err
}

func ownedBy(apiVersion, kind, name string) string {
	return `,"ownerReferences":[{"apiVersion":"` + apiVersion + `","kind":"` + kind + `","name":"` + name + `","uid":"p-1","controller":true}]`
}

func TestReconciler(t *testing.T) {
	nsOwner := ownedBy("v1", "Namespace", "admin")
	depOwner := ownedBy("apps/v1", "Deployment", "api")
	rs := func(meta, image string) string {
		return strings.Replace(strings.Replace(deployment(meta, "", image, ""), `"kind":"Deployment"`, `"kind":"ReplicaSet"`, 1), `"name":"api","namespace"`, `"name":"api-7c9d8b5f6d","namespace"`, 1)
	}
	tests := []struct {
		name       string
		gvk        metav1.GroupVersionKind
		ns         string
		old, obj   string
		lookup     *parents
		wantName   string // substring of reconciler name
		wantSource string
		reconciles bool
		known      bool
		pausedBy   string
		wantCall   string
		wantNote   string
	}{
		{
			name: "S8: Namespace parent (metacontroller)", gvk: deploymentGVK, ns: "admin",
			old: deployment(nsOwner, "", img1, ""), obj: deployment(nsOwner, "", img2, ""),
			wantName: "profile controller", wantSource: "the labels of Namespace admin", reconciles: true,
		},
		{
			name: "S9: Deployment parent of a ReplicaSet", gvk: replicaSetGVK, ns: "tenant-a",
			old: rs(depOwner, img1), obj: rs(depOwner, img2),
			wantName: "the Deployment controller", wantSource: "the pod template of Deployment tenant-a/api", reconciles: true,
		},
		{
			name: "paused Deployment does not reconcile", gvk: replicaSetGVK, ns: "tenant-a",
			old: rs(depOwner, img1), obj: rs(depOwner, img2),
			lookup:   &parents{obj: map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "spec": map[string]any{"paused": true}}},
			wantName: "the Deployment controller", reconciles: false, known: true, pausedBy: "spec.paused",
			wantCall: "apps/v1 Deployment tenant-a/api",
		},
		{
			name: "unpaused Deployment reconciles", gvk: replicaSetGVK, ns: "tenant-a",
			old: rs(depOwner, img1), obj: rs(depOwner, img2),
			lookup:   &parents{obj: map[string]any{"spec": map[string]any{"paused": false}}},
			wantName: "the Deployment controller", reconciles: true, known: true,
			wantCall: "apps/v1 Deployment tenant-a/api",
		},
		{
			name: "Namespace parent looked up cluster-scoped", gvk: deploymentGVK, ns: "admin",
			old: deployment(nsOwner, "", img1, ""), obj: deployment(nsOwner, "", img2, ""),
			lookup:   &parents{obj: map[string]any{"metadata": map[string]any{"name": "admin"}}},
			wantName: "profile controller", reconciles: true, known: true,
			wantCall: "v1 Namespace /admin",
		},
		{
			name: "unknown parent keeps the convention", gvk: replicaSetGVK, ns: "tenant-a",
			old: rs(depOwner, img1), obj: rs(depOwner, img2),
			lookup:   &parents{},
			wantName: "the Deployment controller", reconciles: true, known: false,
			wantCall: "apps/v1 Deployment tenant-a/api",
		},
		{
			name: "lookup error is a note", gvk: replicaSetGVK, ns: "tenant-a",
			old: rs(depOwner, img1), obj: rs(depOwner, img2),
			lookup:   &parents{err: errors.New("cache not synced")},
			wantName: "the Deployment controller", reconciles: true, known: false,
			wantCall: "apps/v1 Deployment tenant-a/api", wantNote: "owner lookup: cache not synced",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var pl ParentLookup
			if tc.lookup != nil {
				pl = tc.lookup
			}
			in := build(t, defaultBuilder(pl), request{gvk: tc.gvk, ns: tc.ns, name: "x", user: alice, old: tc.old, obj: tc.obj})
			owner, ok := in.Doc["owner"].(map[string]any)
			if !ok {
				t.Fatalf("no input.owner in %v", in.Doc)
			}
			rec, ok := owner["reconciler"].(map[string]any)
			if !ok {
				t.Fatalf("no input.owner.reconciler in %v", owner)
			}
			if name, _ := rec["name"].(string); !strings.Contains(name, tc.wantName) {
				t.Errorf("reconciler name %q, want it to contain %q", name, tc.wantName)
			}
			if src, _ := rec["source"].(string); tc.wantSource != "" && !strings.Contains(src, tc.wantSource) {
				t.Errorf("reconciler source %q, want it to contain %q", src, tc.wantSource)
			}
			if rec["reconciles"] != tc.reconciles || rec["known"] != tc.known {
				t.Errorf("reconciles %v known %v, want %v %v", rec["reconciles"], rec["known"], tc.reconciles, tc.known)
			}
			if pb, _ := rec["pausedBy"].(string); pb != tc.pausedBy {
				t.Errorf("pausedBy %q, want %q", pb, tc.pausedBy)
			}
			if _, declared := owner["declared"]; declared {
				t.Errorf("Namespace/Deployment owners are not declared owners: %v", owner["declared"])
			}
			if tc.lookup != nil {
				if len(tc.lookup.calls) != 1 || tc.lookup.calls[0] != tc.wantCall {
					t.Errorf("lookup calls %q, want [%q]", tc.lookup.calls, tc.wantCall)
				}
			}
			if tc.wantNote != "" && !contains(in.Notes, tc.wantNote) {
				t.Errorf("notes %q, want %q", in.Notes, tc.wantNote)
			}
			if tc.wantNote == "" && len(in.Notes) != 0 {
				t.Errorf("unexpected notes %q", in.Notes)
			}
		})
	}
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if strings.Contains(x, s) {
			return true
		}
	}
	return false
}

func TestReconcilerMatchLabels(t *testing.T) {
	cfg, err := config.Parse([]byte(`
ownerKinds:
  - kind: Namespace
    reconciles: true
    reconciler: metacontroller
    source: the profile
    matchLabels: {app.kubernetes.io/part-of: kubeflow-profile}
`))
	if err != nil {
		t.Fatal(err)
	}
	nsOwner := ownedBy("v1", "Namespace", "admin")
	for _, tc := range []struct {
		name       string
		labels     map[string]any
		reconciles bool
	}{
		{"enrolled", map[string]any{"app.kubernetes.io/part-of": "kubeflow-profile"}, true},
		{"not enrolled", map[string]any{"other": "x"}, false},
		{"wrong value", map[string]any{"app.kubernetes.io/part-of": "other"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &parents{obj: map[string]any{"metadata": map[string]any{"name": "admin", "labels": tc.labels}}}
			in := build(t, NewBuilder(cfg, p), request{gvk: deploymentGVK, ns: "admin", name: "x", user: alice,
				old: deployment(nsOwner, "", img1, ""), obj: deployment(nsOwner, "", img2, "")})
			rec := in.Doc["owner"].(map[string]any)["reconciler"].(map[string]any)
			if rec["reconciles"] != tc.reconciles {
				t.Errorf("reconciles %v, want %v (%v)", rec["reconciles"], tc.reconciles, rec)
			}
			if _, ok := rec["notEnrolled"]; ok == tc.reconciles {
				t.Errorf("notEnrolled %v", rec["notEnrolled"])
			}
		})
	}
}

func TestDocShape(t *testing.T) {
	in := build(t, defaultBuilder(nil), request{
		gvk: secretGVK, ns: "tenant-a", name: "api-feature-flags", user: alice, groups: []string{"devs"}, fieldManager: "kubectl-edit", dryRun: true,
		old: secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ=="`),
		obj: secret(esoSecretManaged, `"FEATURE_FLAG_X":"dHJ1ZQ==","FEATURE_FLAG_ENABLE_AGENTS":"VHJ1ZQ=="`),
	})
	doc := in.Doc
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	wantTop := []string{"actor", "changes", "object", "objectOwner", "oldObject", "owner", "owners", "request"}
	if got := keys(doc); !reflect.DeepEqual(got, wantTop) {
		t.Errorf("doc keys %q, want %q", got, wantTop)
	}
	req := doc["request"].(map[string]any)
	wantReq := []string{"dryRun", "kind", "name", "namespace", "operation", "resource", "subResource", "uid"}
	if got := keys(req); !reflect.DeepEqual(got, wantReq) {
		t.Errorf("request keys %q, want %q", got, wantReq)
	}
	if req["operation"] != "UPDATE" || req["dryRun"] != true || req["namespace"] != "tenant-a" || req["name"] != "api-feature-flags" || req["uid"] != "uid-1" {
		t.Errorf("request %v", req)
	}
	if k := req["kind"].(map[string]any); k["kind"] != "Secret" || k["group"] != "" || k["version"] != "v1" {
		t.Errorf("request.kind %v", k)
	}
	actor := doc["actor"].(map[string]any)
	wantActor := []string{"admin", "breakGlass", "fieldManager", "groups", "owner", "person", "username"}
	if got := keys(actor); !reflect.DeepEqual(got, wantActor) {
		t.Errorf("actor keys %q, want %q", got, wantActor)
	}
	if g := actor["groups"].([]any); len(g) != 1 || g[0] != "devs" {
		t.Errorf("actor.groups %v", g)
	}
	owners := doc["owners"].(map[string]any)
	if len(owners) != len(config.Default().Owners) || owners["terraform"] == nil || owners["external-secrets"] == nil {
		t.Errorf("owners %q, want every declared owner", keys(owners))
	}
	esoOwner := owners["external-secrets"].(map[string]any)
	if esoOwner["display"] != "External Secrets Operator" {
		t.Errorf("display %v", esoOwner["display"])
	}
	if src := esoOwner["source"].(string); !strings.Contains(src, "ExternalSecret tenant-a/api-feature-flags") || strings.Contains(src, "{") {
		t.Errorf("source not rendered: %q", src)
	}
	if src := owners["terraform"].(map[string]any)["source"].(string); !strings.Contains(src, "Secret tenant-a/api-feature-flags") {
		t.Errorf("terraform source not rendered: %q", src)
	}
	owner := doc["owner"].(map[string]any)
	ref := owner["reference"].(map[string]any)
	if ref["kind"] != "ExternalSecret" || ref["name"] != "api-feature-flags" || ref["apiVersion"] != "external-secrets.io/v1" || ref["uid"] != "es-1" {
		t.Errorf("owner.reference %v", ref)
	}
	if owner["declared"] != "external-secrets" || owner["group"] != "external-secrets.io" {
		t.Errorf("owner %v", owner)
	}
	if rec := owner["reconciler"].(map[string]any); rec["name"] != "External Secrets Operator" || rec["reconciles"] != true {
		t.Errorf("owner.reconciler %v", rec)
	}
	// Rego sees JSON: the doc must round-trip without loss of shape.
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatalf("doc is not JSON: %v", err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys(back), wantTop) {
		t.Errorf("round-tripped keys %q", keys(back))
	}
}

func TestDocShapeMinimal(t *testing.T) {
	// No controller, no owner, no service account, no groups: absent
	// sections are left out, lists are empty lists (never null).
	in := build(t, defaultBuilder(nil), request{
		op: admissionv1.Create, gvk: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, ns: "tenant-a", name: "c", user: alice,
		obj: `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"b"}}`,
	})
	for _, k := range []string{"oldObject", "objectOwner", "owner"} {
		if _, ok := in.Doc[k]; ok {
			t.Errorf("doc has %q: %v", k, in.Doc[k])
		}
	}
	if cs, ok := in.Doc["changes"].([]any); !ok || len(cs) != 0 {
		t.Errorf("CREATE changes %#v, want empty list", in.Doc["changes"])
	}
	b, _ := json.Marshal(in.Doc)
	if strings.Contains(string(b), `"groups":null`) || strings.Contains(string(b), `"changes":null`) {
		t.Errorf("nulls in doc: %s", b)
	}
	if _, ok := in.Doc["actor"].(map[string]any)["serviceAccount"]; ok {
		t.Error("person has a serviceAccount")
	}
}

func TestDelete(t *testing.T) {
	in := build(t, defaultBuilder(nil), request{
		op: admissionv1.Delete, gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice,
		old: deployment(terraformManaged, "", img1, ""),
	})
	if len(in.Changes) != 0 {
		t.Errorf("DELETE changes %q", changeStrings(in.Changes))
	}
	if in.Object != nil || in.OldObject == nil {
		t.Errorf("object %v oldObject nil=%v", in.Object, in.OldObject == nil)
	}
	if _, ok := in.Doc["object"]; ok {
		t.Error("DELETE doc has object")
	}
	if in.ObjectOwner != "terraform" || in.ObjectVia != "managedFields" {
		t.Errorf("object owner %q via %q", in.ObjectOwner, in.ObjectVia)
	}
	if in.Actor.BreakGlass || in.Actor.BreakGlassReason != "" {
		t.Errorf("break-glass on DELETE without object: %+v", in.Actor)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		old     string
		obj     string
		errHas  string
		wantErr bool
	}{
		{name: "object not JSON", obj: `{"kind":`, errHas: "request.object", wantErr: true},
		{name: "object is an array", obj: `[1,2]`, errHas: "request.object", wantErr: true},
		{name: "object is a string", obj: `"hello"`, errHas: "request.object", wantErr: true},
		{name: "oldObject not JSON", old: `{{`, obj: `{}`, errHas: "request.oldObject", wantErr: true},
		{name: "null object is absent", old: `{"kind":"ConfigMap"}`, obj: `null`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := defaultBuilder(nil).Build(context.Background(), request{gvk: deploymentGVK, ns: "tenant-a", name: "x", user: alice, old: tc.old, obj: tc.obj}.build())
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one naming %q", err, tc.errHas)
			}
			if in != nil {
				t.Errorf("input returned with error")
			}
		})
	}
}

// The old object's managedFields say who owns what; when a declared
// owner's entry (or the whole list) cannot be read, the owner would
// silently disappear and the edit be allowed. It is an input error
// instead, answered per failurePolicy (internal/admit).
func TestMalformedManagedFieldsIsAnInputError(t *testing.T) {
	tests := []struct {
		name    string
		managed string
		errHas  string
	}{
		{
			name:    "managedFields is not a list",
			managed: `,"managedFields":{"manager":"Terraform"}`,
			errHas:  "cannot unmarshal",
		},
		{
			name:    "fieldsV1 is not a field set",
			managed: `,"managedFields":[{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"k:{broken":{}}}}]`,
			errHas:  "managedFields[0] (Terraform): fieldsV1",
		},
		{
			name:    "a declared owner's entry has another fieldsType",
			managed: `,"managedFields":[{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV2","fieldsV1":{"f:spec":{}}}]`,
			errHas:  `fieldsType "FieldsV2" is not FieldsV1`,
		},
		{
			name: "one bad entry of a declared owner next to good ones",
			managed: `,"managedFields":[{"manager":"hashicorp","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"k:not-json":{}}}},` +
				`{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{".":{},"f:image":{}}}}}}}}]`,
			errHas: "managedFields[0] (hashicorp)",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []admissionv1.Operation{admissionv1.Update, admissionv1.Delete} {
				r := request{op: op, gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice, old: deployment(tc.managed, "", img1, "")}
				if op == admissionv1.Update {
					r.obj = deployment("", "", img2, "")
				}
				in, err := defaultBuilder(nil).Build(context.Background(), r.build())
				if err != nil {
					t.Fatalf("%s: malformed managedFields must not fail the build: %v", op, err)
				}
				if len(in.Errors) != 1 || in.Errors[0].Reason != ReasonManagedFields ||
					!strings.Contains(in.Errors[0].Message, "oldObject.metadata.managedFields cannot be parsed") ||
					!strings.Contains(in.Errors[0].Message, tc.errHas) {
					t.Errorf("%s: errors %+v, want one managed_fields error naming %q", op, in.Errors, tc.errHas)
				}
			}
		})
	}

	// On CREATE the object's own managedFields decide nothing: a note.
	in := build(t, defaultBuilder(nil), request{op: admissionv1.Create, gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice,
		obj: deployment(tests[1].managed, "", img1, "")})
	if len(in.Errors) != 0 || !contains(in.Notes, "managedFields") {
		t.Errorf("CREATE: errors %+v notes %q, want a note only", in.Errors, in.Notes)
	}
	// A bad entry of a manager no owner declares hides no owner: a note.
	in = build(t, defaultBuilder(nil), request{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice,
		old: deployment(`,"managedFields":[{"manager":"someone","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"k:x":{}}}}]`, "", img1, ""),
		obj: deployment("", "", img2, "")})
	if len(in.Errors) != 0 || !contains(in.Notes, "managedFields[0] (someone)") {
		t.Errorf("undeclared manager: errors %+v notes %q, want a note only", in.Errors, in.Notes)
	}
}

func TestBuilderConcurrent(t *testing.T) {
	b := defaultBuilder(&parents{obj: map[string]any{"spec": map[string]any{"paused": true}}})
	reqs := []request{
		{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice, old: deployment(terraformManaged, "", img1, ""), obj: deployment("", "", img2, "")},
		{gvk: secretGVK, ns: "tenant-a", name: "s", user: eso, old: secret(esoSecretManaged, `"A":"Yg=="`), obj: secret(esoSecretManaged, `"A":"Yw=="`)},
		{gvk: replicaSetGVK, ns: "tenant-a", name: "rs", user: alice, old: deployment(ownedBy("apps/v1", "Deployment", "api"), "", img1, ""), obj: deployment("", "", img2, "")},
	}
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := reqs[i%len(reqs)]
			for j := 0; j < 20; j++ {
				if _, err := b.Build(context.Background(), r.build()); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

// Parsed managedFields may be reused for the same stored object (uid and
// resourceVersion); the answer must not change, notes included.
func TestBuildRepeatedAndUncached(t *testing.T) {
	withRV := func(managed string) string {
		return deployment(`,"resourceVersion":"42"`+managed, "", img1, logLevel)
	}
	bad := `,"managedFields":[{"manager":"terraform","operation":"Update","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"k:not-json":{}}}},` +
		`{"manager":"Terraform","operation":"Apply","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"api\"}":{".":{},"f:image":{}}}}}}}}]`
	for _, tc := range []struct {
		name    string
		old     string
		notes   bool
		imageBy string
	}{
		{"terraform managed", withRV(terraformManaged), false, "terraform"},
		{"malformed entry", withRV(bad), true, "terraform"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := defaultBuilder(nil)
			r := request{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice, old: tc.old, obj: deployment("", "", img2, logLevel)}
			var prev []string
			for i, bb := range []*Builder{b, b, b.WithoutCache()} {
				in := build(t, bb, r)
				c := findChange(t, in, "spec.template.spec.containers[api].image")
				if c.Owner != tc.imageBy || c.Via != "managedFields" {
					t.Errorf("build %d: image owner %q via %q", i, c.Owner, c.Via)
				}
				if (len(in.Notes)+len(in.Errors) > 0) != tc.notes {
					t.Errorf("build %d: notes %q errors %+v, want notes or errors=%v", i, in.Notes, in.Errors, tc.notes)
				}
				got := append(changeStrings(in.Changes), in.Notes...)
				for _, e := range in.Errors {
					got = append(got, e.Message)
				}
				if prev != nil && !reflect.DeepEqual(got, prev) {
					t.Errorf("build %d differs: %q vs %q", i, got, prev)
				}
				prev = got
			}
		})
	}
}

func TestBuilderConcurrentCached(t *testing.T) {
	b := defaultBuilder(nil)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				rv := `,"resourceVersion":"` + string(rune('a'+(i+j)%5)) + `"`
				r := request{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: alice,
					old: deployment(rv+terraformManaged, "", img1, ""), obj: deployment(terraformManaged, "", img2, "")}
				in, err := b.Build(context.Background(), r.build())
				if err != nil {
					t.Error(err)
					return
				}
				if len(in.Changes) != 1 || in.Changes[0].Owner != "terraform" {
					t.Errorf("changes %+v", in.Changes)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}
