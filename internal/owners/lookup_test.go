package owners

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// recordingReader is a client.Reader that answers Get from objects and
// records what it was asked; block makes Get wait for its context.
type recordingReader struct {
	objects  map[string]map[string]any // by kind namespace/name
	block    bool
	asked    []string
	deadline time.Duration
}

func (r *recordingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	u := obj.(*unstructured.Unstructured)
	k := u.GetAPIVersion() + " " + u.GetKind() + " " + key.String()
	r.asked = append(r.asked, k)
	if d, ok := ctx.Deadline(); ok {
		r.deadline = time.Until(d)
	}
	if r.block {
		<-ctx.Done()
		return ctx.Err()
	}
	o, ok := r.objects[k]
	if !ok {
		return errors.New("not found")
	}
	u.Object = o
	return nil
}

func (r *recordingReader) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("not used")
}

func TestCachedLookupReadsThroughTheGivenReader(t *testing.T) {
	api := map[string]any{"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "api", "namespace": "tenant-a"}, "spec": map[string]any{"paused": true}}
	r := &recordingReader{objects: map[string]map[string]any{"apps/v1 Deployment tenant-a/api": api}}
	l := NewCachedLookup(r)
	got, err := l.Parent(context.Background(), "apps/v1", "Deployment", "tenant-a", "api")
	if err != nil {
		t.Fatal(err)
	}
	if spec, _ := got["spec"].(map[string]any); spec["paused"] != true {
		t.Errorf("parent %v, want the Deployment the reader holds", got)
	}
	if len(r.asked) != 1 || r.asked[0] != "apps/v1 Deployment tenant-a/api" {
		t.Errorf("asked %v", r.asked)
	}
	if r.deadline <= 0 || r.deadline > ClusterTimeout {
		t.Errorf("read with %v left, want a deadline of at most %v", r.deadline, ClusterTimeout)
	}
	if _, err := l.Parent(context.Background(), "apps/v1", "Deployment", "tenant-a", "gone"); err == nil {
		t.Error("a parent the reader does not have: no error")
	}
	if _, err := l.Parent(context.Background(), "not/a/version", "Deployment", "tenant-a", "api"); err == nil {
		t.Error("a malformed apiVersion: no error")
	}
}

func TestCachedLookupGivesUpAtItsTimeout(t *testing.T) {
	r := &recordingReader{block: true}
	l := NewCachedLookup(r)
	l.Timeout = time.Millisecond // a cache that never syncs
	_, err := l.Parent(context.Background(), "apps/v1", "Deployment", "tenant-a", "api")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v, want the lookup's deadline", err)
	}
}
