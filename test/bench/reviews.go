package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

// reviewType is one kind of request of the mix: AdmissionReview bodies
// (variants differ in request uid and resourceVersion, so that no cache
// keyed by them turns the run into one request repeated) and what
// driftguard's validating webhook answers with the default config, and
// Gatekeeper with the bench's two constraints (gatekeeper.go).
type reviewType struct {
	Name       string
	Weight     int  // share of the mix, per mille
	Allowed    bool // driftguard's expected answer (the floor allows all)
	Gatekeeper bool // Gatekeeper's expected answer
	bodies     [][]byte
	uids       []string // request.uid of each body
}

// want is the answer target must give: the floor allows everything.
func (t *reviewType) want(target string) bool {
	switch target {
	case "floor":
		return true
	case "gatekeeper":
		return t.Gatekeeper
	}
	return t.Allowed
}

// mix is the request mix, modelled on what a tenant cluster's API server
// sends: mostly allowed writes of workloads and their pods, some hand
// edits that are denied, Secret writes, deletes, dry-runs and rare large
// objects.
type mix struct {
	types []*reviewType
	pick  []int // 1000 slots of indexes into types
	// Terraform's replicas change of a Deployment without the app label
	// (Gatekeeper's readiness probe; not part of the mix)
	unlabelled []byte
}

