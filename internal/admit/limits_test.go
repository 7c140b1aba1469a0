package admit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// configMapRewrite is an UPDATE review of a ConfigMap of n keys in
// tenant-a in which every value changes.
func configMapRewrite(uid string, n int) []byte { return configMapUpdate(uid, n, n) }

// configMapUpdate is an UPDATE review of a ConfigMap of n keys in
// tenant-a in which the first changed values change.
func configMapUpdate(uid string, n, changed int) []byte {
	obj := func(gen string) string {
		var b strings.Builder
		b.WriteString(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big","namespace":"tenant-a","uid":"cm-1","resourceVersion":"7"},"data":{`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			g := gen
			if i >= changed {
				g = "same"
			}
			fmt.Fprintf(&b, `"k%06d":"%s-%06d"`, i, g, i)
		}
		b.WriteString("}}")
		return b.String()
	}
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid + `",` +
		`"kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},` +
		`"name":"big","namespace":"tenant-a","operation":"UPDATE","userInfo":{"username":"alice","groups":["devs"]},` +
		`"object":` + obj("new") + `,"oldObject":` + obj("old") + `}}`)
}

func TestTooManyChangesAnsweredPerFailurePolicy(t *testing.T) {
	cases := []struct {
		name, cfg   string
		allowed     bool
		msgOrWarn   string
		wantCounted bool
	}{
		{"deny", "maxChanges: 100\n", false, "UPDATE of ConfigMap tenant-a/big was not reviewed: the update changes 101 fields, more than driftguard reviews (maxChanges 100); split the change, or raise maxChanges; failurePolicy is deny", true},
		{"allow", "maxChanges: 100\nfailurePolicy: allow\n", true, "failurePolicy is allow", true},
		{"every policy warn", "maxChanges: 100\ndefaultMode: warn\npolicies: {}\n", true, "allowed because no policy that reviews it is in enforce mode (warn mode)", true},
		{"every policy dryrun: counted, nothing told", "maxChanges: 100\ndefaultMode: dryrun\npolicies: {}\n", true, "", true},
		{"exempt namespace", "maxChanges: 100\nexempt: {namespaces: [tenant-a]}\n", true, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, c.cfg)
			resp := answer(t, post(e.validate, configMapRewrite("u1", 101)))
			if resp.Allowed != c.allowed {
				t.Fatalf("allowed = %v, want %v (%v %v)", resp.Allowed, c.allowed, resp.Result, resp.Warnings)
			}
			text := strings.Join(resp.Warnings, "\n")
			if resp.Result != nil {
				text += "\n" + resp.Result.Message
			}
			if !strings.Contains(text, c.msgOrWarn) || (c.msgOrWarn == "" && strings.Contains(text, "not reviewed")) {
				t.Errorf("answer %q does not contain %q", text, c.msgOrWarn)
			}
			if resp.UID != types.UID("u1") {
				t.Errorf("uid %q", resp.UID)
			}
			got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", admit.ReasonTooManyChanges))
			if want := map[bool]float64{true: 1, false: 0}[c.wantCounted]; got != want {
				t.Errorf("unreviewed{validate,too_many_changes} = %v, want %v", got, want)
			}
			// the mutating webhook never denies and patches nothing it did not review
			m := answer(t, post(e.mutate, configMapRewrite("u2", 101)))
			if !m.Allowed || len(m.Patch) > 0 || len(m.Warnings) > 0 {
				t.Errorf("mutate: allowed %v patch %s warnings %v", m.Allowed, m.Patch, m.Warnings)
			}
		})
	}
	// at the limit the review is evaluated as usual
	e := newEnv(t, "maxChanges: 100\n")
	if resp := answer(t, post(e.validate, configMapRewrite("u3", 100))); !resp.Allowed {
		t.Errorf("100 changes with maxChanges 100: denied: %v", resp.Result)
	}
	if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", admit.ReasonTooManyChanges)); got != 0 {
		t.Errorf("unreviewed counted %v at the limit", got)
	}
}

// A review whose deadline has passed before evaluation is answered per
// failurePolicy, not evaluated and not reported as bad input.
func TestOutOfTimeBeforeEvaluation(t *testing.T) {
	e := newEnv(t, "")
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(configMapRewrite("u1", 10), &rv); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	d, err := e.engine.Decide(ctx, rv.Request)
	if err != nil {
		t.Fatalf("Decide: %v (want an answer per failurePolicy)", err)
	}
	if d.Allowed || len(d.Denials) != 1 || !strings.Contains(d.Denials[0], "was not reviewed: it ran out of time (requestTimeout 4s); failurePolicy is deny") {
		t.Errorf("allowed %v denials %q", d.Allowed, d.Denials)
	}
	if len(d.Verdicts) != 0 {
		t.Errorf("policies were evaluated: %v", d.Verdicts)
	}
	if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", admit.ReasonTimeout)); got != 1 {
		t.Errorf("unreviewed{validate,timeout} = %v, want 1", got)
	}
}

