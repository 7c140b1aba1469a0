package findings

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/revert"
)

// Source names where a List came from.
type Source string

const (
	// FromReports: the OpenReports Reports and ClusterReport driftguard writes.
	FromReports Source = "reports"
	// FromLive: the live objects, evaluated with the drift rules.
	FromLive Source = "live"
)

// Scope is which namespaces to list: one namespace, or all of them (and
// then the cluster-scoped findings too).
type Scope struct {
	Namespace     string
	AllNamespaces bool
}

func (s Scope) String() string {
	if s.AllNamespaces {
		return "all namespaces"
	}
	return "namespace " + s.Namespace
}

// Row is one finding of one policy on one object.
type Row struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	UID        string `json:"uid,omitempty"`
	Policy     string `json:"policy"`
	Field      string `json:"field,omitempty"`
	Owner      string `json:"owner,omitempty"`
	// Since is when the finding was first seen (reports only).
	Since   *time.Time `json:"since,omitempty"`
	Message string     `json:"message"`
}

// RowOf is the row of an audit finding first seen at since (nil: unknown).
func RowOf(f audit.Finding, since *time.Time) Row {
	return Row{
		APIVersion: f.Object.APIVersion, Kind: f.Object.Kind, Namespace: f.Object.Namespace,
		Name: f.Object.Name, UID: f.Object.UID,
		Policy: f.Policy, Field: f.Field, Owner: f.Owner, Since: since, Message: f.Msg,
	}
}

// List is the current findings in a scope.
type List struct {
	Source Source `json:"source"`
	// Namespace is the namespace listed; empty with AllNamespaces.
	Namespace     string `json:"namespace,omitempty"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
	Findings      []Row  `json:"findings"`
	// Omitted counts findings a report's cap left out (reports only):
	// they exist, --live shows them.
	Omitted int `json:"omitted,omitempty"`
	// Dropped counts findings beyond audit.MaxFindingsPerObject of one
	// policy on one object (live only).
	Dropped int `json:"dropped,omitempty"`
	// Errors counts objects or policies that could not be evaluated
	// (live only): the list may then be incomplete.
	Errors int `json:"errors,omitempty"`
	// Evaluated counts the objects the drift rules ran on (live only).
	Evaluated int `json:"evaluated,omitempty"`
}

func newList(src Source, sc Scope) *List {
	l := &List{Source: src, AllNamespaces: sc.AllNamespaces, Findings: []Row{}}
	if !sc.AllNamespaces {
		l.Namespace = sc.Namespace
	}
	return l
}

// Total is every finding, shown or not.
func (l *List) Total() int { return len(l.Findings) + l.Omitted + l.Dropped }

// Objects counts the distinct objects with a shown finding.
func (l *List) Objects() int {
	seen := map[string]bool{}
	for _, r := range l.Findings {
		if r.Policy == revert.FindingPolicy {
			continue
		}
		seen[r.APIVersion+"|"+r.Kind+"|"+r.Namespace+"|"+r.Name] = true
	}
	return len(seen)
}

// sort orders the rows by namespace, kind, name, policy, field, owner.
func (l *List) sort() {
	sort.SliceStable(l.Findings, func(i, j int) bool {
		a, b := l.Findings[i], l.Findings[j]
		for _, p := range [][2]string{{a.Namespace, b.Namespace}, {a.Kind, b.Kind}, {a.Name, b.Name},
			{a.Policy, b.Policy}, {a.Field, b.Field}, {a.Owner, b.Owner}, {a.Message, b.Message}} {
			if p[0] != p[1] {
				return p[0] < p[1]
			}
		}
		return false
	})
}

// Reverts counts the rows that are observed reverts (policy
// observed_revert): history of the last hour, not drift, since the
// reverted object matches its reconciler again.
func (l *List) Reverts() int {
	n := 0
	for _, r := range l.Findings {
		if r.Policy == revert.FindingPolicy {
			n++
		}
	}
	return n
}

// Exit codes of `driftguard drift`.
const (
	ExitNoDrift = 0
	ExitDrift   = 1
	ExitError   = 2
)

// ExitCode is 0 when the list proves there is no drift, 1 when it has
// findings (shown or left out by a cap; observed reverts are shown but
// are not drift) and 2 when it cannot tell
// (objects or policies that could not be evaluated).
func (l *List) ExitCode() int {
	switch {
	case l.Errors > 0:
		return ExitError
	case l.Total()-l.Reverts() > 0:
		return ExitDrift
	}
	return ExitNoDrift
}

// NoReportsError means the cluster has no OpenReports CRDs, so no
// driftguard reports can exist there.
type NoReportsError struct{ Err error }

func (e *NoReportsError) Error() string {
	return fmt.Sprintf("the cluster has no OpenReports CRDs (%v), so driftguard writes no reports there: "+
		"run with --live to evaluate the live objects instead, or install the CRDs (the Helm chart does)", e.Err)
}
func (e *NoReportsError) Unwrap() error { return e.Err }

// IsNoReports reports whether err is a NoReportsError.
func IsNoReports(err error) bool {
	var e *NoReportsError
	return errors.As(err, &e)
}

// ObjectGetter reads one object (explain.Cluster is one).
type ObjectGetter interface {
	Get(ctx context.Context, apiVersion, kind, namespace, name string) (map[string]any, error)
}

// NoNamespaceError means the listed namespace does not exist: a gate
// must not pass because of a misspelt -n.
type NoNamespaceError struct{ Namespace string }

func (e *NoNamespaceError) Error() string {
	return fmt.Sprintf("namespace %q not found", e.Namespace)
}

// CheckNamespace makes sure the scope's namespace exists. Not being
// allowed to read Namespaces is no error: the listing itself then shows
// what the caller may see.
func CheckNamespace(ctx context.Context, g ObjectGetter, sc Scope) error {
	if sc.AllNamespaces {
		return nil
	}
	_, err := g.Get(ctx, "v1", "Namespace", "", sc.Namespace)
	switch {
	case err == nil, apierrors.IsForbidden(err):
		return nil
	case apierrors.IsNotFound(err):
		return &NoNamespaceError{Namespace: sc.Namespace}
	}
	return fmt.Errorf("reading namespace %s: %w", sc.Namespace, err)
}
