package explain

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

// FieldManagers is one leaf field of managedFields and who manages it.
type FieldManagers struct {
	// Path is in driftguard's path syntax (input.PathText), the same text
	// input.changes and policy messages use.
	Path     string         `json:"path"`
	Managers []FieldManager `json:"managers"`
	// Owner is the first declared owner among the managers ("" if none).
	Owner string `json:"owner,omitempty"`

	fp fieldpath.Path
}

// FieldManager is one managedFields entry owning a field.
type FieldManager struct {
	Manager     string `json:"manager"`
	Operation   string `json:"operation"`
	Subresource string `json:"subresource,omitempty"`
	Time        string `json:"time,omitempty"`
	// Owner is the declared owner this manager means (config owners[].managers).
	Owner string `json:"owner,omitempty"`
	// HandEdit is true for managers that mean a person edited by hand
	// (config handEditManagers).
	HandEdit bool `json:"handEdit,omitempty"`
}

// Managers lists every leaf field of the object's managedFields (parsed
// with structured-merge-diff by input.ParseManagedFields) with its
// managers, sorted by path.
func Managers(obj map[string]any, cfg *config.Config) ([]FieldManagers, error) {
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	sets, parseErr := input.ParseManagedFields(raw)
	// manager names match case-insensitively, as in internal/input
	ownerOf := func(manager string) string {
		for _, o := range cfg.Owners {
			for _, m := range o.Managers {
				if config.ManagerMatches(m, manager) {
					return o.Name
				}
			}
		}
		return ""
	}
	handEdit := map[string]bool{}
	for _, m := range cfg.HandEditManagers {
		handEdit[config.FoldManager(m)] = true
	}
	times := managedTimes(obj)
	byPath := map[string]*FieldManagers{}
	for _, s := range sets {
		fm := FieldManager{
			Manager: s.Manager, Operation: s.Operation, Subresource: s.Subresource,
			Time: times[s.Manager+"|"+s.Operation+"|"+s.Subresource], Owner: ownerOf(s.Manager), HandEdit: handEdit[config.FoldManager(s.Manager)],
		}
		s.Set.Leaves().Iterate(func(p fieldpath.Path) {
			text := input.PathText(p)
			f, ok := byPath[text]
			if !ok {
				f = &FieldManagers{Path: text, fp: p.Copy()}
				byPath[text] = f
			}
			f.Managers = append(f.Managers, fm)
			if f.Owner == "" && fm.Owner != "" && fm.Subresource == "" {
				f.Owner = fm.Owner
			}
		})
	}
	out := make([]FieldManagers, 0, len(byPath))
	for _, f := range byPath {
		out = append(out, *f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, parseErr
}

// managedTimes indexes the managedFields entries' times by manager,
// operation and subresource (the API server keeps one entry per triple).
func managedTimes(obj map[string]any) map[string]string {
	out := map[string]string{}
	entries, _ := obj2md(obj)["managedFields"].([]any)
	for _, e := range entries {
		m, _ := e.(map[string]any)
		out[str(m["manager"])+"|"+str(m["operation"])+"|"+str(m["subresource"])] = str(m["time"])
	}
	return out
}

// imagePathRe matches container image paths, like the policies' lib.image_path.
var imagePathRe = regexp.MustCompile(`(^|\.)(containers|initContainers|ephemeralContainers)\[[^\]]+\]\.image$`)

// IsImagePath reports whether a path is a container image.
func IsImagePath(p string) bool { return imagePathRe.MatchString(p) }

// locate walks obj along p and returns a getter and setter of the value
// there (ok is false when the path does not lead to a value; set members
// cannot be replaced).
func locate(obj map[string]any, p fieldpath.Path) (get func() any, set func(any), ok bool) {
	if len(p) == 0 {
		return nil, nil, false
	}
	var cur any = obj
	for i, pe := range p {
		last := i == len(p)-1
		switch {
		case pe.FieldName != nil:
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil, nil, false
			}
			v, exists := m[*pe.FieldName]
			if !exists {
				return nil, nil, false
			}
			if last {
				k := *pe.FieldName
				return func() any { return m[k] }, func(x any) { m[k] = x }, true
			}
			cur = v
		case pe.Key != nil, pe.Index != nil:
			l, isList := cur.([]any)
			if !isList {
				return nil, nil, false
			}
			idx := -1
			if pe.Index != nil {
				if *pe.Index >= 0 && *pe.Index < len(l) {
					idx = *pe.Index
				}
			} else {
				idx = findKeyed(l, pe)
			}
			if idx < 0 {
				return nil, nil, false
			}
			if last {
				return func() any { return l[idx] }, func(x any) { l[idx] = x }, true
			}
			cur = l[idx]
		default: // a set member: its value is its identity
			return nil, nil, false
		}
	}
	return nil, nil, false
}

func findKeyed(l []any, pe fieldpath.PathElement) int {
	for i, it := range l {
		m, ok := it.(map[string]any)
		if !ok {
			continue
		}
		match := true
		for _, f := range *pe.Key {
			if fmt.Sprint(m[f.Name]) != fmt.Sprint(f.Value.Unstructured()) {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// bump changes a scalar the way a hand edit might: strings get "-x",
// numbers +1, booleans flip.
func bump(v any) (any, string, bool) {
	switch x := v.(type) {
	case string:
		return x + "-x", `string + "-x"`, true
	case int64:
		return x + 1, "number + 1", true
	case int:
		return x + 1, "number + 1", true
	case float64:
		return x + 1, "number + 1", true
	case bool:
		return !x, "boolean flipped", true
	}
	return nil, "", false
}

// retag appends "-explain" to an image's tag (":explain" without one; a
// digest is dropped, since a changed digest would not name an image).
func retag(img string) string {
	if i := strings.LastIndex(img, "@"); i >= 0 {
		img = img[:i]
	}
	if colon, slash := strings.LastIndex(img, ":"), strings.LastIndex(img, "/"); colon > slash {
		return img + "-explain"
	}
	return img + ":explain"
}
