package input

import (
	"context"
	"strings"
)

// render fills an owner's source template (config owners[].source,
// ownerKinds[].source) for this request.
func (b *Builder) render(tmpl string, in *Input, ctrl *ownerRef) string {
	obj := in.Object
	if obj == nil {
		obj = in.OldObject
	}
	kind := in.Request.Kind.Kind
	ownerName, ownerKind := "", ""
	if ctrl != nil {
		ownerName, ownerKind = ctrl.Name, ctrl.Kind
	}
	name := in.Request.Name
	if md, ok := obj["metadata"].(map[string]any); ok && name == "" {
		name, _ = md["name"].(string)
	}
	if in.Parent != nil { // a subresource: the object it writes to
		kind, name = in.Parent.Kind, in.Parent.Name
	}
	r := strings.NewReplacer("{namespace}", in.Request.Namespace, "{name}", name, "{kind}", kind,
		"{ownerName}", ownerName, "{ownerKind}", ownerKind)
	return r.Replace(tmpl)
}

// doc builds the Rego document (what policies see as input);
// docs/policy-input.md describes each field.
func (b *Builder) doc(ctx context.Context, in *Input, ctrl *ownerRef) map[string]any {
	req := in.Request
	a := in.Actor
	actor := map[string]any{
		"username":     a.Username,
		"groups":       stringsToAny(a.Groups),
		"fieldManager": a.FieldManager,
		"owner":        a.Owner,
		"person":       a.Person,
		"admin":        a.Admin,
		"breakGlass":   breakGlassDoc(a.BreakGlassInfo),
	}
	if a.SAName != "" {
		actor["serviceAccount"] = map[string]any{"namespace": a.SANamespace, "name": a.SAName}
	}
	changes := make([]any, len(in.Changes))
	for i, c := range in.Changes {
		changes[i] = map[string]any{
			"path": c.Path, "op": c.Op, "managers": stringsToAny(c.Managers),
			"owner": c.Owner, "via": c.Via,
		}
	}
	owners := make(map[string]any, len(b.cfg.Owners))
	for _, o := range b.cfg.Owners {
		owners[o.Name] = map[string]any{"display": o.Display, "source": b.render(o.Source, in, ctrl)}
	}
	request := map[string]any{
		"uid":         string(req.UID),
		"operation":   string(req.Operation),
		"kind":        map[string]any{"group": req.Kind.Group, "version": req.Kind.Version, "kind": req.Kind.Kind},
		"resource":    map[string]any{"group": req.Resource.Group, "version": req.Resource.Version, "resource": req.Resource.Resource},
		"subResource": req.SubResource,
		"name":        req.Name,
		"namespace":   req.Namespace,
		"dryRun":      req.DryRun != nil && *req.DryRun,
	}
	// the kind the client asked for, before the API server converted it
	// (matchPolicy Equivalent): deprecated API versions show here
	if rk := req.RequestKind; rk != nil {
		request["requestKind"] = map[string]any{"group": rk.Group, "version": rk.Version, "kind": rk.Kind}
	}
	doc := map[string]any{
		"request": request,
		"actor":   actor,
		"changes": changes,
		"owners":  owners,
	}
	if in.Object != nil {
		doc["object"] = in.Object
	}
	if in.OldObject != nil {
		doc["oldObject"] = in.OldObject
	}
	if !b.NoWorkloadFacts {
		if w := workloadDoc(req.Kind.Kind, in.Object, in.OldObject, in.Changes); w != nil {
			doc["workload"] = w
		}
	}
	if req.Kind.Group == "" && adminKinds[req.Kind.Kind] {
		doc["admins"] = b.admins.doc
	}
	if in.Parent != nil {
		doc["parent"] = in.Parent.doc()
	}
	if in.ObjectOwner != "" {
		doc["objectOwner"] = map[string]any{"name": in.ObjectOwner, "via": in.ObjectVia}
	}
	if m := b.matrixFor(in); len(m) > 0 {
		doc["matrix"] = m
	}
	if rows := b.matrixInputsFor(in); len(rows) > 0 {
		doc["matrixInputs"] = rows
	}
	if len(in.HandEdits) > 0 {
		he := make([]any, len(in.HandEdits))
		for i, h := range in.HandEdits {
			he[i] = map[string]any{"manager": h.Manager, "fields": stringsToAny(h.Fields)}
		}
		doc["handEdits"] = he
	}
	if rec := b.driftRecord(in); rec != nil {
		doc["driftRecord"] = rec
	}
	if deps := b.baselineFor(in); len(deps) > 0 {
		doc["baseline"] = deps
	}
	if rv := b.revertsFor(in); len(rv) > 0 {
		doc["reverts"] = rv
	}
	if ctrl != nil {
		owner := map[string]any{
			"reference": map[string]any{"apiVersion": ctrl.APIVersion, "kind": ctrl.Kind, "name": ctrl.Name, "uid": ctrl.UID},
			"group":     ctrl.GK.Group,
		}
		if o, ok := b.kindOwner[ctrl.GK]; ok {
			owner["declared"] = o
		}
		if k, ok := b.ownerKinds[ctrl.GK]; ok {
			owner["reconciler"] = b.reconciler(ctx, k, in, ctrl)
		}
		doc["owner"] = owner
	}
	return doc
}

func stringsToAny(xs []string) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}
