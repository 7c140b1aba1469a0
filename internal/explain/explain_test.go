package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func findEdit(t *testing.T, r *Report, op, field string) EditResult {
	t.Helper()
	for _, e := range r.HandEdits.Edits {
		if e.Operation == op && e.Field == field {
			return e
		}
	}
	t.Fatalf("no %s edit of %s in %+v", op, field, r.HandEdits.Edits)
	return EditResult{}
}

// docs/scenarios.md S3 seen from explain: the Terraform-owned image of a real API
// server object is denied by owned_fields for a person.
func TestExplainTerraformDeployment(t *testing.T) {
	ctx := context.Background()
	dep := fixture(t, "deployment-terraform.json")
	f := newFake(dep)
	acc := &fakeAccess{}
	env := Env{Objects: Cached(f), State: state(t, f), Access: acc}
	r, err := Explain(ctx, env, targetFor(dep, "deployments"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.OwnerChain.End != EndRoot || len(r.OwnerChain.Links) != 1 {
		t.Errorf("chain %+v", r.OwnerChain)
	}
	if o := r.Conventions.ObjectOwner; o == nil || o.Name != "terraform" || o.Via != "managedFields" {
		t.Errorf("object owner %+v", o)
	}
	if r.Conventions.AsOwner == nil || !r.Conventions.AsOwner.Reconciles {
		t.Errorf("as owner %+v", r.Conventions.AsOwner)
	}
	if r.HandEdits.User != "someone" || strings.Join(r.HandEdits.Groups, ",") != "system:authenticated" {
		t.Errorf("simulated user %s %v", r.HandEdits.User, r.HandEdits.Groups)
	}
	img := findEdit(t, r, "UPDATE", "spec.template.spec.containers[api].image")
	if img.Result != Denied || img.Owner != "terraform" || img.Via != "managedFields" || len(img.Messages) != 1 ||
		!strings.HasPrefix(img.Messages[0], "[owned_fields] spec.template.spec.containers[api].image of Deployment tenant-a/api is owned by Terraform") ||
		!strings.Contains(img.Messages[0], "someone is not Terraform's identity") ||
		len(img.Policies) != 1 || img.Policies[0].Policy != "owned_fields" || img.Policies[0].Decision != "deny" {
		t.Errorf("image edit %+v", img)
	}
	// other Terraform-owned scalars are simulated too
	for _, p := range []string{"spec.replicas", "spec.template.spec.containers[api].env[LOG_LEVEL].value", "metadata.labels.app"} {
		if e := findEdit(t, r, "UPDATE", p); e.Result != Denied || e.Owner != "terraform" || e.Error != "" {
			t.Errorf("%s: %+v", p, e)
		}
	}
	for _, e := range r.HandEdits.Edits {
		// status, non-scalars and merge keys (which would name another list item) are left out
		if strings.HasPrefix(e.Field, "status") || e.Field == "spec.selector" || strings.HasSuffix(e.Field, "].name") {
			t.Errorf("should not simulate %s", e.Field)
		}
		if e.Error != "" {
			t.Errorf("%s: %s", e.Field, e.Error)
		}
	}
	if d := findEdit(t, r, "DELETE", "(object)"); d.Result != Denied || d.Owner != "terraform" {
		t.Errorf("delete %+v", d)
	}
	// access: SelfSubjectAccessReview (no --as) for update, patch, delete
	if r.Access == nil || r.Access.Method != "SelfSubjectAccessReview" || r.Access.User != "kube-admin" || len(r.Access.Checks) != 3 ||
		!r.Access.Checks[0].Allowed || r.Access.Checks[2].Verb != "delete" || r.Access.Checks[2].Allowed {
		t.Errorf("access %+v", r.Access)
	}
	if strings.Join(acc.users, ",") != ",," {
		t.Errorf("access reviews asked for %q, want the caller", acc.users)
	}

	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"driftguard explain Deployment tenant-a/api (apps/v1",
		"1. Owner chain", "Deployment tenant-a/api has no controlling ownerReference: it is the root",
		"2. Reconciler conventions", "declared owner of the object: Terraform (terraform, via managedFields)",
		"3. Field managers", "spec.template.spec.containers[api].image", "Terraform", "yes: terraform",
		"4. Hand edits by someone (groups system:authenticated)",
		"DENIED  UPDATE spec.template.spec.containers[api].image (image tag + \"-explain\") — owner terraform via managedFields",
		"5. Access (SelfSubjectAccessReview for kube-admin", "can update Deployment tenant-a/api: yes", "can delete Deployment tenant-a/api: no",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"object", "ownerChain", "conventions", "fields", "handEdits", "access"} {
		if _, ok := back[k]; !ok {
			t.Errorf("json lacks %q: %s", k, b)
		}
	}
}

// A person whose edits Terraform's identity would make: --as the runner.
func TestExplainAsOwnerIdentity(t *testing.T) {
	dep := fixture(t, "deployment-terraform.json")
	f := newFake(dep)
	acc := &fakeAccess{}
	r, err := Explain(context.Background(), Env{Objects: f, State: state(t, f), Access: acc}, targetFor(dep, "deployments"),
		Options{User: "system:serviceaccount:infra:terraform", Groups: []string{"system:serviceaccounts"}, Impersonate: true})
	if err != nil {
		t.Fatal(err)
	}
	if img := findEdit(t, r, "UPDATE", "spec.template.spec.containers[api].image"); img.Result != Allowed || len(img.Messages) != 0 {
		t.Errorf("owner's own edit %+v", img)
	}
	if strings.Join(r.HandEdits.Groups, ",") != "system:serviceaccounts,system:authenticated" {
		t.Errorf("groups %v", r.HandEdits.Groups)
	}
	if r.Access.Method != "SubjectAccessReview" || acc.users[0] != "system:serviceaccount:infra:terraform" {
		t.Errorf("access %+v asked for %v", r.Access, acc.users)
	}
}

// S8 seen from explain: the Namespace-owned Deployment's image
// edit is allowed with a revert warning.
func TestExplainNamespaceOwnedDeployment(t *testing.T) {
	ns := obj(t, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"admin","uid":"ns-uid"}}`)
	kfp := obj(t, deployment("admin", "ml-pipeline-ui-artifact", "kfp-uid", ownerRefJSON("v1", "Namespace", "admin", "ns-uid")+
		`,"managedFields":[{"manager":"metacontroller","operation":"Update","apiVersion":"apps/v1","time":"2026-01-01T00:00:00Z","fieldsType":"FieldsV1",
		  "fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}}}}}}}}]`))
	f := newFake(ns, kfp)
	r, err := Explain(context.Background(), Env{Objects: f, State: state(t, f)}, targetFor(kfp, "deployments"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.OwnerChain.String(); got != "Deployment admin/ml-pipeline-ui-artifact → Namespace admin" {
		t.Errorf("chain %q", got)
	}
	img := findEdit(t, r, "UPDATE", "spec.template.spec.containers[app].image")
	if img.Result != Warned || len(img.Messages) != 1 ||
		!strings.Contains(img.Messages[0], "[revert_warning] spec.template.spec.containers[app].image of Deployment admin/ml-pipeline-ui-artifact will be reverted") ||
		!strings.Contains(img.Messages[0], "its controlling owner is Namespace/admin") {
		t.Errorf("image edit %+v", img)
	}
	if r.Access != nil {
		t.Errorf("no access checker, but access %+v", r.Access)
	}
	// metacontroller is no declared owner: nothing else is simulated
	if len(r.HandEdits.Edits) != 2 {
		t.Errorf("edits %+v", r.HandEdits.Edits)
	}
	var buf bytes.Buffer
	_ = r.WriteText(&buf)
	if !strings.Contains(buf.String(), "WARNED  UPDATE spec.template.spec.containers[app].image") ||
		!strings.Contains(buf.String(), "Deployment admin/ml-pipeline-ui-artifact ← Namespace admin [Namespace]: the Kubeflow profile controller") {
		t.Errorf("text:\n%s", buf.String())
	}
}

// S1 seen from explain: a synced Secret's data keys, never values.
func TestExplainSyncedSecret(t *testing.T) {
	sec := fixture(t, "secret-eso.json")
	f := newFake(sec) // the ExternalSecret itself is missing
	r, err := Explain(context.Background(), Env{Objects: f, State: state(t, f)}, targetFor(sec, "secrets"), Options{User: "alice", Groups: []string{"devs"}})
	if err != nil {
		t.Fatal(err)
	}
	if r.OwnerChain.End != EndMissing {
		t.Errorf("chain %+v", r.OwnerChain)
	}
	var data *EditResult
	for i, e := range r.HandEdits.Edits {
		if strings.HasPrefix(e.Field, "data.") {
			data = &r.HandEdits.Edits[i]
		}
	}
	if data == nil || data.Result != Denied || !strings.Contains(strings.Join(data.Messages, " "), "[externalsecret_owned]") {
		t.Fatalf("data edit %+v in %+v", data, r.HandEdits.Edits)
	}
	b, _ := json.Marshal(r)
	for _, v := range secretValues(sec) {
		if strings.Contains(string(b), v) {
			t.Errorf("report contains a Secret value %q", v)
		}
	}
}

func secretValues(sec map[string]any) []string {
	var out []string
	data, _ := sec["data"].(map[string]any)
	for _, v := range data {
		if s, _ := v.(string); len(s) > 3 {
			out = append(out, s)
		}
	}
	return out
}

func TestExplainNotFoundAndCap(t *testing.T) {
	ctx := context.Background()
	dep := fixture(t, "deployment-terraform.json")
	f := newFake(dep)
	st := state(t, f)
	tg := targetFor(dep, "deployments")
	tg.Name = "nope"
	_, err := Explain(ctx, Env{Objects: f, State: st}, tg, Options{})
	var nf *NotFoundError
	if !errors.As(err, &nf) || err.Error() != "Deployment tenant-a/nope not found" {
		t.Errorf("err %v", err)
	}
	r, err := Explain(ctx, Env{Objects: f, State: st}, targetFor(dep, "deployments"), Options{MaxFields: 1})
	if err != nil {
		t.Fatal(err)
	}
	// one image, one capped field, the delete
	if len(r.HandEdits.Edits) != 3 || r.HandEdits.NotSimulated == 0 {
		t.Errorf("edits %d, not simulated %d", len(r.HandEdits.Edits), r.HandEdits.NotSimulated)
	}
}

func TestCachedReadsOnce(t *testing.T) {
	dep := fixture(t, "deployment-terraform.json")
	f := newFake(dep)
	c := Cached(f)
	for range 3 {
		if _, err := c.Get(context.Background(), "apps/v1", "Deployment", "tenant-a", "api"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(context.Background(), "apps/v1", "Deployment", "tenant-a", "gone"); !IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if f.gets != 2 {
		t.Errorf("gets %d, want 2", f.gets)
	}
	p := NewParentLookup(c)
	if o, err := p.Parent(context.Background(), "apps/v1", "Deployment", "tenant-a", "gone"); o != nil || err != nil {
		t.Errorf("missing parent: %v %v", o, err)
	}
}

func TestParseTarget(t *testing.T) {
	for _, c := range []struct {
		args       []string
		kind, name string
		bad        bool
	}{
		{[]string{"deploy/api"}, "deploy", "api", false},
		{[]string{"deployments.apps/api"}, "deployments.apps", "api", false},
		{[]string{"secret", "flags"}, "secret", "flags", false},
		{[]string{"deploy"}, "", "", true},
		{[]string{"deploy/"}, "", "", true},
		{[]string{"/api"}, "", "", true},
		{[]string{"a/b/c"}, "", "", true},
		{[]string{"deploy/api", "x"}, "", "", true},
		{nil, "", "", true},
		{[]string{"a", "b", "c"}, "", "", true},
	} {
		k, n, err := ParseTarget(c.args)
		if (err != nil) != c.bad || k != c.kind || n != c.name {
			t.Errorf("ParseTarget(%q) = %q %q %v", c.args, k, n, err)
		}
	}
}
