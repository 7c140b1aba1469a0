package input

import (
	gojson "github.com/goccy/go-json"
)

// driftRecord decodes the drift-record annotation of the object as it is
// (new object, else old).
func (b *Builder) driftRecord(in *Input) any {
	obj := in.Object
	if obj == nil {
		obj = in.OldObject
	}
	s := annotation(obj, b.cfg.DriftAnnotation)
	if s == "" {
		return nil
	}
	var rec any
	if err := gojson.Unmarshal([]byte(s), &rec); err != nil {
		in.Notes = append(in.Notes, "drift record annotation is not JSON: "+err.Error())
		return map[string]any{"invalid": true}
	}
	return rec
}

var rbacKinds = map[string]bool{"Role": true, "ClusterRole": true, "RoleBinding": true, "ClusterRoleBinding": true}

// baselineFor lists the baseline needs that depend on an RBAC object alone.
func (b *Builder) baselineFor(in *Input) []any {
	req := in.Request
	if b.baseline == nil || req.Kind.Group != "rbac.authorization.k8s.io" || !rbacKinds[req.Kind.Kind] {
		return nil
	}
	var out []any
	for _, n := range b.baseline.Dependents(req.Kind.Kind, req.Namespace, req.Name) {
		out = append(out, map[string]any{
			"serviceAccount": n.ServiceAccount, "verb": n.Verb, "group": n.Group,
			"resource": n.Resource, "namespace": n.Namespace, "text": n.Text,
		})
	}
	return out
}
