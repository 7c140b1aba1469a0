package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/baseline"
	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/metrics"
)

// BaselinePolicy is the policy of a permission baseline gap's result.
const BaselinePolicy = "permission_baseline"

// MaxReportBytes bounds the results of one report, whatever the count
// cap: a report is one etcd object (1.5 MiB by default). Results beyond
// it are counted as omitted.
const MaxReportBytes = 1 << 20

// DefaultResync is how often the Writer re-reads its reports from the
// API server instead of trusting what it last wrote.
const DefaultResync = 10 * time.Minute

// AddToScheme registers the OpenReports types.
func AddToScheme(s *runtime.Scheme) error { return orv1.Install(s) }

// Writer is an audit.Publisher: after each pass it writes one Report per
// namespace with findings and one ClusterReport (cluster-scoped objects'
// findings and the permission baseline's gaps), all named Name and
// labelled ManagedByLabel=ManagedBy, and deletes its reports where no
// finding is left. It writes only what changed since it last wrote (or,
// after a start or every Resync, since it last read the API server).
type Writer struct {
	// Client reads and writes the reports; uncached (a cached client
	// would watch every report in the cluster).
	Client client.Client
	// Config is read at each pass (audit.reports).
	Config func() *config.Config
	// Gaps are the permission baseline's gaps (nil: none).
	Gaps    func() []baseline.Need
	Metrics *metrics.Metrics
	Log     logr.Logger
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
	// Resync is how often to re-read the reports (default DefaultResync).
	Resync time.Duration

	mu         sync.Mutex
	cache      map[string]*entry // by namespace; "" is the ClusterReport
	loaded     time.Time
	firstSeen  map[audit.Finding]metav1.Timestamp
	crdMissing bool
	off        bool
}

// entry is a report as last written or read.
type entry struct {
	obj     client.Object
	content content
}

// content is what the Writer decides in a report.
type content struct {
	Results []orv1.ReportResult `json:"results,omitempty"`
	Fail    int                 `json:"fail"`
	Omitted int                 `json:"omitted"`
	Max     int                 `json:"max"`
}

func (c content) same(o content) bool {
	a, _ := json.Marshal(c)
	b, _ := json.Marshal(o)
	return string(a) == string(b)
}

// Publish writes the reports of one pass; errors are returned (the
// Auditor logs them and counts an error run) and counted, and the next
// pass tries again.
func (w *Writer) Publish(ctx context.Context, res audit.Result) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	rc := w.Config().Audit.Reports
	if !rc.On() {
		if !w.off {
			w.Log.Info("audit.reports.enabled is false: reports are not written (those already written stay)")
		}
		w.off, w.cache = true, nil
		return nil
	}
	w.off = false
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	resync := w.Resync
	if resync <= 0 {
		resync = DefaultResync
	}
	if w.cache == nil || now().Sub(w.loaded) >= resync {
		if err := w.load(ctx); err != nil {
			if crdAbsent(err) {
				w.setCRDMissing(true, err)
				return nil
			}
			w.count("error")
			return fmt.Errorf("reading driftguard's reports: %w", err)
		}
		w.loaded = now()
	}
	w.setCRDMissing(false, nil)

	groups := map[string][]audit.Finding{}
	for _, f := range res.Findings {
		groups[f.Object.Namespace] = append(groups[f.Object.Namespace], f)
	}
	if w.Gaps != nil {
		for _, n := range w.Gaps() {
			groups[""] = append(groups[""], gapFinding(n))
		}
	}
	stamp := metav1.Timestamp{Seconds: now().Unix()}
	seen := make(map[audit.Finding]metav1.Timestamp, len(res.Findings))
	for _, fs := range groups {
		for _, f := range fs {
			if _, ok := seen[f]; ok {
				continue
			}
			if ts, ok := w.firstSeen[f]; ok {
				seen[f] = ts
			} else {
				seen[f] = stamp
			}
		}
	}
	w.firstSeen = seen

	namespaces := make([]string, 0, len(groups))
	for ns := range groups {
		namespaces = append(namespaces, ns)
	}
	sort.Strings(namespaces)
	var errs []error
	written, omitted := 0, 0
	for _, ns := range namespaces {
		want := build(groups[ns], seen, rc.MaxResults)
		written += len(want.Results)
		omitted += want.Omitted
		if e := w.cache[ns]; e != nil && e.content.same(want) {
			continue
		}
		if err := w.write(ctx, ns, want); err != nil {
			w.count("error")
			delete(w.cache, ns) // read it again next pass
			errs = append(errs, fmt.Errorf("writing %s: %w", describe(ns), err))
		}
	}
	for ns, e := range w.cache {
		if _, ok := groups[ns]; ok {
			continue
		}
		if err := w.remove(ctx, e.obj); err != nil {
			w.count("error")
			errs = append(errs, fmt.Errorf("deleting %s: %w", describe(ns), err))
			continue
		}
		delete(w.cache, ns)
	}
	if w.Metrics != nil && w.Metrics.Reports != nil {
		w.Metrics.Reports.Results.WithLabelValues("written").Set(float64(written))
		w.Metrics.Reports.Results.WithLabelValues("omitted").Set(float64(omitted))
	}
	return errors.Join(errs...)
}

