package input

import (
	"bytes"
	"slices"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/driftguard/driftguard/internal/config"
)

// ownerRef is the controlling ownerReference.
type ownerRef struct {
	APIVersion, Kind, Name, UID string
	GK                          config.GroupKind
}

// controllerRef is the ownerReference of obj with controller: true (nil
// when there is none).
func controllerRef(obj map[string]any) *ownerRef {
	md, _ := obj["metadata"].(map[string]any)
	refs, _ := md["ownerReferences"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		if c, _ := m["controller"].(bool); !c {
			continue
		}
		o := &ownerRef{}
		o.APIVersion, _ = m["apiVersion"].(string)
		o.Kind, _ = m["kind"].(string)
		o.Name, _ = m["name"].(string)
		o.UID, _ = m["uid"].(string)
		group := ""
		if g, _, ok := strings.Cut(o.APIVersion, "/"); ok {
			group = g
		}
		o.GK = config.GroupKind{Group: group, Kind: o.Kind}
		return o
	}
	return nil
}

// objectOwner is the declared owner of the object as a whole and how it
// was found: the owner annotation, a controlling ownerReference of a
// declared kind, or a declared manager owning fields outside metadata.
func (b *Builder) objectOwner(obj map[string]any, ctrl *ownerRef, managed *managedInfo) (string, string) {
	if obj == nil {
		return "", ""
	}
	if o := annotation(obj, b.cfg.OwnerAnnotation); o != "" && b.cfg.OwnerByName(o) != nil {
		return o, "annotation"
	}
	if ctrl != nil {
		if o, ok := b.kindOwner[ctrl.GK]; ok {
			return o, "ownerReference"
		}
	}
	if managed != nil {
		for _, m := range managed.declared {
			if OwnsOutsideMetadata(m.Set) {
				return b.ownerOfManager(m.Manager), "managedFields"
			}
		}
	}
	return "", ""
}

// attribute finds who owns a changed field: a declared owner's manager in
// managedFields first, then the object's declared owner (annotation or
// ownerReference) for everything outside metadata. Managers lists the
// declared managers that own the path or, when none does, every manager
// that does.
func (b *Builder) attribute(in *Input, c *Change, managed *managedInfo) {
	if managed != nil {
		for _, m := range managed.declared {
			if Owns(m.Set, c.fp) {
				c.Managers = append(c.Managers, m.Manager)
				if c.Owner == "" {
					c.Owner, c.Via = b.ownerOfManager(m.Manager), "managedFields"
				}
			}
		}
		if c.Owner == "" {
			others, err := managed.rest()
			if err != nil && !slices.Contains(in.Notes, err.Error()) {
				in.Notes = append(in.Notes, err.Error())
			}
			for _, m := range others {
				if Owns(m.Set, c.fp) {
					c.Managers = append(c.Managers, m.Manager)
				}
			}
		}
	}
	if c.Owner == "" && in.ObjectOwner != "" && in.ObjectVia != "managedFields" && !strings.HasPrefix(c.Path, "metadata.") && !strings.HasPrefix(c.Path, "status") {
		c.Owner, c.Via = in.ObjectOwner, in.ObjectVia
	}
}

// managedFields returns the parsed managedFields (see managedInfo) of
// an object, from the cache when the same bytes were parsed before.
func (b *Builder) managedFields(raw []byte) *managedInfo {
	if m := b.managed.get(raw); m != nil {
		return m
	}
	keep := func(manager, sub string) bool {
		return sub == "" && b.ownerOfManager(manager) != ""
	}
	m := &managedInfo{raw: raw, keep: keep}
	if b.managed.cacheable(raw) {
		m.content = bytes.Clone(raw)
		m.raw = m.content
	}
	m.declared, m.declErr = parseManagedFields(m.raw, keep)
	b.managed.put(m)
	return m
}

// droppedOwnership reports declared owners whose managedFields entry is
// in oldObject but not in object: someone reset or rewrote managedFields
// (e.g. a patch of metadata.managedFields), which strips the owner's
// claim on its fields. It is a change of path
// metadata.managedFields[<manager>] owned by that owner.
func (b *Builder) droppedOwnership(old *managedInfo, newMF []byte) []Change {
	if old == nil || len(old.declared) == 0 {
		return nil
	}
	var entries []struct {
		Manager     string `json:"manager"`
		Subresource string `json:"subresource"`
	}
	if len(newMF) > 0 {
		if err := gojson.Unmarshal(newMF, &entries); err != nil {
			entries = nil
		}
	}
	present := func(manager string) bool {
		for _, e := range entries {
			if e.Subresource == "" && foldEqual(e.Manager, manager) {
				return true
			}
		}
		return false
	}
	var out []Change
	for _, m := range old.declared {
		if !present(m.Manager) {
			out = append(out, Change{
				Path: "metadata.managedFields[" + m.Manager + "]", Op: "remove",
				Managers: []string{m.Manager}, Owner: b.ownerOfManager(m.Manager), Via: "managedFields",
			})
		}
	}
	return out
}

// ownerOfManager is the declared owner a managedFields manager name means
// ("" for none), matched case-insensitively.
func (b *Builder) ownerOfManager(manager string) string {
	if o, ok := lookupManager(b.managerOwner, manager); ok {
		return o
	}
	for _, p := range b.managerPrefixes {
		if hasFoldPrefix(manager, p.prefix) {
			return p.owner
		}
	}
	return ""
}

// hasFoldPrefix: manager starts with the folded prefix, compared as
// config.FoldManager does, and is longer than it.
func hasFoldPrefix(manager, prefix string) bool {
	if len(manager) <= len(prefix) {
		return false
	}
	return foldEqual(manager[:len(prefix)], prefix)
}

// lookupManager looks a managedFields manager name up in a map keyed by
// config.FoldManager: the Terraform provider writes "HashiCorp" and
// "Terraform", and a config may say "hashicorp". Names of up to 64 bytes
// are folded on the stack (no allocation per managedFields entry).
func lookupManager[V any](m map[string]V, manager string) (V, bool) {
	var buf [64]byte
	if len(manager) > len(buf) {
		v, ok := m[config.FoldManager(manager)]
		return v, ok
	}
	for i := 0; i < len(manager); i++ {
		c := manager[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	v, ok := m[string(buf[:len(manager)])]
	return v, ok
}

// foldEqual compares manager names as config.FoldManager does.
func foldEqual(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
