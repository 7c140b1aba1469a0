package admit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
)

// Trail is the decision trail of the validating webhook: one log line per
// answered review that is not a plain allow (deny, warn, break_glass,
// dryrun that would deny, error, unreviewed), and Kubernetes Events on
// the object for denied hand edits, break-glass and recorded drift.
//
// It says who changed which fields of which object, owned by whom, and
// what driftguard answered; never a value: no policy message (policies
// quote images and data), no break-glass reason text, no error text.
// Field paths, owners, policy names and the object's coordinates only.
//
// Log lines are rate-limited (a token bucket); the lines over the limit
// are counted (driftguard_decision_log_suppressed_total) and reported by
// Run in a periodic "decision log lines suppressed" line. Events go to
// Events, which must not block (internal/events queues and drops).
type Trail struct {
	log        logr.Logger
	limit      *rate.Limiter
	suppressed atomic.Int64 // since the last report
	metrics    *metrics.Metrics
	// Events receives the Events; nil: none are sent (without --cluster).
	Events EventSink
	// ReportEvery is how often Run reports suppressed lines.
	ReportEvery time.Duration
}

// EventSink takes the trail's Events. Emit must return at once.
type EventSink interface{ Emit(Event) }

// Event is one Kubernetes Event on the object a review changed.
type Event struct {
	Regarding corev1.ObjectReference
	Type      string // Normal or Warning
	Reason    string // HandEditDenied, BreakGlassUsed, DriftRecorded
	Action    string // Denied, Allowed
	Note      string
}

// The reasons of the trail's Events.
const (
	EventHandEditDenied = "HandEditDenied"
	EventBreakGlassUsed = "BreakGlassUsed"
	EventDriftRecorded  = "DriftRecorded"
)

// Default rate of decision log lines.
const (
	TrailRate  = 50  // lines per second, sustained
	TrailBurst = 200 // lines at once
)

// Bounds of one log line or Event note (objects and policies are
// hostile: a policy can name thousands of fields, a username can be long).
const (
	trailMaxFields = 20
	trailMaxOwners = 5
	trailMaxString = 256
	// eventMaxNote is the API server's limit of an Event's note.
	eventMaxNote = 1024
	// eventNoteFields is how many fields a note names.
	eventNoteFields = 5
)

// NewTrail returns a trail logging to log at perSecond lines per second
// with burst (<= 0: TrailRate, TrailBurst), counting suppressed lines in m
// (nil: not counted).
func NewTrail(log logr.Logger, m *metrics.Metrics, perSecond float64, burst int) *Trail {
	if perSecond <= 0 {
		perSecond = TrailRate
	}
	if burst <= 0 {
		burst = TrailBurst
	}
	return &Trail{log: log, limit: rate.NewLimiter(rate.Limit(perSecond), burst), metrics: m, ReportEvery: time.Minute}
}

// Run reports the suppressed lines every ReportEvery until ctx ends, and
// once more then.
func (t *Trail) Run(ctx context.Context) {
	tick := time.NewTicker(t.ReportEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.ReportSuppressed()
			return
		case <-tick.C:
			t.ReportSuppressed()
		}
	}
}

// ReportSuppressed logs how many lines were suppressed since it last did
// (nothing when none were).
func (t *Trail) ReportSuppressed() {
	if n := t.suppressed.Swap(0); n > 0 {
		t.log.Info("decision log lines suppressed", "count", n, "limitPerSecond", float64(t.limit.Limit()), "burst", t.limit.Burst())
	}
}

// trailDecision is the trail's word for an answer, "" for one it does not
// log (allowed, nothing to say; exempt). It allocates nothing: the allow
// path pays only for this loop over the verdicts.
func trailDecision(d *Decision) string {
	if d == nil || d.Input == nil || d.Input.Exempt != "" {
		return ""
	}
	if !d.Allowed {
		return "deny"
	}
	var bg, errd, warn, dry bool
	for i := range d.Verdicts {
		v := &d.Verdicts[i]
		switch v.Decision {
		case "break_glass":
			bg = true
		case "error":
			errd = true
		case "warn":
			warn = true
		case "dryrun":
			dry = dry || len(v.Result.Deny) > 0
		}
	}
	switch {
	case bg:
		return "break_glass"
	case errd:
		return "error"
	case d.Unreviewed != "":
		return "unreviewed"
	case warn:
		return "warn"
	case dry:
		return "dryrun"
	}
	return ""
}

