package input

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Objects with managedFields as a real kube-apiserver returns them,
// written by test/fixtures/managedfields/gen (Terraform server-side
// apply, then real kubectl set image / kubectl edit, an ESO Secret and a
// ReplicaSet owned by the Deployment).
const fixtureDir = "../../test/fixtures/managedfields"

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		// committed fixtures: a missing one is a failure, never a skip
		t.Fatalf("fixture %s: %v (regenerate with %s/gen)", name, err, fixtureDir)
	}
	return string(b)
}

// edit decodes a fixture, applies f and encodes it again, keeping its
// managedFields (what an API server sends as the new object before it
// updates managedFields is irrelevant: attribution reads the old object).
func edit(t *testing.T, raw string, f func(m map[string]any)) string {
	t.Helper()
	m := obj(t, raw)
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func path(m map[string]any, p ...string) map[string]any {
	cur := m
	for _, k := range p {
		next, ok := cur[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			cur[k] = next
		}
		cur = next
	}
	return cur
}

func apiContainer(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	cs, _ := path(m, "spec", "template", "spec")["containers"].([]any)
	for _, c := range cs {
		if cm, _ := c.(map[string]any); cm["name"] == "api" {
			return cm
		}
	}
	t.Fatal("no api container")
	return nil
}

func setImage(t *testing.T, image string) func(map[string]any) {
	return func(m map[string]any) { apiContainer(t, m)["image"] = image }
}

func findChange(t *testing.T, in *Input, p string) Change {
	t.Helper()
	for _, c := range in.Changes {
		if c.Path == p {
			return c
		}
	}
	t.Fatalf("no change %s in %q", p, changeStrings(in.Changes))
	return Change{}
}

func managedSets(t *testing.T, raw string) map[string]*fieldpath.Set {
	t.Helper()
	ms, err := ParseManagedFields([]byte(raw))
	if err != nil {
		t.Fatalf("managedFields of a real object: %v", err)
	}
	out := map[string]*fieldpath.Set{}
	for _, m := range ms {
		if m.Subresource == "" {
			out[m.Manager] = m.Set
		}
	}
	return out
}

var (
	imagePath = fieldpath.MakePathOrDie("spec", "template", "spec", "containers", keyByFields("name", "api"), "image")
	logLevelP = fieldpath.MakePathOrDie("spec", "template", "spec", "containers", keyByFields("name", "api"), "env", keyByFields("name", "LOG_LEVEL"), "value")
)

func TestFixtureManagedFieldsOwnership(t *testing.T) {
	t.Run("terraform apply owns image and env", func(t *testing.T) {
		sets := managedSets(t, fixture(t, "deployment-terraform.json"))
		tf := sets["Terraform"]
		if tf == nil {
			t.Fatalf("no Terraform manager: %v", sets)
		}
		if !Owns(tf, imagePath) || !Owns(tf, logLevelP) || !Owns(tf, fieldpath.MakePathOrDie("spec", "replicas")) {
			t.Errorf("Terraform set does not own image/env/replicas: %s", tf)
		}
		if !OwnsOutsideMetadata(tf) {
			t.Error("Terraform owns nothing outside metadata")
		}
	})
	t.Run("after kubectl set image, kubectl-set owns the image", func(t *testing.T) {
		sets := managedSets(t, fixture(t, "deployment-terraform-then-kubectl-set.json"))
		if Owns(sets["Terraform"], imagePath) {
			t.Error("Terraform still owns the image after kubectl set image")
		}
		if !Owns(sets["kubectl-set"], imagePath) {
			t.Errorf("kubectl-set does not own the image: %v", sets)
		}
		if !Owns(sets["Terraform"], logLevelP) {
			t.Error("Terraform lost the env it still owns")
		}
	})
	t.Run("after kubectl edit, kubectl-edit owns the env value", func(t *testing.T) {
		sets := managedSets(t, fixture(t, "deployment-terraform-then-kubectl-edit.json"))
		if Owns(sets["Terraform"], logLevelP) {
			t.Error("Terraform still owns LOG_LEVEL after kubectl edit")
		}
		if !Owns(sets["kubectl-edit"], logLevelP) {
			t.Errorf("kubectl-edit does not own LOG_LEVEL: %v", sets)
		}
		if !Owns(sets["Terraform"], imagePath) {
			t.Error("Terraform lost the image it still owns")
		}
	})
}

func TestFixtureAttribution(t *testing.T) {
	tfObj := func(t *testing.T) string { return fixture(t, "deployment-terraform.json") }
	setObj := func(t *testing.T) string { return fixture(t, "deployment-terraform-then-kubectl-set.json") }
	editBefore := func(t *testing.T) string { return fixture(t, "deployment-terraform-before-kubectl-edit.json") }
	editObj := func(t *testing.T) string { return fixture(t, "deployment-terraform-then-kubectl-edit.json") }
	const (
		image    = "spec.template.spec.containers[api].image"
		logLevel = "spec.template.spec.containers[api].env[LOG_LEVEL].value"
	)
	tests := []struct {
		name      string
		user      string
		old, new  func(t *testing.T) string
		path      string
		owner     string
		via       string
		manager   string // expected in Managers
		actorOwns string
	}{
		{
			name: "S3: kubectl set image over a Terraform apply",
			user: alice, old: tfObj, new: setObj,
			path: image, owner: "terraform", via: "managedFields", manager: "Terraform",
		},
		{
			name: "S4: the Terraform runner changes the same image",
			user: terraform, old: tfObj, new: setObj,
			path: image, owner: "terraform", via: "managedFields", manager: "Terraform", actorOwns: "terraform",
		},
		{
			name: "a further image change after kubectl set is not Terraform's",
			user: alice, old: setObj,
			new:  func(t *testing.T) string { return edit(t, setObj(t), setImage(t, "ghcr.io/acme/api:1.2.0")) },
			path: image, owner: "",
		},
		{
			name: "kubectl edit of a Terraform env value",
			user: alice, old: editBefore, new: editObj,
			path: logLevel, owner: "terraform", via: "managedFields", manager: "Terraform",
		},
		{
			name: "a further env change after kubectl edit is not Terraform's",
			user: alice, old: editObj,
			new: func(t *testing.T) string {
				return edit(t, editObj(t), func(m map[string]any) {
					for _, e := range apiContainer(t, m)["env"].([]any) {
						if em := e.(map[string]any); em["name"] == "LOG_LEVEL" {
							em["value"] = "warn"
						}
					}
				})
			},
			path: logLevel, owner: "",
		},
		{
			name: "image is still Terraform's after kubectl edit of env",
			user: alice, old: editObj,
			new:  func(t *testing.T) string { return edit(t, editObj(t), setImage(t, "ghcr.io/acme/api:9")) },
			path: image, owner: "terraform", via: "managedFields", manager: "Terraform",
		},
		{
			name: "S6: rollout restart of a Terraform Deployment names the annotation key, unowned",
			user: alice, old: tfObj,
			new: func(t *testing.T) string {
				return edit(t, tfObj(t), func(m map[string]any) {
					path(m, "spec", "template", "metadata", "annotations")["kubectl.kubernetes.io/restartedAt"] = "2026-11-25T17:30:00Z"
				})
			},
			path: "spec.template.metadata.annotations[kubectl.kubernetes.io/restartedAt]", owner: "",
		},
		{
			name: "Terraform without server-side apply (operation Update) owns the image too",
			user: alice, old: func(t *testing.T) string { return fixture(t, "deployment-terraform-update.json") },
			new: func(t *testing.T) string {
				return edit(t, fixture(t, "deployment-terraform-update.json"), setImage(t, "ghcr.io/acme/api:1.1.0"))
			},
			path: image, owner: "terraform", via: "managedFields", manager: "Terraform",
		},
		{
			name: "env var added by hand to a Terraform Deployment is unowned",
			user: alice, old: tfObj,
			new: func(t *testing.T) string {
				return edit(t, tfObj(t), func(m map[string]any) {
					c := apiContainer(t, m)
					c["env"] = append(c["env"].([]any), map[string]any{"name": "FEATURE_FLAG_X", "value": "True"})
				})
			},
			path: "spec.template.spec.containers[api].env[FEATURE_FLAG_X]", owner: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			old, nw := tc.old(t), tc.new(t)
			in := build(t, defaultBuilder(nil), request{gvk: deploymentGVK, ns: "tenant-a", name: "api", user: tc.user, groups: []string{"devs"}, old: old, obj: nw})
			if len(in.Notes) != 0 {
				t.Errorf("notes on a real object: %q", in.Notes)
			}
			c := findChange(t, in, tc.path)
			if c.Owner != tc.owner || c.Via != tc.via {
				t.Errorf("%s: owner %q via %q, want %q via %q (managers %q)", c.Path, c.Owner, c.Via, tc.owner, tc.via, c.Managers)
			}
			if tc.manager != "" && !has(c.Managers, tc.manager) {
				t.Errorf("%s: managers %q, want %q among them", c.Path, c.Managers, tc.manager)
			}
			if tc.manager == "" && (has(c.Managers, "Terraform") || has(c.Managers, "terraform")) {
				t.Errorf("%s: managers %q, want no Terraform", c.Path, c.Managers)
			}
			if in.Actor.Owner != tc.actorOwns {
				t.Errorf("actor owner %q, want %q", in.Actor.Owner, tc.actorOwns)
			}
			// The object is Terraform's as a whole either way.
			if in.ObjectOwner != "terraform" || in.ObjectVia != "managedFields" {
				t.Errorf("object owner %q via %q", in.ObjectOwner, in.ObjectVia)
			}
			// Only real changes: no bookkeeping from the API server.
			for _, ch := range in.Changes {
				if strings.HasPrefix(ch.Path, "metadata.managedFields") || ch.Path == "metadata.resourceVersion" || ch.Path == "metadata.generation" {
					t.Errorf("bookkeeping change %s", ch.Path)
				}
			}
		})
	}
}

