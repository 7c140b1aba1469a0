package revert

import (
	"context"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// deployment is a Deployment at resourceVersion rv whose managedFields
// entries were last written at the given times.
func deployment(rv int, image string, writes map[string]time.Time) map[string]any {
	var mf []any
	for m, at := range writes {
		mf = append(mf, map[string]any{"manager": m, "operation": "Update", "time": at.Format(time.RFC3339), "fieldsType": "FieldsV1"})
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "ui", "namespace": "kubeflow", "uid": "u1", "resourceVersion": fmt.Sprint(rv), "managedFields": mf},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "ui", "image": image}},
		}}},
	}
}

const imageField = "spec.template.spec.containers[ui].image"

type outcomes map[Outcome]int

func newDetector(o outcomes, predict Predictor, opt Options) *Detector {
	if opt.HandEditManagers == nil {
		opt.HandEditManagers = []string{"kubectl-edit", "kubectl-set"}
	}
	return New(opt, predict, func(out Outcome, _ Ref, _ string) { o[out]++ })
}

// history: metacontroller wrote 2.0.5, alice set 2.5.0 by hand at +10s,
// metacontroller set 2.0.5 back at +24s.
func history() (created, edited, reverted map[string]any) {
	created = deployment(1, "ghcr.io/kubeflow/kfp-frontend:2.0.5", map[string]time.Time{"metacontroller": t0})
	edited = deployment(2, "ghcr.io/kubeflow/kfp-frontend:2.5.0", map[string]time.Time{"metacontroller": t0, "kubectl-set": t0.Add(10 * time.Second)})
	reverted = deployment(3, "ghcr.io/kubeflow/kfp-frontend:2.0.5", map[string]time.Time{"metacontroller": t0.Add(24 * time.Second), "kubectl-set": t0.Add(10 * time.Second)})
	return
}

func TestRevertObserved(t *testing.T) {
	o := outcomes{}
	d := newDetector(o, nil, Options{})
	created, edited, reverted := history()
	ctx := context.Background()
	if rs := d.Observe(ctx, created, edited, t0.Add(10*time.Second)); len(rs) != 0 {
		t.Fatalf("the hand edit itself reported as a revert: %+v", rs)
	}
	if d.Tracked() != 1 {
		t.Fatalf("tracked %d edits after one hand edit, want 1", d.Tracked())
	}
	rs := d.Observe(ctx, edited, reverted, t0.Add(24*time.Second))
	if len(rs) != 1 {
		t.Fatalf("reverts %+v, want one", rs)
	}
	r := rs[0]
	if r.Field != imageField || r.EditedBy != "kubectl-set" || r.RevertedBy != "metacontroller" || r.After != 14*time.Second {
		t.Fatalf("revert %+v", r)
	}
	if !r.OlderImage || r.From != "ghcr.io/kubeflow/kfp-frontend:2.5.0" || r.To != "ghcr.io/kubeflow/kfp-frontend:2.0.5" {
		t.Fatalf("revert to an older tag not flagged: %+v", r)
	}
	if o[Missed] != 1 || o[CameTrue] != 0 {
		t.Fatalf("outcomes %v: an unpredicted revert is missed", o)
	}
	if d.Tracked() != 0 {
		t.Fatalf("a resolved edit is still tracked (%d)", d.Tracked())
	}
}

func TestPredictionCameTrueOrNot(t *testing.T) {
	predict := func(context.Context, map[string]any, map[string]any, string) map[string]string {
		return map[string]string{imageField: "metacontroller"}
	}
	created, edited, reverted := history()
	ctx := context.Background()

	o := outcomes{}
	d := newDetector(o, predict, Options{Window: time.Minute})
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	rs := d.Observe(ctx, edited, reverted, t0.Add(24*time.Second))
	if len(rs) != 1 || rs[0].Predicted != "metacontroller" || o[CameTrue] != 1 || o[Missed] != 0 {
		t.Fatalf("reverts %+v outcomes %v", rs, o)
	}

	// the same edit, reverted after the window: not a revert, the
	// prediction did not come true
	o = outcomes{}
	d = newDetector(o, predict, Options{Window: time.Minute})
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	if rs := d.Observe(ctx, edited, reverted, t0.Add(2*time.Minute)); len(rs) != 0 {
		t.Fatalf("a set-back after the window counted as a revert: %+v", rs)
	}
	if o[NotCameTrue] != 1 || o[CameTrue] != 0 {
		t.Fatalf("outcomes %v", o)
	}

	// nobody writes again: Sweep resolves it
	o = outcomes{}
	d = newDetector(o, predict, Options{Window: time.Minute})
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	d.Sweep(t0.Add(30 * time.Second))
	if o[NotCameTrue] != 0 {
		t.Fatal("swept before the window ended")
	}
	d.Sweep(t0.Add(2 * time.Minute))
	if o[NotCameTrue] != 1 || d.Tracked() != 0 {
		t.Fatalf("outcomes %v tracked %d", o, d.Tracked())
	}
}

