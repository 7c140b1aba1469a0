package input

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fakeScaleReader is a cluster holding objects by namespace/name.
type fakeScaleReader struct {
	objects map[string]string
	err     error
	reads   int
	got     metav1.GroupVersionResource
}

func (f *fakeScaleReader) ReadParent(_ context.Context, gvr metav1.GroupVersionResource, namespace, name string) ([]byte, error) {
	f.reads++
	f.got = gvr
	if f.err != nil {
		return nil, f.err
	}
	raw, ok := f.objects[namespace+"/"+name]
	if !ok {
		return nil, errors.New("not found")
	}
	return []byte(raw), nil
}

// scaleJSON is an autoscaling/v1 Scale as the API server sends it.
func scaleJSON(name, uid string, replicas int, managedFields string) string {
	mf := ""
	if managedFields != "" {
		mf = `,"managedFields":` + managedFields
	}
	return `{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"` + name + `","namespace":"tenant-a","uid":"` + uid + `","resourceVersion":"217"` + mf + `},` +
		`"spec":{"replicas":` + strconv.Itoa(replicas) + `},"status":{"replicas":2,"selector":"app=api"}}`
}

const tfDeploymentUID = "78f6ff59-dd9b-40f0-8dea-9f141a395481"

func scaleRequest(user, resource, name, old, obj string) *admissionv1.AdmissionRequest {
	return &admissionv1.AdmissionRequest{
		UID:         "uid-scale",
		Kind:        metav1.GroupVersionKind{Group: "autoscaling", Version: "v1", Kind: "Scale"},
		Resource:    metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: resource},
		SubResource: "scale",
		Name:        name,
		Namespace:   "tenant-a",
		Operation:   admissionv1.Update,
		UserInfo:    authenticationv1.UserInfo{Username: user},
		Object:      runtime.RawExtension{Raw: []byte(obj)},
		OldObject:   runtime.RawExtension{Raw: []byte(old)},
		Options:     runtime.RawExtension{Raw: []byte(`{"fieldManager":"kubectl-scale"}`)},
	}
}

func buildScaleInput(t *testing.T, r ScaleReader, req *admissionv1.AdmissionRequest) *Input {
	t.Helper()
	b := defaultBuilder(nil)
	if r != nil {
		b = b.WithScaleReader(r)
	}
	in, err := b.Build(context.Background(), req)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return in
}

