package findings

import (
	"context"
	"fmt"
	"time"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/driftguard/driftguard/internal/report"
)

// Scheme knows the OpenReports types (for a client that reads them).
func Scheme() (*runtime.Scheme, error) {
	sc := runtime.NewScheme()
	if err := orv1.AddToScheme(sc); err != nil {
		return nil, err
	}
	return sc, nil
}

// pageSize bounds one List call (a cluster may have thousands of
// namespaces, each with a report).
const pageSize = 200

// Reports lists the findings in driftguard's reports: the Report named
// report.Name in the scope's namespace, or in every namespace plus the
// ClusterReport with AllNamespaces. A namespace without the Report has
// no findings (the audit removes reports that have none). Without the
// OpenReports CRDs the error is a NoReportsError.
func Reports(ctx context.Context, r client.Reader, sc Scope) (*List, error) {
	l := newList(FromReports, sc)
	wrap := func(what string, err error) error {
		if meta.IsNoMatchError(err) {
			return &NoReportsError{Err: err}
		}
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if !sc.AllNamespaces {
		var rep orv1.Report
		err := r.Get(ctx, client.ObjectKey{Namespace: sc.Namespace, Name: report.Name}, &rep)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, wrap("Report "+sc.Namespace+"/"+report.Name, err)
		default:
			l.add(&rep, rep.Results)
		}
		l.sort()
		return l, nil
	}
	opts := []client.ListOption{client.Limit(pageSize)}
	for {
		var reps orv1.ReportList
		if err := r.List(ctx, &reps, opts...); err != nil {
			return nil, wrap("Reports", err)
		}
		for i := range reps.Items {
			if reps.Items[i].Name == report.Name {
				l.add(&reps.Items[i], reps.Items[i].Results)
			}
		}
		if reps.Continue == "" {
			break
		}
		opts = []client.ListOption{client.Limit(pageSize), client.Continue(reps.Continue)}
	}
	var crep orv1.ClusterReport
	err := r.Get(ctx, client.ObjectKey{Name: report.Name}, &crep)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, wrap("ClusterReport "+report.Name, err)
	default:
		l.add(&crep, crep.Results)
	}
	l.sort()
	return l, nil
}

// add takes a report's driftguard results (others' are skipped) and its
// omitted count.
func (l *List) add(m metav1.Object, results []orv1.ReportResult) {
	for _, res := range results {
		f, ok := report.FindingOf(res)
		if !ok {
			continue
		}
		l.Findings = append(l.Findings, RowOf(f, sinceOf(res.Timestamp)))
	}
	l.Omitted += report.Omitted(m)
}

func sinceOf(ts metav1.Timestamp) *time.Time {
	if ts.Seconds == 0 && ts.Nanos == 0 {
		return nil
	}
	t := time.Unix(ts.Seconds, int64(ts.Nanos)).UTC()
	return &t
}

// Since looks the first-seen time of findings up in the reports (for
// explain). A missing report or CRD is no error: the time is unknown.
type Since struct {
	Reader client.Reader
}

// Of returns when each finding of the namespace's report (the
// ClusterReport for "") was first seen, by Key.
func (s Since) Of(ctx context.Context, namespace string) (map[string]time.Time, error) {
	var results []orv1.ReportResult
	if namespace == "" {
		var crep orv1.ClusterReport
		if err := s.Reader.Get(ctx, client.ObjectKey{Name: report.Name}, &crep); err != nil {
			return nil, ignoreMissing(err)
		}
		results = crep.Results
	} else {
		var rep orv1.Report
		if err := s.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: report.Name}, &rep); err != nil {
			return nil, ignoreMissing(err)
		}
		results = rep.Results
	}
	out := map[string]time.Time{}
	for _, res := range results {
		f, ok := report.FindingOf(res)
		if t := sinceOf(res.Timestamp); ok && t != nil {
			out[Key(RowOf(f, nil))] = *t
		}
	}
	return out, nil
}

// Key identifies a finding on an object across sources: the object,
// policy, field and owner (not the message, whose wording may change
// with the policy).
func Key(r Row) string {
	return r.APIVersion + "|" + r.Kind + "|" + r.Namespace + "|" + r.Name + "|" + r.Policy + "|" + r.Field + "|" + r.Owner
}

func ignoreMissing(err error) error {
	if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
		return nil
	}
	return err
}