func TestOverwriteIsNotARevert(t *testing.T) {
	o := outcomes{}
	d := newDetector(o, nil, Options{})
	created, edited, _ := history()
	ctx := context.Background()
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	other := deployment(3, "ghcr.io/kubeflow/kfp-frontend:2.6.0", map[string]time.Time{"metacontroller": t0.Add(20 * time.Second), "kubectl-set": t0.Add(10 * time.Second)})
	if rs := d.Observe(ctx, edited, other, t0.Add(20*time.Second)); len(rs) != 0 {
		t.Fatalf("a write of a third value reported as a revert: %+v", rs)
	}
	if o[Missed] != 0 || d.Tracked() != 0 {
		t.Fatalf("outcomes %v tracked %d", o, d.Tracked())
	}
}

func TestRepeatedEditKeepsTheFirstValue(t *testing.T) {
	d := newDetector(outcomes{}, nil, Options{})
	created, edited, reverted := history()
	ctx := context.Background()
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	again := deployment(3, "ghcr.io/kubeflow/kfp-frontend:2.6.0", map[string]time.Time{"metacontroller": t0, "kubectl-set": t0.Add(15 * time.Second)})
	d.Observe(ctx, edited, again, t0.Add(15*time.Second))
	reverted["metadata"].(map[string]any)["resourceVersion"] = "4"
	rs := d.Observe(ctx, again, reverted, t0.Add(24*time.Second))
	if len(rs) != 1 || rs[0].From != "ghcr.io/kubeflow/kfp-frontend:2.6.0" || rs[0].To != "ghcr.io/kubeflow/kfp-frontend:2.0.5" {
		t.Fatalf("reverts %+v", rs)
	}
}

func TestControllerWritesOfUneditedObjectsAreNotCompared(t *testing.T) {
	d := newDetector(outcomes{}, nil, Options{})
	created := deployment(1, "a:1", map[string]time.Time{"metacontroller": t0})
	// a huge rewrite by a controller: with no hand edit tracked it is
	// never diffed, so MaxChanges never matters and nothing is kept
	next := deployment(2, "a:2", map[string]time.Time{"metacontroller": t0.Add(time.Second)})
	if rs := d.Observe(context.Background(), created, next, t0.Add(time.Second)); rs != nil || d.Tracked() != 0 {
		t.Fatalf("reverts %v tracked %d", rs, d.Tracked())
	}
	// a resync (same resourceVersion) is skipped
	if rs := d.Observe(context.Background(), next, next, t0.Add(time.Second)); rs != nil {
		t.Fatal(rs)
	}
}

func TestDriftRecordNamesTheEditor(t *testing.T) {
	d := newDetector(outcomes{}, nil, Options{})
	created, edited, reverted := history()
	edited["metadata"].(map[string]any)["annotations"] = map[string]any{
		"driftguard.io/drift": `{"edits":[{"by":"alice","fields":["` + imageField + `"]}]}`,
	}
	ctx := context.Background()
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	rs := d.Observe(ctx, edited, reverted, t0.Add(24*time.Second))
	if len(rs) != 1 || rs[0].EditedBy != "alice" {
		t.Fatalf("reverts %+v", rs)
	}
}

// The table holds at most MaxTracked edits whatever the write rate; the
// evicted ones resolve their predictions as not come true.
func TestTrackedEditsAreBounded(t *testing.T) {
	o := outcomes{}
	predict := func(context.Context, map[string]any, map[string]any, string) map[string]string {
		return map[string]string{imageField: "x"}
	}
	d := newDetector(o, predict, Options{MaxTracked: 100, Window: time.Hour})
	ctx := context.Background()
	for i := 0; i < 1000; i++ {
		a := deployment(1, "a:1", map[string]time.Time{"op": t0})
		b := deployment(2, "a:2", map[string]time.Time{"op": t0, "kubectl-edit": t0.Add(time.Second)})
		for _, o := range []map[string]any{a, b} {
			o["metadata"].(map[string]any)["uid"] = fmt.Sprint("u", i)
		}
		d.Observe(ctx, a, b, t0.Add(time.Duration(i)*time.Millisecond))
		if d.Tracked() > 100 {
			t.Fatalf("%d edits tracked, bound 100", d.Tracked())
		}
	}
	if d.Tracked() != 100 || o[NotCameTrue] != 900 {
		t.Fatalf("tracked %d, not come true %d; want 100 and 900", d.Tracked(), o[NotCameTrue])
	}
	if len(d.perUID) != 100 {
		t.Fatalf("per-object index holds %d objects, want 100", len(d.perUID))
	}
}

