package admit_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// A planted image tag: the new image of the denied and break-glass
// changes. It is a value and must appear in no log line and no Event.
const plantedTag = "pl4nted-tag-Wq7c"

// eventLog collects the trail's Events.
type eventLog struct {
	mu     sync.Mutex
	events []admit.Event
}

func (l *eventLog) Emit(ev admit.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// withTrail gives e's engine a trail logging JSON lines to the returned
// buffer (the serve logger with --log-format json) and Events to the
// returned log.
func withTrail(e *env, perSecond float64, burst int) (*bytes.Buffer, *eventLog) {
	buf := &bytes.Buffer{}
	log := zap.New(zap.JSONEncoder(), zap.WriteTo(buf)).WithName("trail")
	e.engine.Trail = admit.NewTrail(log, e.metrics, perSecond, burst)
	ev := &eventLog{}
	e.engine.Trail.Events = ev
	return buf, ev
}

// logLines decodes the JSON lines of buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not one JSON object: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

func setImage(req map[string]any, image string) {
	c := req["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)
	c[0].(map[string]any)["image"] = image
}

func TestTrailDeniedHandEdit(t *testing.T) {
	e := newEnv(t, "")
	buf, evs := withTrail(e, 0, 0)
	// a mutable tag: mutable_tags denies too, and its message quotes the image
	resp := answer(t, post(e.validate, review(t, func(req map[string]any) { setImage(req, "ghcr.io/"+plantedTag+"/api:latest") })))
	if resp.Allowed {
		t.Fatal("alice's hand edit of Terraform's image was allowed")
	}
	if !strings.Contains(resp.Result.Message, plantedTag) {
		t.Fatalf("the denial does not quote the image, so the test plants nothing: %s", resp.Result.Message)
	}
	lines := logLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), buf)
	}
	l := lines[0]
	want := map[string]any{
		"msg": "admission decision", "logger": "trail", "uid": "3f1c9b0e-5b7a-4d5e-8c1a-2f0e9d8c7b6a", "decision": "deny",
		"operation": "UPDATE", "kind": "Deployment", "namespace": "tenant-a", "name": "api", "user": "alice",
		"owner": "terraform", "dryRun": false,
	}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v, want %v\n%s", k, l[k], v, buf)
		}
	}
	if f, _ := l["fields"].([]any); !slices.Contains(f, any("spec.template.spec.containers[api].image")) {
		t.Errorf("fields %v do not name the image", l["fields"])
	}
	if p, _ := l["policies"].([]any); !slices.ContainsFunc(p, func(x any) bool {
		m, _ := x.(map[string]any)
		return m["name"] == "owned_fields" && m["decision"] == "deny"
	}) {
		t.Errorf("policies %v do not name owned_fields' denial", l["policies"])
	}
	if len(evs.events) != 1 {
		t.Fatalf("%d Events, want 1 HandEditDenied: %+v", len(evs.events), evs.events)
	}
	ev := evs.events[0]
	if ev.Reason != admit.EventHandEditDenied || ev.Type != "Warning" || ev.Action != "Denied" {
		t.Errorf("Event %+v, want a Warning HandEditDenied, action Denied", ev)
	}
	r := ev.Regarding
	if r.APIVersion != "apps/v1" || r.Kind != "Deployment" || r.Namespace != "tenant-a" || r.Name != "api" || r.UID != "6b0f8a52-1d4c-4a63-9d8e-3f2b9c1e7a10" {
		t.Errorf("Event regarding %+v, want the stored Deployment tenant-a/api and its uid", r)
	}
	for _, s := range []string{"alice", "spec.template.spec.containers[api].image", "terraform", "owned_fields"} {
		if !strings.Contains(ev.Note, s) {
			t.Errorf("Event note %q does not name %q", ev.Note, s)
		}
	}
	for _, out := range []string{buf.String(), ev.Note} {
		if strings.Contains(out, plantedTag) || strings.Contains(out, "1.1.0") {
			t.Errorf("the trail carries the new image (a value):\n%s", out)
		}
	}
}

