package report

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
)

// writes counts the API writes through a client.
type writes struct{ create, update, patch, delete int }

func (w writes) total() int { return w.create + w.update + w.patch + w.delete }

type harness struct {
	c      client.Client // counted
	raw    client.Client // not counted
	w      *writes
	fail   error // returned by every write while set
	noCRD  bool  // List answers "no kind match"
	cfg    *config.Config
	now    time.Time
	gaps   []baseline.Need
	m      *metrics.Metrics
	logged []string
}

func newHarness(t *testing.T, objs ...client.Object) *harness {
	t.Helper()
	sch := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	if err := AddToScheme(sch); err != nil {
		t.Fatal(err)
	}
	h := &harness{w: &writes{}, cfg: config.Default(), now: time.Unix(1000, 0), m: metrics.New(prometheus.NewRegistry())}
	h.raw = fake.NewClientBuilder().WithScheme(sch).WithObjects(objs...).Build()
	h.c = interceptor.NewClient(h.raw.(client.WithWatch), interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.CreateOption) error {
			if h.fail != nil {
				return h.fail
			}
			h.w.create++
			return c.Create(ctx, o, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.UpdateOption) error {
			if h.fail != nil {
				return h.fail
			}
			h.w.update++
			return c.Update(ctx, o, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, o client.Object, p client.Patch, opts ...client.PatchOption) error {
			h.w.patch++
			return c.Patch(ctx, o, p, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, o client.Object, opts ...client.DeleteOption) error {
			if h.fail != nil {
				return h.fail
			}
			h.w.delete++
			return c.Delete(ctx, o, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, l client.ObjectList, opts ...client.ListOption) error {
			if h.noCRD {
				return &meta.NoKindMatchError{GroupKind: schema.GroupKind{Group: "openreports.io", Kind: "Report"}, SearchedVersions: []string{"v1alpha1"}}
			}
			return c.List(ctx, l, opts...)
		},
	})
	return h
}

func (h *harness) writer() *Writer {
	return &Writer{
		Client: h.c, Config: func() *config.Config { return h.cfg }, Metrics: h.m,
		Gaps: func() []baseline.Need { return h.gaps },
		Now:  func() time.Time { return h.now },
		Log:  funcr.New(func(prefix, args string) { h.logged = append(h.logged, args) }, funcr.Options{}),
	}
}

func (h *harness) report(t *testing.T, ns string) *orv1.Report {
	t.Helper()
	r := &orv1.Report{}
	if err := h.raw.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: Name}, r); err != nil {
		t.Fatalf("report in %s: %v", ns, err)
	}
	return r
}

func finding(ns, kind, name, field string) audit.Finding {
	return audit.Finding{
		Object: audit.Ref{APIVersion: "apps/v1", Kind: kind, Namespace: ns, Name: name, UID: "uid-" + name},
		Policy: "owned_fields", Field: field, Owner: "terraform", Msg: field + " is owned by Terraform",
	}
}

func publish(t *testing.T, w *Writer, fs ...audit.Finding) {
	t.Helper()
	if err := w.Publish(context.Background(), audit.Result{Findings: fs}); err != nil {
		t.Fatal(err)
	}
}

func TestWriterReportsPerNamespaceAndCluster(t *testing.T) {
	h := newHarness(t)
	h.gaps = []baseline.Need{{ServiceAccount: "kubeflow/argo", Verb: "list", Group: "argoproj.io", Resource: "workflows"}}
	w := h.writer()
	ns := audit.Finding{Object: audit.Ref{APIVersion: "v1", Kind: "Namespace", Name: "tenant-a", UID: "u-ns"},
		Policy: "owned_fields", Field: "metadata.labels[team]", Owner: "terraform", Msg: "m"}
	publish(t, w,
		finding("b", "Deployment", "web", "spec.replicas"),
		finding("a", "Deployment", "zeta", "spec.replicas"),
		finding("a", "ConfigMap", "cfg", "data.x"),
		finding("a", "Deployment", "api", "spec.template.spec.containers[api].env[LOG_LEVEL]"),
		ns,
	)
	if *h.w != (writes{create: 3}) {
		t.Fatalf("writes %+v, want 3 creates", *h.w)
	}
	a := h.report(t, "a")
	if a.Labels[ManagedByLabel] != ManagedBy || a.Source != Source || a.Summary.Fail != 3 || Omitted(a) != 0 {
		t.Fatalf("report a: labels %v source %q summary %+v omitted %d", a.Labels, a.Source, a.Summary, Omitted(a))
	}
	var got []string
	for _, r := range a.Results {
		f, ok := FindingOf(r)
		if !ok {
			t.Fatalf("result %+v is not a finding", r)
		}
		got = append(got, f.Object.Kind+"/"+f.Object.Name+" "+f.Field+" "+f.Owner)
		if r.Timestamp.Seconds != 1000 {
			t.Errorf("timestamp %v, want first seen 1000", r.Timestamp)
		}
	}
	want := []string{"ConfigMap/cfg data.x terraform", "Deployment/api spec.template.spec.containers[api].env[LOG_LEVEL] terraform", "Deployment/zeta spec.replicas terraform"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("results\n%v\nwant (sorted)\n%v", got, want)
	}
	if b := h.report(t, "b"); len(b.Results) != 1 {
		t.Fatalf("report b: %+v", b.Results)
	}
	cr := &orv1.ClusterReport{}
	if err := h.raw.Get(context.Background(), client.ObjectKey{Name: Name}, cr); err != nil {
		t.Fatal(err)
	}
	if len(cr.Results) != 2 || cr.Summary.Fail != 2 || cr.Labels[ManagedByLabel] != ManagedBy {
		t.Fatalf("cluster report %+v", cr)
	}
	gap, _ := FindingOf(cr.Results[0]) // Namespace sorts before ServiceAccount
	sa, _ := FindingOf(cr.Results[1])
	if gap.Object.Kind != "Namespace" || sa.Object.Kind != "ServiceAccount" || sa.Object.Namespace != "kubeflow" || sa.Object.Name != "argo" ||
		sa.Policy != BaselinePolicy || !strings.Contains(sa.Msg, "list workflows.argoproj.io cluster-wide for kubeflow/argo") {
		t.Fatalf("cluster results %+v, %+v", gap, sa)
	}
}

