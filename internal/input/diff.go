package input

import (
	"context"
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
	// Old and New are the values at Path in oldObject and object (nil
	// when absent); the policies never see them through Change (the Rego
	// input reads values from the objects), the revert detector compares
	// them.
	Old, New any
}

// FieldPath is the change's path as a structured-merge-diff path (the
// form managedFields are in).
func (c Change) FieldPath() fieldpath.Path { return c.fp }

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
	out, _ := DiffLimited(context.Background(), oldObj, newObj, 0)
	return out
}

// DiffLimited is Diff with a bound on the work: with max > 0, more than
// max changes is a *TooManyChangesError (the rest of the objects is only
// counted, not collected), and the walk checks ctx every few thousand
// nodes, returning ctx.Err() when it has ended.
func DiffLimited(ctx context.Context, oldObj, newObj map[string]any, max int) ([]Change, error) {
	d := differ{path: make([]segment, 0, 16), ctx: ctx, max: max}
	d.walkMap(nil, oldObj, newObj)
	if d.err != nil {
		return nil, d.err
	}
	if d.over > 0 {
		return nil, &TooManyChangesError{Changes: len(d.out) + d.over, Max: max}
	}
	sort.SliceStable(d.out, func(i, j int) bool { return d.out[i].Path < d.out[j].Path })
	// items with duplicate merge keys (allowed for env, e.g.) would name
	// the same path twice
	out := d.out[:0]
	for i, c := range d.out {
		if i > 0 && c.Path == d.out[i-1].Path {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// TooManyChangesError is an UPDATE that changes more leaf fields than
// driftguard reviews (config maxChanges).
type TooManyChangesError struct {
	Changes int // changed leaf fields found (bookkeeping fields excluded)
	Max     int
}

func (e *TooManyChangesError) Error() string {
	return fmt.Sprintf("the update changes %d fields, more than driftguard reviews (maxChanges %d)", e.Changes, e.Max)
}

// ctxCheckEvery is how many visited values pass between checks of the
// request's context: often enough to stop within a millisecond or so,
// rare enough to cost nothing measurable.
const ctxCheckEvery = 4096

type differ struct {
	out  []Change
	path []segment
	ctx  context.Context
	max  int   // collect at most max changes (0: no limit)
	over int   // changes found beyond max (counted only)
	n    int   // values visited
	err  error // ctx.Err() once the context ended
}

// stop reports whether the walk must end (the context ended).
func (d *differ) stop() bool {
	if d.err != nil {
		return true
	}
	d.n++
	if d.n%ctxCheckEvery == 0 && d.ctx != nil {
		d.err = d.ctx.Err()
	}
	return d.err != nil
}

// segment is one step of the path being walked. Texts and
// structured-merge-diff elements are made only for emitted changes.
type segment struct {
	field string         // map key
	keys  []string       // merge keys of a keyed list item
	item  map[string]any // the keyed list item
	value any            // a scalar set member
	kind  byte           // 'f' field, 'k' keyed item, 'v' set value
}

func (d *differ) emit(op string, oldV, newV any) {
	if d.max > 0 && len(d.out) >= d.max {
		if !d.isBookkeeping() {
			d.over++
		}
		return
	}
	var b strings.Builder
	fp := make(fieldpath.Path, len(d.path))
	for i, s := range d.path {
		switch s.kind {
		case 'f':
			t := fieldText(s.field)
			if i == 0 {
				t = strings.TrimPrefix(t, ".")
			}
			b.WriteString(t)
			name := s.field
			fp[i] = fieldpath.PathElement{FieldName: &name}
		case 'k':
			text, fl := itemKey(s.keys, s.item)
			b.WriteString("[" + text + "]")
			fp[i] = fieldpath.PathElement{Key: &fl}
		case 'v':
			b.WriteString("[" + scalarText(s.value) + "]")
			v := value.NewValueInterface(s.value)
			fp[i] = fieldpath.PathElement{Value: &v}
		}
	}
	p := b.String()
	if bookkeeping[p] {
		return
	}
	d.out = append(d.out, Change{Path: p, Op: op, fp: fp, Old: oldV, New: newV})
}

// isBookkeeping is the bookkeeping check of emit without building the
// path's text (bookkeeping paths are two fields deep).
func (d *differ) isBookkeeping() bool {
	if len(d.path) != 2 || d.path[0].kind != 'f' || d.path[1].kind != 'f' {
		return false
	}
	return bookkeeping[d.path[0].field+"."+d.path[1].field]
}

func (d *differ) push(s segment) { d.path = append(d.path, s) }
func (d *differ) pop()           { d.path = d.path[:len(d.path)-1] }

func (d *differ) walkMap(field *string, am, bm map[string]any) {
	for k, av := range am {
		d.push(segment{kind: 'f', field: k})
		bv, ok := bm[k]
		if !ok {
			bv = nil
		}
		d.walk(k, av, bv)
		d.pop()
	}
	for k, bv := range bm {
		if _, ok := am[k]; ok {
			continue
		}
		d.push(segment{kind: 'f', field: k})
		d.walk(k, nil, bv)
		d.pop()
	}
}

// walk compares two values found under map key field ("" for list items).
func (d *differ) walk(field string, a, b any) {
	if d.stop() {
		return
	}
	// An added or removed map is reported key by key, so each leaf can be
	// named (and ignored or attributed) on its own; an empty map and an
	// absent one are the same.
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	switch {
	case a == nil && b == nil:
		return
	case a == nil && bIsMap, b == nil && aIsMap:
		d.walkMap(nil, am, bm)
		return
	case a == nil:
		d.emit("add", nil, b)
		return
	case b == nil:
		d.emit("remove", a, nil)
		return
	}
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			d.walkMap(&field, av, bv)
			return
		}
	case []any:
		bv, ok := b.([]any)
		if !ok {
			break
		}
		if field != "" {
			if keys, ok := keyedList(field, av, bv); ok {
				d.walkKeyed(keys, av, bv)
				return
			}
			if setLists[field] {
				d.walkSet(av, bv)
				return
			}
		}
		if !equal(av, bv) {
			d.emit("replace", a, b)
		}
		return
	case string:
		if bv, ok := b.(string); ok {
			if av != bv {
				d.emit("replace", a, b)
			}
			return
		}
	case float64:
		if bv, ok := b.(float64); ok {
			if av != bv {
				d.emit("replace", a, b)
			}
			return
		}
	case bool:
		if bv, ok := b.(bool); ok {
			if av != bv {
				d.emit("replace", a, b)
			}
			return
		}
	}
	if !equal(a, b) {
		d.emit("replace", a, b)
	}
}

func equal(a, b any) bool { return reflect.DeepEqual(a, b) }

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
			for _, k := range keys {
				switch m[k].(type) {
				case map[string]any, []any:
					return nil, false // merge keys are scalars
				}
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

// sameKey reports whether two list items have the same merge key.
func sameKey(keys []string, a, b map[string]any) bool {
	for _, k := range keys {
		av, bv := a[k], b[k]
		if av != bv { // merge keys are scalars
			return false
		}
	}
	return true
}

func findItem(keys []string, l []any, item map[string]any, hint int) map[string]any {
	if hint < len(l) {
		if m := l[hint].(map[string]any); sameKey(keys, m, item) {
			return m
		}
	}
	for _, it := range l {
		if m := it.(map[string]any); sameKey(keys, m, item) {
			return m
		}
	}
	return nil
}

func (d *differ) walkKeyed(keys []string, al, bl []any) {
	for i, it := range al {
		if d.stop() {
			return
		}
		a := it.(map[string]any)
		b := findItem(keys, bl, a, i)
		d.push(segment{kind: 'k', keys: keys, item: a})
		if b == nil {
			d.emit("remove", a, nil)
		} else {
			d.walkMap(nil, a, b)
		}
		d.pop()
	}
	for i, it := range bl {
		if d.stop() {
			return
		}
		b := it.(map[string]any)
		if findItem(keys, al, b, i) == nil {
			d.push(segment{kind: 'k', keys: keys, item: b})
			d.emit("add", nil, b)
			d.pop()
		}
	}
}

func (d *differ) walkSet(al, bl []any) {
	in := func(l []any, v any) bool {
		for _, x := range l {
			if equal(x, v) {
				return true
			}
		}
		return false
	}
	for _, v := range al {
		if d.stop() {
			return
		}
		if !in(bl, v) {
			d.push(segment{kind: 'v', value: v})
			d.emit("remove", v, nil)
			d.pop()
		}
	}
	for _, v := range bl {
		if d.stop() {
			return
		}
		if !in(al, v) {
			d.push(segment{kind: 'v', value: v})
			d.emit("add", nil, v)
			d.pop()
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