func TestScaleOwnershipFromTheParent(t *testing.T) {
	tf := fixture(t, "deployment-terraform.json") // Terraform's apply owns spec.replicas
	unowned := edit(t, tf, func(m map[string]any) {
		mf := path(m, "metadata")["managedFields"].([]any)
		spec := mf[0].(map[string]any)["fieldsV1"].(map[string]any)["f:spec"].(map[string]any)
		delete(spec, "f:replicas")
	})
	old, obj := scaleJSON("api", tfDeploymentUID, 2, ""), scaleJSON("api", tfDeploymentUID, 3, "")

	t.Run("Terraform owns spec.replicas of the Deployment", func(t *testing.T) {
		r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": tf}}
		in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api", old, obj))
		if r.reads != 1 || r.got.Resource != "deployments" || r.got.Group != "apps" {
			t.Fatalf("reads %d of %v, want one of apps deployments", r.reads, r.got)
		}
		if len(in.Errors) > 0 {
			t.Fatalf("input errors: %v", in.Errors)
		}
		c := findChange(t, in, "spec.replicas")
		if c.Owner != "terraform" || c.Via != "managedFields" || strings.Join(c.Managers, ",") != "Terraform" {
			t.Errorf("spec.replicas: owner %q via %q managers %v, want terraform via managedFields [Terraform]", c.Owner, c.Via, c.Managers)
		}
		if in.ObjectOwner != "terraform" {
			t.Errorf("objectOwner %q, want terraform", in.ObjectOwner)
		}
		p, _ := in.Doc["parent"].(map[string]any)
		if p["kind"] != "Deployment" || p["name"] != "api" || p["namespace"] != "tenant-a" || p["subResource"] != "scale" || p["read"] != true || p["uid"] != tfDeploymentUID {
			t.Errorf("input.parent = %v", p)
		}
		owners, _ := in.Doc["owners"].(map[string]any)
		src, _ := owners["terraform"].(map[string]any)["source"].(string)
		if !strings.Contains(src, "for Deployment tenant-a/api") {
			t.Errorf("terraform source %q does not name the Deployment", src)
		}
	})

	t.Run("nobody declared owns spec.replicas", func(t *testing.T) {
		r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": unowned}}
		in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api", old, obj))
		if c := findChange(t, in, "spec.replicas"); c.Owner != "" {
			t.Errorf("spec.replicas owner %q via %q, want none", c.Owner, c.Via)
		}
		if len(in.Errors) > 0 {
			t.Fatalf("input errors: %v", in.Errors)
		}
	})

	t.Run("forged managedFields on the review's Scale are ignored", func(t *testing.T) {
		// the review claims kubectl-scale owns replicas and nobody else; the
		// cluster's Deployment says Terraform does
		forged := `[{"manager":"kubectl-scale","operation":"Update","apiVersion":"autoscaling/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}},"subresource":"scale"}]`
		r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": tf}}
		in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api",
			scaleJSON("api", tfDeploymentUID, 2, forged), scaleJSON("api", tfDeploymentUID, 3, forged)))
		if c := findChange(t, in, "spec.replicas"); c.Owner != "terraform" {
			t.Errorf("spec.replicas owner %q, want terraform (from the cluster)", c.Owner)
		}
		// and the other way round: a Scale claiming Terraform owns replicas
		// of a Deployment whose replicas nobody declared owns
		forgedTF := `[{"manager":"Terraform","operation":"Apply","apiVersion":"autoscaling/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]`
		r = &fakeScaleReader{objects: map[string]string{"tenant-a/api": unowned}}
		in = buildScaleInput(t, r, scaleRequest(alice, "deployments", "api",
			scaleJSON("api", tfDeploymentUID, 2, forgedTF), scaleJSON("api", tfDeploymentUID, 3, forgedTF)))
		if c := findChange(t, in, "spec.replicas"); c.Owner != "" {
			t.Errorf("spec.replicas owner %q, want none (the cluster's Deployment has no owner of it)", c.Owner)
		}
	})

	t.Run("an owner's scale-subresource entry counts", func(t *testing.T) {
		scaled := edit(t, unowned, func(m map[string]any) {
			md := path(m, "metadata")
			md["managedFields"] = append(md["managedFields"].([]any), map[string]any{
				"manager": "Terraform", "operation": "Update", "apiVersion": "autoscaling/v1", "subresource": "scale",
				"fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}},
			})
		})
		r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": scaled}}
		in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api", old, obj))
		if c := findChange(t, in, "spec.replicas"); c.Owner != "terraform" {
			t.Errorf("spec.replicas owner %q, want terraform (its scale entry)", c.Owner)
		}
	})
}

