package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"github.com/open-policy-agent/opa/v1/ast"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/metrics"
	"github.com/driftguard/driftguard/internal/policy"
)

// Key is one drift gauge series.
type Key struct{ Policy, Namespace, Kind string }

// Object is a live object to evaluate.
type Object struct {
	GVK    metav1.GroupVersionKind
	Object map[string]any
}

// Ref names one live object.
type Ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
}

// Finding is one drift finding of one policy on one object: what the
// policy's drift rule said (message, field, owner), never a value.
type Finding struct {
	Object Ref    `json:"object"`
	Policy string `json:"policy"`
	Field  string `json:"field,omitempty"`
	Owner  string `json:"owner,omitempty"`
	Msg    string `json:"msg"`
	// Count is how many times it happened lately, for findings that are
	// events (observed reverts); 0 otherwise.
	Count int `json:"count,omitempty"`
}

// MaxFindingsPerObject bounds what one policy can say about one object
// in one pass (a drift rule returning thousands of findings keeps its
// first ones, sorted, and counts the rest in Result.Dropped).
const MaxFindingsPerObject = 20

// Result of one evaluation pass.
type Result struct {
	Drift   map[Key]int
	Objects map[string]int // by kind
	Errors  int
	// Findings are every object's findings, in the order the objects were
	// given (and per object, by policy, field and message).
	Findings []Finding
	// Dropped counts findings beyond MaxFindingsPerObject.
	Dropped int
}

// OtherNamespace is the namespace label beyond the cap.
const OtherNamespace = "_other"

// Evaluate runs the drift rules of the serving policies on objects.
// Namespace label values are capped at maxNS distinct values.
func Evaluate(ctx context.Context, st *admit.State, objects []Object, maxNS int) Result {
	res := Result{Drift: map[Key]int{}, Objects: map[string]int{}}
	nsSeen := map[string]bool{}
	nsLabel := func(ns string) string {
		if nsSeen[ns] {
			return ns
		}
		if len(nsSeen) >= maxNS {
			return OtherNamespace
		}
		nsSeen[ns] = true
		return ns
	}
	for _, o := range objects {
		ps := st.Policies.DriftPolicies(o.GVK.Kind)
		if len(ps) == 0 {
			continue
		}
		in, err := st.Builder.BuildLive(ctx, o.GVK, o.Object)
		if err != nil {
			res.Errors++
			continue
		}
		if in.Exempt != "" {
			continue
		}
		res.Objects[o.GVK.Kind]++
		val := ast.LazyObject(in.Doc)
		for _, p := range ps {
			r := p.Drift(ctx, val)
			if r.Err != nil {
				res.Errors++
				continue
			}
			if len(r.Drift) > 0 {
				res.Drift[Key{p.Name, nsLabel(in.Request.Namespace), o.GVK.Kind}]++
				res.Dropped += appendFindings(&res.Findings, refOf(o), p.Name, r.Drift)
			}
		}
	}
	return res
}

// refOf names the object o.
func refOf(o Object) Ref {
	md, _ := o.Object["metadata"].(map[string]any)
	str := func(k string) string { v, _ := md[k].(string); return v }
	apiVersion := o.GVK.Version
	if o.GVK.Group != "" {
		apiVersion = o.GVK.Group + "/" + o.GVK.Version
	}
	return Ref{APIVersion: apiVersion, Kind: o.GVK.Kind, Namespace: str("namespace"), Name: str("name"), UID: str("uid")}
}

// appendFindings adds a policy's findings on one object, sorted and at
// most MaxFindingsPerObject; it returns how many it left out.
func appendFindings(out *[]Finding, ref Ref, policy string, fs []policy.Finding) int {
	start := len(*out)
	for _, f := range fs {
		*out = append(*out, Finding{Object: ref, Policy: policy, Field: f.Field, Owner: f.Owner, Msg: f.Msg})
	}
	mine := (*out)[start:]
	sort.Slice(mine, func(i, j int) bool {
		a, b := mine[i], mine[j]
		if a.Field != b.Field {
			return a.Field < b.Field
		}
		if a.Owner != b.Owner {
			return a.Owner < b.Owner
		}
		return a.Msg < b.Msg
	})
	if len(mine) <= MaxFindingsPerObject {
		return 0
	}
	*out = (*out)[:start+MaxFindingsPerObject]
	return len(mine) - MaxFindingsPerObject
}

// Publisher takes the findings of an audit pass somewhere (reports).
type Publisher interface {
	Publish(ctx context.Context, res Result) error
}

// Auditor runs Evaluate over the cache every interval.
type Auditor struct {
	Engine  *admit.Engine
	Reader  client.Reader
	Metrics *metrics.Metrics
	Log     logr.Logger
	// Interval overrides the config's audit.interval (tests).
	Interval time.Duration
	// Publishers get every pass's result after the gauges are set (the
	// per-object reports); an error is logged and counted as an error
	// run, and the next pass publishes again. A pass that could not list
	// every audited kind is not published.
	Publishers []Publisher
	// Sources add findings that no drift rule computes (observed
	// reverts) to each pass's result before it is published.
	Sources []FindingSource
	last    map[Key]bool
	zeroed  map[Key]bool
}

