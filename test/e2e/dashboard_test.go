//go:build e2e

package e2e

// The shipped Grafana dashboard (deploy/grafana/driftguard-dashboard.json)
// against a real Prometheus scraping the suite's driftguard: after this
// test has made one of each thing the panels show (a denied edit, a
// warning, drift, a version-matrix mismatch, a break-glass change, a
// permission gap, an unreviewed answer, a failed policy load), every
// panel's query, with the dashboard variables expanded as Grafana does,
// must be accepted by Prometheus and answer with data.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/test/dashboard"
)

const dashNS = "dash-a"

// sample is one element of an instant vector (or a scalar, with no labels).
type sample struct {
	labels map[string]string
	value  float64
}

// query runs an instant query. A Prometheus error (a parse error among
// them) is returned as err.
func (p *prometheus) query(expr string) ([]sample, error) {
	resp, err := http.Get("http://" + p.addr + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("HTTP %d, undecodable answer: %v", resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("HTTP %d, status %q: %s: %s", resp.StatusCode, body.Status, body.ErrorType, body.Error)
	}
	parse := func(v []any) (float64, error) {
		if len(v) != 2 {
			return 0, fmt.Errorf("value %v", v)
		}
		s, _ := v[1].(string)
		return strconv.ParseFloat(s, 64)
	}
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  []any             `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]sample, 0, len(vec))
		for _, e := range vec {
			f, err := parse(e.Value)
			if err != nil {
				return nil, err
			}
			out = append(out, sample{labels: e.Metric, value: f})
		}
		return out, nil
	case "scalar":
		var v []any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		f, err := parse(v)
		return []sample{{value: f}}, err
	}
	return nil, fmt.Errorf("result type %q, want vector or scalar (a panel query)", body.Data.ResultType)
}

// has: some sample carries labels and a value satisfying cond.
func has(labels map[string]string, cond func(float64) bool, what string) func([]sample) error {
	return func(ss []sample) error {
		for _, s := range ss {
			ok := cond(s.value)
			for k, v := range labels {
				ok = ok && s.labels[k] == v
			}
			if ok {
				return nil
			}
		}
		return fmt.Errorf("no sample with %v and %s", labels, what)
	}
}

// waitScraped waits until Prometheus holds a successful scrape of
// driftguard (with its counters, at their current values).
func (p *prometheus) waitScraped(t *testing.T, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ss, err := p.query(`up{job="driftguard"} == 1 and on() count(driftguard_policy_load_errors_total) > 0`)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus has not scraped driftguard within %s", timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func positive(v float64) bool { return v > 0 }
func finite(v float64) bool   { return !math.IsNaN(v) && !math.IsInf(v, 0) }
func anyValue(float64) bool   { return true }

func TestDashboardQueries(t *testing.T) {
	if !s.bundled {
		t.Skip("needs the bundled policies")
	}
	d, err := dashboard.LoadShipped()
	if err != nil {
		t.Fatal(err)
	}
	prom := startPrometheus(t)
	// Prometheus' first scrape comes seconds after it is ready: what
	// happens before it would be one sample, and rate() and increase()
	// need a change between two.
	prom.waitScraped(t, 30*time.Second)

	// A version matrix and a permission baseline this namespace breaks, and
	// a change budget small enough to exceed.
	cfg := string(config.DefaultYAML())
	for old, repl := range map[string]string{
		"versionMatrix: []\n": `versionMatrix:
  - name: dash-frontend
    image: ghcr.io/acme/frontend:2.0.0
    workloads: [{kind: Deployment, namespace: dash-a, name: frontend, container: frontend}]
`,
		"permissionBaseline: []\n": `permissionBaseline:
  - serviceAccount: dash-a/runner
    permissions:
      - {verbs: [list, watch], group: argoproj.io, resource: workflows}
`,
		"maxChanges: 10000\n": "maxChanges: 5\n",
	} {
		if strings.Count(cfg, old) != 1 {
			t.Fatalf("the default config has %q %d times, want once: update this test", old, strings.Count(cfg, old))
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	writeConfig := func(t *testing.T, body string) {
		t.Helper()
		loads := metric(t, "driftguard_policy_loads_total", nil)
		if err := writeFileAtomic(s.configFile, []byte(body)); err != nil {
			t.Fatal(err)
		}
		waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	}
	writeConfig(t, cfg)
	t.Cleanup(func() {
		writeConfig(t, string(config.DefaultYAML()))
		_ = s.kubectl("delete", "namespace", dashNS, "--wait=false")
	})
	mustSucceed(t, s.kubectl("create", "namespace", dashNS))

	// a denied hand edit of a Terraform-owned field, then a break-glass one (drift)
	deny := decisions(t, "owned_fields", "deny", "false")
	mustSucceed(t, kIn(asTerraform, terraformDeploymentIn(dashNS, "api", "ghcr.io/acme/api:1.0.0"),
		"apply", "--server-side", "--field-manager=Terraform", "--force-conflicts", "-f", "-"))
	expectDenied(t, k(asAlice, "set", "env", "deployment/api", "-n", dashNS, "LOG_LEVEL=debug"))
	deny.expectDelta(t, 1)
	expectAllowed(t, k(asBreakGlass, "patch", "deployment", "api", "-n", dashNS, "-p",
		`{"metadata":{"annotations":{"driftguard.io/break-glass":"INC-15"}},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"ghcr.io/acme/api:9.9.9"}]}}}}`))
	waitGauge(t, "driftguard_drift_objects", map[string]string{"policy": "owned_fields", "namespace": dashNS, "kind": "Deployment"},
		func(v float64) bool { return v == 1 }, 20*time.Second)

	// a workload off the version matrix: a warning and drift
	r := k(asAlice, "create", "deployment", "frontend", "-n", dashNS, "--image=ghcr.io/acme/frontend:1.9.0")
	expectAllowed(t, r)
	anyWarning(t, r, "version matrix", "dash-frontend")
	waitGauge(t, "driftguard_drift_objects", map[string]string{"policy": "version_matrix", "namespace": dashNS, "kind": "Deployment"},
		func(v float64) bool { return v == 1 }, 20*time.Second)

	// the baseline's service account has no binding: a gap of 2
	waitGauge(t, "driftguard_permission_missing", map[string]string{"service_account": "dash-a/runner"},
		func(v float64) bool { return v == 2 }, 20*time.Second)

	// an update changing more than maxChanges fields is answered unreviewed
	unreviewed := map[string]string{"webhook": "validate", "reason": "too_many_changes"}
	before := metric(t, "driftguard_admission_unreviewed_total", unreviewed)
	mustSucceed(t, k(asAlice, "create", "configmap", "settings", "-n", dashNS, "--from-literal=a=1"))
	_ = k(asAlice, "patch", "configmap", "settings", "-n", dashNS, "-p",
		`{"data":{"b":"2","c":"3","d":"4","e":"5","f":"6","g":"7","h":"8"}}`)
	waitMetricAbove(t, "driftguard_admission_unreviewed_total", unreviewed, before, 10*time.Second)

	// a config that does not load (the previous set keeps serving), then a good one
	loadErrors := metric(t, "driftguard_policy_load_errors_total", nil)
	if err := writeFileAtomic(s.configFile, []byte(cfg+"\nmaxChanges: [not, a, number]\n")); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_load_errors_total", nil, loadErrors, 15*time.Second)
	writeConfig(t, cfg)

	// what each panel must show, beyond "at least one sample"
	want := map[string]func([]sample) error{
		"Decisions by policy and decision/A": func(ss []sample) error {
			for _, dec := range []string{"deny", "warn", "break_glass", "allow"} {
				if err := has(map[string]string{"decision": dec}, anyValue, "any value")(ss); err != nil {
					return err
				}
			}
			return nil
		},
		"Admission latency p50 / p99 against the webhook timeout/A": has(map[string]string{"webhook": "validate"}, finite, "a finite p50"),
		"Admission latency p50 / p99 against the webhook timeout/B": has(map[string]string{"webhook": "validate"}, finite, "a finite p99"),
		"Admission latency p50 / p99 against the webhook timeout/C": has(nil, func(v float64) bool { return v == 5 }, "the value 5 (seconds)"),
		"Unreviewed answers by reason/A":                            has(unreviewed, anyValue, "any value"),
		"Break-glass uses in the time range/A": has(map[string]string{"policy": "owned_fields", "kind": "Deployment"},
			func(v float64) bool { return v >= 1 }, "at least 1 use"),
		"Drifted objects by namespace and kind/A": func(ss []sample) error {
			for _, s := range ss {
				if s.labels["namespace"] != dashNS {
					return fmt.Errorf("namespace=%s shown although the namespace variable is %s", s.labels["namespace"], dashNS)
				}
			}
			return has(map[string]string{"kind": "Deployment"}, func(v float64) bool { return v == 2 }, "2 drifted Deployments (owned_fields, version_matrix)")(ss)
		},
		"Version matrix mismatches/A":          has(map[string]string{"namespace": dashNS, "kind": "Deployment"}, func(v float64) bool { return v == 1 }, "value 1"),
		"Permission gaps by service account/A": has(map[string]string{"service_account": "dash-a/runner"}, func(v float64) bool { return v == 2 }, "value 2"),
		"Time since the last audit/A":          has(nil, func(v float64) bool { return v >= 0 && v < 60 }, "an audit within the last minute"),
		"Serving certificate expires in/A":     has(nil, positive, "time left > 0"),
		"Last policy load/A":                   has(nil, func(v float64) bool { return v == 0 }, "0 (the good config loaded last)"),
		"Policy load failures/A":               has(nil, positive, "the failed load counted"),
		"Revert predictions by outcome/A":      has(map[string]string{"outcome": "missed"}, func(v float64) bool { return v >= 0 }, "the outcome series (created at start)"),
	}
	// Queries that parse but may rightly return nothing here: no revert
	// happens before this test (TestReverts makes them, with the real
	// kube-controller-manager and a stand-in reconciler, and reads the same
	// metric).
	mayBeEmpty := map[string]string{
		"Reverts observed by namespace and reverter/A": "driftguard_reverts_total has a series only once a revert was observed",
	}
	vars := map[string]string{"namespace": dashNS, "__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
	if v, ok := d.Variable("webhook_timeout"); ok {
		vars["webhook_timeout"] = fmt.Sprint(v.Current.Value)
	}
	queries := d.Queries()
	checked := map[string]bool{}
	for _, q := range queries {
		key := q.Panel.Title + "/" + q.RefID
		t.Run(key, func(t *testing.T) {
			expr, err := dashboard.Expand(q.Expr, vars)
			if err != nil {
				t.Fatal(err)
			}
			cond := want[key]
			checked[key] = cond != nil
			var last string
			deadline := time.Now().Add(60 * time.Second)
			for {
				ss, err := prom.query(expr)
				if err != nil {
					// a rejected query does not get better by waiting
					t.Fatalf("Prometheus rejects %s:\n%s\n%v", q, expr, err)
				}
				if len(ss) == 0 && mayBeEmpty[key] != "" {
					t.Logf("parsed; empty here: %s", mayBeEmpty[key])
					return
				}
				if len(ss) == 0 {
					last = "no samples"
				} else if cond == nil {
					return
				} else if err := cond(ss); err != nil {
					last = fmt.Sprintf("%v; samples %v", err, ss)
				} else {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s:\n%s\n%s", q, expr, last)
				}
				time.Sleep(time.Second)
			}
		})
	}
	for key := range want {
		if _, ok := checked[key]; !ok {
			t.Errorf("no dashboard query %s (the dashboard changed: update this test)", key)
		}
	}

	// The namespace variable's values (label_values(driftguard_drift_objects,
	// namespace) is Grafana's call of the label values API) offer the namespace.
	resp, err := http.Get("http://" + prom.addr + "/api/v1/label/namespace/values?match[]=driftguard_drift_objects")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lv struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&lv); err != nil || lv.Status != "success" || !slices.Contains(lv.Data, dashNS) {
		t.Errorf("namespace variable values %v (status %q, %v), want %s among them", lv.Data, lv.Status, err, dashNS)
	}
}