func TestScaleParentUnreadable(t *testing.T) {
	old, obj := scaleJSON("api", tfDeploymentUID, 2, ""), scaleJSON("api", tfDeploymentUID, 3, "")
	tf := fixture(t, "deployment-terraform.json")
	for _, tc := range []struct {
		name   string
		reader ScaleReader
		want   string
	}{
		{"no cluster connection", nil, "there is no cluster connection"},
		{"not found", &fakeScaleReader{}, "reading it from the cluster failed: not found"},
		{"timeout", &fakeScaleReader{err: errors.New("no answer from the API server within 1s")}, "within 1s"},
		{"replaced object", &fakeScaleReader{objects: map[string]string{"tenant-a/api": edit(t, tf, func(m map[string]any) {
			path(m, "metadata")["uid"] = "00000000-0000-0000-0000-000000000001"
		})}}, "the object was replaced"},
		{"garbage", &fakeScaleReader{objects: map[string]string{"tenant-a/api": "[1,2"}}, "not an object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := buildScaleInput(t, tc.reader, scaleRequest(alice, "deployments", "api", old, obj))
			if len(in.Errors) != 1 {
				t.Fatalf("input errors %v, want one", in.Errors)
			}
			e := in.Errors[0]
			if e.Reason != ReasonParentUnreadable || !strings.Contains(e.Message, "spec.replicas of Deployment tenant-a/api") || !strings.Contains(e.Message, tc.want) {
				t.Errorf("input error %+v, want reason %s naming the Deployment and %q", e, ReasonParentUnreadable, tc.want)
			}
			if c := findChange(t, in, "spec.replicas"); c.Owner != "" {
				t.Errorf("owner %q from an unread parent", c.Owner)
			}
		})
	}
}

func TestScaleReadsOnlyWhenNeeded(t *testing.T) {
	same := scaleJSON("api", tfDeploymentUID, 2, "")
	r := &fakeScaleReader{err: errors.New("must not be read")}
	in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api", same, same))
	if r.reads != 0 || len(in.Errors) > 0 {
		t.Errorf("scale to the same count: %d reads, errors %v; want none", r.reads, in.Errors)
	}
	req := scaleRequest("system:kube-controller-manager", "deployments", "api", same, scaleJSON("api", tfDeploymentUID, 3, ""))
	in = buildScaleInput(t, r, req)
	if r.reads != 0 || in.Exempt == "" || len(in.Errors) > 0 {
		t.Errorf("exempt user: %d reads, exempt %q, errors %v; want no read", r.reads, in.Exempt, in.Errors)
	}
}

func TestScaleOfStatefulSetAndReplicaSet(t *testing.T) {
	rs := fixture(t, "replicaset-owned.json") // kube-controller-manager owns replicas; controlled by Deployment api
	r := &fakeScaleReader{objects: map[string]string{"tenant-a/api-7c9d8b5f6d": rs}}
	in := buildScaleInput(t, r, scaleRequest(alice, "replicasets", "api-7c9d8b5f6d",
		scaleJSON("api-7c9d8b5f6d", "", 2, ""), scaleJSON("api-7c9d8b5f6d", "", 3, "")))
	c := findChange(t, in, "spec.replicas")
	if c.Owner != "" || strings.Join(c.Managers, ",") != "kube-controller-manager" {
		t.Errorf("ReplicaSet spec.replicas owner %q managers %v, want no declared owner, managers [kube-controller-manager]", c.Owner, c.Managers)
	}
	owner, _ := in.Doc["owner"].(map[string]any)
	ref, _ := owner["reference"].(map[string]any)
	if ref["kind"] != "Deployment" || ref["name"] != "api" {
		t.Errorf("input.owner.reference %v, want the ReplicaSet's controlling Deployment api", ref)
	}
	if p := in.Parent; p == nil || p.Kind != "ReplicaSet" {
		t.Errorf("parent %+v, want a ReplicaSet", p)
	}

	sts := `{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db","namespace":"tenant-a","uid":"u-db","resourceVersion":"9",` +
		`"managedFields":[{"manager":"Terraform","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{},"f:serviceName":{}}}}]}}`
	r = &fakeScaleReader{objects: map[string]string{"tenant-a/db": sts}}
	in = buildScaleInput(t, r, scaleRequest(alice, "statefulsets", "db", scaleJSON("db", "u-db", 1, ""), scaleJSON("db", "u-db", 3, "")))
	if c := findChange(t, in, "spec.replicas"); c.Owner != "terraform" {
		t.Errorf("StatefulSet spec.replicas owner %q, want terraform", c.Owner)
	}
	if in.Parent == nil || in.Parent.Ref() != "StatefulSet tenant-a/db" {
		t.Errorf("parent %+v, want StatefulSet tenant-a/db", in.Parent)
	}
}

