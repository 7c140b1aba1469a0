package explain

import (
	"context"
	"errors"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/driftguard/driftguard/internal/input"
)

// Objects reads objects of any kind. The cluster implementation is
// Cluster; tests use a map.
type Objects interface {
	// Get returns the object as unstructured JSON. A missing object is an
	// error for which IsNotFound is true.
	Get(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error)
	// Namespaced reports whether the kind is namespace-scoped.
	Namespaced(apiVersion, kind string) (bool, error)
}

// ErrNotFound may be returned (wrapped) by Objects implementations for a
// missing object; Kubernetes NotFound errors work too.
var ErrNotFound = errors.New("not found")

// IsNotFound reports whether err says an object does not exist.
func IsNotFound(err error) bool {
	return errors.Is(err, ErrNotFound) || apierrors.IsNotFound(err)
}

// Cached remembers what o returned, so the owner chain, the reconciler
// lookups and the policies' parent lookups read each object once. The
// returned maps are shared: callers must not modify them.
func Cached(o Objects) Objects {
	return &cached{o: o, objs: map[string]cachedObj{}}
}

type cached struct {
	o    Objects
	mu   sync.Mutex
	objs map[string]cachedObj
}

type cachedObj struct {
	obj map[string]any
	err error
}

func (c *cached) Get(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error) {
	key := apiVersion + "|" + kind + "|" + namespace + "|" + name
	c.mu.Lock()
	e, ok := c.objs[key]
	c.mu.Unlock()
	if ok {
		return e.obj, e.err
	}
	obj, err := c.o.Get(ctx, apiVersion, kind, namespace, name)
	if err == nil || IsNotFound(err) {
		c.mu.Lock()
		c.objs[key] = cachedObj{obj, err}
		c.mu.Unlock()
	}
	return obj, err
}

func (c *cached) Namespaced(apiVersion, kind string) (bool, error) {
	return c.o.Namespaced(apiVersion, kind)
}

// NewParentLookup adapts Objects to input.ParentLookup, so the policy
// input's owner.reconciler sees the live parent (paused Deployments,
// enrolment labels) exactly as `serve --cluster` does. Cluster-scoped
// owners are read without a namespace whatever the child's is.
func NewParentLookup(o Objects) input.ParentLookup { return parents{o} }

type parents struct{ o Objects }

func (p parents) Parent(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error) {
	if namespaced, err := p.o.Namespaced(apiVersion, kind); err == nil && !namespaced {
		namespace = ""
	}
	obj, err := p.o.Get(ctx, apiVersion, kind, namespace, name)
	if IsNotFound(err) {
		return nil, nil
	}
	return obj, err
}
