package revert

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/driftguard/driftguard/internal/audit"
)

// EventReason is the reason of the Event on an object whose hand edit was
// reverted.
const EventReason = "RevertObserved"

// FindingPolicy is the policy name of revert findings in reports and in
// driftguard drift (no Rego policy computes them: the detector does).
const FindingPolicy = "observed_revert"

// Recent keeps the reverts of the last Retain (at most Max objects and
// fields, the least recently reverted forgotten first) and turns them
// into findings: one per object and field, with how many times, by whom
// and the last revert's message.
type Recent struct {
	Retain time.Duration
	Max    int

	mu sync.Mutex
	by map[editKey]*revertHistory
}

type revertHistory struct {
	ref       Ref
	field     string
	times     []time.Time // revert times, oldest first, at most maxTimes
	reverters map[string]bool
	last      string // message of the last revert
}

const maxTimes = 50

// Add records a revert; msg is its one-line description.
func (r *Recent) Add(rv Revert, at time.Time, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.by == nil {
		r.by = map[editKey]*revertHistory{}
	}
	k := editKey{rv.Object.UID, rv.Field}
	h := r.by[k]
	if h == nil {
		r.evict(at)
		h = &revertHistory{ref: rv.Object, field: rv.Field, reverters: map[string]bool{}}
		r.by[k] = h
	}
	h.times = append(h.times, at)
	if len(h.times) > maxTimes {
		h.times = h.times[len(h.times)-maxTimes:]
	}
	if len(h.reverters) < 10 {
		h.reverters[rv.RevertedBy] = true
	}
	h.last = msg
}

// evict drops expired histories and, when full, the least recent one.
func (r *Recent) evict(now time.Time) {
	max := r.Max
	if max <= 0 {
		max = 1000
	}
	var oldestK editKey
	var oldest time.Time
	for k, h := range r.by {
		t := h.times[len(h.times)-1]
		if r.Retain > 0 && now.Sub(t) > r.Retain {
			delete(r.by, k)
			continue
		}
		if oldest.IsZero() || t.Before(oldest) {
			oldestK, oldest = k, t
		}
	}
	if len(r.by) >= max {
		delete(r.by, oldestK)
	}
}

// Findings are the reverts within Retain of now, sorted by object and
// field.
func (r *Recent) Findings(now time.Time) []audit.Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []audit.Finding
	for k, h := range r.by {
		n := 0
		for _, t := range h.times {
			if r.Retain <= 0 || now.Sub(t) <= r.Retain {
				n++
			}
		}
		if n == 0 {
			delete(r.by, k)
			continue
		}
		var who []string
		for m := range h.reverters {
			who = append(who, m)
		}
		sort.Strings(who)
		msg := h.last
		if n > 1 {
			msg = fmt.Sprintf("%s (reverted %d times in the last %s, by %s)", msg, n, r.Retain, strings.Join(who, ", "))
		}
		out = append(out, audit.Finding{
			Object: audit.Ref{APIVersion: h.ref.APIVersion, Kind: h.ref.Kind, Namespace: h.ref.Namespace, Name: h.ref.Name, UID: h.ref.UID},
			Policy: FindingPolicy, Field: h.field, Owner: strings.Join(who, ","), Msg: msg, Count: n,
		})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i].Object, out[j].Object
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return out[i].Field < out[j].Field
	})
	return out
}

// Message is the one-line description of a revert: the Event's note and
// the finding's message. cfg-based advice for missed reverts is appended
// by the caller.
func Message(r Revert) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s set by %s was reverted %s later by manager %s", r.Field, r.EditedBy, r.After.Round(time.Second), r.RevertedBy)
	if r.OlderImage {
		fmt.Fprintf(&b, ", back to the older image %s (from %s)", r.To, r.From)
	}
	if r.Predicted != "" {
		fmt.Fprintf(&b, "; driftguard warned of it (owner %s)", r.Predicted)
	} else {
		b.WriteString("; driftguard did not predict it")
	}
	return b.String()
}
