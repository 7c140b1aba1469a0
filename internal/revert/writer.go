package revert

import (
	"bytes"
	"encoding/json"
	"strings"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// Writer is the manager that wrote the update old -> new: the managedFields
// entry of new that is not in old, or whose time or fields moved (the API
// server stamps the writer's entry on every write that changes fields it
// then owns; times have a resolution of a second, so fields count too).
// With several (a manager that lost fields to the writer changes too),
// the latest wins; "" when none moved. The reverter of a field is told
// more exactly by FieldOwner.
func Writer(old, new map[string]any) string {
	before := map[string]entry{}
	for _, e := range entries(old) {
		before[e.key()] = e
	}
	best, bestTime := "", ""
	consider := func(e entry) {
		if best == "" || e.time > bestTime {
			best, bestTime = e.manager, e.time
		}
	}
	var sameTime []entry // fields moved within the second of its last write
	for _, e := range entries(new) {
		b, ok := before[e.key()]
		switch {
		case !ok || b.time != e.time:
			consider(e)
		case b.fields != e.fields:
			sameTime = append(sameTime, e, b)
		}
	}
	if best != "" {
		return best
	}
	// a manager whose fields were taken by the writer changes too (its
	// time stays): the writer is the one that gained fields
	for i := 0; i+1 < len(sameTime); i += 2 {
		if gained(sameTime[i+1].raw, sameTime[i].raw) {
			consider(sameTime[i])
		}
	}
	return best
}

// gained reports whether fieldsV1 after has a field that before lacks.
func gained(before, after any) bool {
	a, b := parseSet(before), parseSet(after)
	if b == nil {
		return false
	}
	if a == nil {
		return !b.Empty()
	}
	return !b.Difference(a).Empty()
}

func parseSet(v any) *fieldpath.Set {
	if v == nil {
		return nil
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	set := &fieldpath.Set{}
	if set.FromJSON(bytes.NewReader(raw)) != nil {
		return nil
	}
	return set
}

type entry struct {
	manager, operation, subresource, time string
	fields                                any // a hash of fieldsV1
	raw                                   any // fieldsV1
}

func (e entry) key() string { return e.manager + "\x00" + e.operation + "\x00" + e.subresource }

func entries(o map[string]any) []entry {
	md, _ := o["metadata"].(map[string]any)
	mf, _ := md["managedFields"].([]any)
	out := make([]entry, 0, len(mf))
	for _, x := range mf {
		m, _ := x.(map[string]any)
		s := func(k string) string { v, _ := m[k].(string); return v }
		out = append(out, entry{s("manager"), s("operation"), s("subresource"), s("time"), fieldsKey(m["fieldsV1"]), m["fieldsV1"]})
	}
	return out
}

// fieldsKey makes fieldsV1 comparable: its hash.
func fieldsKey(v any) any {
	if v == nil {
		return uint64(0)
	}
	return hash(v)
}

// FieldOwner is the manager that owns path p in o's managedFields after
// a write (the one that set it); "" when none does.
func FieldOwner(o map[string]any, p fieldpath.Path) string {
	md, _ := o["metadata"].(map[string]any)
	mf, _ := md["managedFields"].([]any)
	for _, x := range mf {
		m, _ := x.(map[string]any)
		if set := parseSet(m["fieldsV1"]); set != nil && set.Has(p) {
			name, _ := m["manager"].(string)
			return name
		}
	}
	return ""
}

// editorOf is the person behind a hand edit: the user of the newest edit
// in driftguard's drift record when that edit is new in this update,
// else the manager.
func editorOf(new map[string]any, manager string) string {
	md, _ := new["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	raw, _ := ann["driftguard.io/drift"].(string)
	if raw == "" {
		return manager
	}
	var rec struct {
		Edits []struct {
			By string `json:"by"`
		} `json:"edits"`
	}
	if json.Unmarshal([]byte(raw), &rec) != nil || len(rec.Edits) == 0 {
		return manager
	}
	by := rec.Edits[len(rec.Edits)-1].By
	if by == "" || strings.ContainsAny(by, "\n\r") {
		return manager
	}
	return by
}
