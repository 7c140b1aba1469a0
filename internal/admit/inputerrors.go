package admit

import (
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/driftguard/driftguard/internal/input"
)

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
