package revert

import (
	"context"
	"encoding/json"
	"hash/maphash"
	"sync"
	"time"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

// Options bound and tune a Detector.
type Options struct {
	// Window: a set-back later than this after the edit is not a revert.
	Window time.Duration
	// MaxTracked bounds the hand edits remembered at once (oldest go first).
	MaxTracked int
	// MaxChanges bounds the fields one update is compared over; an update
	// changing more (a rewrite) is not examined field by field.
	MaxChanges int
	// HandEditManagers are the managers whose writes are a person's.
	HandEditManagers []string
	// IsOwner tells the managers of declared owners (config owners): such
	// a manager writing a field back is the owner restoring its value (the
	// fix of a hand edit, as a re-apply), not a revert; the edit is
	// forgotten without an outcome. nil: none.
	IsOwner func(manager string) bool
}

// Defaults for Options' zero values.
const (
	DefaultWindow     = 10 * time.Minute
	DefaultMaxTracked = 20000
	DefaultMaxChanges = 100
)

// Ref names the object of an edit or revert.
type Ref struct {
	APIVersion, Kind, Namespace, Name, UID string
}

// Revert is one observed revert of a hand edit.
type Revert struct {
	Object     Ref
	Field      string
	EditedBy   string // the user from driftguard's drift record, else the manager
	EditedAt   time.Time
	RevertedBy string // the manager that set the field back
	After      time.Duration
	// Predicted is the prediction driftguard made for the edit ("" when it
	// made none): the owner its revert warning named.
	Predicted string
	// OlderImage is set when the revert moved an image to an older tag
	// (From is the edited image, To the one it went back to).
	OlderImage bool
	From, To   string
	// Controller is the object's controlling owner (empty when none).
	Controller OwnerRef
}

// OwnerRef is a controlling ownerReference.
type OwnerRef struct{ APIVersion, Kind, Name string }

// Outcome is what became of a prediction, or of a revert nobody predicted.
type Outcome string

// The outcomes counted.
const (
	CameTrue    Outcome = "came_true"     // predicted and reverted in the window
	NotCameTrue Outcome = "not_came_true" // predicted, not reverted in the window
	Missed      Outcome = "missed"        // reverted, not predicted
)

// Predictor says, for a hand edit (old -> new) by editor, which of its
// fields driftguard warned would be reverted, and by which owner (field
// -> owner; fields it did not warn about are absent).
type Predictor func(ctx context.Context, old, new map[string]any, editor string) map[string]string

// Detector keeps recent hand edits and reports their reverts. It is safe
// for concurrent use.
type Detector struct {
	opt      Options
	predict  Predictor
	outcome  func(Outcome, Ref, string)
	handEdit map[string]bool

	mu     sync.Mutex
	edits  map[editKey]*edit
	perUID map[string]int // tracked edits per object
	order  []editKey      // insertion order, a ring over MaxTracked
	head   int            // next slot of order to overwrite
	n      int            // occupied slots
}

type editKey struct{ uid, field string }

type edit struct {
	ref       Ref
	by        string
	at        time.Time
	prev, cur uint64 // hashes of the value before and after the edit
	fromImage string // the value before the edit, for image fields only
	predicted string
	slot      int
}

// New makes a Detector. outcome is called (outside the lock is not
// promised: keep it cheap) for every prediction resolved and every revert
// nobody predicted; predict may be nil (no predictions).
func New(opt Options, predict Predictor, outcome func(o Outcome, obj Ref, field string)) *Detector {
	if opt.Window <= 0 {
		opt.Window = DefaultWindow
	}
	if opt.MaxTracked <= 0 {
		opt.MaxTracked = DefaultMaxTracked
	}
	if opt.MaxChanges <= 0 {
		opt.MaxChanges = DefaultMaxChanges
	}
	if outcome == nil {
		outcome = func(Outcome, Ref, string) {}
	}
	d := &Detector{
		opt: opt, predict: predict, outcome: outcome,
		handEdit: map[string]bool{},
		edits:    map[editKey]*edit{},
		perUID:   map[string]int{},
		order:    make([]editKey, opt.MaxTracked),
	}
	for _, m := range opt.HandEditManagers {
		d.handEdit[config.FoldManager(m)] = true
	}
	return d
}

// SetWindow changes the window (a config reload); edits already tracked
// are judged by the new one.
func (d *Detector) SetWindow(w time.Duration) {
	if w <= 0 {
		return
	}
	d.mu.Lock()
	d.opt.Window = w
	d.mu.Unlock()
}

// Tracked is how many hand edits the detector remembers now.
func (d *Detector) Tracked() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.edits)
}

