package revert

import (
	"strings"
	"sync"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/input"
)

// History answers input.RevertLookup from the observed-revert findings
// of driftguard's reports, namespace by namespace, so that every replica
// can tell a person that the field they edit was reverted lately. It holds
// at most MaxPerNamespace objects' fields per namespace (the reports are
// capped too).
type History struct {
	mu   sync.RWMutex
	byNS map[string]map[objKey][]input.PastRevert
}

type objKey struct{ kind, name string }

// MaxPerNamespace bounds what History keeps of one namespace.
const MaxPerNamespace = 1000

var _ input.RevertLookup = (*History)(nil)

// SetNamespace replaces what is known of namespace ns with the
// observed-revert findings among fs (others are ignored); none forgets it.
func (h *History) SetNamespace(ns string, fs []audit.Finding) {
	m := map[objKey][]input.PastRevert{}
	n := 0
	for _, f := range fs {
		if f.Policy != FindingPolicy || f.Field == "" || n >= MaxPerNamespace {
			continue
		}
		k := objKey{f.Object.Kind, f.Object.Name}
		count := f.Count
		if count < 1 {
			count = 1
		}
		var by []string
		if f.Owner != "" {
			by = strings.Split(f.Owner, ",")
		}
		m[k] = append(m[k], input.PastRevert{Field: f.Field, Count: count, By: by})
		n++
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.byNS == nil {
		h.byNS = map[string]map[objKey][]input.PastRevert{}
	}
	if len(m) == 0 {
		delete(h.byNS, ns)
		return
	}
	h.byNS[ns] = m
}

// Reverts is the object's fields reverted lately.
func (h *History) Reverts(namespace, kind, name string) []input.PastRevert {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.byNS[namespace][objKey{kind, name}]
}
