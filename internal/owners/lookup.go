package owners

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterLookup reads parents from an informer cache.
type ClusterLookup struct {
	Reader  client.Reader
	Timeout time.Duration
}

// NewClusterLookup starts a cache for cfg; it runs until ctx ends.
func NewClusterLookup(ctx context.Context, cfg *rest.Config) (*ClusterLookup, error) {
	c, err := cache.New(cfg, cache.Options{ReaderFailOnMissingInformer: false})
	if err != nil {
		return nil, fmt.Errorf("owner cache: %w", err)
	}
	go func() { _ = c.Start(ctx) }()
	return &ClusterLookup{Reader: c, Timeout: 250 * time.Millisecond}, nil
}

// Parent returns the owner object as a map, or nil when it is not found
// in time.
func (l *ClusterLookup) Parent(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gv.WithKind(kind))
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	if err := l.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return nil, err
	}
	return u.Object, nil
}
