//go:build e2e

package e2e

// `driftguard explain` against the suite's real kube-apiserver: the
// objects are made in their own namespaces (explain-a, explain-kf) the
// way their owners make them, then the real binary explains them.

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/explain"
)

const (
	explainNS   = "explain-a"
	explainKFNS = "explain-kf"
	explainImg  = "ghcr.io/acme/api:1.0.0"
	explainPath = "spec.template.spec.containers[api].image"
)

// explainRun runs the driftguard binary's explain command with the admin kubeconfig.
func explainRun(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	full := append([]string{"explain"}, args...)
	full = append(full, "--kubeconfig", s.kubeconfig)
	return runCmd(ctx, kopts{}, full, s.binary, full...)
}

// explainJSON runs explain -o json and decodes the report.
func explainJSON(t *testing.T, args ...string) *explain.Report {
	t.Helper()
	r := explainRun(t, append(args, "-o", "json")...)
	if r.code != 0 {
		t.Fatalf("driftguard explain failed:\n%s", r)
	}
	var rep explain.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("explain -o json is not a report: %v\n%s", err, r.stdout)
	}
	return &rep
}

func findEdit(t *testing.T, rep *explain.Report, op, field string) explain.EditResult {
	t.Helper()
	for _, e := range rep.HandEdits.Edits {
		if e.Operation == op && e.Field == field {
			return e
		}
	}
	t.Fatalf("no simulated %s of %s in %+v", op, field, rep.HandEdits.Edits)
	return explain.EditResult{}
}

func chainKinds(rep *explain.Report) string {
	var ks []string
	for _, l := range rep.OwnerChain.Links {
		ks = append(ks, l.Kind+"/"+l.Name)
	}
	return strings.Join(ks, " → ")
}

