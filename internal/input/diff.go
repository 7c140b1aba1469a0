package input

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
	"sigs.k8s.io/structured-merge-diff/v6/value"
)

// Change is one field that differs between oldObject and object.
type Change struct {
	// Path is the human path, e.g. spec.template.spec.containers[api].image.
	Path string
	// Op is add, remove or replace.
	Op string
	// fp is the same path as a structured-merge-diff path, for ownership.
	fp fieldpath.Path
	// Managers that owned the path in oldObject.managedFields.
	Managers []string
	// Owner is the declared owner of the field ("" when none), and Via says
	// how it was found: managedFields, annotation or ownerReference.
	Owner string
	Via   string
}

// listKeys are the merge keys of keyed lists in the built-in types, by
// field name; they match how the API server records list items in
// managedFields (k:{...}). Lists not named here are atomic, except the
// scalar sets in setLists (v:...).
var listKeys = map[string][]string{
	"containers":                {"name"},
	"initContainers":            {"name"},
	"ephemeralContainers":       {"name"},
	"env":                       {"name"},
	"volumes":                   {"name"},
	"volumeMounts":              {"mountPath"},
	"volumeDevices":             {"devicePath"},
	"imagePullSecrets":          {"name"},
	"hostAliases":               {"ip"},
	"conditions":                {"type"},
	"ownerReferences":           {"uid"},
	"topologySpreadConstraints": {"topologyKey", "whenUnsatisfiable"},
	"resourceClaims":            {"name"},
	"webhooks":                  {"name"},
	"ports":                     {"containerPort", "protocol"}, // Service ports use port+protocol, see portKeys
}

var setLists = map[string]bool{"finalizers": true}

// bookkeeping paths never count as changes.
var bookkeeping = map[string]bool{
	"metadata.resourceVersion":   true,
	"metadata.managedFields":     true,
	"metadata.generation":        true,
	"metadata.uid":               true,
	"metadata.creationTimestamp": true,
	"metadata.selfLink":          true,
	"status.observedGeneration":  true,
}

// Diff returns the changed leaf paths between old and new, sorted by path.
// Maps are compared key by key, keyed lists item by item (by merge key),
// everything else as a value.
func Diff(oldObj, newObj map[string]any) []Change {
	d := differ{}
	d.walk(nil, nil, oldObj, newObj, true)
	sort.Slice(d.out, func(i, j int) bool { return d.out[i].Path < d.out[j].Path })
	return d.out
}

type differ struct{ out []Change }

type segment struct {
	text string // already formatted, including the leading "." or "["
	pe   fieldpath.PathElement
}

func (d *differ) emit(path []segment, op string) {
	var b strings.Builder
	fp := make(fieldpath.Path, len(path))
	for i, s := range path {
		if i == 0 {
			b.WriteString(strings.TrimPrefix(s.text, "."))
		} else {
			b.WriteString(s.text)
		}
		fp[i] = s.pe
	}
	p := b.String()
	if bookkeeping[p] {
		return
	}
	d.out = append(d.out, Change{Path: p, Op: op, fp: fp})
}

