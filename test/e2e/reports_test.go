//go:build e2e

package e2e

// The audit's OpenReports reports against the real API server: what the
// suite's driftguard writes for a hand edit (audit_test.go), and a writer
// fed 10,000 synthetic findings whose API writes are counted.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/report"
)

// driftReport is driftguard's Report in ns as kubectl reads it; nil when
// there is none.
func driftReport(t *testing.T, ns string) *orv1.Report {
	t.Helper()
	r := s.kubectl("get", "reports.openreports.io", report.Name, "-n", ns, "-o", "json", "--ignore-not-found")
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	if strings.TrimSpace(r.stdout) == "" {
		return nil
	}
	var rep orv1.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report %s/%s: %v\n%s", ns, report.Name, err, r.stdout)
	}
	return &rep
}

// reportFindings are the findings of driftguard's Report in ns on one object.
func reportFindings(rep *orv1.Report, kind, name string) []audit.Finding {
	if rep == nil {
		return nil
	}
	var out []audit.Finding
	for _, res := range rep.Results {
		if f, ok := report.FindingOf(res); ok && f.Object.Kind == kind && f.Object.Name == name {
			out = append(out, f)
		}
	}
	return out
}

// waitReport polls driftguard's Report in ns until cond holds.
func waitReport(t *testing.T, ns string, what string, cond func(*orv1.Report) bool, timeout time.Duration) *orv1.Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rep := driftReport(t, ns)
		if cond(rep) {
			return rep
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(rep, "", "  ")
			t.Fatalf("report %s/%s: not %s within %s; it is:\n%s", ns, report.Name, what, timeout, b)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// setReportsEnabled turns the suite driftguard's reports on or off and
// waits until an audit pass ran with the new config.
func setReportsEnabled(t *testing.T, on bool) {
	t.Helper()
	cfg := string(config.DefaultYAML())
	const key = "  reports:\n    enabled: true\n"
	if !strings.Contains(cfg, key) {
		t.Fatalf("default config has no %q", key)
	}
	if !on {
		cfg = strings.Replace(cfg, key, "  reports:\n    enabled: false\n", 1)
	}
	loads := metric(t, "driftguard_policy_loads_total", nil)
	if err := writeFileAtomic(s.configFile, []byte(cfg)); err != nil {
		t.Fatal(err)
	}
	waitMetricAbove(t, "driftguard_policy_loads_total", nil, loads, 15*time.Second)
	// a pass that started before the load may still write: wait for two more
	runs := metric(t, "driftguard_audit_runs_total", nil)
	waitMetricAbove(t, "driftguard_audit_runs_total", nil, runs+1, 20*time.Second)
}

// apiWrites counts the writes a client sends to the API server.
type apiWrites struct {
	mu                             sync.Mutex
	create, update, patch, deletes int
}

func (w *apiWrites) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.create + w.update + w.patch + w.deletes
}

func (w *apiWrites) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("create %d, update %d, patch %d, delete %d", w.create, w.update, w.patch, w.deletes)
}

func countingClient(t *testing.T, w *apiWrites) client.Client {
	t.Helper()
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	if err := report.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	c, err := client.NewWithWatch(s.env.Config, client.Options{Scheme: sch})
	if err != nil {
		t.Fatal(err)
	}
	inc := func(n *int) { w.mu.Lock(); *n++; w.mu.Unlock() }
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			inc(&w.create)
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			inc(&w.update)
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			inc(&w.patch)
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			inc(&w.deletes)
			return c.Delete(ctx, o, opts...)
		},
	})
}

