package input

import (
	"bytes"
	"errors"
	"fmt"

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
func ParseManagedFields(raw []byte) ([]ManagedSet, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var obj struct {
		Metadata struct {
			ManagedFields []metav1.ManagedFieldsEntry `json:"managedFields"`
		} `json:"metadata"`
	}
	if err := gojson.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("managedFields: %w", err)
	}
	entries := obj.Metadata.ManagedFields
	out := make([]ManagedSet, 0, len(entries))
	var errs []error
	for i, e := range entries {
		if e.FieldsType != "" && e.FieldsType != "FieldsV1" {
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