// load reads driftguard's reports from the API server into the cache and
// their timestamps into firstSeen; reports with the label but another
// name are deleted.
func (w *Writer) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	sel := client.MatchingLabels{ManagedByLabel: ManagedBy}
	var rl orv1.ReportList
	if err := w.Client.List(ctx, &rl, sel); err != nil {
		return err
	}
	var cl orv1.ClusterReportList
	if err := w.Client.List(ctx, &cl, sel); err != nil {
		return err
	}
	cache := map[string]*entry{}
	var strays []client.Object
	for i := range rl.Items {
		r := &rl.Items[i]
		if r.Name != Name {
			strays = append(strays, r)
			continue
		}
		cache[r.Namespace] = &entry{obj: r, content: contentOf(r.Results, r.Summary, r.Configuration, r)}
	}
	for i := range cl.Items {
		r := &cl.Items[i]
		if r.Name != Name {
			strays = append(strays, r)
			continue
		}
		cache[""] = &entry{obj: r, content: contentOf(r.Results, r.Summary, r.Configuration, r)}
	}
	if w.firstSeen == nil {
		w.firstSeen = map[audit.Finding]metav1.Timestamp{}
	}
	for _, e := range cache {
		for _, r := range e.content.Results {
			if f, ok := FindingOf(r); ok {
				if _, known := w.firstSeen[f]; !known {
					w.firstSeen[f] = r.Timestamp
				}
			}
		}
	}
	w.cache = cache
	var errs []error
	for _, o := range strays {
		if err := w.remove(ctx, o); err != nil {
			w.count("error")
			errs = append(errs, fmt.Errorf("deleting %s/%s: %w", o.GetNamespace(), o.GetName(), err))
		}
	}
	if len(errs) > 0 {
		w.Log.Error(errors.Join(errs...), "deleting driftguard reports of another name")
	}
	return nil
}

func contentOf(results []orv1.ReportResult, s orv1.ReportSummary, c *orv1.ReportConfiguration, m metav1.Object) content {
	out := content{Results: results, Fail: s.Fail, Omitted: Omitted(m)}
	if c != nil {
		out.Max = c.Limits.MaxResults
	}
	return out
}

// build sorts a report's findings and keeps the first max (and at most
// MaxReportBytes of them).
func build(fs []audit.Finding, seen map[audit.Finding]metav1.Timestamp, max int) content {
	sorted := make([]audit.Finding, len(fs))
	copy(sorted, fs)
	sort.Slice(sorted, func(i, j int) bool { return less(sorted[i], sorted[j]) })
	c := content{Fail: len(fs), Max: max}
	size := 0
	for _, f := range sorted {
		if len(c.Results) >= max {
			break
		}
		size += approxSize(f)
		if size > MaxReportBytes {
			break
		}
		c.Results = append(c.Results, ResultOf(f, seen[f]))
	}
	c.Omitted = len(fs) - len(c.Results)
	return c
}

func less(a, b audit.Finding) bool {
	ka := [...]string{a.Object.Namespace, a.Object.Kind, a.Object.Name, a.Object.APIVersion, a.Object.UID, a.Policy, a.Field, a.Owner, a.Msg}
	kb := [...]string{b.Object.Namespace, b.Object.Kind, b.Object.Name, b.Object.APIVersion, b.Object.UID, b.Policy, b.Field, b.Owner, b.Msg}
	for i := range ka {
		if ka[i] != kb[i] {
			return ka[i] < kb[i]
		}
	}
	return false
}

// approxSize is about what one result takes in the stored report.
func approxSize(f audit.Finding) int {
	const overhead = 256 // keys, source, rule, severity, timestamp
	return overhead + len(f.Object.APIVersion) + len(f.Object.Kind) + len(f.Object.Namespace) + len(f.Object.Name) +
		len(f.Object.UID) + len(f.Policy) + len(f.Field) + len(f.Owner) + len(f.Msg)
}

