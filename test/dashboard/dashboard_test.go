package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vars are the values the checks give the dashboard's variables: the
// namespace variable as "All" (its allValue) and as a multi-value
// selection, Grafana's built-ins as a one-minute scrape would have them.
func vars(t *testing.T, d *Dashboard, namespace string) map[string]string {
	t.Helper()
	timeout, ok := d.Variable("webhook_timeout")
	if !ok {
		t.Fatal("no webhook_timeout variable")
	}
	return map[string]string{
		"namespace":       namespace,
		"webhook_timeout": fmt.Sprint(timeout.Current.Value),
		"__rate_interval": "1m",
		"__interval":      "1m",
		"__range":         "1h",
	}
}

func shipped(t *testing.T) *Dashboard {
	t.Helper()
	d, err := LoadShipped()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestVariables: a data source variable every query goes through, the
// namespace variable the drift panels filter on, and the webhook timeout
// line at the chart's default of 5 seconds.
func TestVariables(t *testing.T) {
	d := shipped(t)
	ds, ok := d.Variable("datasource")
	if !ok || ds.Type != "datasource" || string(ds.Query) != `"prometheus"` {
		t.Errorf("datasource variable = %+v (query %s), want type datasource of prometheus", ds, ds.Query)
	}
	ns, ok := d.Variable("namespace")
	if !ok || ns.Type != "query" || !ns.IncludeAll || !ns.Multi || ns.AllValue != ".*" {
		t.Errorf("namespace variable = %+v, want a multi-value query variable with All = .*", ns)
	}
	if !strings.Contains(string(ns.Query), "label_values(driftguard_drift_objects, namespace)") {
		t.Errorf("namespace variable query %s, want label_values(driftguard_drift_objects, namespace)", ns.Query)
	}
	if ns.Datasource == nil || ns.Datasource.UID != "${datasource}" {
		t.Errorf("namespace variable data source %+v, want ${datasource}", ns.Datasource)
	}
	to, ok := d.Variable("webhook_timeout")
	if !ok || fmt.Sprint(to.Current.Value) != "5" {
		t.Errorf("webhook_timeout variable = %+v, want current value 5 (the chart's webhook.timeoutSeconds)", to)
	}
	filtered := 0
	for _, q := range d.Queries() {
		if strings.Contains(q.Expr, "driftguard_drift_objects") {
			if !strings.Contains(q.Expr, `namespace=~"$namespace"`) {
				t.Errorf("%s reads driftguard_drift_objects without namespace=~\"$namespace\": %s", q, q.Expr)
			}
			filtered++
		}
	}
	if filtered == 0 {
		t.Error("no panel filters on the namespace variable")
	}
}

// TestNoHardCodedDatasource walks the whole JSON: every data source
// reference is the ${datasource} variable, so the dashboard imports into
// any Grafana.
func TestNoHardCodedDatasource(t *testing.T) {
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, Path))
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	refs := 0
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				p := path + "." + k
				if k == "datasource" {
					refs++
					ds, ok := c.(map[string]any)
					if !ok || ds["uid"] != "${datasource}" || ds["type"] != "prometheus" {
						t.Errorf("%s = %v, want {type: prometheus, uid: ${datasource}}", p, c)
					}
				}
				if k == "uid" && path != "" && path != ".datasource" && !strings.HasSuffix(path, ".datasource") {
					t.Errorf("%s = %v: a uid outside a data source reference", p, c)
				}
				walk(p, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", doc)
	if refs == 0 {
		t.Fatal("no data source references found")
	}
}