func TestWriterUnchangedPassWritesNothing(t *testing.T) {
	h := newHarness(t)
	w := h.writer()
	fs := []audit.Finding{finding("a", "Deployment", "api", "spec.replicas"), finding("b", "Deployment", "web", "spec.replicas")}
	publish(t, w, fs...)
	before := *h.w
	h.now = h.now.Add(time.Minute)
	publish(t, w, fs[1], fs[0]) // another order, same findings
	if *h.w != before {
		t.Fatalf("second unchanged pass wrote: %+v -> %+v", before, *h.w)
	}
	// a restarted writer reads what is there and writes nothing either
	h.now = h.now.Add(time.Minute)
	publish(t, h.writer(), fs...)
	if *h.w != before {
		t.Fatalf("restarted writer wrote: %+v -> %+v", before, *h.w)
	}
	if v := testutil.ToFloat64(h.m.Reports.Writes.WithLabelValues("created")); v != 2 {
		t.Errorf("created writes %v, want 2", v)
	}
}

func TestWriterKeepsFirstSeen(t *testing.T) {
	h := newHarness(t)
	old := finding("a", "Deployment", "api", "spec.replicas")
	publish(t, h.writer(), old)
	h.now = time.Unix(5000, 0)
	neu := finding("a", "Deployment", "api", "spec.template.spec.containers[api].image")
	publish(t, h.writer(), old, neu) // a restarted writer: the timestamp comes from the API server
	ts := map[string]int64{}
	for _, r := range h.report(t, "a").Results {
		f, _ := FindingOf(r)
		ts[f.Field] = r.Timestamp.Seconds
	}
	if ts["spec.replicas"] != 1000 || ts["spec.template.spec.containers[api].image"] != 5000 {
		t.Fatalf("timestamps %v, want the old finding's 1000 kept and 5000 for the new one", ts)
	}
}

func TestWriterCap(t *testing.T) {
	h := newHarness(t)
	h.cfg.Audit.Reports.MaxResults = 2
	w := h.writer()
	var fs []audit.Finding
	for i := range 5 {
		fs = append(fs, finding("a", "Deployment", fmt.Sprintf("d%d", 4-i), "spec.replicas"))
	}
	publish(t, w, fs...)
	r := h.report(t, "a")
	if len(r.Results) != 2 || r.Summary.Fail != 5 || Omitted(r) != 3 || r.Configuration == nil || r.Configuration.Limits.MaxResults != 2 {
		t.Fatalf("results %d fail %d omitted %d config %+v", len(r.Results), r.Summary.Fail, Omitted(r), r.Configuration)
	}
	if r.Results[0].Subjects[0].Name != "d0" || r.Results[1].Subjects[0].Name != "d1" {
		t.Fatalf("kept %s, %s; want the first two sorted (d0, d1)", r.Results[0].Subjects[0].Name, r.Results[1].Subjects[0].Name)
	}
	if v := testutil.ToFloat64(h.m.Reports.Results.WithLabelValues("omitted")); v != 3 {
		t.Errorf("omitted gauge %v", v)
	}
	// the cap lifted: all results, annotation gone
	h.cfg.Audit.Reports.MaxResults = 10
	publish(t, w, fs...)
	if r := h.report(t, "a"); len(r.Results) != 5 || Omitted(r) != 0 || r.Annotations[OmittedAnnotation] != "" {
		t.Fatalf("after raising the cap: %d results, annotations %v", len(r.Results), r.Annotations)
	}
}

