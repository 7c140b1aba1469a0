package admit_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/config"
)

func objectMeta(req map[string]any, which string) map[string]any {
	return req[which].(map[string]any)["metadata"].(map[string]any)
}

func annotate(req map[string]any, which, key, value string) {
	md := objectMeta(req, which)
	ann, _ := md["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
		md["annotations"] = ann
	}
	ann[key] = value
}

// A caller of the webhook port can send any review. One that claims a
// victim's uid and resourceVersion with empty managedFields must not
// change how the genuine review of that object is judged (the parsed
// managedFields used to be cached by uid and resourceVersion).
func TestForgedReviewCannotChangeAnotherAnswer(t *testing.T) {
	e := newEnv(t, "")
	forged := review(t, func(req map[string]any) {
		req["uid"] = "forged-1"
		objectMeta(req, "oldObject")["managedFields"] = []any{}
		objectMeta(req, "object")["managedFields"] = []any{}
	})
	if resp := answer(t, post(e.validate, forged)); !resp.Allowed {
		t.Fatalf("the forged review itself (no owner in its managedFields) should be allowed: %s", resp.Result.Message)
	}
	_ = answer(t, post(e.mutate, forged))
	resp := answer(t, post(e.validate, review(t, nil)))
	if resp.Allowed {
		t.Fatal("after a forged review with the same uid/resourceVersion and empty managedFields, alice's hand edit of the Terraform-owned image was allowed")
	}
	if !strings.Contains(resp.Result.Message, "owned by Terraform") {
		t.Errorf("denial %q", resp.Result.Message)
	}
}

// A break-glass reason counts only on the request that sets or changes
// it, or while its expiry annotation covers it.
func TestBreakGlassCountsOnlyWhenThisRequestSetsIt(t *testing.T) {
	const ann, exp = "driftguard.io/break-glass", "driftguard.io/break-glass-expires"
	in := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	cases := []struct {
		name      string
		old, new  map[string]string
		member    bool
		allowed   bool
		wants     []string
		recordHas string
		noHint    bool
	}{
		{name: "set by this request", new: map[string]string{ann: "INC-2"}, member: true, allowed: true, recordHas: "break-glass: INC-2"},
		{name: "changed by this request", old: map[string]string{ann: "INC-1"}, new: map[string]string{ann: "INC-2"}, member: true, allowed: true, recordHas: "break-glass: INC-2"},
		{name: "left by an earlier request", old: map[string]string{ann: "INC-1"}, new: map[string]string{ann: "INC-1"}, member: true,
			wants: []string{`the break-glass reason "INC-1" on the object was set by an earlier request`, "set the annotation driftguard.io/break-glass", "recorded as drift"}},
		{name: "left earlier, expiry ahead", old: map[string]string{ann: "INC-1", exp: in(time.Hour)}, new: map[string]string{ann: "INC-1", exp: in(time.Hour)},
			member: true, allowed: true, recordHas: "set by an earlier request, valid until"},
		{name: "left earlier, expired", old: map[string]string{ann: "INC-1", exp: in(-time.Minute)}, new: map[string]string{ann: "INC-1", exp: in(-time.Minute)},
			member: true, wants: []string{`break-glass reason "INC-1" expired at`}},
		{name: "expiry too far ahead", old: map[string]string{ann: "INC-1", exp: in(48 * time.Hour)}, new: map[string]string{ann: "INC-1", exp: in(48 * time.Hour)},
			member: true, wants: []string{"is more than 4h ahead (breakGlass.maxDuration)"}},
		{name: "expiry set by this request, too far ahead", new: map[string]string{ann: "INC-3", exp: in(48 * time.Hour)},
			member: true, wants: []string{"is more than 4h ahead"}},
		{name: "expiry that is not a time", new: map[string]string{ann: "INC-3", exp: "tomorrow"}, member: true, wants: []string{`"tomorrow" is not an RFC 3339 time`}},
		{name: "member without a reason is told how", member: true, wants: []string{"alice is in break-glass group driftguard:break-glass", "set the annotation driftguard.io/break-glass"}},
		{name: "not a member", new: map[string]string{ann: "INC-2"}, wants: []string{"not in a break-glass group"}, noHint: true},
		{name: "not a member, no reason: no hint", noHint: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, "")
			body := review(t, func(req map[string]any) {
				if c.member {
					setUser(req, "alice", "devs", "driftguard:break-glass")
				}
				for k, v := range c.old {
					annotate(req, "oldObject", k, v)
				}
				for k, v := range c.new {
					annotate(req, "object", k, v)
				}
			})
			resp := answer(t, post(e.validate, body))
			if resp.Allowed != c.allowed {
				t.Fatalf("allowed=%v, want %v: %+v", resp.Allowed, c.allowed, resp.Result)
			}
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			for _, w := range c.wants {
				if !strings.Contains(msg, w) {
					t.Errorf("denial does not say %q:\n%s", w, msg)
				}
			}
			if c.noHint && strings.Contains(msg, "is in break-glass group") {
				t.Errorf("a non-member is told how to break glass: %s", msg)
			}
			if !c.allowed {
				return
			}
			if got := testutil.ToFloat64(e.metrics.Decisions.WithLabelValues("owned_fields", "break_glass", "UPDATE", "Deployment", "false")); got != 1 {
				t.Errorf("break_glass counted %v times", got)
			}
			var ops []map[string]any
			if err := json.Unmarshal(answer(t, post(e.mutate, body)).Patch, &ops); err != nil || len(ops) != 1 {
				t.Fatalf("mutating patch: %v %v", ops, err)
			}
			if v, _ := ops[0]["value"].(string); !strings.Contains(v, c.recordHas) || !strings.Contains(v, `"by":"alice"`) {
				t.Errorf("drift record %s does not name alice and %q", v, c.recordHas)
			}
		})
	}
}