func loadJSON(root, rel string) (map[string]any, error) {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

// deepCopy through JSON (test data only).
func deepCopy(v map[string]any) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

func obj(m map[string]any, path ...string) map[string]any {
	for _, p := range path {
		m = m[p].(map[string]any)
	}
	return m
}

func gvr(group, version, kind, resource string) (map[string]any, map[string]any) {
	return map[string]any{"group": group, "version": version, "kind": kind},
		map[string]any{"group": group, "version": version, "resource": resource}
}

func request(op, ns, name string, k, r map[string]any, user map[string]any, object, old map[string]any, dryRun bool, options map[string]any) map[string]any {
	req := map[string]any{
		"uid": "x", "kind": k, "resource": r, "requestKind": k, "requestResource": r,
		"name": name, "namespace": ns, "operation": op, "userInfo": user, "dryRun": dryRun,
	}
	if object != nil {
		req["object"] = object
	}
	if old != nil {
		req["oldObject"] = old
	}
	if options != nil {
		req["options"] = options
	}
	return req
}

var (
	alice     = map[string]any{"username": "alice", "uid": "u-1", "groups": []any{"devs", "system:authenticated"}}
	terraform = map[string]any{"username": "system:serviceaccount:infra:terraform", "uid": "u-2",
		"groups": []any{"system:serviceaccounts", "system:serviceaccounts:infra", "system:authenticated"}}
	rsController = map[string]any{"username": "system:serviceaccount:kube-system:replicaset-controller", "uid": "u-3",
		"groups": []any{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
)

func pod(name, image string) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": name, "namespace": "tenant-a", "uid": "p-uid", "resourceVersion": "1",
			"labels":          map[string]any{"app": "api", "pod-template-hash": "5d8f7c"},
			"ownerReferences": []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d8f7c", "uid": "rs-uid", "controller": true, "blockOwnerDeletion": true}}},
		"spec": map[string]any{
			"securityContext": map[string]any{"runAsNonRoot": true},
			"containers": []any{map[string]any{
				"name": "api", "image": image,
				"ports":     []any{map[string]any{"containerPort": 8080, "protocol": "TCP"}},
				"env":       []any{map[string]any{"name": "LOG_FORMAT", "value": "json"}, map[string]any{"name": "PORT", "value": "8080"}},
				"resources": map[string]any{"requests": map[string]any{"cpu": "100m", "memory": "128Mi"}},
				"securityContext": map[string]any{"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
					"capabilities": map[string]any{"drop": []any{"ALL"}}},
			}},
		},
	}
}

// buildMix reads the fixtures under root (the repository) and makes
// variants of each review.
func buildMix(root string, variants int, seed uint64) (*mix, error) {
	rv8k, err := loadJSON(root, "test/fixtures/reviews/deployment-update-8k.json")
	if err != nil {
		return nil, err
	}
	secret, err := loadJSON(root, "test/fixtures/managedfields/secret-eso.json")
	if err != nil {
		return nil, err
	}
	depK, depR := gvr("apps", "v1", "Deployment", "deployments")
	podK, podR := gvr("", "v1", "Pod", "pods")
	secK, secR := gvr("", "v1", "Secret", "secrets")
	cmK, cmR := gvr("", "v1", "ConfigMap", "configmaps")

	denyReq := obj(rv8k, "request")
	// Terraform's own apply of the 8 KB Deployment: replicas 3 → 4
	tfOld := deepCopy(obj(denyReq, "oldObject"))
	tfNew := deepCopy(tfOld)
	obj(tfNew, "spec")["replicas"] = 4.0
	tfReq := request("UPDATE", "tenant-a", "api", depK, depR, terraform, tfNew, tfOld, false,
		map[string]any{"kind": "PatchOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "Terraform"})
	dry := deepCopy(denyReq)
	dry["dryRun"] = true

	// alice labels the ExternalSecret-owned Secret (allowed: labels are not synced)
	secNew := deepCopy(secret)
	obj(secNew, "metadata", "labels")["team"] = "payments"
	secReq := request("UPDATE", "tenant-a", "api-feature-flags", secK, secR, alice, secNew, secret, false,
		map[string]any{"kind": "PatchOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-label"})

	podReq := request("CREATE", "tenant-a", "api-5d8f7c-x2x9z", podK, podR, rsController, pod("api-5d8f7c-x2x9z", "ghcr.io/acme/api:1.0.0"), nil, false,
		map[string]any{"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"})
	latestReq := request("CREATE", "tenant-a", "debug", podK, podR, alice, pod("debug", "busybox:latest"), nil, false,
		map[string]any{"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-run"})

	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "settings", "namespace": "tenant-a", "uid": "cm-uid", "resourceVersion": "9"},
		"data":     map[string]any{"LOG_LEVEL": "info"}}
	delReq := request("DELETE", "tenant-a", "settings", cmK, cmR, alice, nil, cm, false,
		map[string]any{"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/v1"})

	// a 500 KB ConfigMap (a bundled dashboard, say) updated by alice
	bigData := map[string]any{}
	for i := range 50 {
		bigData[fmt.Sprintf("dashboard-%02d.json", i)] = strings.Repeat(fmt.Sprintf(`{"panel":%d,"expr":"rate(http_requests_total[5m])"},`, i), 10_000/48)
	}
	bigOld := map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "dashboards", "namespace": "tenant-a", "uid": "big-uid", "resourceVersion": "5"},
		"data":     bigData}
	bigNew := deepCopy(bigOld)
	obj(bigNew, "data")["dashboard-00.json"] = `{"panel":0}`
	bigReq := request("UPDATE", "tenant-a", "dashboards", cmK, cmR, alice, bigNew, bigOld, false,
		map[string]any{"kind": "UpdateOptions", "apiVersion": "meta.k8s.io/v1", "fieldManager": "kubectl-edit"})

	m := &mix{}
	add := func(name string, weight int, allowed, gatekeeper bool, req map[string]any, n int) error {
		t := &reviewType{Name: name, Weight: weight, Allowed: allowed, Gatekeeper: gatekeeper}
		for i := range n {
			r := deepCopy(req)
			uid := fmt.Sprintf("%s-%06d", name, i)
			r["uid"] = uid
			for _, k := range []string{"object", "oldObject"} {
				if o, ok := r[k].(map[string]any); ok {
					meta := o["metadata"].(map[string]any)
					meta["resourceVersion"] = fmt.Sprintf("%d", 100000+i)
					if k == "object" && r["operation"] == "UPDATE" {
						meta["resourceVersion"] = fmt.Sprintf("%d", 200000+i)
					}
				}
			}
			b, err := json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": r})
			if err != nil {
				return err
			}
			t.bodies = append(t.bodies, b)
			t.uids = append(t.uids, uid)
		}
		m.types = append(m.types, t)
		return nil
	}
	large := max(1, variants/16)
	// allowed: driftguard's answer; gatekeeper: Gatekeeper's, which has
	// no constraint on the latest tag
	for _, a := range []struct {
		name       string
		weight     int
		allowed    bool
		gatekeeper bool
		req        map[string]any
		n          int
	}{
		{"pod-create", 240, true, true, podReq, variants},
		{"deployment-update-owner", 240, true, true, tfReq, variants},
		{"deployment-update-hand-edit-denied", 140, false, false, denyReq, variants},
		{"deployment-update-dry-run-denied", 100, false, false, dry, variants},
		{"pod-create-latest-denied", 50, false, true, latestReq, variants},
		{"secret-update", 128, true, true, secReq, variants},
		{"configmap-delete", 100, true, true, delReq, variants},
		// large objects are rare (a bundled dashboard, a CRD with a big
		// schema); at 2 in 1,000 they show in p99.9, not in p99
		{"configmap-update-500kb", 2, true, true, bigReq, large},
	} {
		if err := add(a.name, a.weight, a.allowed, a.gatekeeper, a.req, a.n); err != nil {
			return nil, err
		}
	}
	for i, t := range m.types {
		for range t.Weight {
			m.pick = append(m.pick, i)
		}
	}
	if len(m.pick) != 1000 {
		return nil, fmt.Errorf("mix weights add up to %d, want 1000", len(m.pick))
	}
	unlabelled := deepCopy(tfReq)
	unlabelled["uid"] = "deployment-update-owner-unlabelled"
	for _, k := range []string{"object", "oldObject"} {
		delete(obj(unlabelled, k, "metadata", "labels"), "app")
	}
	if m.unlabelled, err = json.Marshal(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": unlabelled}); err != nil {
		return nil, err
	}
	rand.New(rand.NewPCG(seed, seed)).Shuffle(len(m.pick), func(i, j int) { m.pick[i], m.pick[j] = m.pick[j], m.pick[i] })
	return m, nil
}

// only restricts the mix to one type (for per-type runs).
func (m *mix) only(name string) (*mix, error) {
	for _, t := range m.types {
		if t.Name == name {
			return &mix{types: []*reviewType{t}, pick: make([]int, 1000), unlabelled: m.unlabelled}, nil
		}
	}
	var names []string
	for _, t := range m.types {
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("no review type %q (have %s)", name, strings.Join(names, ", "))
}

func (m *mix) byName(name string) *reviewType {
	for _, t := range m.types {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// next returns the n-th request of the mix: its type, body and uid.
func (m *mix) next(n uint64) (*reviewType, []byte, string) {
	t := m.types[m.pick[n%uint64(len(m.pick))]]
	i := (n / uint64(len(m.pick))) % uint64(len(t.bodies))
	return t, t.bodies[i], t.uids[i]
}