func TestTrailAllowedReviewLeavesNoTrail(t *testing.T) {
	e := newEnv(t, "")
	buf, evs := withTrail(e, 0, 0)
	resp := answer(t, post(e.validate, allowedReview(t)))
	if !resp.Allowed || len(resp.Warnings) != 0 {
		t.Fatalf("Terraform's own write: allowed=%v warnings=%v", resp.Allowed, resp.Warnings)
	}
	if buf.Len() != 0 || len(evs.events) != 0 {
		t.Errorf("an allowed review left a trail: log %q, Events %+v", buf, evs.events)
	}
}

func TestTrailBreakGlassAndWarnMode(t *testing.T) {
	warnCfg := strings.Replace(string(config.DefaultYAML()), "  owned_fields:\n", "  owned_fields:\n    mode: warn\n", 1)
	cases := []struct {
		name, cfg, decision, reason, evType string
		breakGlass, dryRun                  bool
	}{
		{"break-glass", "", "break_glass", admit.EventBreakGlassUsed, "Warning", true, false},
		{"warn mode", warnCfg, "warn", admit.EventDriftRecorded, "Normal", false, false},
		{"break-glass dry run: logged, no Event", "", "break_glass", "", "", true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg)
			buf, evs := withTrail(e, 0, 0)
			resp := answer(t, post(e.validate, review(t, func(req map[string]any) {
				setImage(req, "ghcr.io/acme/api:"+plantedTag)
				req["dryRun"] = c.dryRun
				if c.breakGlass {
					setUser(req, "alice", "devs", "driftguard:break-glass")
					md := req["object"].(map[string]any)["metadata"].(map[string]any)
					md["annotations"].(map[string]any)["driftguard.io/break-glass"] = "INC-" + plantedTag
				}
			})))
			if !resp.Allowed {
				t.Fatalf("denied: %s", resp.Result.Message)
			}
			lines := logLines(t, buf)
			if len(lines) != 1 || lines[0]["decision"] != c.decision || lines[0]["dryRun"] != c.dryRun {
				t.Fatalf("log lines %v, want one with decision %s dryRun %v", lines, c.decision, c.dryRun)
			}
			if c.reason == "" {
				if len(evs.events) != 0 {
					t.Fatalf("a dry run sent Events: %+v", evs.events)
				}
			} else if len(evs.events) != 1 || evs.events[0].Reason != c.reason || evs.events[0].Type != c.evType || evs.events[0].Regarding.Name != "api" {
				t.Fatalf("Events %+v, want one %s %s on api", evs.events, c.evType, c.reason)
			}
			all := buf.String()
			for _, ev := range evs.events {
				all += ev.Note
			}
			// the break-glass reason is free text on the object: not carried either
			if strings.Contains(all, plantedTag) {
				t.Errorf("the trail carries a value:\n%s", all)
			}
		})
	}
}

func TestTrailRateLimitCountsSuppressed(t *testing.T) {
	e := newEnv(t, "")
	// burst 3 and (practically) no refill: 3 lines, then suppressed
	buf, _ := withTrail(e, 1e-9, 3)
	body := review(t, nil)
	for range 10 {
		if answer(t, post(e.validate, body)).Allowed {
			t.Fatal("allowed")
		}
	}
	if n := len(logLines(t, buf)); n != 3 {
		t.Fatalf("%d decision lines, want the burst of 3", n)
	}
	if got := testutil.ToFloat64(e.metrics.DecisionLogSuppressed); got != 7 {
		t.Errorf("driftguard_decision_log_suppressed_total = %v, want 7", got)
	}
	buf.Reset()
	e.engine.Trail.ReportSuppressed()
	lines := logLines(t, buf)
	if len(lines) != 1 || lines[0]["msg"] != "decision log lines suppressed" || lines[0]["count"] != float64(7) {
		t.Fatalf("report %v, want one line counting 7", lines)
	}
	buf.Reset()
	e.engine.Trail.ReportSuppressed()
	if buf.Len() != 0 {
		t.Errorf("a second report with nothing suppressed since: %s", buf)
	}
}