// TestPanels: the questions the dashboard answers (docs/metrics.md,
// "Dashboard") each have a panel reading the metric that answers it, every
// metric a panel reads is documented, and ids and refIds are unique.
func TestPanels(t *testing.T) {
	d := shipped(t)
	want := map[string][]string{
		"Decisions by policy and decision":                        {"driftguard_admission_decisions_total"},
		"Admission latency p50 / p99 against the webhook timeout": {"driftguard_admission_duration_seconds_bucket", "histogram_quantile(0.5,", "histogram_quantile(0.99,", "vector($webhook_timeout)"},
		"Unreviewed answers by reason":                            {"driftguard_admission_unreviewed_total", "reason"},
		"Break-glass uses in the time range":                      {`decision="break_glass"`, `dry_run="false"`},
		"Drifted objects by namespace and kind":                   {"driftguard_drift_objects", "by (namespace, kind)"},
		"Version matrix mismatches":                               {`driftguard_drift_objects{policy="version_matrix"`},
		"Permission gaps by service account":                      {"driftguard_permission_missing", "max by (service_account)"},
		"Serving certificate expires in":                          {"driftguard_certificate_expiry_timestamp_seconds"},
		"Last policy load":                                        {"driftguard_policy_last_load_failed"},
		"Policy load failures":                                    {"driftguard_policy_load_errors_total"},
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
	}
	byTitle := map[string]string{}
	for _, p := range d.AllPanels() {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if refs[tg.RefID] || tg.RefID == "" {
				t.Errorf("panel %q: refId %q empty or used twice", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expression", p.Title, tg.RefID)
			}
			byTitle[p.Title] += tg.Expr + "\n"
			for _, m := range Metrics(tg.Expr) {
				if !bytes.Contains(doc, []byte("`"+m+"`")) {
					t.Errorf("panel %q reads %s, which docs/metrics.md does not list", p.Title, m)
				}
			}
		}
	}
	for title, subs := range want {
		exprs, ok := byTitle[title]
		if !ok {
			t.Errorf("no panel %q", title)
			continue
		}
		for _, s := range subs {
			if !strings.Contains(exprs, s) {
				t.Errorf("panel %q: queries lack %s:\n%s", title, s, exprs)
			}
		}
	}
}

// checkExpr parses expr with promtool: as the expression of a recording
// rule, which `promtool check rules` parses with Prometheus' own PromQL
// parser (this promtool has no query-only check).
func checkExpr(t *testing.T, expr string) error {
	t.Helper()
	bin, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool is not on PATH: run hack/install-prometheus.sh: %v", err)
	}
	q, _ := json.Marshal(expr)
	rules := fmt.Sprintf("groups:\n  - name: dashboard\n    rules:\n      - record: dashboard:query\n        expr: %s\n", q)
	f := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "check", "rules", f).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// TestQueriesParse expands every query as Grafana would and has promtool
// parse it, with the namespace variable at All and at a multi-value
// selection.
func TestQueriesParse(t *testing.T) {
	d := shipped(t)
	qs := d.Queries()
	if len(qs) < 10 {
		t.Fatalf("only %d queries", len(qs))
	}
	for _, ns := range []string{".*", "(tenant-a|tenant-b)"} {
		v := vars(t, d, ns)
		for _, q := range qs {
			expr, err := Expand(q.Expr, v)
			if err != nil {
				t.Errorf("%s: %v", q, err)
				continue
			}
			if err := checkExpr(t, expr); err != nil {
				t.Errorf("%s (namespace %s): promtool rejects %q: %v", q, ns, expr, err)
			}
		}
	}
}

// TestCheckExprCatchesErrors: the promtool check rejects a broken query
// (so TestQueriesParse can fail).
func TestCheckExprCatchesErrors(t *testing.T) {
	for _, bad := range []string{
		`sum by (policy (rate(driftguard_admission_decisions_total[1m]))`,
		`rate(driftguard_admission_decisions_total[$__rate_interval])`,
		`histogram_quantile(0.99, driftguard_admission_duration_seconds_bucket`,
	} {
		if err := checkExpr(t, bad); err == nil {
			t.Errorf("promtool accepted %q", bad)
		}
	}
	if err := checkExpr(t, "vector(5)"); err != nil {
		t.Errorf("promtool rejects vector(5): %v", err)
	}
}

func TestExpand(t *testing.T) {
	v := map[string]string{"namespace": ".*", "__rate_interval": "1m", "__range": "1h", "x": "5"}
	for in, want := range map[string]string{
		`rate(m{namespace=~"$namespace"}[$__rate_interval])`: `rate(m{namespace=~".*"}[1m])`,
		`m offset ${__range} or vector([[x]])`:               `m offset 1h or vector(5)`,
		`${namespace:regex}`:                                 `.*`,
	} {
		got, err := Expand(in, v)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Expand(`m[$__interval_ms]`, v); err == nil || !strings.Contains(err.Error(), "__interval_ms") {
		t.Errorf("unknown variable: err = %v", err)
	}
}
