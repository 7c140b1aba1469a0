package findings

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/metadata"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
)

// Lister lists the live objects of one kind in a namespace ("": all).
// metadataOnly kinds (Secrets) are read as metadata only, never values.
type Lister interface {
	List(ctx context.Context, gvk schema.GroupVersionKind, namespace string, metadataOnly bool) ([]map[string]any, error)
}

// Live evaluates the config's audit kinds in the scope with the drift
// rules of st's policies, as the audit of `serve --cluster` does
// (including its audit.namespaces filter and the exempt namespaces).
// st should be loaded with a parent lookup into the same cluster.
func Live(ctx context.Context, st *admit.State, lister Lister, sc Scope) (*List, error) {
	l := newList(FromLive, sc)
	ns := ""
	if !sc.AllNamespaces {
		ns = sc.Namespace
	}
	var objects []audit.Object
	for _, k := range st.Config.Audit.Kinds {
		gvk := schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
		items, err := lister.List(ctx, gvk, ns, k.MetadataOnly)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", gvkText(k), err)
		}
		for _, it := range items {
			if audited(st.Config.Audit.Namespaces, it) {
				objects = append(objects, audit.Object{GVK: metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}, Object: it})
			}
		}
	}
	res := audit.Evaluate(ctx, st, objects, st.Config.Audit.MaxNamespaceLabels)
	for _, f := range res.Findings {
		l.Findings = append(l.Findings, RowOf(f, nil))
	}
	l.Dropped, l.Errors = res.Dropped, res.Errors
	for _, n := range res.Objects {
		l.Evaluated += n
	}
	l.sort()
	return l, nil
}

// audited applies the config's audit.namespaces (one or none: every
// namespace the list returned).
func audited(namespaces []string, obj map[string]any) bool {
	if len(namespaces) <= 1 {
		return len(namespaces) == 0 || namespaceOf(obj) == namespaces[0] || namespaceOf(obj) == ""
	}
	for _, n := range namespaces {
		if n == namespaceOf(obj) {
			return true
		}
	}
	return false
}

func namespaceOf(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	return ns
}

func gvkText(k config.GroupVersionKind) string {
	if k.Group == "" {
		return k.Version + " " + k.Kind
	}
	return k.Group + "/" + k.Version + " " + k.Kind
}

// ClusterLister lists objects from an API server in pages: full objects
// with the dynamic client, metadataOnly kinds with the metadata client.
type ClusterLister struct {
	Mapper   meta.RESTMapper
	Dynamic  dynamic.Interface
	Metadata metadata.Interface
}

// List implements Lister.
func (c ClusterLister) List(ctx context.Context, gvk schema.GroupVersionKind, namespace string, metadataOnly bool) ([]map[string]any, error) {
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, err
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		namespace = ""
	}
	var out []map[string]any
	opts := metav1.ListOptions{Limit: pageSize}
	for {
		var next string
		if metadataOnly {
			list, err := c.Metadata.Resource(m.Resource).Namespace(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				it := &list.Items[i]
				it.APIVersion, it.Kind = gvk.GroupVersion().String(), gvk.Kind
				u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(it)
				if err != nil {
					return nil, err
				}
				out = append(out, u)
			}
			next = list.Continue
		} else {
			list, err := c.Dynamic.Resource(m.Resource).Namespace(namespace).List(ctx, opts)
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				out = append(out, list.Items[i].Object)
			}
			next = list.GetContinue()
		}
		if next == "" {
			return out, nil
		}
		opts.Continue = next
	}
}
