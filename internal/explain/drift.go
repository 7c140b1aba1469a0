package explain

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/audit"
	"github.com/driftguard/driftguard/internal/findings"
)

// SinceLookup tells when the findings in a namespace's report (the
// ClusterReport for "") were first seen, by findings.Key; a missing
// report is an empty map. findings.Since reads driftguard's reports.
type SinceLookup interface {
	Of(ctx context.Context, namespace string) (map[string]time.Time, error)
}

// Drift is the object's drift now: what the policies' drift rules say
// about the live object (as the audit would), and its drift record.
type Drift struct {
	// Findings of the drift rules; Since is set when driftguard's report
	// lists the finding.
	Findings []findings.Row `json:"findings"`
	// Dropped counts findings beyond audit.MaxFindingsPerObject.
	Dropped int `json:"dropped,omitempty"`
	// RecordAnnotation is the config's drift record annotation.
	RecordAnnotation string `json:"recordAnnotation"`
	// Record is the hand edits the webhook allowed that still stand
	// (nil: the object has no record).
	Record *admit.DriftRecord `json:"record,omitempty"`
}

// drift evaluates the drift rules on obj and reads its drift record.
func drift(ctx context.Context, env Env, t Target, obj map[string]any) (Drift, []string) {
	var notes []string
	d := Drift{Findings: []findings.Row{}, RecordAnnotation: env.State.Config.DriftAnnotation}
	gvk := metav1.GroupVersionKind{Group: t.GVK.Group, Version: t.GVK.Version, Kind: t.GVK.Kind}
	res := audit.Evaluate(ctx, env.State, []audit.Object{{GVK: gvk, Object: obj}}, 1)
	if res.Errors > 0 {
		notes = append(notes, fmt.Sprintf("drift rules: %d policies could not evaluate the object", res.Errors))
	}
	d.Dropped = res.Dropped
	var since map[string]time.Time
	if len(res.Findings) > 0 && env.Since != nil {
		var err error
		if since, err = env.Since.Of(ctx, t.Namespace); err != nil {
			notes = append(notes, "reading driftguard's report: "+err.Error())
		}
	}
	for _, f := range res.Findings {
		r := findings.RowOf(f, nil)
		if at, ok := since[findings.Key(r)]; ok {
			r.Since = &at
		}
		d.Findings = append(d.Findings, r)
	}
	md, _ := obj["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if raw, ok := ann[d.RecordAnnotation].(string); ok {
		rec := admit.ParseDriftRecord(raw)
		if len(rec.Edits) == 0 && raw != "" {
			notes = append(notes, fmt.Sprintf("the drift record (%s) is unreadable; the webhook replaces it on the next write", d.RecordAnnotation))
		}
		d.Record = &rec
	}
	return d, notes
}
