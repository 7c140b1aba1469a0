package standin

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Metacontroller renders and keeps one child Deployment per profile
// Namespace.
type Metacontroller struct {
	// Config reaches the API server; the stand-in writes as Identity
	// (impersonated), like the real one writes as its service account.
	Config   *rest.Config
	Identity string
	// ProfileLabel selects the parent Namespaces (label present).
	ProfileLabel string
	// PausedAnnotation on a parent Namespace stops reconciling it (a
	// reconciler that is down).
	PausedAnnotation string
	// Child is the child Deployment's name and container name.
	Child string
	// ConfigMap (namespace/name) and its key Key give the image tag:
	// Image + ":" + data[Key].
	ConfigMap, Key, Image string
	// Resync is how often every parent is reconciled (metacontroller's
	// resyncPeriodSeconds; default 500ms).
	Resync time.Duration
	// Manager is the field manager of its writes (default FieldManager).
	Manager string
	// Orphan children carry no ownerReference (a reconciler that keeps
	// objects it does not own, e.g. an operator applying manifests).
	Orphan bool
	// Errors receives reconcile errors (optional; dropped when full).
	Errors chan error
}

// FieldManager is the default manager name of the stand-in's writes, the
// one the real metacontroller uses.
const FieldManager = "metacontroller"

// Run reconciles until ctx ends.
func (m *Metacontroller) Run(ctx context.Context) error {
	cfg := rest.CopyConfig(m.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: m.Identity}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	every := m.Resync
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := m.reconcileAll(ctx, c); err != nil && ctx.Err() == nil && m.Errors != nil {
			select {
			case m.Errors <- err:
			default:
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (m *Metacontroller) reconcileAll(ctx context.Context, c client.Client) error {
	var nss corev1.NamespaceList
	if err := c.List(ctx, &nss, client.HasLabels{m.ProfileLabel}); err != nil {
		return err
	}
	var cm corev1.ConfigMap
	ns, name := splitRef(m.ConfigMap)
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
		return fmt.Errorf("reading ConfigMap %s: %w", m.ConfigMap, err)
	}
	tag := cm.Data[m.Key]
	if tag == "" {
		return fmt.Errorf("ConfigMap %s has no %s", m.ConfigMap, m.Key)
	}
	for i := range nss.Items {
		p := &nss.Items[i]
		if p.DeletionTimestamp != nil || p.Annotations[m.PausedAnnotation] == "true" {
			continue
		}
		manager := m.Manager
		if manager == "" {
			manager = FieldManager
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(m.child(p, tag)), client.FieldOwner(manager), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s/%s: %w", p.Name, m.Child, err)
		}
	}
	return nil
}

// child is the desired child of parent p: only the fields the stand-in
// owns, so an unchanged child is not written again.
func (m *Metacontroller) child(p *corev1.Namespace, tag string) *unstructured.Unstructured {
	labels := map[string]any{"app": m.Child}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{
			"name": m.Child, "namespace": p.Name, "labels": labels,
			"ownerReferences": []any{map[string]any{
				"apiVersion": "v1", "kind": "Namespace", "name": p.Name, "uid": string(p.UID),
				"controller": true,
			}},
		},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": labels},
			"template": map[string]any{
				"metadata": map[string]any{"labels": labels},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": m.Child, "image": m.Image + ":" + tag,
				}}},
			},
		},
	}}
	if m.Orphan {
		unstructured.RemoveNestedField(u.Object, "metadata", "ownerReferences")
	}
	return u
}

func splitRef(ref string) (ns, name string) {
	for i := 0; i < len(ref); i++ {
		if ref[i] == '/' {
			return ref[:i], ref[i+1:]
		}
	}
	return "", ref
}