// trailPolicy is one policy's part in a logged decision.
type trailPolicy struct {
	Name     string `json:"name"`
	Decision string `json:"decision"`
}

// record logs d (when it is not a plain allow) and sends its Events. It is
// called once per answered validating review (claimAnswer).
func (t *Trail) record(d *Decision) {
	if t == nil {
		return
	}
	decision := trailDecision(d)
	if decision == "" {
		return
	}
	t.sendEvents(d)
	if !t.allowLine() {
		return
	}
	req := d.Input.Request
	var policies []trailPolicy
	for _, v := range d.Verdicts {
		if v.Decision != "allow" && v.Decision != "" {
			policies = append(policies, trailPolicy{Name: v.Policy, Decision: v.Decision})
		}
	}
	fields, moreFields, owners := trailFields(d)
	c := callerOf(req)
	kv := []any{
		"uid", c.uid,
		"decision", decision,
		"policies", policies,
		"operation", string(req.Operation),
		"kind", c.kind,
		"namespace", c.namespace,
		"name", c.name,
		"user", c.user,
		"fields", fields,
		"owner", strings.Join(owners, ","),
		"dryRun", isDryRun(req),
	}
	if moreFields > 0 {
		kv = append(kv, "fieldsOmitted", moreFields)
	}
	if req.SubResource != "" {
		kv = append(kv, "subResource", clip(req.SubResource))
	}
	if d.Unreviewed != "" {
		kv = append(kv, "unreviewed", d.Unreviewed)
	}
	t.log.Info("admission decision", kv...)
}

// recordError logs a review that could not be evaluated at all (a
// malformed object). The error's text is not logged: it can quote the
// object.
func (t *Trail) recordError(req *admissionv1.AdmissionRequest) {
	if t == nil {
		return
	}
	if !t.allowLine() {
		return
	}
	c := callerOf(req)
	t.log.Info("admission decision", "uid", c.uid, "decision", "error",
		"operation", string(req.Operation), "kind", c.kind,
		"namespace", c.namespace, "name", c.name,
		"user", c.user, "dryRun", isDryRun(req))
}

// allowLine reports whether the rate limit lets one more line through,
// counting the ones it holds back.
func (t *Trail) allowLine() bool {
	if t.limit.Allow() {
		return true
	}
	t.suppressed.Add(1)
	if t.metrics != nil && t.metrics.DecisionLogSuppressed != nil {
		t.metrics.DecisionLogSuppressed.Inc()
	}
	return false
}

// callerText is what a trail line says of the request and its caller,
// each string cut (clip): a hostile caller chooses all of them.
type callerText struct{ uid, kind, namespace, name, user string }

func callerOf(req *admissionv1.AdmissionRequest) callerText {
	return callerText{uid: clip(string(req.UID)), kind: clip(req.Kind.Kind), namespace: clip(req.Namespace),
		name: clip(req.Name), user: clip(req.UserInfo.Username)}
}

// trailFields are the field paths and owners of the findings behind the
// non-allow verdicts, in order, without repeats, at most trailMaxFields
// (more: how many were left out) and trailMaxOwners.
func trailFields(d *Decision) (fields []string, more int, owners []string) {
	seen := map[string]bool{}
	add := func(field, owner string) {
		if owner != "" && len(owners) < trailMaxOwners && !slices.Contains(owners, clip(owner)) {
			owners = append(owners, clip(owner))
		}
		if field == "" || seen[field] {
			return
		}
		seen[field] = true
		if len(fields) == trailMaxFields {
			more++
			return
		}
		fields = append(fields, clip(field))
	}
	for _, v := range d.Verdicts {
		if v.Decision == "allow" {
			continue
		}
		for _, f := range v.Result.Deny {
			add(f.Field, f.Owner)
		}
		for _, f := range v.Result.Warn {
			add(f.Field, f.Owner)
		}
	}
	if fields == nil {
		fields = []string{}
	}
	return fields, more, owners
}