func TestWriterByteBudget(t *testing.T) {
	h := newHarness(t)
	big := strings.Repeat("x", 100<<10)
	var fs []audit.Finding
	for i := range 20 {
		f := finding("a", "Deployment", fmt.Sprintf("d%02d", i), "spec.replicas")
		f.Msg = big
		fs = append(fs, f)
	}
	publish(t, h.writer(), fs...)
	r := h.report(t, "a")
	if len(r.Results) == 0 || len(r.Results) >= 20 || Omitted(r)+len(r.Results) != 20 || r.Summary.Fail != 20 {
		t.Fatalf("%d results, %d omitted: want fewer than 20 under %d bytes", len(r.Results), Omitted(r), MaxReportBytes)
	}
}

func TestWriterDeletesResolvedNamespaces(t *testing.T) {
	foreign := &orv1.Report{ObjectMeta: metav1.ObjectMeta{Name: "kyverno-xyz", Namespace: "a"}, Source: "kyverno"}
	sameNameForeign := &orv1.Report{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: "c"}, Source: "someone"}
	stray := &orv1.Report{ObjectMeta: metav1.ObjectMeta{Name: "old", Namespace: "a", Labels: map[string]string{ManagedByLabel: ManagedBy}}}
	h := newHarness(t, foreign, sameNameForeign, stray)
	w := h.writer()
	publish(t, w, finding("a", "Deployment", "api", "spec.replicas"), finding("b", "Deployment", "web", "spec.replicas"))
	publish(t, w, finding("b", "Deployment", "web", "spec.replicas"))
	var l orv1.ReportList
	if err := h.raw.List(context.Background(), &l); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, r := range l.Items {
		left = append(left, r.Namespace+"/"+r.Name)
	}
	if fmt.Sprint(left) != "[a/kyverno-xyz b/driftguard c/driftguard]" {
		t.Fatalf("reports left %v: want a's driftguard report and the stray gone, others' reports kept", left)
	}
	if h.w.delete != 2 {
		t.Fatalf("deletes %d, want 2 (the stray, then a's report)", h.w.delete)
	}
}

func TestWriterCRDsMissing(t *testing.T) {
	h := newHarness(t)
	h.noCRD = true
	w := h.writer()
	f := finding("a", "Deployment", "api", "spec.replicas")
	for range 3 {
		publish(t, w, f) // no error: the audit goes on
	}
	n := 0
	for _, l := range h.logged {
		if strings.Contains(l, "CRDs") && strings.Contains(l, "not installed") {
			n++
		}
	}
	if n != 1 || testutil.ToFloat64(h.m.Reports.CRDMissing) != 1 || h.w.total() != 0 {
		t.Fatalf("logged %d times (want once) %v, gauge %v, writes %+v", n, h.logged, testutil.ToFloat64(h.m.Reports.CRDMissing), *h.w)
	}
	h.noCRD = false
	publish(t, w, f)
	if h.report(t, "a") == nil || testutil.ToFloat64(h.m.Reports.CRDMissing) != 0 {
		t.Fatal("no report once the CRDs are there")
	}
}

func TestWriterDisabled(t *testing.T) {
	h := newHarness(t)
	off := false
	h.cfg.Audit.Reports.Enabled = &off
	publish(t, h.writer(), finding("a", "Deployment", "api", "spec.replicas"))
	if h.w.total() != 0 {
		t.Fatalf("writes %+v while disabled", *h.w)
	}
}

func TestWriterErrorsCountedAndRetried(t *testing.T) {
	h := newHarness(t)
	w := h.writer()
	f := finding("a", "Deployment", "api", "spec.replicas")
	h.fail = errors.New("etcdserver: request is too large")
	err := w.Publish(context.Background(), audit.Result{Findings: []audit.Finding{f}})
	if err == nil || !strings.Contains(err.Error(), "Report a/driftguard") || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("error %v", err)
	}
	if v := testutil.ToFloat64(h.m.Reports.Writes.WithLabelValues("error")); v != 1 {
		t.Fatalf("error writes %v", v)
	}
	h.fail = nil
	publish(t, w, f)
	if len(h.report(t, "a").Results) != 1 {
		t.Fatal("not retried")
	}
	// someone deleted the report: the writer's update meets NotFound and creates it
	if err := h.raw.Delete(context.Background(), h.report(t, "a")); err != nil {
		t.Fatal(err)
	}
	publish(t, w, f, finding("a", "Deployment", "api", "spec.paused"))
	if len(h.report(t, "a").Results) != 2 {
		t.Fatal("deleted report not recreated")
	}
}

var _ audit.Publisher = (*Writer)(nil)