// A review that gets no share of the memory budget within requestTimeout
// is answered per failurePolicy; once the budget is free it is evaluated.
func TestBusyBudgetAnsweredPerFailurePolicy(t *testing.T) {
	// requestTimeout is what the busy answer waits, and also all the time
	// the review has once the budget is free: 300ms was too little for the
	// 10,000-key ConfigMap under the race detector on a loaded machine
	e := newEnv(t, "requestTimeout: 1500ms\nevalTimeout: 1s\n")
	e.engine.Budget = admit.NewBudget(1 << 20)
	release, err := e.engine.Budget.Acquire(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	body := configMapUpdate("u1", 10000, 3) // over admit.SmallReview
	if len(body) <= admit.SmallReview {
		t.Fatalf("test bug: review of %d bytes is answered outside the budget", len(body))
	}
	start := time.Now()
	resp := answer(t, post(e.validate, body))
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("busy answer took %s, want about requestTimeout", took)
	}
	if resp.Allowed || !strings.Contains(resp.Result.Message, "driftguard is busy with other large reviews") || !strings.Contains(resp.Result.Message, "failurePolicy is deny") {
		t.Errorf("busy: allowed %v result %v", resp.Allowed, resp.Result)
	}
	if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", admit.ReasonBusy)); got != 1 {
		t.Errorf("unreviewed{validate,busy} = %v, want 1", got)
	}
	if m := answer(t, post(e.mutate, body)); !m.Allowed {
		t.Errorf("mutate denied while busy: %v", m.Result)
	}
	// small reviews are answered outside the budget
	if resp := answer(t, post(e.validate, configMapRewrite("u2", 10))); !resp.Allowed {
		t.Errorf("small review while busy: denied: %v", resp.Result)
	}
	release()
	if resp := answer(t, post(e.validate, body)); !resp.Allowed {
		t.Errorf("budget free: denied: %v", resp.Result)
	}
	if got := testutil.ToFloat64(e.metrics.Requests.WithLabelValues("validate", "allowed", "UPDATE", "ConfigMap", "false")); got != 2 {
		t.Errorf("requests{validate,allowed} = %v, want 2 (each answer counted once)", got)
	}
	if w := post(e.validate, []byte("{")); w.Code != http.StatusBadRequest {
		t.Errorf("malformed review: HTTP %d, want 400", w.Code)
	}
}

func TestBudgetForMemoryLimit(t *testing.T) {
	if b := admit.BudgetForMemoryLimit(1<<62 - 1 + 1<<62); b != nil {
		t.Errorf("no limit: budget %d, want none", b.Size())
	}
	// the chart's 512 Mi container: soft limit 80%
	limit := int64(512<<20) / 10 * 8
	b := admit.BudgetForMemoryLimit(limit)
	if b.Size() != limit/2/admit.BudgetAmplification {
		t.Errorf("budget %d", b.Size())
	}
	// one review of any size can always run alone
	rel, err := b.Acquire(context.Background(), 100<<20)
	if err != nil {
		t.Fatal(err)
	}
	rel()
}

// sleepyParents stands for an owner lookup that ignores its context.
type sleepyParents struct {
	d    time.Duration
	done chan struct{}
}

func (p *sleepyParents) Parent(context.Context, string, string, string, string) (map[string]any, error) {
	time.Sleep(p.d)
	defer close(p.done)
	return nil, nil
}

// A large review whose work cannot be interrupted (here an owner lookup
// that ignores its context) is still answered at requestTimeout, per
// failurePolicy, and counted once: the abandoned work does not count its
// late answer.
func TestLargeReviewAnsweredAtTheDeadline(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(strings.NewReplacer("\nrequestTimeout: 4s\n", "\nrequestTimeout: 300ms\n", "\nevalTimeout: 2s\n", "\nevalTimeout: 300ms\n").Replace(string(config.DefaultYAML()))), 0o644); err != nil {
		t.Fatal(err)
	}
	slow := &sleepyParents{d: 1500 * time.Millisecond, done: make(chan struct{})}
	e := newEnvOpts(t, loader.Options{ConfigFile: p, Parents: slow})
	body := bytes.Replace(configMapUpdate("u1", 10000, 3), []byte(`"resourceVersion":"7"`),
		[]byte(`"resourceVersion":"7","ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"api","uid":"d-1","controller":true}]`), 2)
	if len(body) <= admit.SmallReview {
		t.Fatalf("test bug: %d bytes is a small review", len(body))
	}
	start := time.Now()
	resp := answer(t, post(e.validate, body))
	took := time.Since(start)
	if took >= slow.d {
		t.Errorf("answered after %s, when the stuck work ended (want about requestTimeout 300ms)", took)
	}
	if resp.Allowed || !strings.Contains(resp.Result.Message, "it ran out of time (requestTimeout 300ms); failurePolicy is deny") {
		t.Errorf("allowed %v result %v", resp.Allowed, resp.Result)
	}
	<-slow.done
	time.Sleep(100 * time.Millisecond) // the abandoned work answers into the void
	if got := testutil.ToFloat64(e.metrics.Unreviewed.WithLabelValues("validate", admit.ReasonTimeout)); got != 1 {
		t.Errorf("unreviewed{validate,timeout} = %v, want 1", got)
	}
	total := testutil.ToFloat64(e.metrics.Requests.WithLabelValues("validate", "denied", "UPDATE", "ConfigMap", "false")) +
		testutil.ToFloat64(e.metrics.Requests.WithLabelValues("validate", "allowed", "UPDATE", "ConfigMap", "false"))
	if total != 1 {
		t.Errorf("requests counted %v times, want once", total)
	}
}