func TestExplain(t *testing.T) {
	var deployUID string
	top := t
	if !t.Run("setup", func(t *testing.T) {
		for _, n := range []string{explainNS, explainKFNS} {
			mustSucceed(t, s.kubectl("create", "namespace", n))
			top.Cleanup(func() { s.kubectl("delete", "namespace", n, "--wait=false") })
		}
		// Terraform's Deployment, server-side applied by its service account
		expectAllowed(t, kIn(asTerraform, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: %s, labels: {app: api}}
spec:
  replicas: 2
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers:
      - name: api
        image: %s
        env:
        - {name: LOG_LEVEL, value: info}
`, explainNS, explainImg), "apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
		deployUID = uid(t, "deployment/api", explainNS)

		// a ReplicaSet controlled by it, as the Deployment controller makes it
		mustSucceed(t, s.kubectlIn(fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: api-5c8f
  namespace: %s
  labels: {app: api, pod-template-hash: 5c8f}
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: api, uid: %s, controller: true}
spec:
  replicas: 2
  selector: {matchLabels: {app: api, pod-template-hash: 5c8f}}
  template:
    metadata: {labels: {app: api, pod-template-hash: 5c8f}}
    spec:
      containers:
      - {name: api, image: %s}
`, explainNS, deployUID, explainImg), "create", "--field-manager=kube-controller-manager", "-f", "-"))

		// a paused Deployment and its ReplicaSet: no revert to predict
		mustSucceed(t, s.kubectlIn(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: paused, namespace: %s}
spec:
  paused: true
  selector: {matchLabels: {app: paused}}
  template:
    metadata: {labels: {app: paused}}
    spec:
      containers:
      - {name: app, image: %s}
`, explainNS, explainImg), "create", "-f", "-"))
		mustSucceed(t, s.kubectlIn(fmt.Sprintf(`apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: paused-1
  namespace: %s
  ownerReferences:
  - {apiVersion: apps/v1, kind: Deployment, name: paused, uid: %s, controller: true}
spec:
  selector: {matchLabels: {app: paused}}
  template:
    metadata: {labels: {app: paused}}
    spec:
      containers:
      - {name: app, image: %s}
`, explainNS, uid(t, "deployment/paused", explainNS), explainImg), "create", "-f", "-"))

		// ESO's ExternalSecret and the Secret it syncs
		mustSucceed(t, kIn(asESO, fmt.Sprintf(`apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata: {name: flags, namespace: %s}
spec: {target: {name: flags}}
`, explainNS), "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))
		mustSucceed(t, kIn(asESO, fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: flags
  namespace: %s
  ownerReferences:
  - {apiVersion: external-secrets.io/v1, kind: ExternalSecret, name: flags, uid: %s, controller: true}
data: {DATABASE_URL: %s}
`, explainNS, uid(t, "externalsecret/flags", explainNS), dbURLB64), "apply", "--server-side", "--field-manager=external-secrets", "-f", "-"))

		// a Deployment rendered from its profile Namespace (metacontroller)
		mustSucceed(t, kIn(asKubeflow, fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ml-pipeline-ui-artifact
  namespace: %[1]s
  ownerReferences:
  - {apiVersion: v1, kind: Namespace, name: %[1]s, uid: %[2]s, controller: true}
spec:
  selector: {matchLabels: {app: ml-pipeline-ui-artifact}}
  template:
    metadata: {labels: {app: ml-pipeline-ui-artifact}}
    spec:
      containers:
      - {name: ml-pipeline-ui-artifact, image: %[3]s}
`, explainKFNS, uid(t, "namespace/"+explainKFNS, ""), kfpImage), "apply", "--server-side", "--field-manager=metacontroller", "-f", "-"))
	}) {
		t.FailNow()
	}

	t.Run("Terraform's Deployment: image owned by Terraform, hand edit denied by owned_fields", func(t *testing.T) {
		rep := explainJSON(t, "deployment/api", "-n", explainNS)
		if rep.Object.Kind != "Deployment" || rep.Object.UID != deployUID || rep.Object.Resource != "deployments" {
			t.Errorf("object %+v", rep.Object)
		}
		if got := chainKinds(rep); got != "Deployment/api" || rep.OwnerChain.End != explain.EndRoot {
			t.Errorf("owner chain %q (%s)", got, rep.OwnerChain.End)
		}
		if o := rep.Conventions.ObjectOwner; o == nil || o.Name != "terraform" || o.Display != "Terraform" || o.Via != "managedFields" {
			t.Errorf("declared owner %+v", o)
		}
		var image *explain.FieldManagers
		for i, f := range rep.Fields {
			if f.Path == explainPath {
				image = &rep.Fields[i]
			}
		}
		if image == nil || len(image.Managers) != 1 || image.Managers[0].Manager != "Terraform" ||
			image.Managers[0].Operation != "Apply" || image.Managers[0].Owner != "terraform" || image.Owner != "terraform" {
			t.Fatalf("field managers of %s: %+v", explainPath, image)
		}
		e := findEdit(t, rep, "UPDATE", explainPath)
		if e.Result != explain.Denied || e.Owner != "terraform" || len(e.Policies) == 0 || e.Policies[0].Policy != "owned_fields" ||
			!strings.Contains(strings.Join(e.Messages, "\n"), "[owned_fields] "+explainPath+" of Deployment "+explainNS+"/api is owned by Terraform") ||
			!strings.Contains(strings.Join(e.Messages, "\n"), "someone is not Terraform's identity") {
			t.Errorf("image hand edit: %+v", e)
		}
		if e := findEdit(t, rep, "UPDATE", "spec.replicas"); e.Result != explain.Denied {
			t.Errorf("replicas hand edit: %+v", e)
		}
		if a := rep.Access; a == nil || a.Method != "SelfSubjectAccessReview" || len(a.Checks) != 3 || !a.Checks[0].Allowed || !a.Checks[2].Allowed {
			t.Errorf("access: %+v", a)
		}
	})

	t.Run("text output: the checklist", func(t *testing.T) {
		r := explainRun(t, "deploy/api", "-n", explainNS)
		mustSucceed(t, r)
		if testing.Verbose() {
			t.Logf("driftguard explain deploy/api -n %s:\n%s", explainNS, r.stdout)
		}
		for _, want := range []string{
			"driftguard explain Deployment " + explainNS + "/api",
			"1. Owner chain", "2. Reconciler conventions", "3. Field managers", "4. Hand edits by someone", "5. Access",
			"declared owner of the object: Terraform (terraform, via managedFields)",
			"DENIED  UPDATE " + explainPath,
			"can update Deployment " + explainNS + "/api: yes",
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("explain output lacks %q:\n%s", want, r.stdout)
			}
		}
	})

	t.Run("ReplicaSet: owner chain to its Deployment, revert warning", func(t *testing.T) {
		for _, kind := range []string{"rs", "replicaset", "replicasets.apps", "ReplicaSet"} {
			rep := explainJSON(t, kind+"/api-5c8f", "-n", explainNS)
			if got := chainKinds(rep); got != "ReplicaSet/api-5c8f → Deployment/api" || rep.OwnerChain.End != explain.EndRoot {
				t.Fatalf("%s: owner chain %q (%s: %s)", kind, got, rep.OwnerChain.End, rep.OwnerChain.EndNote)
			}
			if rep.OwnerChain.Links[1].UID != deployUID || !rep.OwnerChain.Links[1].Found {
				t.Errorf("owner link %+v", rep.OwnerChain.Links[1])
			}
			c := rep.Conventions.Owners
			if len(c) != 1 || !c[0].Known || !c[0].Reconciles || !c[0].ParentRead || c[0].Reconciler != "the Deployment controller" ||
				c[0].Source != "the pod template of Deployment "+explainNS+"/api" {
				t.Errorf("conventions %+v", c)
			}
			e := findEdit(t, rep, "UPDATE", explainPath)
			if e.Result != explain.Warned || !strings.Contains(strings.Join(e.Messages, "\n"), "[revert_warning] "+explainPath+" of ReplicaSet "+explainNS+"/api-5c8f will be reverted") {
				t.Errorf("image hand edit: %+v", e)
			}
		}
	})

	t.Run("ReplicaSet of a paused Deployment: no revert claimed", func(t *testing.T) {
		rep := explainJSON(t, "rs/paused-1", "-n", explainNS)
		c := rep.Conventions.Owners
		if len(c) != 1 || c[0].Reconciles || c[0].PausedBy != "spec.paused" || !strings.Contains(c[0].Verdict, "will not revert") {
			t.Errorf("conventions %+v", c)
		}
		if e := findEdit(t, rep, "UPDATE", "spec.template.spec.containers[app].image"); e.Result != explain.Allowed {
			t.Errorf("image hand edit: %+v", e)
		}
		dep := explainJSON(t, "deployment/paused", "-n", explainNS)
		if a := dep.Conventions.AsOwner; a == nil || a.PausedBy != "spec.paused" {
			t.Errorf("paused Deployment as owner: %+v", a)
		}
	})

	t.Run("Namespace-owned Deployment: revert warning, metacontroller convention", func(t *testing.T) {
		rep := explainJSON(t, "deployments.apps/ml-pipeline-ui-artifact", "-n", explainKFNS)
		if got := chainKinds(rep); got != "Deployment/ml-pipeline-ui-artifact → Namespace/"+explainKFNS {
			t.Errorf("owner chain %q", got)
		}
		c := rep.Conventions.Owners
		if len(c) != 1 || c[0].OwnerKind != "Namespace" || !c[0].Reconciles || !c[0].ParentRead ||
			!strings.Contains(c[0].Reconciler, "Kubeflow profile controller") {
			t.Errorf("conventions %+v", c)
		}
		path := "spec.template.spec.containers[ml-pipeline-ui-artifact].image"
		e := findEdit(t, rep, "UPDATE", path)
		msgs := strings.Join(e.Messages, "\n")
		if e.Result != explain.Warned || !strings.Contains(msgs, "[revert_warning] "+path+" of Deployment "+explainKFNS+"/ml-pipeline-ui-artifact will be reverted") ||
			!strings.Contains(msgs, "its controlling owner is Namespace/"+explainKFNS) || !strings.Contains(msgs, "pipeline-install-config ConfigMap") {
			t.Errorf("image hand edit: %+v", e)
		}
		for _, f := range rep.Fields {
			if f.Path == path && (len(f.Managers) != 1 || f.Managers[0].Manager != "metacontroller" || f.Owner != "") {
				t.Errorf("image managers %+v", f)
			}
		}
	})

	t.Run("cluster-scoped Namespace: -n ignored, root, convention as an owner", func(t *testing.T) {
		rep := explainJSON(t, "ns/"+explainKFNS, "-n", "ignored")
		if rep.Object.Namespace != "" || chainKinds(rep) != "Namespace/"+explainKFNS || rep.OwnerChain.End != explain.EndRoot {
			t.Errorf("object %+v chain %q", rep.Object, chainKinds(rep))
		}
		if a := rep.Conventions.AsOwner; a == nil || !a.Reconciles || !strings.Contains(a.Reconciler, "Kubeflow profile controller") {
			t.Errorf("as owner %+v", a)
		}
	})

	t.Run("ExternalSecret's Secret: data hand edit denied, no value shown", func(t *testing.T) {
		r := explainRun(t, "secret/flags", "-n", explainNS, "-o", "json")
		mustSucceed(t, r)
		if strings.Contains(r.stdout, dbURLB64) {
			t.Fatalf("explain output contains the Secret's value:\n%s", r.stdout)
		}
		var rep explain.Report
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if got := chainKinds(&rep); got != "Secret/flags → ExternalSecret/flags" {
			t.Errorf("owner chain %q", got)
		}
		if c := rep.Conventions.Owners; len(c) != 1 || c[0].DeclaredOwner != "external-secrets" || !c[0].Reconciles {
			t.Errorf("conventions %+v", c)
		}
		e := findEdit(t, &rep, "UPDATE", "data.DATABASE_URL")
		if e.Result != explain.Denied || !strings.Contains(strings.Join(e.Messages, "\n"), "[externalsecret_owned] DATABASE_URL (replace) of Secret "+explainNS+"/flags") {
			t.Errorf("data hand edit: %+v", e)
		}
	})

	t.Run("--as the Terraform runner: its own edit is allowed; SubjectAccessReview", func(t *testing.T) {
		rep := explainJSON(t, "deployment/api", "-n", explainNS, "--as", "system:serviceaccount:infra:terraform", "--as-group", "system:serviceaccounts")
		if e := findEdit(t, rep, "UPDATE", explainPath); e.Result != explain.Allowed {
			t.Errorf("owner's image edit: %+v", e)
		}
		if a := rep.Access; a == nil || a.Method != "SubjectAccessReview" || a.User != "system:serviceaccount:infra:terraform" || !a.Checks[0].Allowed {
			t.Errorf("access %+v", a)
		}
		rep = explainJSON(t, "deployment/api", "-n", explainNS, "--as", "nobody")
		if a := rep.Access; a == nil || a.Checks[0].Allowed || a.Checks[0].Verb != "update" {
			t.Errorf("nobody's access %+v", a)
		}
	})

	t.Run("errors: not found, bad kind, no cluster", func(t *testing.T) {
		r := explainRun(t, "deployment/nope", "-n", explainNS)
		if r.code == 0 || !strings.Contains(r.stderr, "Deployment "+explainNS+"/nope not found") {
			t.Errorf("not found:\n%s", r)
		}
		r = explainRun(t, "gizmo/api", "-n", explainNS)
		if r.code == 0 || !strings.Contains(r.stderr, `the server doesn't have a resource type "gizmo"`) {
			t.Errorf("bad kind:\n%s", r)
		}
		r = explainRun(t, "deployment", "-n", explainNS)
		if r.code != 2 || !strings.Contains(r.stderr, "want <kind>/<name>") {
			t.Errorf("bad argument:\n%s", r)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, s.binary, "explain", "deployment/api", "-n", explainNS)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "no cluster") {
			t.Errorf("no cluster: err %v\n%s", err, out)
		}
	})
}
