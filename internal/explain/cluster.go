package explain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cluster reads objects of any kind from an API server (a dynamic client
// and a discovery RESTMapper that knows short names) and answers access
// reviews.
type Cluster struct {
	Host    string
	Mapper  meta.RESTMapper
	Dynamic dynamic.Interface
	Client  client.Client
}

// NoClusterError means no API server could be reached.
type NoClusterError struct{ Err error }

func (e *NoClusterError) Error() string { return "no cluster: " + e.Err.Error() }
func (e *NoClusterError) Unwrap() error { return e.Err }

// BadKindError means the kind argument names no resource of the cluster.
type BadKindError struct {
	Arg string
	Err error
}

func (e *BadKindError) Error() string {
	return fmt.Sprintf("the server doesn't have a resource type %q (%v)", e.Arg, e.Err)
}
func (e *BadKindError) Unwrap() error { return e.Err }

// NewCluster connects to the API server of cfg (checking that it answers).
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, &NoClusterError{err}
	}
	if _, err := dc.ServerVersion(); err != nil {
		return nil, &NoClusterError{fmt.Errorf("cannot reach the API server at %s: %w", cfg.Host, err)}
	}
	cached := memory.NewMemCacheClient(dc)
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(cached), cached, func(string) {})
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme, Mapper: mapper})
	if err != nil {
		return nil, err
	}
	return &Cluster{Host: cfg.Host, Mapper: mapper, Dynamic: dyn, Client: cl}, nil
}

// Resolve turns a kind argument (a resource name, short name or kind,
// optionally with its group: deploy, deployments, deployments.apps,
// Deployment, rs, secret) into a Target, like kubectl does.
func (c *Cluster) Resolve(arg, namespace, name string) (Target, error) {
	m, err := MappingFor(c.Mapper, arg)
	if err != nil {
		return Target{}, err
	}
	t := Target{GVK: m.GroupVersionKind, GVR: m.Resource, Name: name,
		Namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}
	if t.Namespaced {
		t.Namespace = namespace
	}
	return t, nil
}

// MappingFor resolves a resource or kind argument with a RESTMapper,
// the way kubectl does: a resource (with short names expanded) first,
// then a kind.
func MappingFor(mapper meta.RESTMapper, arg string) (*meta.RESTMapping, error) {
	if strings.TrimSpace(arg) == "" {
		return nil, &BadKindError{Arg: arg, Err: errors.New("empty kind")}
	}
	fullGVR, gr := schema.ParseResourceArg(arg)
	gvk := schema.GroupVersionKind{}
	if fullGVR != nil {
		gvk, _ = mapper.KindFor(*fullGVR)
	}
	if gvk.Empty() {
		gvk, _ = mapper.KindFor(gr.WithVersion(""))
	}
	if !gvk.Empty() {
		return mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	fullGVK, gk := schema.ParseKindArg(arg)
	if fullGVK == nil {
		g := gk.WithVersion("")
		fullGVK = &g
	}
	if !fullGVK.Empty() {
		if m, err := mapper.RESTMapping(fullGVK.GroupKind(), fullGVK.Version); err == nil {
			return m, nil
		}
	}
	m, err := mapper.RESTMapping(gk)
	if err != nil {
		if meta.IsNoMatchError(err) {
			return nil, &BadKindError{Arg: arg, Err: err}
		}
		return nil, err
	}
	return m, nil
}

func (c *Cluster) mapping(apiVersion, kind string) (*meta.RESTMapping, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	return c.Mapper.RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
}

// Get reads an object with the dynamic client.
func (c *Cluster) Get(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error) {
	m, err := c.mapping(apiVersion, kind)
	if err != nil {
		return nil, err
	}
	var ri dynamic.ResourceInterface = c.Dynamic.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = c.Dynamic.Resource(m.Resource).Namespace(namespace)
	}
	u, err := ri.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return u.Object, nil
}

// Namespaced reports whether a kind is namespace-scoped.
func (c *Cluster) Namespaced(apiVersion, kind string) (bool, error) {
	m, err := c.mapping(apiVersion, kind)
	if err != nil {
		return false, err
	}
	return m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// Review asks a SelfSubjectAccessReview (user "") or a SubjectAccessReview.
func (c *Cluster) Review(ctx context.Context, attrs authorizationv1.ResourceAttributes, user string, groups []string) (authorizationv1.SubjectAccessReviewStatus, error) {
	if user == "" {
		r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
		if err := c.Client.Create(ctx, r); err != nil {
			return authorizationv1.SubjectAccessReviewStatus{}, err
		}
		return r.Status, nil
	}
	r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{ResourceAttributes: &attrs, User: user, Groups: groups}}
	if err := c.Client.Create(ctx, r); err != nil {
		return authorizationv1.SubjectAccessReviewStatus{}, err
	}
	return r.Status, nil
}

// WhoAmI asks a SelfSubjectReview.
func (c *Cluster) WhoAmI(ctx context.Context) (string, []string, error) {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Client.Create(ctx, r); err != nil {
		return "", nil, err
	}
	return r.Status.UserInfo.Username, r.Status.UserInfo.Groups, nil
}