// FindingSource gives findings as of now.
type FindingSource interface {
	Findings(now time.Time) []Finding
}

// NeedLeaderElection makes the audit run on the leader only.
func (a *Auditor) NeedLeaderElection() bool { return true }

// Start runs until ctx ends (manager.Runnable).
func (a *Auditor) Start(ctx context.Context) error {
	for {
		if err := a.RunOnce(ctx); err != nil && ctx.Err() == nil {
			a.Log.Error(err, "audit run failed")
		}
		interval := a.Interval
		if interval == 0 {
			interval = a.Engine.State().Config.Audit.Interval.Duration
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// RunOnce lists the audited kinds from the cache, evaluates and exports.
func (a *Auditor) RunOnce(ctx context.Context) error {
	start := time.Now()
	st := a.Engine.State()
	var objects []Object
	var errs []error
	for _, k := range st.Config.Audit.Kinds {
		gvk := schema.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
		mgvk := metav1.GroupVersionKind{Group: k.Group, Version: k.Version, Kind: k.Kind}
		items, err := a.list(ctx, gvk, k.MetadataOnly, st.Config.Audit.Namespaces)
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", gvk, err))
			continue
		}
		for _, it := range items {
			objects = append(objects, Object{GVK: mgvk, Object: it})
		}
	}
	res := Evaluate(ctx, st, objects, st.Config.Audit.MaxNamespaceLabels)
	a.export(res)
	for _, src := range a.Sources {
		res.Findings = append(res.Findings, src.Findings(time.Now())...)
	}
	// a pass that could not list every kind misses their findings:
	// publishing it would take them out of the reports (and lose when
	// they were first seen) until the next pass puts them back
	if len(errs) == 0 {
		for _, p := range a.Publishers {
			if err := p.Publish(ctx, res); err != nil {
				errs = append(errs, err)
			}
		}
	}
	result := "ok"
	if len(errs) > 0 || res.Errors > 0 {
		result = "error"
	}
	if a.Metrics != nil {
		a.Metrics.AuditRuns.WithLabelValues(result).Inc()
		a.Metrics.AuditDuration.Set(time.Since(start).Seconds())
		a.Metrics.AuditLastRun.SetToCurrentTime()
	}
	a.Log.V(1).Info("audit run", "objects", len(objects), "driftSeries", len(res.Drift), "errors", res.Errors, "took", time.Since(start))
	return errors.Join(errs...)
}

// list reads a kind from the cache (metadata only when asked), filtered
// to the audited namespaces.
func (a *Auditor) list(ctx context.Context, gvk schema.GroupVersionKind, metadataOnly bool, namespaces []string) ([]map[string]any, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out []map[string]any
	keep := func(ns string) bool { return len(namespaces) <= 1 || contains(namespaces, ns) }
	if metadataOnly {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		if err := a.Reader.List(ctx, list, listOpts(namespaces)...); err != nil {
			return nil, err
		}
		for i := range list.Items {
			if !keep(list.Items[i].Namespace) {
				continue
			}
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&list.Items[i])
			if err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := a.Reader.List(ctx, list, listOpts(namespaces)...); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if keep(list.Items[i].GetNamespace()) {
			out = append(out, list.Items[i].Object)
		}
	}
	return out, nil
}

func listOpts(namespaces []string) []client.ListOption {
	if len(namespaces) == 1 {
		return []client.ListOption{client.InNamespace(namespaces[0])}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// export sets the gauges: current series get their counts, series that
// disappeared are set to 0 for one run (so alerts resolve cleanly) and
// then deleted.
func (a *Auditor) export(res Result) {
	if a.Metrics == nil {
		return
	}
	g := a.Metrics.DriftObjects
	for k := range a.zeroed {
		if _, ok := res.Drift[k]; !ok {
			g.DeleteLabelValues(k.Policy, k.Namespace, k.Kind)
		}
	}
	zeroed := map[Key]bool{}
	for k := range a.last {
		if _, ok := res.Drift[k]; !ok {
			g.WithLabelValues(k.Policy, k.Namespace, k.Kind).Set(0)
			zeroed[k] = true
		}
	}
	next := map[Key]bool{}
	for k, n := range res.Drift {
		g.WithLabelValues(k.Policy, k.Namespace, k.Kind).Set(float64(n))
		next[k] = true
	}
	a.last, a.zeroed = next, zeroed
	a.Metrics.AuditObjects.Reset()
	for kind, n := range res.Objects {
		a.Metrics.AuditObjects.WithLabelValues(kind).Set(float64(n))
	}
}