func (d *differ) walk(path []segment, field *string, a, b any, root bool) {
	// A map field added or removed as a whole (e.g. the first annotation of
	// an object) is walked key by key, so its paths name the leaves just as
	// when the map exists on both sides; list items stay one change.
	_, aMap := a.(map[string]any)
	_, bMap := b.(map[string]any)
	switch {
	case a == nil && b == nil:
		return
	case a == nil:
		if !root && !(field != nil && bMap) {
			d.emit(path, "add")
			return
		}
	case b == nil:
		if !root && !(field != nil && aMap) {
			d.emit(path, "remove")
			return
		}
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if (aok || a == nil) && (bok || b == nil) && (aok || bok) {
		keys := make([]string, 0, len(am)+len(bm))
		for k := range am {
			keys = append(keys, k)
		}
		for k := range bm {
			if _, ok := am[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			name := k
			d.walk(append(path, segment{text: fieldText(k), pe: fieldpath.PathElement{FieldName: &name}}), &name, am[k], bm[k], false)
		}
		return
	}
	al, alok := a.([]any)
	bl, blok := b.([]any)
	if alok && blok && field != nil {
		if keys, ok := keyedList(*field, al, bl); ok {
			d.walkKeyed(path, keys, al, bl)
			return
		}
		if setLists[*field] {
			d.walkSet(path, al, bl)
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		d.emit(path, "replace")
	}
}

// keyedList reports the merge keys of a list when every item carries them.
func keyedList(field string, lists ...[]any) ([]string, bool) {
	keys, ok := listKeys[field]
	if !ok {
		return nil, false
	}
	if field == "ports" {
		// Service ports are keyed by port+protocol, container ports by containerPort+protocol.
		for _, l := range lists {
			for _, it := range l {
				if m, ok := it.(map[string]any); ok {
					if _, isSvc := m["port"]; isSvc {
						keys = []string{"port", "protocol"}
					}
				}
			}
		}
	}
	for _, l := range lists {
		for _, it := range l {
			m, ok := it.(map[string]any)
			if !ok {
				return nil, false
			}
			if _, ok := m[keys[0]]; !ok {
				return nil, false
			}
		}
	}
	return keys, true
}

func itemKey(keys []string, item map[string]any) (string, value.FieldList) {
	fl := make(value.FieldList, 0, len(keys))
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		v, ok := item[k]
		if !ok {
			continue
		}
		fl = append(fl, value.Field{Name: k, Value: value.NewValueInterface(v)})
		parts = append(parts, k+"="+scalarText(v))
	}
	fl.Sort()
	if len(keys) == 1 {
		return scalarText(item[keys[0]]), fl
	}
	return strings.Join(parts, ","), fl
}

func (d *differ) walkKeyed(path []segment, keys []string, al, bl []any) {
	type entry struct {
		item map[string]any
		fl   value.FieldList
	}
	index := func(l []any) (map[string]entry, []string) {
		m := make(map[string]entry, len(l))
		order := make([]string, 0, len(l))
		for _, it := range l {
			im := it.(map[string]any)
			k, fl := itemKey(keys, im)
			if _, dup := m[k]; !dup {
				order = append(order, k)
			}
			m[k] = entry{im, fl}
		}
		return m, order
	}
	am, aorder := index(al)
	bm, border := index(bl)
	seen := make(map[string]bool, len(aorder)+len(border))
	for _, k := range append(aorder, border...) {
		if seen[k] {
			continue
		}
		seen[k] = true
		ae, aok := am[k]
		be, bok := bm[k]
		fl := be.fl
		if !bok {
			fl = ae.fl
		}
		seg := segment{text: "[" + k + "]", pe: fieldpath.PathElement{Key: &fl}}
		var a, b any
		if aok {
			a = ae.item
		}
		if bok {
			b = be.item
		}
		d.walk(append(path, seg), nil, a, b, false)
	}
}

func (d *differ) walkSet(path []segment, al, bl []any) {
	in := func(l []any, v any) bool {
		for _, x := range l {
			if reflect.DeepEqual(x, v) {
				return true
			}
		}
		return false
	}
	for _, v := range al {
		if !in(bl, v) {
			vv := value.NewValueInterface(v)
			d.emit(append(path, segment{text: "[" + scalarText(v) + "]", pe: fieldpath.PathElement{Value: &vv}}), "remove")
		}
	}
	for _, v := range bl {
		if !in(al, v) {
			vv := value.NewValueInterface(v)
			d.emit(append(path, segment{text: "[" + scalarText(v) + "]", pe: fieldpath.PathElement{Value: &vv}}), "add")
		}
	}
}

func fieldText(k string) string {
	for _, r := range k {
		if !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "[" + k + "]"
		}
	}
	return "." + k
}

func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	case nil:
		return "null"
	default:
		return fmt.Sprint(x)
	}
}
