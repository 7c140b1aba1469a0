package revert

import (
	"encoding/json"
	"strings"
)

// Writer is the manager that wrote the update old -> new: the managedFields
// entry of new that is not in old or whose time moved (the API server
// stamps the writer's entry on every write that changes fields it then
// owns). With several, the latest wins; "" when none moved.
func Writer(old, new map[string]any) string {
	before := map[string]string{}
	for _, e := range entries(old) {
		before[e.key()] = e.time
	}
	best, bestTime := "", ""
	for _, e := range entries(new) {
		if t, ok := before[e.key()]; ok && t == e.time {
			continue
		}
		if best == "" || e.time > bestTime {
			best, bestTime = e.manager, e.time
		}
	}
	return best
}

type entry struct{ manager, operation, subresource, time string }

func (e entry) key() string { return e.manager + "\x00" + e.operation + "\x00" + e.subresource }

func entries(o map[string]any) []entry {
	md, _ := o["metadata"].(map[string]any)
	mf, _ := md["managedFields"].([]any)
	out := make([]entry, 0, len(mf))
	for _, x := range mf {
		m, _ := x.(map[string]any)
		s := func(k string) string { v, _ := m[k].(string); return v }
		out = append(out, entry{s("manager"), s("operation"), s("subresource"), s("time")})
	}
	return out
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
