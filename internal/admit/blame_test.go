package admit_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/loader"
)

// busyPolicy matches Deployment UPDATE and needs seconds of comprehension
// steps (keeping nothing, so memory stays small) before it could answer.
const busyPolicy = `# METADATA
# custom:
#   kinds: [Deployment]
#   operations: [UPDATE]
package driftguard.policies.busy
r := numbers.range(1, 3000)
deny contains "busy policy finished" if count([x | some x in r; some y in r; x * y < 0]) == 0
`

// When the evaluation of a request runs out of time because of one slow
// policy, the denial and driftguard_policy_eval_errors_total name that
// policy only; the bundled policies evaluated with it still answer
// (owned_fields denies alice's image change, naming Terraform).
func TestTimeoutBlamesOnlyTheSlowPolicy(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "busy.rego"), busyPolicy)
	cfg := strings.Replace(string(config.DefaultYAML()), "\nevalTimeout: 2s\n", "\nevalTimeout: 1s\n", 1)
	cfgPath := writeFile(t, filepath.Join(t.TempDir(), "c.yaml"), cfg)
	e := newEnvOpts(t, loader.Options{ConfigFile: cfgPath, PolicyDirs: []string{dir}})
	resp := answer(t, post(e.validate, review(t, nil)))
	if resp.Allowed {
		t.Fatal("allowed")
	}
	msg := resp.Result.Message
	for _, w := range []string{"[busy] driftguard could not evaluate this policy (timeout)", "[owned_fields] spec.template.spec.containers[api].image of Deployment tenant-a/api is owned by Terraform"} {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q: %s", w, msg)
		}
	}
	if n := strings.Count(msg, "could not evaluate"); n != 1 {
		t.Errorf("%d policies blamed, want 1: %s", n, msg)
	}
	if got := testutil.ToFloat64(e.metrics.EvalErrors.WithLabelValues("busy", "timeout")); got != 1 {
		t.Errorf("busy timeouts counted %v, want 1", got)
	}
	if n := testutil.CollectAndCount(e.metrics.EvalErrors); n != 1 {
		t.Errorf("eval-error series %d, want only busy's", n)
	}
}