// gapFinding is a permission baseline gap as a finding on the service
// account.
func gapFinding(n baseline.Need) audit.Finding {
	ns, name, _ := strings.Cut(n.ServiceAccount, "/")
	return audit.Finding{
		Object: audit.Ref{APIVersion: "v1", Kind: "ServiceAccount", Namespace: ns, Name: name},
		Policy: BaselinePolicy,
		Msg:    "permission baseline gap: " + n.String(),
	}
}

func newObject(ns string) client.Object {
	if ns == "" {
		return &orv1.ClusterReport{ObjectMeta: metav1.ObjectMeta{Name: Name}}
	}
	return &orv1.Report{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: ns}}
}

func describe(ns string) string {
	if ns == "" {
		return "ClusterReport " + Name
	}
	return "Report " + ns + "/" + Name
}

// apply sets c on a Report or ClusterReport.
func apply(obj client.Object, c content) {
	labels := obj.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[ManagedByLabel] = ManagedBy
	obj.SetLabels(labels)
	ann := obj.GetAnnotations()
	if c.Omitted > 0 {
		if ann == nil {
			ann = map[string]string{}
		}
		ann[OmittedAnnotation] = strconv.Itoa(c.Omitted)
	} else {
		delete(ann, OmittedAnnotation)
	}
	obj.SetAnnotations(ann)
	summary := orv1.ReportSummary{Fail: c.Fail}
	cfg := &orv1.ReportConfiguration{Limits: orv1.Limits{MaxResults: c.Max}}
	switch r := obj.(type) {
	case *orv1.Report:
		r.Source, r.Summary, r.Results, r.Configuration = Source, summary, c.Results, cfg
	case *orv1.ClusterReport:
		r.Source, r.Summary, r.Results, r.Configuration = Source, summary, c.Results, cfg
	}
}

// write creates or updates the report of ns; on a conflict or a report
// gone or already there it reads the current one and writes again.
func (w *Writer) write(ctx context.Context, ns string, c content) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if e := w.cache[ns]; e != nil {
		obj := e.obj.DeepCopyObject().(client.Object)
		apply(obj, c)
		err := w.Client.Update(ctx, obj)
		if err == nil {
			w.count("updated")
			w.cache[ns] = &entry{obj: obj, content: c}
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
	} else {
		obj := newObject(ns)
		apply(obj, c)
		err := w.Client.Create(ctx, obj)
		if err == nil {
			w.count("created")
			w.cache[ns] = &entry{obj: obj, content: c}
			return nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	// what is there now
	obj := newObject(ns)
	if err := w.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		obj = newObject(ns)
		apply(obj, c)
		if err := w.Client.Create(ctx, obj); err != nil {
			return err
		}
		w.count("created")
	} else {
		apply(obj, c)
		if err := w.Client.Update(ctx, obj); err != nil {
			return err
		}
		w.count("updated")
	}
	w.cache[ns] = &entry{obj: obj, content: c}
	return nil
}

func (w *Writer) remove(ctx context.Context, obj client.Object) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := w.Client.Delete(ctx, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err == nil {
		w.count("deleted")
	}
	return err
}

func (w *Writer) count(result string) {
	if w.Metrics != nil && w.Metrics.Reports != nil {
		w.Metrics.Reports.Writes.WithLabelValues(result).Inc()
	}
}

// crdAbsent says whether err means the openreports.io CRDs are not
// installed (no REST mapping, or the resource is not served).
func crdAbsent(err error) bool {
	return meta.IsNoMatchError(err) || apierrors.IsNotFound(err)
}

// setCRDMissing logs the change once and sets the gauge.
func (w *Writer) setCRDMissing(missing bool, err error) {
	if missing && !w.crdMissing {
		w.Log.Info("the OpenReports CRDs (reports.openreports.io, clusterreports.openreports.io) are not installed: "+
			"no drift reports are written; the audit and its metrics go on. Install them (the Helm chart does, reports.installCRDs) "+
			"or set audit.reports.enabled: false", "error", err.Error())
	}
	if !missing && w.crdMissing {
		w.Log.Info("the OpenReports CRDs are installed now: writing drift reports")
	}
	w.crdMissing = missing
	if missing {
		w.cache = nil
	}
	if w.Metrics != nil && w.Metrics.Reports != nil {
		v := 0.0
		if missing {
			v = 1
		}
		w.Metrics.Reports.CRDMissing.Set(v)
	}
}
