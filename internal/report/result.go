package report

import (
	"strconv"

	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/driftguard/driftguard/internal/audit"
)

const (
	// Source is the source of every report and result driftguard writes.
	Source = "driftguard"
	// Name is the name of driftguard's Report in each namespace and of
	// its ClusterReport.
	Name = "driftguard"
	// Rule is the rule of every result: the policy's drift rule.
	Rule = "drift"
	// ManagedByLabel marks the reports driftguard writes (and may delete).
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of ManagedByLabel on driftguard's reports.
	ManagedBy = "driftguard"
	// OmittedAnnotation counts the findings left out of a report by the
	// cap (the summary still counts them).
	OmittedAnnotation = "driftguard.io/results-omitted"

	propField = "field"
	propOwner = "owner"
	propCount = "count" // findings that are events (observed reverts): how many lately
)

// DefaultSeverity is the severity of a drift finding.
const DefaultSeverity orv1.ResultSeverity = "medium"

// ResultOf is the report result of finding f, first seen at since.
func ResultOf(f audit.Finding, since metav1.Timestamp) orv1.ReportResult {
	r := orv1.ReportResult{
		Source:      Source,
		Policy:      f.Policy,
		Rule:        Rule,
		Severity:    DefaultSeverity,
		Timestamp:   since,
		Result:      "fail",
		Description: f.Msg,
		Subjects: []corev1.ObjectReference{{
			APIVersion: f.Object.APIVersion, Kind: f.Object.Kind,
			Namespace: f.Object.Namespace, Name: f.Object.Name, UID: types.UID(f.Object.UID),
		}},
	}
	if f.Field != "" || f.Owner != "" || f.Count > 0 {
		r.Properties = map[string]string{}
		if f.Count > 0 {
			r.Properties[propCount] = strconv.Itoa(f.Count)
		}
		if f.Field != "" {
			r.Properties[propField] = f.Field
		}
		if f.Owner != "" {
			r.Properties[propOwner] = f.Owner
		}
	}
	return r
}

// FindingOf reads a result back; ok is false for results that are not
// driftguard's drift findings on one object.
func FindingOf(r orv1.ReportResult) (f audit.Finding, ok bool) {
	if r.Source != Source || r.Rule != Rule || len(r.Subjects) != 1 {
		return audit.Finding{}, false
	}
	s := r.Subjects[0]
	n, _ := strconv.Atoi(r.Properties[propCount])
	return audit.Finding{
		Count:  n,
		Object: audit.Ref{APIVersion: s.APIVersion, Kind: s.Kind, Namespace: s.Namespace, Name: s.Name, UID: string(s.UID)},
		Policy: r.Policy,
		Field:  r.Properties[propField],
		Owner:  r.Properties[propOwner],
		Msg:    r.Description,
	}, true
}

// Omitted is how many findings the report's cap left out.
func Omitted(m metav1.Object) int {
	n, _ := strconv.Atoi(m.GetAnnotations()[OmittedAnnotation])
	return n
}
