package input

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	gojson "github.com/goccy/go-json"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// ManagedSet is one managedFields entry parsed into a field set.
type ManagedSet struct {
	Manager     string
	Operation   string
	Subresource string
	Set         *fieldpath.Set
}

// ParseManagedFields parses metadata.managedFields of a raw JSON object
// with structured-merge-diff. Entries whose fieldsV1 cannot be parsed are
// skipped and reported in the error; the rest are returned.
func ParseManagedFields(rawObject []byte) ([]ManagedSet, error) {
	_, mf, err := DecodeObject(rawObject)
	if err != nil {
		return nil, fmt.Errorf("managedFields: %w", err)
	}
	return parseManagedFields(mf, nil)
}

// parseManagedFields parses the entries of a raw managedFields array that
// keep(manager, subresource) accepts (all when keep is nil).
func parseManagedFields(raw []byte, keep func(manager, subresource string) bool) ([]ManagedSet, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var entries []metav1.ManagedFieldsEntry
	if err := gojson.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("managedFields: %w", err)
	}
	out := make([]ManagedSet, 0, len(entries))
	var errs []error
	for i, e := range entries {
		if e.FieldsType != "" && e.FieldsType != "FieldsV1" {
			continue
		}
		if keep != nil && !keep(e.Manager, e.Subresource) {
			continue
		}
		set := &fieldpath.Set{}
		if e.FieldsV1 != nil && len(e.FieldsV1.Raw) > 0 {
			if err := set.FromJSON(bytes.NewReader(e.FieldsV1.Raw)); err != nil {
				errs = append(errs, fmt.Errorf("managedFields[%d] (%s): fieldsV1: %w", i, e.Manager, err))
				continue
			}
		}
		out = append(out, ManagedSet{Manager: e.Manager, Operation: string(e.Operation), Subresource: e.Subresource, Set: set})
	}
	return out, errors.Join(errs...)
}

// Owns reports whether a field set owns path p: the path itself is a
// member, an ancestor is an atomic member (a member with no tracked
// children), or something below the path is owned (a removed or replaced
// subtree the manager had fields in).
func Owns(s *fieldpath.Set, p fieldpath.Path) bool {
	if s == nil || len(p) == 0 {
		return false
	}
	for i, pe := range p {
		child, hasChild := s.Children.Get(pe)
		if i == len(p)-1 {
			return s.Members.Has(pe) || (hasChild && !child.Empty())
		}
		if !hasChild {
			return s.Members.Has(pe)
		}
		s = child
	}
	return false
}

// OwnsOutsideMetadata reports whether a set owns any field outside
// metadata (i.e. the manager wrote the object's substance).
func OwnsOutsideMetadata(s *fieldpath.Set) bool {
	if s == nil {
		return false
	}
	found := false
	s.Iterate(func(p fieldpath.Path) {
		if found || len(p) == 0 || p[0].FieldName == nil {
			return
		}
		if *p[0].FieldName != "metadata" {
			found = true
		}
	})
	return found
}

// managedInfo is the parsed managedFields of one object: the entries of
// declared owners' managers eagerly, everyone else's on first need (only
// a change no declared owner owns asks who else does). Structured-merge-
// diff parsing is the costliest step of enrichment.
type managedInfo struct {
	declared []ManagedSet
	declErr  error

	raw    []byte
	keep   func(manager, subresource string) bool
	once   sync.Once
	others []ManagedSet
	othErr error
}

func (m *managedInfo) rest() ([]ManagedSet, error) {
	if m == nil {
		return nil, nil
	}
	m.once.Do(func() {
		m.others, m.othErr = parseManagedFields(m.raw, func(manager, sub string) bool { return !m.keep(manager, sub) && sub == "" })
		m.raw = nil
	})
	return m.others, m.othErr
}

// managedCache keeps parsed managedFields of recently seen objects, keyed
// by uid and resourceVersion (which identify a stored object's content):
// the validating and mutating webhooks see the same oldObject, and the
// API server retries. Parsed sets are read-only and shared.
type managedCache struct {
	mu      sync.Mutex
	entries map[string]*managedInfo
	max     int
}

func newManagedCache(max int) *managedCache {
	return &managedCache{entries: make(map[string]*managedInfo, max), max: max}
}

func (c *managedCache) get(key string) *managedInfo {
	if c == nil || key == "" {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[key]
}

func (c *managedCache) put(key string, e *managedInfo) {
	if c == nil || key == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		clear(c.entries) // bounded; a cold start costs one parse per object
	}
	c.entries[key] = e
}
