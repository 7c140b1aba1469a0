package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

// Conventions are the reconcilers that act on the object.
type Conventions struct {
	// Owners has one entry per child → controlling owner link of the chain.
	Owners []Convention `json:"owners"`
	// AsOwner is set when the object's own kind has an ownerKinds
	// convention: what it does to its children (e.g. a paused Deployment
	// does not revert its ReplicaSets).
	AsOwner *Convention `json:"asOwner,omitempty"`
	// ObjectOwner is the declared owner of the object as a whole.
	ObjectOwner *DeclaredOwner `json:"objectOwner,omitempty"`
	// GitOps lists Flux and Argo CD tracking found on the object.
	GitOps []Tracking `json:"gitOps"`
	// Exempt is set when driftguard never evaluates requests for the object.
	Exempt string `json:"exempt,omitempty"`
}

// Convention is what a controlling owner does with hand edits of its child,
// as driftguard's input (owner.reconciler) sees it with the live parent.
type Convention struct {
	Object    string `json:"object"`
	Owner     string `json:"owner"`
	OwnerKind string `json:"ownerKind"`
	// Known is true when config ownerKinds has a convention for OwnerKind.
	Known bool `json:"known"`
	// DeclaredOwner is the declared owner the owner kind stands for
	// (config owners[].kinds): the child is wholly owned by it.
	DeclaredOwner string `json:"declaredOwner,omitempty"`
	Reconciles    bool   `json:"reconciles"`
	Reconciler    string `json:"reconciler,omitempty"`
	Source        string `json:"source,omitempty"`
	// ParentRead is true when the parent was read, so its settings count.
	ParentRead  bool   `json:"parentRead"`
	PausedBy    string `json:"pausedBy,omitempty"`
	NotEnrolled string `json:"notEnrolled,omitempty"`
	Verdict     string `json:"verdict"`
}

// DeclaredOwner is a config owner of the object as a whole.
type DeclaredOwner struct {
	Name    string `json:"name"`
	Display string `json:"display"`
	Via     string `json:"via"`
	Source  string `json:"source,omitempty"`
}

