package owners

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ClusterLookup reads parents from an informer cache (an
// input.ParentLookup).
type ClusterLookup struct {
	Reader  client.Reader
	Timeout time.Duration
}

// ClusterTimeout bounds each owner lookup of serve --cluster.
const ClusterTimeout = 250 * time.Millisecond

// NewCachedLookup reads parents through r, the controller-runtime
// manager's informer cache (mgr.GetCache()), so the informers it starts
// for owner kinds are the ones the drift audit and the permission
// baseline use: one watch per kind against the API server, not two
// caches. Each read is bounded by ClusterTimeout; a cache that has not
// synced by then (the manager not started yet, a kind not served) is an
// unknown parent.
func NewCachedLookup(r client.Reader) *ClusterLookup {
	return &ClusterLookup{Reader: r, Timeout: ClusterTimeout}
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
