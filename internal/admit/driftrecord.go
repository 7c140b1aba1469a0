package admit

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gomodules.xyz/jsonpatch/v2"
)

// DriftRecord is the annotation the mutating webhook keeps on an object
// while hand edits of owned fields stand. docs/policy-input.md shows it.
type DriftRecord struct {
	Edits []DriftEdit `json:"edits"`
}

// DriftEdit is one allowed hand edit.
type DriftEdit struct {
	By     string   `json:"by"`
	At     string   `json:"at"`
	Owner  string   `json:"owner"`
	Fields []string `json:"fields"`
	Policy string   `json:"policy"`
	Reason string   `json:"reason"`
}

// maxDriftEdits bounds the annotation's size.
const maxDriftEdits = 10

// ParseDriftRecord reads a record; an unreadable one is treated as empty
// and replaced on the next write.
func ParseDriftRecord(s string) DriftRecord {
	var r DriftRecord
	if s == "" || json.Unmarshal([]byte(s), &r) != nil {
		return DriftRecord{}
	}
	return r
}

// patches computes the mutating webhook's JSON patch: stamp hand edits,
// clear what the owner writes back, and add the policies' own patches.
// Dry-run requests get the same patches (so a dry run shows the result),
// but metrics count only real writes.
func (e *Engine) patches(d *Decision) ([]jsonpatch.JsonPatchOperation, error) {
	in := d.Input
	if in.Object == nil || in.Exempt != "" || len(in.Errors) > 0 {
		return nil, nil
	}
	cfg := e.State().Config
	key := cfg.DriftAnnotation
	current := annotationOf(in.Object, key)
	rec := ParseDriftRecord(current)
	dry := in.Request.DryRun != nil && *in.Request.DryRun
	kind := KindLabel(e.State(), in.Request.Kind.Kind)
	changed := false

	// Only driftguard writes the record: whatever anyone but an owner's
	// identity did to it (removed, rewrote) is put back as it was.
	if in.Actor.Owner == "" && in.OldObject != nil {
		old := annotationOf(in.OldObject, key)
		if old != current && (old != "" || current != "") {
			rec = ParseDriftRecord(old)
			changed = true
		}
	}

	// The owner's identity writing the object (its apply restores the
	// fields it owns) clears that owner's edits.
	if owner := in.Actor.Owner; owner != "" && len(rec.Edits) > 0 {
		kept := rec.Edits[:0:0]
		for _, ed := range rec.Edits {
			if ed.Owner == owner {
				changed = true
				continue
			}
			kept = append(kept, ed)
		}
		if changed && e.Metrics != nil && !dry {
			e.Metrics.DriftRecords.WithLabelValues("clear", kind).Inc()
		}
		rec.Edits = kept
	}

	// Group allowed hand edits by owner and policy.
	if len(d.HandEdits) > 0 {
		type k struct{ owner, policy, reason string }
		groups := map[k][]string{}
		var order []k
		for _, h := range d.HandEdits {
			kk := k{h.Owner, h.Policy, h.Reason}
			if _, ok := groups[kk]; !ok {
				order = append(order, kk)
			}
			if h.Field != "" && !slices.Contains(groups[kk], h.Field) {
				groups[kk] = append(groups[kk], h.Field)
			}
		}
		now := e.Now().UTC().Format(time.RFC3339)
		for _, kk := range order {
			f := groups[kk]
			sort.Strings(f)
			rec.Edits = append(rec.Edits, DriftEdit{By: in.Actor.Username, At: now, Owner: kk.owner, Fields: f, Policy: kk.policy, Reason: kk.reason})
		}
		if len(rec.Edits) > maxDriftEdits {
			rec.Edits = rec.Edits[len(rec.Edits)-maxDriftEdits:]
		}
		changed = true
		if e.Metrics != nil && !dry {
			e.Metrics.DriftRecords.WithLabelValues("stamp", kind).Inc()
		}
	}

	var ops []jsonpatch.JsonPatchOperation
	if changed {
		ops = append(ops, annotationPatch(in.Object, key, rec))
	}
	for _, p := range d.Patches {
		op, _ := p["op"].(string)
		path, _ := p["path"].(string)
		if op == "" || !strings.HasPrefix(path, "/") {
			return nil, fmt.Errorf("policy patch %v is not a JSON patch operation", p)
		}
		ops = append(ops, jsonpatch.JsonPatchOperation{Operation: op, Path: path, Value: p["value"]})
	}
	return ops, nil
}

func annotationPatch(obj map[string]any, key string, rec DriftRecord) jsonpatch.JsonPatchOperation {
	md, _ := obj["metadata"].(map[string]any)
	ann, hasAnn := md["annotations"].(map[string]any)
	ptr := "/metadata/annotations/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(key)
	if len(rec.Edits) == 0 {
		return jsonpatch.JsonPatchOperation{Operation: "remove", Path: ptr}
	}
	b, _ := json.Marshal(rec)
	if !hasAnn || ann == nil {
		return jsonpatch.JsonPatchOperation{Operation: "add", Path: "/metadata/annotations", Value: map[string]any{key: string(b)}}
	}
	return jsonpatch.JsonPatchOperation{Operation: "add", Path: ptr, Value: string(b)}
}

func annotationOf(obj map[string]any, key string) string {
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	s, _ := ann[key].(string)
	return s
}
