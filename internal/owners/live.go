package owners

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
)

// LiveReader reads objects' metadata (managedFields included) straight
// from the API server, without a cache. It serves the parents of scale
// requests: who owns spec.replicas must be judged on the object as
// stored now, and a cache of every Deployment, StatefulSet and ReplicaSet
// with managedFields would cost memory on every replica and could lag
// behind the write that gave an owner the field. Scale requests are rare
// next to other writes (people, autoscalers when their recommendation
// changes), so one small GET each is cheap. Reads are bounded by Timeout.
type LiveReader struct {
	Client  metadata.Interface
	Timeout time.Duration
}

// NewLiveReader makes a metadata-only client for cfg.
func NewLiveReader(cfg *rest.Config) (*LiveReader, error) {
	c := rest.CopyConfig(cfg)
	// the default limiter (5/s) would queue a burst of scale requests past Timeout
	c.QPS, c.Burst = 50, 100
	mc, err := metadata.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("metadata client: %w", err)
	}
	return &LiveReader{Client: mc, Timeout: time.Second}, nil
}

// ReadParent returns the object's metadata as JSON
// ({"apiVersion","kind","metadata"}). Errors say why: not found, no
// answer in time, forbidden.
func (r *LiveReader) ReadParent(ctx context.Context, gvr metav1.GroupVersionResource, namespace, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	res := schema.GroupVersionResource{Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}
	m, err := r.Client.Resource(res).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		return json.Marshal(m)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("no answer from the API server within %s", r.Timeout)
	case apierrors.IsNotFound(err):
		return nil, errors.New("not found")
	}
	return nil, err
}
