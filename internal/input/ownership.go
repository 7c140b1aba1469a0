package input

import (
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
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
		if keep != nil && !keep(e.Manager, e.Subresource) {
			continue
		}
		if e.FieldsType != "" && e.FieldsType != "FieldsV1" {
			// nothing else exists; an entry driftguard cannot read is an
			// owner it cannot see, so it is reported, not skipped
			errs = append(errs, fmt.Errorf("managedFields[%d] (%s): fieldsType %q is not FieldsV1", i, e.Manager, e.FieldsType))
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

	raw     []byte
	content []byte // the managedFields bytes this was parsed from (cache key)
	keep    func(manager, subresource string) bool
	once    sync.Once
	others  []ManagedSet
	othErr  error
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

// managedCache keeps parsed managedFields of recently seen objects: the
// validating and mutating webhooks see the same oldObject, and the API
// server retries. It is keyed by the managedFields bytes themselves
// (compared in full on a hit), never by anything a caller could claim
// about the object (uid, resourceVersion): whatever a caller of the
// webhook port sends, it can only find its own bytes' parse, so no review
// can change how another is judged. Parsed sets are read-only and shared.
// Bounded in entries and bytes; large managedFields are not cached.
type managedCache struct {
	mu      sync.Mutex
	seed    maphash.Seed
	entries map[uint64]*managedInfo
	bytes   int
	max     int
}

// Bounds of the managedFields cache: an entry's bytes and all entries' bytes.
const (
	maxCachedManagedFields = 64 << 10
	maxManagedCacheBytes   = 16 << 20
)

func newManagedCache(max int) *managedCache {
	return &managedCache{seed: maphash.MakeSeed(), entries: make(map[uint64]*managedInfo, max), max: max}
}

func (c *managedCache) cacheable(raw []byte) bool {
	return c != nil && len(raw) > 0 && len(raw) <= maxCachedManagedFields
}

func (c *managedCache) get(raw []byte) *managedInfo {
	if !c.cacheable(raw) {
		return nil
	}
	h := maphash.Bytes(c.seed, raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[h]; e != nil && bytes.Equal(e.content, raw) {
		return e
	}
	return nil
}

// put stores e, whose content must be a copy owned by the cache (not a
// slice of a request body, which it would keep alive).
func (c *managedCache) put(e *managedInfo) {
	if !c.cacheable(e.content) {
		return
	}
	h := maphash.Bytes(c.seed, e.content)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max || c.bytes+len(e.content) > maxManagedCacheBytes {
		clear(c.entries) // bounded; a cold start costs one parse per object
		c.bytes = 0
	}
	if prev := c.entries[h]; prev != nil {
		c.bytes -= len(prev.content)
	}
	c.entries[h] = e
	c.bytes += len(e.content)
}