// The old object's managedFields that cannot be parsed leave its owners
// unknown: the request is answered per failurePolicy, and counted.
func TestUnparseableManagedFieldsPerFailurePolicy(t *testing.T) {
	broken := func(req map[string]any) {
		mf := objectMeta(req, "oldObject")["managedFields"].([]any)
		mf[0].(map[string]any)["fieldsV1"] = map[string]any{"f:spec": map[string]any{"k:{not json": map[string]any{}}}
	}
	def := string(config.DefaultYAML())
	allMode := func(m string) string {
		return strings.ReplaceAll(strings.Replace(def, "defaultMode: enforce", "defaultMode: "+m, 1), "mode: enforce", "mode: "+m)
	}
	cases := []struct {
		name, cfg string
		allowed   bool
		want      string
	}{
		{"failurePolicy deny (default)", "", false, "failurePolicy is deny"},
		{"failurePolicy allow", strings.Replace(def, "failurePolicy: deny", "failurePolicy: allow", 1), true, "allowed because failurePolicy is allow"},
		{"every policy in warn mode", allMode("warn"), true, "allowed because no policy that reviews it is in enforce mode (warn mode)"},
		{"every policy in dryrun: counted, nothing told", allMode("dryrun"), true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg)
			body := review(t, broken)
			resp := answer(t, post(e.validate, body))
			if resp.Allowed != c.allowed {
				t.Fatalf("allowed=%v, want %v: %+v", resp.Allowed, c.allowed, resp.Result)
			}
			text := strings.Join(resp.Warnings, "\n")
			if resp.Result != nil {
				text += resp.Result.Message
			}
			wants := []string{"oldObject.metadata.managedFields cannot be parsed", "managedFields[0] (Terraform)", c.want}
			if c.want == "" {
				wants = nil
				if strings.Contains(text, "not reviewed") {
					t.Errorf("a dry run told: %s", text)
				}
			}
			for _, w := range wants {
				if !strings.Contains(text, w) {
					t.Errorf("answer does not say %q: %s", w, text)
				}
			}
			if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", "managed_fields")); got != 1 {
				t.Errorf("input error counted %v times", got)
			}
			m := answer(t, post(e.mutate, body))
			if !m.Allowed || len(m.Patch) != 0 {
				t.Errorf("mutating webhook: allowed=%v patch=%s", m.Allowed, m.Patch)
			}
			if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("mutate", "managed_fields")); got != 1 {
				t.Errorf("mutating input error counted %v times", got)
			}
		})
	}
}
