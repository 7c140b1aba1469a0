package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/answer"
	"github.com/driftguard/driftguard/internal/loader"
)

// Two shortcuts must not change any answer. The bundled policies declare
// the changed fields they react to on UPDATE (METADATA custom.changes),
// and the engine does not evaluate a policy none of whose fields an
// UPDATE touches: that is only right if the declarations cover
// everything the policy's Rego reads from the changes. And the input
// carries workload facts found in Go (input.workload: containers, image
// parts, the main container) that the library would otherwise compute in
// Rego. TestSkippingChangesNoAnswer evaluates every request of the
// bundled fixture suites and test/fixtures/reviews, and many randomly
// changed copies of them, as served, with skipping off
// (Set.EvaluateAll) and without the facts (Builder.NoWorkloadFacts), and
// requires the same answer (allowed, message, warnings, patches and
// every policy's findings) from the validating and mutating webhooks.

type diffCase struct {
	name  string
	state *admit.State
	req   *admissionv1.AdmissionRequest
	now   func() time.Time
}

func differentialCases(t *testing.T) []diffCase {
	t.Helper()
	ctx := context.Background()
	root := repoRoot()
	r, suites := bundledSuites(t)
	var out []diffCase
	for _, s := range suites {
		for _, c := range s.Cases {
			if c.Request != nil && c.Skip == "" {
				out = append(out, diffCase{name: c.FullName(s), state: c.state, req: c.Request, now: c.now})
			}
		}
	}
	st, err := loader.Load(ctx, r.PolicyOptions(nil))
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := filepath.Glob(filepath.Join(root, "test", "fixtures", "reviews", "*"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range reviews {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rv admissionv1.AdmissionReview
		if err := yaml.Unmarshal(b, &rv); err != nil || rv.Request == nil {
			continue // not a review (a config)
		}
		out = append(out, diffCase{name: filepath.Base(f), state: st, req: rv.Request,
			now: func() time.Time { return time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC) }})
	}
	if len(out) < 60 {
		t.Fatalf("only %d requests in the fixture suites and reviews", len(out))
	}
	return out
}

// evalBoth answers req as served (skipping on, input.workload present)
// and as the references: every matching policy evaluated
// (Set.EvaluateAll), and input.workload left out so that the library
// finds the containers and image parts in Rego (Builder.NoWorkloadFacts),
// as the validating and the mutating webhook; it returns a description
// of any difference.
func evalBoth(ctx context.Context, c diffCase, req *admissionv1.AdmissionRequest) (string, bool) {
	run := func(all, noFacts bool) string {
		c.state.Policies.EvaluateAll = all
		c.state.Builder.NoWorkloadFacts = noFacts
		defer func() { c.state.Policies.EvaluateAll, c.state.Builder.NoWorkloadFacts = false, false }()
		var parts []string
		for _, mutate := range []bool{false, true} {
			a, _, err := answer.Evaluate(ctx, c.state, req, answer.Options{Mutate: mutate, Now: c.now})
			b, _ := json.Marshal(a)
			parts = append(parts, fmt.Sprintf("mutate=%v err=%v %s", mutate, err, b))
		}
		return strings.Join(parts, "\n")
	}
	served := run(false, false)
	if all := run(true, false); served != all {
		return fmt.Sprintf("with skipping:\n%s\nevaluating all:\n%s", served, all), false
	}
	if inRego := run(false, true); served != inRego {
		return fmt.Sprintf("with input.workload:\n%s\nwithout (found in Rego):\n%s", served, inRego), false
	}
	return "", true
}

func TestSkippingChangesNoAnswer(t *testing.T) {
	ctx := context.Background()
	cases := differentialCases(t)
	variants := 12
	if testing.Short() {
		variants = 4
	}
	updates, skipped := 0, 0
	for i, c := range cases {
		start := time.Now()
		if diff, ok := evalBoth(ctx, c, c.req); !ok {
			t.Errorf("%s: the answer depends on skipping:\n%s", c.name, diff)
			continue
		}
		rng := rand.New(rand.NewPCG(uint64(i), 18))
		for v := range variants {
			req, what, ok := mutated(rng, c.req)
			if !ok {
				break
			}
			updates++
			skipped += countSkipped(ctx, c, req)
			if diff, ok := evalBoth(ctx, c, req); !ok {
				t.Errorf("%s, variant %d (%s): the answer depends on skipping:\n%s", c.name, v, what, diff)
			}
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Logf("%s: %v", c.name, d)
		}
	}
	// the declarations must skip something, or this test proves nothing
	t.Logf("%d requests, %d changed UPDATEs, %d policy evaluations skipped", len(cases), updates, skipped)
	if updates < 60*variants || skipped < updates {
		t.Errorf("%d changed UPDATEs with %d skipped evaluations: too few to tell", updates, skipped)
	}
}

// countSkipped is how many policies skipping leaves out of the validating
// answer to req.
func countSkipped(ctx context.Context, c diffCase, req *admissionv1.AdmissionRequest) int {
	_, d, err := answer.Evaluate(ctx, c.state, req, answer.Options{Now: c.now})
	if err != nil || d == nil {
		return 0
	}
	n := 0
	for _, v := range d.Verdicts {
		if v.Result.Skipped {
			n++
		}
	}
	return n
}

// mutated is an UPDATE made from req: its object with one to three
// random changes (the old object is req's, or its object for a CREATE).
// ok is false for requests without an object.
func mutated(rng *rand.Rand, req *admissionv1.AdmissionRequest) (*admissionv1.AdmissionRequest, string, bool) {
	if len(req.Object.Raw) == 0 {
		return nil, "", false
	}
	var obj map[string]any
	if err := json.Unmarshal(req.Object.Raw, &obj); err != nil {
		return nil, "", false
	}
	old := req.OldObject.Raw
	if req.Operation != admissionv1.Update || len(old) == 0 {
		old = req.Object.Raw
	}
	var whats []string
	for range 1 + rng.IntN(3) {
		whats = append(whats, mutate(rng, obj))
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, "", false
	}
	out := req.DeepCopy()
	out.Operation = admissionv1.Update
	out.Object = runtime.RawExtension{Raw: raw}
	out.OldObject = runtime.RawExtension{Raw: old}
	return out, strings.Join(whats, "; "), true
}

// node is a place in an object: a map key or a list index of parent.
type node struct {
	path   string
	parent any // map[string]any or []any
	key    string
	index  int
	value  any
}

// fixed are the fields a mutation leaves alone: what makes the request
// the same object (a different name or kind is another request), and
// managedFields (whose changes are input errors, tested elsewhere).
var fixed = map[string]bool{"apiVersion": true, "kind": true, "metadata.name": true, "metadata.namespace": true, "metadata.uid": true, "metadata.managedFields": true}

func nodes(v any, path string, out *[]node) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if fixed[p] {
				continue
			}
			*out = append(*out, node{path: p, parent: x, key: k, value: x[k]})
			nodes(x[k], p, out)
		}
	case []any:
		for i, it := range x {
			p := fmt.Sprintf("%s[%d]", path, i)
			*out = append(*out, node{path: p, parent: x, index: i, value: it})
			nodes(it, p, out)
		}
	}
}