func TestWriter(t *testing.T) {
	old := deployment(1, "a:1", map[string]time.Time{"op": t0, "kubectl-edit": t0})
	new := deployment(2, "a:2", map[string]time.Time{"op": t0, "kubectl-edit": t0.Add(time.Second)})
	if w := Writer(old, new); w != "kubectl-edit" {
		t.Fatalf("writer %q", w)
	}
	added := deployment(2, "a:2", map[string]time.Time{"op": t0, "kubectl-edit": t0, "helm": t0.Add(time.Second)})
	if w := Writer(old, added); w != "helm" {
		t.Fatalf("writer %q", w)
	}
	if w := Writer(old, old); w != "" {
		t.Fatalf("writer of an unchanged object %q", w)
	}
}

func TestOlderTag(t *testing.T) {
	cases := []struct {
		to, from string
		want     bool
	}{
		{"r/a:2.0.5", "r/a:2.5.0", true},
		{"r/a:2.10.0", "r/a:2.9.0", false},
		{"r/a:v1.2", "r/a:v1.10", true},
		{"r/a:1.0.0-rc1", "r/a:1.0.1", true},
		{"r/a:1.0", "r/b:2.0", false},
		{"r/a:latest", "r/a:1.0", false},
		{"r/a@sha256:00", "r/a:1.0", false},
		{"localhost:5000/a", "localhost:5000/a:1.0", false},
		{"r/a:1.0", "r/a:1.0", false},
	}
	for _, c := range cases {
		if got := OlderTag(c.to, c.from); got != c.want {
			t.Errorf("OlderTag(%q, %q) = %v, want %v", c.to, c.from, got, c.want)
		}
	}
}

// Within one second of its last write a manager's managedFields time does
// not move: the writer is then the one whose fields grew, not the one
// that lost the field to it.
func TestRevertWithinTheSameSecond(t *testing.T) {
	img := map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{
		`k:{"name":"ui"}`: map[string]any{"f:image": map[string]any{}}}}}}}
	name := map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{
		`k:{"name":"ui"}`: map[string]any{"f:name": map[string]any{}}}}}}}
	both := map[string]any{"f:spec": map[string]any{"f:template": map[string]any{"f:spec": map[string]any{"f:containers": map[string]any{
		`k:{"name":"ui"}`: map[string]any{"f:name": map[string]any{}, "f:image": map[string]any{}}}}}}}
	at := t0.Format(time.RFC3339)
	withMF := func(rv int, image string, mf ...any) map[string]any {
		o := deployment(rv, image, nil)
		o["metadata"].(map[string]any)["managedFields"] = mf
		return o
	}
	entry := func(m, op string, f map[string]any) any {
		return map[string]any{"manager": m, "operation": op, "time": at, "fieldsType": "FieldsV1", "fieldsV1": f}
	}
	created := withMF(1, "r/ui:1.0.0", entry("metacontroller", "Apply", both))
	edited := withMF(2, "r/ui:1.1.0", entry("metacontroller", "Apply", name), entry("kubectl-set", "Update", img))
	reverted := withMF(3, "r/ui:1.0.0", entry("metacontroller", "Apply", both))
	if w := Writer(created, edited); w != "kubectl-set" {
		t.Fatalf("writer of the edit %q", w)
	}
	if w := Writer(edited, reverted); w != "metacontroller" {
		t.Fatalf("writer of the revert %q", w)
	}
	// kubectl-set keeps an entry that lost the image (it still owns
	// something else): it is not the writer
	keeps := withMF(3, "r/ui:1.0.0", entry("metacontroller", "Apply", both), entry("kubectl-set", "Update", map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{}}}))
	editedKeeps := withMF(2, "r/ui:1.1.0", entry("metacontroller", "Apply", name), entry("kubectl-set", "Update", map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{}}, "f:spec": img["f:spec"]}))
	if w := Writer(editedKeeps, keeps); w != "metacontroller" {
		t.Fatalf("writer of the revert, the editor keeping other fields: %q", w)
	}
	d := newDetector(outcomes{}, nil, Options{})
	ctx := context.Background()
	d.Observe(ctx, created, edited, t0)
	rs := d.Observe(ctx, edited, reverted, t0.Add(200*time.Millisecond))
	if len(rs) != 1 || rs[0].RevertedBy != "metacontroller" {
		t.Fatalf("reverts %+v", rs)
	}
}

// A declared owner writing its field back (a re-apply) is the fix of the
// hand edit, not a revert.
func TestOwnerRestorationIsNotARevert(t *testing.T) {
	o := outcomes{}
	d := newDetector(o, nil, Options{IsOwner: func(m string) bool { return m == "metacontroller" }})
	created, edited, reverted := history()
	ctx := context.Background()
	d.Observe(ctx, created, edited, t0.Add(10*time.Second))
	if rs := d.Observe(ctx, edited, reverted, t0.Add(24*time.Second)); len(rs) != 0 {
		t.Fatalf("an owner's restoration reported as a revert: %+v", rs)
	}
	if len(o) != 0 || d.Tracked() != 0 {
		t.Fatalf("outcomes %v tracked %d", o, d.Tracked())
	}
}