// TestTrailPlantedSecretValues: an ExternalSecret's Secret edited by
// hand, with planted values in data (new and old) and stringData: denied,
// and no value in the log line or the Event.
func TestTrailPlantedSecretValues(t *testing.T) {
	const (
		plantNew    = "pl4nted-trail-new-R5tz"
		plantOld    = "pl4nted-trail-old-Mw2k"
		plantString = "pl4nted-trail-string-Hb8q"
	)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	secret := func(data map[string]any) map[string]any {
		return map[string]any{
			"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
			"metadata": map[string]any{
				"name": "api-feature-flags", "namespace": "tenant-a", "uid": "sec-uid-1",
				"ownerReferences": []any{map[string]any{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "api-feature-flags", "uid": "es-1", "controller": true}},
			},
			"data": data,
		}
	}
	obj := secret(map[string]any{"DATABASE_URL": b64(plantOld), "FEATURE_FLAG_X": b64(plantNew)})
	obj["stringData"] = map[string]any{"PASSWORD": plantString}
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "secret-1", "kind": map[string]any{"group": "", "version": "v1", "kind": "Secret"},
			"resource": map[string]any{"group": "", "version": "v1", "resource": "secrets"},
			"name":     "api-feature-flags", "namespace": "tenant-a", "operation": "UPDATE",
			"userInfo": map[string]any{"username": "alice", "groups": []any{"devs"}},
			"object":   obj, "oldObject": secret(map[string]any{"DATABASE_URL": b64(plantOld)}),
		},
	})
	e := newEnv(t, "")
	buf, evs := withTrail(e, 0, 0)
	resp := answer(t, post(e.validate, body))
	if resp.Allowed {
		t.Fatal("a hand edit of an ExternalSecret's Secret was allowed")
	}
	lines := logLines(t, buf)
	if len(lines) != 1 || lines[0]["kind"] != "Secret" || lines[0]["decision"] != "deny" {
		t.Fatalf("log lines %v, want one denial of the Secret", lines)
	}
	if f, _ := json.Marshal(lines[0]["fields"]); !strings.Contains(string(f), "FEATURE_FLAG_X") {
		t.Errorf("fields %s do not name the key", f)
	}
	if len(evs.events) != 1 || evs.events[0].Reason != admit.EventHandEditDenied || evs.events[0].Regarding.UID != "sec-uid-1" {
		t.Fatalf("Events %+v, want HandEditDenied on the Secret", evs.events)
	}
	all := buf.String() + evs.events[0].Note
	for _, v := range []string{plantNew, plantOld, plantString} {
		for _, s := range []string{v, b64(v), v[:16], b64(v)[:16]} {
			if strings.Contains(all, s) {
				t.Errorf("the trail carries planted value %q:\n%s", s, all)
			}
		}
	}
}

func TestTrailBoundsFieldsAndNote(t *testing.T) {
	// a policy denying 500 long field paths with as many long owners: the
	// line names 20 fields, the note 5 (and says more were left out), and
	// the note is cut to the API server's 1024 bytes
	pol := `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.many
import rego.v1
deny contains {"field": sprintf("spec.f%03d.%s", [i, concat("", [x | some _ in numbers.range(1, 40); x := "long"])]), "owner": sprintf("owner%03d-%s", [i, concat("", [x | some _ in numbers.range(1, 60); x := "long"])]), "msg": "m"} if {
	some i in numbers.range(1, 500)
}
`
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "many.rego"), pol)
	cfg := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), "defaultMode: enforce\n")
	e := newEnvOpts(t, loader.Options{ConfigFile: cfg, PolicyDirs: []string{dir}, NoBundled: true})
	buf, evs := withTrail(e, 0, 0)
	if answer(t, post(e.validate, review(t, nil))).Allowed {
		t.Fatal("allowed")
	}
	lines := logLines(t, buf)
	if len(lines) != 1 {
		t.Fatalf("%d lines", len(lines))
	}
	if f, _ := lines[0]["fields"].([]any); len(f) != 20 || lines[0]["fieldsOmitted"] == nil {
		t.Errorf("fields: %d named, omitted %v; want 20 and a count", len(f), lines[0]["fieldsOmitted"])
	}
	if len(evs.events) != 1 || len(evs.events[0].Note) > 1024 || !strings.Contains(evs.events[0].Note, "more") {
		t.Fatalf("Events %+v: want one note within 1024 bytes saying more fields were left out", evs.events)
	}
}