// Tracking is a GitOps controller that applies the object.
type Tracking struct {
	System    string `json:"system"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Evidence  string `json:"evidence"`
	Reverts   bool   `json:"reverts"`
	Verdict   string `json:"verdict"`
}

// Flux and Argo CD tracking metadata; the same keys revert_warning reads.
const (
	fluxKsName      = "kustomize.toolkit.fluxcd.io/name"
	fluxKsNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	fluxReconcile   = "kustomize.toolkit.fluxcd.io/reconcile"
	fluxHelmName    = "helm.toolkit.fluxcd.io/name"
	fluxHelmNS      = "helm.toolkit.fluxcd.io/namespace"
	argoTrackingID  = "argocd.argoproj.io/tracking-id"
)

// conventions evaluates, for every link of the chain, what its controlling
// owner will do, by building driftguard's own policy input for the child
// (a no-op UPDATE) and reading owner.reconciler from it: the same config
// conventions and parent checks (pausedWhen, matchLabels) the webhook uses.
func conventions(ctx context.Context, st *admit.State, chain Chain, obj map[string]any, t Target) (Conventions, error) {
	cv := Conventions{GitOps: gitOps(obj)}
	var errs []error
	for i := range chain.objs {
		child := chain.objs[i]
		ct := t
		if i > 0 {
			ct = targetOf(chain.Links[i])
		}
		in, err := noopInput(ctx, st.Builder, ct, child)
		if err != nil {
			errs = append(errs, fmt.Errorf("input for %s: %w", chain.Links[i], err))
			continue
		}
		if i == 0 {
			cv.Exempt = in.Exempt
			if in.ObjectOwner != "" {
				cv.ObjectOwner = declaredOwner(st.Config, in, in.ObjectOwner, in.ObjectVia)
			}
		}
		if i+1 < len(chain.Links) && chain.End != EndInvalid {
			cv.Owners = append(cv.Owners, convention(st.Config, in, chain.Links[i], chain.Links[i+1]))
		}
	}
	if c := asOwner(ctx, st, obj, t); c != nil {
		cv.AsOwner = c
	}
	return cv, errors.Join(errs...)
}

// noopInput is driftguard's input for an UPDATE that changes nothing.
func noopInput(ctx context.Context, b *input.Builder, t Target, obj map[string]any) (*input.Input, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	md := obj2md(obj)
	req := request(t, str(md["uid"])+"-noop", "", nil, admissionv1.Update, raw, raw)
	return b.Build(ctx, req)
}

func convention(cfg *config.Config, in *input.Input, child, owner Link) Convention {
	c := Convention{Object: child.String(), Owner: owner.String(), OwnerKind: gkText(owner.GroupKind())}
	doc, _ := in.Doc["owner"].(map[string]any)
	c.DeclaredOwner = str(doc["declared"])
	rec, ok := doc["reconciler"].(map[string]any)
	if ok {
		c.Known = true
		c.Reconciler = str(rec["name"])
		c.Source = str(rec["source"])
		c.Reconciles, _ = rec["reconciles"].(bool)
		c.ParentRead, _ = rec["known"].(bool)
		c.PausedBy = str(rec["pausedBy"])
		c.NotEnrolled = str(rec["notEnrolled"])
	}
	c.Verdict = verdict(cfg, c, owner.Found)
	return c
}

func verdict(cfg *config.Config, c Convention, ownerFound bool) string {
	var s string
	switch {
	case !c.Known:
		s = fmt.Sprintf("no ownerKinds convention for %s: driftguard does not predict whether it reverts hand edits", c.OwnerKind)
	case c.PausedBy != "":
		s = fmt.Sprintf("%s will not revert hand edits: %s has %s: true", c.Reconciler, c.Owner, c.PausedBy)
	case c.NotEnrolled != "":
		want := ""
		if k := ownerKind(cfg, c.OwnerKind); k != nil {
			want = "=" + k.MatchLabels[c.NotEnrolled]
		}
		s = fmt.Sprintf("the convention does not apply: %s lacks the label %s%s, so no revert is expected", c.Owner, c.NotEnrolled, want)
	case !c.Reconciles:
		s = fmt.Sprintf("ownerKinds says %s does not rewrite its children: no revert expected", c.OwnerKind)
	case !ownerFound:
		s = fmt.Sprintf("%s would revert hand edits, but the owner was not found; change %s instead", c.Reconciler, c.Source)
	case !c.ParentRead:
		s = fmt.Sprintf("%s reverts hand edits (by convention; the owner's settings could not be read); change %s instead", c.Reconciler, c.Source)
	default:
		s = fmt.Sprintf("%s reverts hand edits; change %s instead", c.Reconciler, c.Source)
	}
	if c.DeclaredOwner != "" {
		name := c.DeclaredOwner
		if o := cfg.OwnerByName(name); o != nil {
			name = o.Display
		}
		s += fmt.Sprintf(". The child is wholly owned by declared owner %s (owners[].kinds)", name)
	}
	return s
}

// asOwner evaluates the object's own kind as a controlling owner: a
// hypothetical child referencing it, with the object as the live parent.
func asOwner(ctx context.Context, st *admit.State, obj map[string]any, t Target) *Convention {
	gk := config.GroupKind{Group: t.GVK.Group, Kind: t.GVK.Kind}
	if ownerKind(st.Config, gkText(schema.GroupKind(gk))) == nil {
		return nil
	}
	md := obj2md(obj)
	owner := Link{APIVersion: t.GVK.GroupVersion().String(), Kind: t.GVK.Kind, Namespace: t.Namespace, Name: t.Name, UID: str(md["uid"]), Found: true}
	child := map[string]any{
		"apiVersion": "v1", "kind": "Child",
		"metadata": map[string]any{
			"name": "(child)", "namespace": t.Namespace, "uid": "explain-child",
			"ownerReferences": []any{map[string]any{
				"apiVersion": owner.APIVersion, "kind": owner.Kind, "name": owner.Name, "uid": owner.UID, "controller": true,
			}},
		},
	}
	b := input.NewBuilder(st.Config, fixedParent{obj})
	ct := Target{GVK: schema.GroupVersionKind{Version: "v1", Kind: "Child"}, Namespace: t.Namespace, Name: "(child)", Namespaced: true}
	in, err := noopInput(ctx, b, ct, child)
	if err != nil {
		return nil
	}
	c := convention(st.Config, in, Link{Kind: "its children"}, owner)
	c.Object = "children of " + owner.String()
	return &c
}

// fixedParent answers every parent lookup with one object.
type fixedParent struct{ obj map[string]any }

func (f fixedParent) Parent(context.Context, string, string, string, string) (map[string]any, error) {
	return f.obj, nil
}

func declaredOwner(cfg *config.Config, in *input.Input, name, via string) *DeclaredOwner {
	d := &DeclaredOwner{Name: name, Display: name, Via: via}
	if o := cfg.OwnerByName(name); o != nil {
		d.Display = o.Display
	}
	if owners, ok := in.Doc["owners"].(map[string]any); ok {
		if o, ok := owners[name].(map[string]any); ok {
			d.Source = str(o["source"])
		}
	}
	return d
}

func ownerKind(cfg *config.Config, gk string) *config.OwnerKind {
	for i := range cfg.OwnerKinds {
		k := &cfg.OwnerKinds[i]
		if gkText(schema.GroupKind{Group: k.Group, Kind: k.Kind}) == gk {
			return k
		}
	}
	return nil
}

func gkText(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Kind + "." + gk.Group
}

func targetOf(l Link) Target {
	gv, _ := schema.ParseGroupVersion(l.APIVersion)
	return Target{GVK: gv.WithKind(l.Kind), Namespace: l.Namespace, Name: l.Name, Namespaced: l.Namespace != ""}
}

// gitOps lists the Flux and Argo CD tracking metadata of the object, read
// the way the revert_warning policy reads it.
func gitOps(obj map[string]any) []Tracking {
	md := obj2md(obj)
	labels, _ := md["labels"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	out := []Tracking{}
	if name := str(labels[fluxKsName]); name != "" {
		ns := orDefault(str(labels[fluxKsNamespace]), "flux-system")
		t := Tracking{System: "Flux Kustomization", Namespace: ns, Name: name, Evidence: "label " + fluxKsName, Reverts: true}
		if str(ann[fluxReconcile]) == "disabled" {
			t.Reverts = false
			t.Verdict = fmt.Sprintf("applied by Kustomization %s/%s, but %s: disabled on the object: no revert", ns, name, fluxReconcile)
		} else {
			t.Verdict = fmt.Sprintf("Kustomization %s/%s applies this object and reverts hand edits at its next reconcile; change its Git source instead", ns, name)
		}
		out = append(out, t)
	}
	if name := str(labels[fluxHelmName]); name != "" {
		ns := orDefault(str(labels[fluxHelmNS]), str(md["namespace"]))
		out = append(out, Tracking{System: "Flux HelmRelease", Namespace: ns, Name: name, Evidence: "label " + fluxHelmName,
			Verdict: fmt.Sprintf("installed by HelmRelease %s/%s; hand edits are reverted only when its drift detection is enabled; change the release's values instead", ns, name)})
	}
	if tid := str(ann[argoTrackingID]); tid != "" {
		app, _, _ := strings.Cut(tid, ":")
		out = append(out, Tracking{System: "Argo CD Application", Name: app, Evidence: "annotation " + argoTrackingID,
			Verdict: fmt.Sprintf("tracked by Application %s: a hand edit shows as OutOfSync and is reverted if self-heal is on; change the Application's Git source instead", app)})
	}
	return out
}