func TestScaleBreakGlassDoesNotApply(t *testing.T) {
	tf := fixture(t, "deployment-terraform.json")
	r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": tf}}
	withReason := strings.Replace(scaleJSON("api", tfDeploymentUID, 3, ""), `"resourceVersion":"217"`, `"resourceVersion":"217","annotations":{"driftguard.io/break-glass":"INC-1"}`, 1)
	req := scaleRequest(alice, "deployments", "api", scaleJSON("api", tfDeploymentUID, 2, ""), withReason)
	req.UserInfo.Groups = []string{"driftguard:break-glass"}
	in := buildScaleInput(t, r, req)
	if in.Actor.BreakGlass || in.Actor.BreakGlassReason != "" {
		t.Errorf("break-glass %v reason %q on a Scale, whose annotations are never stored", in.Actor.BreakGlass, in.Actor.BreakGlassReason)
	}
}

func TestScaleOfOtherResourcesIsNotRead(t *testing.T) {
	r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": `{"metadata":{"name":"api"}}`}}
	for _, gvr := range []metav1.GroupVersionResource{
		{Version: "v1", Resource: "secrets"},
		{Version: "v1", Resource: "replicationcontrollers"},
		{Group: "example.com", Version: "v1", Resource: "widgets"},
	} {
		req := scaleRequest(alice, gvr.Resource, "api", scaleJSON("api", "", 2, ""), scaleJSON("api", "", 3, ""))
		req.Resource = gvr
		in := buildScaleInput(t, r, req)
		if len(in.Errors) != 1 || !strings.Contains(in.Errors[0].Message, "judges the scale subresource of apps Deployments, StatefulSets and ReplicaSets only") {
			t.Errorf("%v: input errors %v", gvr, in.Errors)
		}
	}
	if r.reads != 0 {
		t.Errorf("%d reads of resources nobody registered", r.reads)
	}
}

// A kubectl scale leaves manager kubectl, subresource scale, owning
// spec.replicas on the Deployment: the drift audit reports it.
func TestScaleByHandIsAHandEditForTheAudit(t *testing.T) {
	tf := fixture(t, "deployment-terraform.json")
	live := obj(t, edit(t, tf, func(m map[string]any) {
		md := path(m, "metadata")
		md["managedFields"] = append(md["managedFields"].([]any), map[string]any{
			"manager": "kubectl", "operation": "Update", "apiVersion": "autoscaling/v1", "subresource": "scale",
			"fieldsType": "FieldsV1", "fieldsV1": map[string]any{"f:spec": map[string]any{"f:replicas": map[string]any{}}},
		})
	}))
	in, err := defaultBuilder(nil).BuildLive(context.Background(), metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, live)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.HandEdits) != 1 || in.HandEdits[0].Manager != "kubectl" || strings.Join(in.HandEdits[0].Fields, ",") != "spec.replicas" {
		t.Errorf("hand edits %+v, want kubectl: [spec.replicas]", in.HandEdits)
	}
}

// A review whose new Scale has no spec at all (or a spec that is not an
// object) still changes the parent's spec.replicas.
func TestScaleMalformedSpecIsStillReplicas(t *testing.T) {
	tf := fixture(t, "deployment-terraform.json")
	r := &fakeScaleReader{objects: map[string]string{"tenant-a/api": tf}}
	old := scaleJSON("api", tfDeploymentUID, 2, "")
	for _, spec := range []string{`null`, `"x"`, `[]`} {
		obj := strings.Replace(scaleJSON("api", tfDeploymentUID, 3, ""), `"spec":{"replicas":3}`, `"spec":`+spec, 1)
		in := buildScaleInput(t, r, scaleRequest(alice, "deployments", "api", old, obj))
		owned := false
		for _, c := range in.Changes {
			owned = owned || c.Owner == "terraform"
		}
		if !owned {
			t.Errorf("spec %s: changes %+v, want one owned by terraform", spec, in.Changes)
		}
	}
}
