package audit_test

import (
	"context"
	"errors"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
)

type recorder struct{ passes []audit.Result }

func (r *recorder) Publish(_ context.Context, res audit.Result) error {
	r.passes = append(r.passes, res)
	return nil
}

// failingReader fails listing one kind.
type failingReader struct {
	reader
	kind string
}

func (f *failingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if list.GetObjectKind().GroupVersionKind().Kind == f.kind+"List" {
		return errors.New("cache not synced")
	}
	return f.reader.List(ctx, list, opts...)
}

// Publishers get every complete pass's findings; a pass that could not
// list a kind is not published (its reports would lose that kind's
// findings until the next pass).
func TestPublishersGetCompletePassesOnly(t *testing.T) {
	st := state(t, "")
	r := &failingReader{reader: reader{items: []map[string]any{fixture(t, "deployment-terraform-then-kubectl-edit.json")}}}
	rec := &recorder{}
	a := &audit.Auditor{Engine: admit.NewEngine(st, nil), Reader: r, Publishers: []audit.Publisher{rec}}
	if err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(rec.passes) != 1 || len(rec.passes[0].Findings) == 0 {
		t.Fatalf("published %+v, want one pass with the hand edit's findings", rec.passes)
	}
	r.kind = "ConfigMap"
	if err := a.RunOnce(context.Background()); err == nil {
		t.Fatal("a pass that could not list ConfigMaps is no error")
	}
	if len(rec.passes) != 1 {
		t.Fatalf("an incomplete pass was published (%d passes)", len(rec.passes))
	}
}
