package input

import (
	"github.com/driftguard/driftguard/internal/config"
)

// matrixInput is one versionMatrix[].inputs row: the value a ConfigMap key
// must hold for a component.
type matrixInput struct{ component, key, value string }

// matrixEntry is one versionMatrix[].workloads row: the image a workload's
// container must run for a component.
type matrixEntry struct {
	component, image string
	w                config.Workload
}

// matrixFor lists the version-matrix rows that apply to the object.
func (b *Builder) matrixFor(in *Input) []any {
	rows := b.versionMatrix[in.Request.Kind.Kind]
	if len(rows) == 0 {
		return nil
	}
	name := in.Request.Name
	var out []any
	for _, r := range rows {
		if (r.w.Namespace == "" || r.w.Namespace == in.Request.Namespace) && (r.w.Name == "" || r.w.Name == name) {
			out = append(out, map[string]any{"component": r.component, "image": r.image, "container": r.w.Container})
		}
	}
	return out
}

// matrixInputsFor lists the version-matrix inputs a ConfigMap holds.
func (b *Builder) matrixInputsFor(in *Input) []any {
	if in.Request.Kind.Kind != "ConfigMap" || in.Request.Kind.Group != "" {
		return nil
	}
	var rows []any
	for _, r := range b.matrixInputs[in.Request.Namespace+"/"+in.Request.Name] {
		rows = append(rows, map[string]any{"component": r.component, "key": r.key, "expected": r.value})
	}
	return rows
}
