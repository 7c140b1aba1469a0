package redact

import (
	"fmt"
	"strings"
)

// LastApplied is the annotation kubectl apply stores the applied manifest in.
const LastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Text is the placeholder for a hidden value of s.
func Text(s string) string { return fmt.Sprintf("(redacted: %d bytes)", len(s)) }

// value hides one value (strings by length, anything else whole).
func value(v any) any {
	if s, ok := v.(string); ok {
		return Text(s)
	}
	if v == nil {
		return nil
	}
	return "(redacted)"
}

// values hides the values of a map (data, stringData) and keeps its keys;
// a value that is not a map (malformed) is hidden whole.
func values(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return value(v)
	}
	out := make(map[string]any, len(m))
	for k, x := range m {
		out[k] = value(x)
	}
	return out
}

// Object returns obj with its secret values hidden; kind is the request's
// kind (obj's own kind is checked too, so either says Secret).
func Object(kind string, obj map[string]any) map[string]any {
	if obj == nil {
		return nil
	}
	if k, _ := obj["kind"].(string); k == "Secret" {
		kind = "Secret"
	}
	out := make(map[string]any, len(obj))
	for k, v := range obj {
		out[k] = v
	}
	if kind == "Secret" {
		for _, f := range []string{"data", "stringData"} {
			if v, ok := out[f]; ok {
				out[f] = values(v)
			}
		}
	}
	if md, ok := out["metadata"].(map[string]any); ok {
		out["metadata"] = metadata(md)
	}
	return out
}

func metadata(md map[string]any) map[string]any {
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return md
	}
	if _, ok := ann[LastApplied]; !ok {
		return md
	}
	out := make(map[string]any, len(md))
	for k, v := range md {
		out[k] = v
	}
	a := make(map[string]any, len(ann))
	for k, v := range ann {
		a[k] = v
	}
	a[LastApplied] = value(ann[LastApplied])
	out["annotations"] = a
	return out
}

// Doc returns a policy input document (internal/input) with the secret
// values of its object and oldObject hidden.
func Doc(doc map[string]any) map[string]any {
	if doc == nil {
		return nil
	}
	kind := ""
	if req, ok := doc["request"].(map[string]any); ok {
		if k, ok := req["kind"].(map[string]any); ok {
			kind, _ = k["kind"].(string)
		}
	}
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	for _, f := range []string{"object", "oldObject"} {
		if o, ok := out[f].(map[string]any); ok {
			out[f] = Object(kind, o)
		}
	}
	return out
}

// PatchValue returns the value of a JSON patch operation on an object of
// kind with what would be secret in the patched object hidden: the
// operation's value is placed at its path and redacted as part of the
// object would be.
func PatchValue(kind, path string, v any) any {
	if v == nil {
		return nil
	}
	var segs []string
	if path != "" {
		for _, s := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
			segs = append(segs, strings.NewReplacer("~1", "/", "~0", "~").Replace(s))
		}
	}
	switch {
	case len(segs) == 0:
		if m, ok := v.(map[string]any); ok {
			return Object(kind, m)
		}
		return value(v)
	case segs[0] == "data" || segs[0] == "stringData":
		if kind != "Secret" {
			return v
		}
		if len(segs) == 1 {
			return values(v)
		}
		return value(v)
	case segs[0] == "metadata":
		switch {
		case len(segs) == 1:
			if m, ok := v.(map[string]any); ok {
				return metadata(m)
			}
		case segs[1] != "annotations":
		case len(segs) == 2:
			if m, ok := v.(map[string]any); ok {
				return metadata(map[string]any{"annotations": m})["annotations"]
			}
		case len(segs) == 3 && segs[2] == LastApplied:
			return value(v)
		}
	}
	return v
}
