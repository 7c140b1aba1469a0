package revert

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
)

func TestWatcherFeedsTheDetector(t *testing.T) {
	gvk := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	inf := &informertest.FakeInformers{}
	var mu sync.Mutex
	var got []Revert
	clock := t0.Add(10 * time.Second)
	w := &Watcher{
		Informers: inf, Kinds: []schema.GroupVersionKind{gvk},
		Detector: newDetector(outcomes{}, nil, Options{}),
		OnRevert: func(_ context.Context, r Revert) { mu.Lock(); got = append(got, r); mu.Unlock() },
		Now:      func() time.Time { mu.Lock(); defer mu.Unlock(); return clock },
	}
	ctx := context.Background()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	f, err := inf.FakeInformerFor(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	unregister, err := w.register(ctx, w.Now)
	if err != nil {
		t.Fatal(err)
	}
	created, edited, reverted := history()
	f.Update(&unstructured.Unstructured{Object: created}, &unstructured.Unstructured{Object: edited})
	mu.Lock()
	clock = t0.Add(24 * time.Second)
	mu.Unlock()
	f.Update(&unstructured.Unstructured{Object: edited}, &unstructured.Unstructured{Object: reverted})
	mu.Lock()
	n := len(got)
	mu.Unlock()
	if n != 1 || got[0].RevertedBy != "metacontroller" || got[0].After != 14*time.Second {
		t.Fatalf("reverts %+v", got)
	}
	unregister()
}