// TestReportsScale: 10,000 findings across 50 namespaces make 50 Reports
// within the cap (summary and annotation count the rest); a second pass
// with the same findings, and a restarted writer, write nothing; resolved
// namespaces lose their Report and nothing else is written.
func TestReportsScale(t *testing.T) {
	const namespaces, perNS, maxResults = 50, 200, 150
	// the suite's driftguard would delete these reports: its audit sees no drift there
	setReportsEnabled(t, false)
	t.Cleanup(func() { setReportsEnabled(t, true) })

	// and what it wrote elsewhere is not this writer's to keep: start clean (it writes them again once on)
	mustSucceed(t, s.kubectl("delete", "reports.openreports.io,clusterreports.openreports.io", "-A",
		"-l", report.ManagedByLabel+"="+report.ManagedBy, "--ignore-not-found"))

	ctx := context.Background()
	w := &apiWrites{}
	c := countingClient(t, w)
	var fs []audit.Finding
	var nsNames []string
	for i := range namespaces {
		ns := fmt.Sprintf("reports-scale-%02d", i)
		nsNames = append(nsNames, ns)
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for j := range perNS {
			name := fmt.Sprintf("app-%03d", j)
			fs = append(fs, audit.Finding{
				Object: audit.Ref{APIVersion: "apps/v1", Kind: "Deployment", Namespace: ns, Name: name, UID: fmt.Sprintf("uid-%02d-%03d", i, j)},
				Policy: "owned_fields", Field: "spec.template.spec.containers[app].env[LOG_LEVEL]", Owner: "terraform",
				Msg: "spec.template.spec.containers[app].env[LOG_LEVEL] is owned by Terraform (workspace acme/prod) but was changed by kubectl-edit",
			})
		}
	}
	t.Cleanup(func() {
		for _, ns := range nsNames {
			_ = c.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		}
	})
	w.mu.Lock()
	w.create = 0 // the namespaces
	w.mu.Unlock()

	cfg := config.Default()
	cfg.Audit.Reports.MaxResults = maxResults
	newWriter := func() *report.Writer {
		return &report.Writer{Client: c, Config: func() *config.Config { return cfg }, Log: logr.Discard()}
	}
	writer := newWriter()
	res := audit.Result{Findings: fs}
	start := time.Now()
	if err := writer.Publish(ctx, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("first pass: %d findings, %s in %s", len(fs), w, time.Since(start).Round(time.Millisecond))
	if w.create != namespaces || w.total() != namespaces {
		t.Fatalf("first pass writes: %s, want %d creates", w, namespaces)
	}
	var l orv1.ReportList
	if err := c.List(ctx, &l, client.MatchingLabels{report.ManagedByLabel: report.ManagedBy}); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, rep := range l.Items {
		if !strings.HasPrefix(rep.Namespace, "reports-scale-") {
			continue
		}
		got++
		if len(rep.Results) != maxResults || rep.Summary.Fail != perNS || report.Omitted(&rep) != perNS-maxResults {
			t.Fatalf("report %s: %d results, fail %d, omitted %d; want %d, %d, %d",
				rep.Namespace, len(rep.Results), rep.Summary.Fail, report.Omitted(&rep), maxResults, perNS, perNS-maxResults)
		}
		if f, ok := report.FindingOf(rep.Results[0]); !ok || f.Object.Name != "app-000" || f.Object.Namespace != rep.Namespace {
			t.Fatalf("report %s: first result %+v", rep.Namespace, f)
		}
	}
	if got != namespaces {
		t.Fatalf("%d reports in the scale namespaces, want %d", got, namespaces)
	}

	before := w.total()
	start = time.Now()
	if err := writer.Publish(ctx, res); err != nil {
		t.Fatal(err)
	}
	t.Logf("unchanged pass: %s in %s", w, time.Since(start).Round(time.Millisecond))
	if w.total() != before {
		t.Fatalf("an unchanged pass wrote: %s (was %d writes)", w, before)
	}
	// a restarted writer (another leader) compares with what is stored
	if err := newWriter().Publish(ctx, res); err != nil {
		t.Fatal(err)
	}
	if w.total() != before {
		t.Fatalf("a restarted writer wrote on an unchanged pass: %s (was %d writes)", w, before)
	}

	// ten namespaces resolved: ten deletes, no other write
	resolved := res
	resolved.Findings = fs[10*perNS:]
	if err := writer.Publish(ctx, resolved); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	deletes, others := w.deletes, w.create+w.update+w.patch
	w.mu.Unlock()
	if deletes != 10 || others != before {
		t.Fatalf("after 10 namespaces resolved: %s, want 10 deletes and no other write", w)
	}
	if rep := driftReport(t, "reports-scale-00"); rep != nil {
		t.Fatalf("resolved namespace still has its report: %+v", rep.ObjectMeta)
	}
}