// Names and values the mutations add: the fields the bundled policies
// read, so that random changes reach their rules.
var (
	addNames = []string{"securityContext", "privileged", "runAsNonRoot", "readOnlyRootFilesystem", "allowPrivilegeEscalation",
		"capabilities", "image", "env", "FEATURE_FLAG_BETA", "labels", "annotations", "data", "stringData", "status", "replicas",
		"kopf.zalando.org/last-handled", "app.kubernetes.io/part-of", "version", "password", "rules", "subjects", "x",
		"kubectl.kubernetes.io/default-container", "initContainers"}
	addValues = []any{true, false, "v2", "busybox:latest", "nginx:1.27", "", 3.0, "sidecar", "localhost:5000/app",
		[]any{map[string]any{"name": "init", "image": "registry:5000/init:1.0@sha256:abc"}}, map[string]any{"privileged": true},
		map[string]any{"runAsNonRoot": false}, map[string]any{"add": []any{"NET_ADMIN"}}, []any{map[string]any{"name": "FEATURE_FLAG_X", "value": "on"}},
		map[string]any{"k": "v"}}
)

// fresh is a copy of a random one of addValues (a shared map added in
// two places would make the object a cycle after the next mutation).
func fresh(rng *rand.Rand) any {
	var v any
	b, _ := json.Marshal(addValues[rng.IntN(len(addValues))])
	_ = json.Unmarshal(b, &v)
	return v
}

// mutate makes one random change to obj and says what it was.
func mutate(rng *rand.Rand, obj map[string]any) string {
	var ns []node
	nodes(obj, "", &ns)
	if len(ns) == 0 {
		obj["data"] = map[string]any{"k": "v"}
		return "add data"
	}
	n := ns[rng.IntN(len(ns))]
	set := func(v any) {
		switch p := n.parent.(type) {
		case map[string]any:
			p[n.key] = v
		case []any:
			p[n.index] = v
		}
	}
	switch rng.IntN(6) {
	case 0: // change a value
		switch x := n.value.(type) {
		case string:
			if n.key == "image" || strings.HasSuffix(n.path, ".image") {
				set([]string{"busybox:latest", "nginx:1.27", x + "-rc1", "localhost:5000/app", "ghcr.io/acme/api@sha256:abc"}[rng.IntN(5)])
			} else {
				set(x + "-x")
			}
		case bool:
			set(!x)
		case float64:
			set(x + 1)
		default:
			set(fresh(rng))
		}
		return "change " + n.path
	case 1: // remove it
		switch p := n.parent.(type) {
		case map[string]any:
			delete(p, n.key)
			return "remove " + n.path
		}
		set(nil)
		return "null " + n.path
	case 2, 3: // add a field beneath it (or beside it)
		m, ok := n.value.(map[string]any)
		if !ok {
			if pm, isMap := n.parent.(map[string]any); isMap {
				m = pm
			} else {
				m = obj
			}
		}
		k := addNames[rng.IntN(len(addNames))]
		m[k] = fresh(rng)
		return "add " + k + " under " + n.path
	case 4: // copy a list item under a new name, or drop one
		l, ok := n.value.([]any)
		if !ok || len(l) == 0 {
			set(fresh(rng))
			return "replace " + n.path
		}
		if rng.IntN(2) == 0 && len(l) > 1 {
			i := rng.IntN(len(l))
			set(append(append([]any{}, l[:i]...), l[i+1:]...))
			return fmt.Sprintf("drop %s[%d]", n.path, i)
		}
		var cp any
		b, _ := json.Marshal(l[rng.IntN(len(l))])
		_ = json.Unmarshal(b, &cp)
		if m, ok := cp.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				m["name"] = name + "-copy"
			}
		}
		set(append(append([]any{}, l...), cp))
		return "copy an item of " + n.path
	default: // empty a subtree
		switch n.value.(type) {
		case map[string]any:
			set(map[string]any{})
		case []any:
			set([]any{})
		default:
			set(fresh(rng))
		}
		return "empty " + n.path
	}
}
