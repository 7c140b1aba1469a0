package input

import admissionv1 "k8s.io/api/admission/v1"

// Exempt says why a request is not evaluated ("" when it is), from the
// request alone (namespace and user), without decoding its objects.
func (b *Builder) Exempt(req *admissionv1.AdmissionRequest) string { return b.exempt(req) }