// The real set-image and edit steps change exactly the field they name.
func TestFixtureDiffIsMinimal(t *testing.T) {
	for _, tc := range []struct{ old, new, want string }{
		{"deployment-terraform.json", "deployment-terraform-then-kubectl-set.json", "replace spec.template.spec.containers[api].image"},
		{"deployment-terraform-before-kubectl-edit.json", "deployment-terraform-then-kubectl-edit.json", "replace spec.template.spec.containers[api].env[LOG_LEVEL].value"},
	} {
		t.Run(tc.new, func(t *testing.T) {
			// resourceVersion, generation and managedFields differ too,
			// but are bookkeeping.
			got := changeStrings(Diff(obj(t, fixture(t, tc.old)), obj(t, fixture(t, tc.new))))
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("changes %q, want exactly [%q]", got, tc.want)
			}
		})
	}
}

func has(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestFixtureSecretESO(t *testing.T) {
	raw := fixture(t, "secret-eso.json")
	addFlag := edit(t, raw, func(m map[string]any) {
		path(m, "data")["FEATURE_FLAG_ENABLE_AGENTS"] = "VHJ1ZQ=="
	})
	changeFlag := edit(t, raw, func(m map[string]any) {
		path(m, "data")["FEATURE_FLAG_X"] = "ZmFsc2U="
	})
	tests := []struct {
		name       string
		user       string
		new        string
		path       string
		owner, via string
		actorOwner string
	}{
		{"S1: alice adds a flag", alice, addFlag, "data.FEATURE_FLAG_ENABLE_AGENTS", "external-secrets", "ownerReference", ""},
		{"alice changes an ESO-written key", alice, changeFlag, "data.FEATURE_FLAG_X", "external-secrets", "managedFields", ""},
		{"S2: ESO updates it", eso, changeFlag, "data.FEATURE_FLAG_X", "external-secrets", "managedFields", "external-secrets"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := build(t, defaultBuilder(nil), request{gvk: secretGVK, ns: "tenant-a", name: "api-feature-flags", user: tc.user, old: raw, obj: tc.new})
			if len(in.Notes) != 0 {
				t.Errorf("notes %q", in.Notes)
			}
			c := findChange(t, in, tc.path)
			if c.Owner != tc.owner || c.Via != tc.via {
				t.Errorf("owner %q via %q, want %q via %q", c.Owner, c.Via, tc.owner, tc.via)
			}
			if in.Actor.Owner != tc.actorOwner {
				t.Errorf("actor owner %q, want %q", in.Actor.Owner, tc.actorOwner)
			}
			if in.ObjectOwner != "external-secrets" || in.ObjectVia != "ownerReference" {
				t.Errorf("object owner %q via %q", in.ObjectOwner, in.ObjectVia)
			}
			owner := in.Doc["owner"].(map[string]any)
			ref := owner["reference"].(map[string]any)
			if owner["declared"] != "external-secrets" || ref["kind"] != "ExternalSecret" || ref["name"] != "api-feature-flags" {
				t.Errorf("doc owner %v", owner)
			}
		})
	}
}