// sendEvents hands d's Events to the sink: on existing objects (UPDATE,
// DELETE) only, never for a dry run.
func (t *Trail) sendEvents(d *Decision) {
	if t.Events == nil {
		return
	}
	req := d.Input.Request
	if isDryRun(req) || (req.Operation != admissionv1.Update && req.Operation != admissionv1.Delete) {
		return
	}
	ref, ok := regarding(d)
	if !ok {
		return
	}
	user := clip(req.UserInfo.Username)
	var denied, bg, warned []int
	for i, v := range d.Verdicts {
		switch {
		case v.Decision == "deny" && len(v.Result.Deny) > 0:
			denied = append(denied, i)
		case v.Decision == "break_glass":
			bg = append(bg, i)
		case v.Decision == "warn" && len(v.Result.Deny) > 0 && v.Mode == config.ModeWarn:
			warned = append(warned, i)
		}
	}
	verb := strings.ToLower(string(req.Operation))
	if !d.Allowed && len(denied) > 0 {
		t.Events.Emit(Event{Regarding: ref, Type: corev1.EventTypeWarning, Reason: EventHandEditDenied, Action: "Denied",
			Note: eventNote(fmt.Sprintf("driftguard denied the %s by %s", verb, user), d, denied)})
	}
	if d.Allowed && len(bg) > 0 {
		t.Events.Emit(Event{Regarding: ref, Type: corev1.EventTypeWarning, Reason: EventBreakGlassUsed, Action: "Allowed",
			Note: eventNote(fmt.Sprintf("%s used break-glass: the %s was allowed and recorded as drift", user, verb), d, bg)})
	}
	if d.Allowed && len(warned) > 0 {
		t.Events.Emit(Event{Regarding: ref, Type: corev1.EventTypeNormal, Reason: EventDriftRecorded, Action: "Allowed",
			Note: eventNote(fmt.Sprintf("hand edit by %s allowed in warn mode and recorded as drift", user), d, warned)})
	}
}

// eventNote is head followed by the fields, owners and policies of the
// verdicts at idx, within the API server's note limit.
func eventNote(head string, d *Decision, idx []int) string {
	var fields, owners, policies []string
	more := 0
	for _, i := range idx {
		v := d.Verdicts[i]
		policies = append(policies, v.Policy)
		for _, f := range v.Result.Deny {
			if f.Owner != "" && !slices.Contains(owners, clip(f.Owner)) && len(owners) < trailMaxOwners {
				owners = append(owners, clip(f.Owner))
			}
			if f.Field == "" || slices.Contains(fields, clip(f.Field)) {
				continue
			}
			if len(fields) == eventNoteFields {
				more++
				continue
			}
			fields = append(fields, clip(f.Field))
		}
	}
	var b strings.Builder
	b.WriteString(head)
	if len(fields) > 0 {
		b.WriteString("; fields: ")
		b.WriteString(strings.Join(fields, ", "))
		if more > 0 {
			fmt.Fprintf(&b, " and %d more", more)
		}
	}
	if len(owners) > 0 {
		b.WriteString("; owner: ")
		b.WriteString(strings.Join(owners, ", "))
	}
	b.WriteString("; policy: ")
	b.WriteString(strings.Join(policies, ", "))
	return truncateUTF8(b.String(), eventMaxNote)
}

// regarding is the object the Event is about: the stored object (the old
// object of an UPDATE or DELETE), or the workload of a scale request.
func regarding(d *Decision) (corev1.ObjectReference, bool) {
	in, req := d.Input, d.Input.Request
	if p := in.Parent; p != nil {
		return corev1.ObjectReference{APIVersion: p.APIVersion, Kind: p.Kind, Namespace: p.Namespace, Name: p.Name, UID: types.UID(p.UID)}, p.Name != ""
	}
	obj := in.OldObject
	if obj == nil {
		obj = in.Object
	}
	md, _ := obj["metadata"].(map[string]any)
	ref := corev1.ObjectReference{Namespace: req.Namespace, Name: req.Name}
	ref.APIVersion, _ = obj["apiVersion"].(string)
	ref.Kind, _ = obj["kind"].(string)
	if ref.APIVersion == "" || ref.Kind == "" {
		gv := req.Kind.Version
		if req.Kind.Group != "" {
			gv = req.Kind.Group + "/" + gv
		}
		ref.APIVersion, ref.Kind = gv, req.Kind.Kind
	}
	if uid, ok := md["uid"].(string); ok {
		ref.UID = types.UID(uid)
	}
	if ref.Name == "" {
		ref.Name, _ = md["name"].(string)
	}
	return ref, ref.Name != ""
}

func isDryRun(req *admissionv1.AdmissionRequest) bool { return req.DryRun != nil && *req.DryRun }

func clip(s string) string { return truncateUTF8(s, trailMaxString) }

// truncateUTF8 cuts s to at most n bytes on a rune boundary, marking the cut.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
