package input

// RevertLookup tells how often fields of an object were reverted lately
// (internal/revert.History implements it from driftguard's reports, so
// every replica sees what the audit leader observed). It must be fast: it
// is asked on UPDATEs by people.
type RevertLookup interface {
	Reverts(namespace, kind, name string) []PastRevert
}

// PastRevert is a field of the object that was reverted lately, as
// input.reverts shows it to policies.
type PastRevert struct {
	Field string
	Count int
	By    []string // the reverting managers
}

// WithReverts adds the object's recent reverts to UPDATE input by people.
func (b *Builder) WithReverts(l RevertLookup) *Builder {
	b.reverts = l
	return b
}

// revertsFor is input.reverts: the recent reverts of fields this update
// changes, for updates by people.
func (b *Builder) revertsFor(in *Input) []any {
	if b.reverts == nil || in.OldObject == nil || !in.Actor.Person || len(in.Changes) == 0 {
		return nil
	}
	past := b.reverts.Reverts(in.Request.Namespace, in.Request.Kind.Kind, in.Request.Name)
	if len(past) == 0 {
		return nil
	}
	changed := make(map[string]bool, len(in.Changes))
	for _, c := range in.Changes {
		changed[c.Path] = true
	}
	var out []any
	for _, p := range past {
		if !changed[p.Field] {
			continue
		}
		out = append(out, map[string]any{"field": p.Field, "count": p.Count, "by": stringsToAny(p.By)})
	}
	return out
}