func TestFixtureReplicaSet(t *testing.T) {
	raw := fixture(t, "replicaset-owned.json")
	nw := edit(t, raw, setImage(t, "ghcr.io/acme/api:hotfix"))
	deploy := obj(t, fixture(t, "deployment-terraform-then-kubectl-edit.json"))
	path(deploy, "spec")["paused"] = true

	for _, tc := range []struct {
		name       string
		lookup     ParentLookup
		reconciles bool
	}{
		{"S9: the Deployment will replace it", nil, true},
		{"paused Deployment will not", &parents{obj: deploy}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := defaultBuilder(tc.lookup).Build(context.Background(), request{
				gvk: replicaSetGVK, ns: "tenant-a", name: "api-7c9d8b5f6d", user: alice, old: raw, obj: nw,
			}.build())
			if err != nil {
				t.Fatal(err)
			}
			c := findChange(t, in, "spec.template.spec.containers[api].image")
			if c.Owner != "" || c.Via != "" {
				t.Errorf("image change owner %q managers %q", c.Owner, c.Managers)
			}
			owner := in.Doc["owner"].(map[string]any)
			rec := owner["reconciler"].(map[string]any)
			if rec["name"] != "the Deployment controller" || rec["reconciles"] != tc.reconciles {
				t.Errorf("reconciler %v, want reconciles=%v", rec, tc.reconciles)
			}
			if src, _ := rec["source"].(string); src != "the pod template of Deployment tenant-a/api" {
				t.Errorf("reconciler source %q", src)
			}
		})
	}
}

// Audit (docs/scenarios.md S12) and DELETE read ownership from the live object.
func TestFixtureObjectOwnerOfLiveObjects(t *testing.T) {
	for _, tc := range []struct {
		file       string
		gvk        metav1.GroupVersionKind
		owner, via string
	}{
		{"deployment-terraform.json", deploymentGVK, "terraform", "managedFields"},
		{"deployment-terraform-then-kubectl-set.json", deploymentGVK, "terraform", "managedFields"},
		{"deployment-terraform-then-kubectl-edit.json", deploymentGVK, "terraform", "managedFields"},
		{"secret-eso.json", secretGVK, "external-secrets", "ownerReference"},
		{"replicaset-owned.json", replicaSetGVK, "", ""},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in := build(t, defaultBuilder(nil), request{op: admissionv1.Delete, gvk: tc.gvk, ns: "tenant-a", name: "x", user: alice, old: fixture(t, tc.file)})
			if in.ObjectOwner != tc.owner || in.ObjectVia != tc.via {
				t.Errorf("object owner %q via %q, want %q via %q", in.ObjectOwner, in.ObjectVia, tc.owner, tc.via)
			}
			if len(in.Notes) != 0 {
				t.Errorf("notes %q", in.Notes)
			}
		})
	}
}
