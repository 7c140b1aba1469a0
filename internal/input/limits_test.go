package input

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

func bigMaps(n int) (old, new map[string]any) {
	od, nd := make(map[string]any, n), make(map[string]any, n)
	for i := range n {
		k := fmt.Sprintf("k%06d", i)
		od[k], nd[k] = "old", "new"
	}
	md := func() map[string]any { return map[string]any{"name": "x", "resourceVersion": "1"} }
	old = map[string]any{"metadata": md(), "data": od}
	new = map[string]any{"metadata": md(), "data": nd}
	new["metadata"].(map[string]any)["resourceVersion"] = "2" // bookkeeping: never a change
	return old, new
}

func TestDiffLimited(t *testing.T) {
	old, new := bigMaps(50)
	got, err := DiffLimited(context.Background(), old, new, 50)
	if err != nil || len(got) != 50 {
		t.Fatalf("50 changes, max 50: %d changes, error %v", len(got), err)
	}
	_, err = DiffLimited(context.Background(), old, new, 49)
	var tm *TooManyChangesError
	if !errors.As(err, &tm) || tm.Changes != 50 || tm.Max != 49 {
		t.Fatalf("50 changes, max 49: error %v, want TooManyChangesError{50, 49}", err)
	}
	if want := "the update changes 50 fields, more than driftguard reviews (maxChanges 49)"; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
	if got, err := DiffLimited(context.Background(), old, new, 0); err != nil || len(got) != 50 {
		t.Errorf("no limit: %d changes, error %v", len(got), err)
	}
}

func TestDiffStopsWhenTheContextEnds(t *testing.T) {
	old, new := bigMaps(3 * ctxCheckEvery)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got, err := DiffLimited(ctx, old, new, 0)
	if !errors.Is(err, context.Canceled) || got != nil {
		t.Fatalf("ended context: %d changes, error %v; want context.Canceled", len(got), err)
	}
}
