package admit

import (
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
	"github.com/driftguard/driftguard/internal/policy"
)

// applyInputErrors answers a request driftguard could not judge (see
// input.InputError) per failurePolicy: denied when it is deny and some
// policy matching the request would act on it (enforce or warn mode),
// allowed with a warning when it is allow. When every matching policy is
// in dryrun mode (or none matches) nothing is denied or told: a dry run
// never changes an answer. Each error is counted (validating webhook only:
// the mutating webhook would count the same request again).
func (e *Engine) applyInputErrors(cfg *config.Config, set *policy.Set, d *Decision, mutate bool) {
	in := d.Input
	if len(in.InputErrors) == 0 {
		return
	}
	if e.Metrics != nil && !mutate {
		for _, ie := range in.InputErrors {
			e.Metrics.InputErrors.WithLabelValues("validate", ie.Reason).Inc()
		}
	}
	acting := false
	for _, p := range set.Matching(in.Request.Kind.Kind, string(in.Request.Operation)) {
		if cfg.ModeFor(p.Name) != config.ModeDryRun {
			acting = true
			break
		}
	}
	if !acting {
		return
	}
	for _, ie := range in.InputErrors {
		if cfg.FailurePolicy == "deny" {
			d.Denials = append(d.Denials, "[input] "+ie.Msg+"; failurePolicy is deny")
		} else {
			d.Warnings = append(d.Warnings, "[input] "+ie.Msg+"; allowed because failurePolicy is allow")
		}
	}
}

// mutateScale is the mutating webhook's answer to a scale request:
// allowed, no patch, without reading the parent. The API server copies
// nothing but spec.replicas from a Scale to its parent, so a drift record
// or a policy patch on the Scale would be lost; the validating webhook
// judges the request.
func mutateScale(req *admissionv1.AdmissionRequest) *Decision {
	return &Decision{Input: &input.Input{Request: req}, Allowed: true}
}

// scaleDriftNote tells, on a scale request whose hand edit is allowed (warn
// mode), that no drift record can be kept: only spec.replicas of a Scale is
// stored. The audit finds it in the parent's managedFields (manager
// kubectl, subresource scale).
func scaleDriftNote(d *Decision) {
	if p := d.Input.Parent; p != nil && len(d.HandEdits) > 0 {
		d.Warnings = append(d.Warnings, "driftguard: no drift record is kept for this hand edit: a scale request stores only spec.replicas on "+p.Ref()+"; the drift audit reports the scale")
	}
}
