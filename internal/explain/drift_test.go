package explain

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/findings"
)

// fakeSince answers first-seen times as a report would.
type fakeSince struct {
	at    map[string]time.Time
	asked []string
}

func (f *fakeSince) Of(_ context.Context, ns string) (map[string]time.Time, error) {
	f.asked = append(f.asked, ns)
	return f.at, nil
}

// A Terraform Deployment hand edited with kubectl edit: explain shows the drift rules' findings, the report's since time
// and the drift record.
func TestExplainShowsDriftFindings(t *testing.T) {
	ctx := context.Background()
	dep := fixture(t, "deployment-terraform-then-kubectl-edit.json")
	md := obj2md(dep)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann["driftguard.io/drift"] = `{"edits":[{"by":"alice","at":"2026-11-30T08:00:00Z","owner":"terraform","fields":["spec.replicas"],"policy":"owned_fields","reason":"INC-7"}]}`
	f := newFake(dep)
	st := state(t, f)
	first := time.Date(2026, 11, 29, 7, 0, 0, 0, time.UTC)

	// find the finding's key the way the report would name it
	env := Env{Objects: Cached(f), State: st}
	r, err := Explain(ctx, env, targetFor(dep, "deployments"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Drift.Findings) == 0 {
		t.Fatalf("no drift findings: %+v", r.Drift)
	}
	hand := r.Drift.Findings[0]
	if hand.Policy != "owned_fields" || hand.Owner != "terraform" || hand.Field == "" || hand.Since != nil || hand.Name != "api" {
		t.Errorf("finding %+v", hand)
	}
	if r.Drift.Record == nil || len(r.Drift.Record.Edits) != 1 || r.Drift.Record.Edits[0].By != "alice" {
		t.Errorf("record %+v", r.Drift.Record)
	}

	since := &fakeSince{at: map[string]time.Time{findings.Key(hand): first}}
	env.Since = since
	if r, err = Explain(ctx, env, targetFor(dep, "deployments"), Options{}); err != nil {
		t.Fatal(err)
	}
	if got := r.Drift.Findings[0].Since; got == nil || !got.Equal(first) {
		t.Errorf("since %v, want %v", got, first)
	}
	if strings.Join(since.asked, ",") != "tenant-a" {
		t.Errorf("reports asked for %v", since.asked)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"6. Drift (the policies' drift rules on the live object, and the drift record)",
		"  POLICY", "owned_fields  " + hand.Field, "2026-11-29T07:00:00Z",
		"drift record (driftguard.io/drift): 1 standing hand edit\n",
		"2026-11-30T08:00:00Z by alice, owner terraform, policy owned_fields: spec.replicas (INC-7)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}

func TestExplainNoDrift(t *testing.T) {
	dep := fixture(t, "deployment-terraform.json")
	f := newFake(dep)
	since := &fakeSince{}
	r, err := Explain(context.Background(), Env{Objects: Cached(f), State: state(t, f), Since: since}, targetFor(dep, "deployments"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Drift.Findings) != 0 || r.Drift.Record != nil || len(since.asked) != 0 {
		t.Fatalf("drift %+v (reports asked %v)", r.Drift, since.asked)
	}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "  ✓ no drift findings\n  - no drift record (driftguard.io/drift)\n") {
		t.Errorf("text:\n%s", b.String())
	}
}
