package input

import (
	"context"
	"strings"

	"github.com/driftguard/driftguard/internal/config"
)

// reconciler describes what the controlling owner will do with a hand edit.
// With a ParentLookup, the parent's own settings can rule a revert out.
func (b *Builder) reconciler(ctx context.Context, k *config.OwnerKind, in *Input, ctrl *ownerRef) map[string]any {
	r := map[string]any{
		"name":       k.Reconciler,
		"source":     b.render(k.Source, in, ctrl),
		"reconciles": k.Reconciles,
		"known":      false,
	}
	if b.parents == nil {
		return r
	}
	ns := in.Request.Namespace
	if ctrl.GK.Kind == "Namespace" && ctrl.GK.Group == "" {
		ns = ""
	}
	parent, err := b.parents.Parent(ctx, ctrl.APIVersion, ctrl.Kind, ns, ctrl.Name)
	if err != nil || parent == nil {
		if err != nil {
			in.Notes = append(in.Notes, "owner lookup: "+err.Error())
		}
		return r
	}
	r["known"] = true
	reconciles := k.Reconciles
	for _, p := range k.PausedWhen {
		if v, ok := lookup(parent, p).(bool); ok && v {
			reconciles = false
			r["pausedBy"] = p
		}
	}
	if len(k.MatchLabels) > 0 {
		md, _ := parent["metadata"].(map[string]any)
		labels, _ := md["labels"].(map[string]any)
		for lk, lv := range k.MatchLabels {
			if labels[lk] != lv {
				reconciles = false
				r["notEnrolled"] = lk
			}
		}
	}
	r["reconciles"] = reconciles
	return r
}

func lookup(obj map[string]any, dotted string) any {
	var cur any = obj
	for _, p := range strings.Split(dotted, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}