// Every string a caller writes into the review is cut in the log line: a
// megabyte uid or kind (anyone who reaches the webhook port can send one)
// makes a line of a few KiB, not of a megabyte.
func TestTrailCutsCallerStrings(t *testing.T) {
	e := newEnv(t, "")
	buf, _ := withTrail(e, 0, 0)
	huge := strings.Repeat("u", 1<<20)
	resp := answer(t, post(e.validate, review(t, func(req map[string]any) {
		req["uid"] = huge
		req["kind"].(map[string]any)["kind"] = "Deployment" + huge
		req["name"] = "api" + huge
		setImage(req, "ghcr.io/acme/api:9.9.9")
	})))
	if resp.Allowed {
		t.Fatal("allowed")
	}
	if n := buf.Len(); n == 0 || n > 8<<10 {
		t.Fatalf("the decision line is %d bytes, want a few KiB:\n%.300s", n, buf.String())
	}
	// the error line of a review that cannot be evaluated at all, too
	buf.Reset()
	bad := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,"kind":{"kind":%q,"version":"v1"},"operation":"CREATE","name":%q,"namespace":%q,"userInfo":{"username":%q},"object":"not an object"}}`,
		huge[:512<<10], "Pod"+huge[:512<<10], "p"+huge[:512<<10], "ns"+huge[:512<<10], "mallory"+huge[:512<<10])
	if resp := answer(t, post(e.validate, []byte(bad))); resp.Allowed || resp.Result.Code != 400 {
		t.Fatalf("bad object: %+v", resp)
	}
	if n := buf.Len(); n == 0 || n > 8<<10 {
		t.Fatalf("the error line is %d bytes, want a few KiB:\n%.300s", n, buf.String())
	}
}

// TestTrailUnreviewedAndError: a review answered without evaluation
// (more changes than maxChanges, failurePolicy deny) is logged as a
// denial with the reason; one that cannot be decoded as an error,
// without the error's text.
func TestTrailUnreviewedAndError(t *testing.T) {
	e := newEnv(t, strings.Replace(string(config.DefaultYAML()), "maxChanges: 10000", "maxChanges: 1", 1))
	buf, evs := withTrail(e, 0, 0)
	if answer(t, post(e.validate, review(t, func(req map[string]any) {
		req["object"].(map[string]any)["spec"].(map[string]any)["minReadySeconds"] = 5 // a second change
	}))).Allowed {
		t.Fatal("a review over maxChanges was allowed with failurePolicy deny")
	}
	if lines := logLines(t, buf); len(lines) != 1 || lines[0]["decision"] != "deny" || lines[0]["unreviewed"] != admit.ReasonTooManyChanges {
		t.Fatalf("log lines %v, want a denial with unreviewed=too_many_changes", lines)
	}
	if len(evs.events) != 0 {
		t.Errorf("an unreviewed denial sent Events (no policy judged the change): %+v", evs.events)
	}
	buf.Reset()
	resp := answer(t, post(e.validate, []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","name":"p","namespace":"tenant-a","userInfo":{"username":"mallory"},"object":"`+plantedTag+`"}}`)))
	if resp.Allowed || resp.Result.Code != 400 {
		t.Fatalf("bad object: %+v", resp)
	}
	lines := logLines(t, buf)
	if len(lines) != 1 || lines[0]["decision"] != "error" || lines[0]["user"] != "mallory" || lines[0]["uid"] != "u1" {
		t.Fatalf("log lines %v, want one error line", lines)
	}
	if strings.Contains(buf.String(), plantedTag) {
		t.Errorf("the error line quotes the object: %s", buf)
	}
}