// Observe takes one update of an object (old and new as the informer
// delivers them) at time now and returns the reverts it completes.
func (d *Detector) Observe(ctx context.Context, old, new map[string]any, now time.Time) []Revert {
	md, _ := new["metadata"].(map[string]any)
	uid, _ := md["uid"].(string)
	if uid == "" || resourceVersion(old) == resourceVersion(new) {
		return nil
	}
	writer := Writer(old, new)
	byHand := writer != "" && d.handEdit[config.FoldManager(writer)]
	d.mu.Lock()
	d.expire(now)
	tracked := d.perUID[uid] > 0
	d.mu.Unlock()
	if !byHand && !tracked {
		// the common case (controllers' and owners' writes of objects
		// nobody edited by hand lately): no comparison at all
		return nil
	}
	changes, err := input.DiffLimited(ctx, old, new, d.opt.MaxChanges)
	if err != nil || len(changes) == 0 {
		return nil
	}
	ref := refOf(new)
	if byHand {
		by := editorOf(new, writer)
		var preds map[string]string
		if d.predict != nil {
			preds = d.predict(ctx, old, new, by)
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, c := range changes {
			if isMetadata(c.Path) {
				continue
			}
			e := &edit{ref: ref, by: by, at: now, prev: hash(c.Old), cur: hash(c.New)}
			if isImage(c.Path) {
				e.fromImage, _ = c.Old.(string)
			}
			e.predicted = preds[c.Path]
			d.put(editKey{uid, c.Path}, e)
		}
		return nil
	}
	var out []Revert
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range changes {
		k := editKey{uid, c.Path}
		e, ok := d.edits[k]
		if !ok {
			continue
		}
		d.remove(k, e)
		if hash(c.New) != e.prev {
			// overwritten with something else: not a revert, and the edit
			// it would have reverted is gone
			if e.predicted != "" {
				d.outcome(NotCameTrue, e.ref, c.Path)
			}
			continue
		}
		reverter := FieldOwner(new, c.FieldPath())
		if reverter == "" {
			reverter = writer
		}
		if d.opt.IsOwner != nil && d.opt.IsOwner(reverter) {
			continue // restored by its declared owner: the fix, not a revert
		}
		r := Revert{Object: ref, Field: c.Path, EditedBy: e.by, EditedAt: e.at, RevertedBy: reverter, After: now.Sub(e.at), Predicted: e.predicted, Controller: controllerOf(new)}
		if e.fromImage != "" {
			if edited, ok := c.Old.(string); ok {
				r.From, r.To = edited, e.fromImage
				r.OlderImage = OlderTag(e.fromImage, edited)
			}
		}
		if e.predicted != "" {
			d.outcome(CameTrue, e.ref, c.Path)
		} else {
			d.outcome(Missed, e.ref, c.Path)
		}
		out = append(out, r)
	}
	return out
}

// Sweep resolves the edits whose window has passed (their predictions did
// not come true); Observe sweeps too, so a caller needs it only when
// updates stop.
func (d *Detector) Sweep(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
}

// put remembers an edit, evicting the oldest when full. d.mu is held.
func (d *Detector) put(k editKey, e *edit) {
	if old, ok := d.edits[k]; ok {
		// a second hand edit of the same field: the value to go back to
		// stays the one before the first edit
		e.prev, e.fromImage = old.prev, old.fromImage
		if e.predicted == "" {
			e.predicted = old.predicted
		}
		d.remove(k, old)
	}
	if d.n == len(d.order) {
		// the oldest slot is at head
		ok := d.order[d.head]
		if oe, found := d.edits[ok]; found && oe.slot == d.head {
			d.drop(ok, oe)
		} else {
			d.n--
		}
	}
	e.slot = d.head
	d.order[d.head] = k
	d.head = (d.head + 1) % len(d.order)
	d.n++
	d.edits[k] = e
	d.perUID[k.uid]++
}

// remove forgets an edit that was resolved (its slot stays occupied
// until the ring passes it; the map lookup there finds nothing).
func (d *Detector) remove(k editKey, e *edit) {
	delete(d.edits, k)
	if d.perUID[k.uid]--; d.perUID[k.uid] <= 0 {
		delete(d.perUID, k.uid)
	}
	d.order[e.slot] = editKey{}
}

// drop evicts or expires an edit: a prediction it carried did not come
// true (as far as the detector can tell).
func (d *Detector) drop(k editKey, e *edit) {
	if e.predicted != "" {
		d.outcome(NotCameTrue, e.ref, k.field)
	}
	d.remove(k, e)
	d.n--
}

// expire drops the edits older than the window, oldest first. d.mu is held.
func (d *Detector) expire(now time.Time) {
	for d.n > 0 {
		tail := (d.head - d.n + len(d.order)) % len(d.order)
		k := d.order[tail]
		e, ok := d.edits[k]
		if ok && e.slot == tail {
			if now.Sub(e.at) <= d.opt.Window {
				return
			}
			d.drop(k, e)
			continue
		}
		// a resolved edit's slot
		d.n--
	}
}

var seed = maphash.MakeSeed()

// hash is a value's identity: its JSON encoding (maps with sorted keys)
// hashed, so no value is kept.
func hash(v any) uint64 {
	if v == nil {
		return 0
	}
	if s, ok := v.(string); ok {
		return maphash.String(seed, "s"+s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return 1
	}
	return maphash.Bytes(seed, b)
}

func resourceVersion(o map[string]any) string {
	md, _ := o["metadata"].(map[string]any)
	rv, _ := md["resourceVersion"].(string)
	return rv
}

func refOf(o map[string]any) Ref {
	md, _ := o["metadata"].(map[string]any)
	s := func(m map[string]any, k string) string { v, _ := m[k].(string); return v }
	return Ref{APIVersion: s(o, "apiVersion"), Kind: s(o, "kind"), Namespace: s(md, "namespace"), Name: s(md, "name"), UID: s(md, "uid")}
}

func isMetadata(path string) bool {
	return len(path) >= 9 && path[:9] == "metadata."
}
