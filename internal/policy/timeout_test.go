package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/topdown"
)

// slowSource busies itself for seconds (9 million comprehension steps
// that keep nothing, so memory stays small) before it could answer.
func slowSource(name string) Source {
	return Source{Name: name + ".rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.` + name + `
r := numbers.range(1, 3000)
deny contains "slow policy finished" if count([x | some x in r; some y in r; x * y < 0]) == 0
`}
}

func fastSource(name string) Source {
	return Source{Name: name + ".rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.` + name + `
deny contains {"msg": "` + name + ` denies", "field": "spec.replicas"} if input.request.name == "api"
warn contains "` + name + ` warns" if input.request.name
`}
}

// boomSource fails at run time when input.boom is set (a conflict).
var boomSource = Source{Name: "a_boom.rego", Text: `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.a_boom
value := 1 if input.boom
value := 2 if input.boom
deny contains "boom" if value == 3
`}

func isTimeout(err error) bool {
	return err != nil && (errors.Is(err, context.DeadlineExceeded) || topdown.IsCancel(err))
}

func admitWithDeadline(t *testing.T, sources []Source, boom bool) map[string]Result {
	t.Helper()
	s, err := Compile(context.Background(), sources, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.TimeoutRetry = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	got := map[string]Result{}
	for _, r := range s.AdmitAll(ctx, "Deployment", "UPDATE", in("api", boom), nil) {
		got[r.Policy] = r
	}
	if len(got) != len(sources) {
		t.Fatalf("results %+v", got)
	}
	return got
}

func checkFast(t *testing.T, got map[string]Result, names ...string) {
	t.Helper()
	for _, n := range names {
		r := got[n]
		if r.Err != nil || len(r.Deny) != 1 || r.Deny[0].Msg != n+" denies" || len(r.Warn) != 1 {
			t.Errorf("%s was caught in the slow policy's timeout: %+v", n, r)
		}
	}
}

// When the combined evaluation runs out of time, only the slow policy is
// reported as timed out; the fast ones answer with their denials.
func TestTimeoutBlamesOnlyTheSlowPolicyCombined(t *testing.T) {
	got := admitWithDeadline(t, []Source{fastSource("fast_a"), slowSource("slow"), fastSource("fast_z")}, false)
	if r := got["slow"]; !isTimeout(r.Err) || !strings.Contains(r.Err.Error(), "policy slow") {
		t.Errorf("slow: want its timeout, got %+v", r)
	}
	checkFast(t, got, "fast_a", "fast_z")
}

// When the combined evaluation fails for another reason and the policies
// are evaluated one by one, a slow policy does not take the policies
// after it down with it.
func TestTimeoutBlamesOnlyTheSlowPolicySequential(t *testing.T) {
	got := admitWithDeadline(t, []Source{boomSource, slowSource("m_slow"), fastSource("z_fast")}, true)
	if r := got["a_boom"]; r.Err == nil || isTimeout(r.Err) {
		t.Errorf("a_boom: want its conflict error, got %+v", r)
	}
	if r := got["m_slow"]; !isTimeout(r.Err) {
		t.Errorf("m_slow: want its timeout, got %+v", r)
	}
	checkFast(t, got, "z_fast")
}

// A single slow policy (no combined query) is reported as timed out.
func TestTimeoutSingleSlowPolicy(t *testing.T) {
	got := admitWithDeadline(t, []Source{slowSource("slow")}, false)
	if r := got["slow"]; !isTimeout(r.Err) {
		t.Errorf("slow: want its timeout, got %+v", r)
	}
}

func TestTimeoutRetryFor(t *testing.T) {
	for _, c := range []struct{ eval, want time.Duration }{
		{2 * time.Second, 500 * time.Millisecond},
		{200 * time.Millisecond, 50 * time.Millisecond},
		{29 * time.Second, time.Second},
	} {
		if got := TimeoutRetryFor(c.eval); got != c.want {
			t.Errorf("TimeoutRetryFor(%s) = %s, want %s", c.eval, got, c.want)
		}
	}
}

// The extra time that singles out a slow policy never runs past the whole
// request's deadline (WithRequestDeadline): with the request due shortly
// after the evaluation deadline, an answer does not wait for the retry's
// own (much longer) budget.
func TestTimeoutRetryStopsAtTheRequestDeadline(t *testing.T) {
	s, err := Compile(context.Background(), []Source{slowSource("a_slow"), fastSource("b_fast")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.TimeoutRetry = 20 * time.Second
	reqCtx, cancelReq := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelReq()
	ctx, cancel := context.WithTimeout(WithRequestDeadline(reqCtx), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	rs := s.AdmitAll(ctx, "Deployment", "UPDATE", in("api", false), nil)
	// far below the retry's 20s budget (and the slow policy's seconds),
	// far above the request's 300ms
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("answered after %s: the retry ran past the request's deadline", d)
	}
	for _, r := range rs {
		if r.Policy == "a_slow" && !isTimeout(r.Err) {
			t.Errorf("slow policy: %+v, want a timeout", r)
		}
	}
}
