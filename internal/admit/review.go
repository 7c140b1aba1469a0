package admit

import (
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
)

// CheckReview applies the webhook's checks to a decoded AdmissionReview:
// admission.k8s.io/v1 only, a request with a uid, a kind and an operation
// Kubernetes has. The webhook answers a review that fails them with HTTP
// 400 (HTTPHandler); `driftguard eval` and the fixture suites refuse it
// with the same message.
func CheckReview(review *admissionv1.AdmissionReview) error {
	if herr := checkReview(review); herr != nil {
		return herr
	}
	return nil
}

func (e *httpError) Error() string { return e.msg }

// checkReview is CheckReview with the reason HTTPHandler counts
// (driftguard_admission_bad_requests_total).
func checkReview(review *admissionv1.AdmissionReview) *httpError {
	if review == nil {
		return &httpError{http.StatusBadRequest, "malformed", "no AdmissionReview"}
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		return &httpError{http.StatusBadRequest, "api_version", fmt.Sprintf("apiVersion %q kind %q: only admission.k8s.io/v1 AdmissionReview is served (set admissionReviewVersions: [v1])", review.APIVersion, review.Kind)}
	}
	if review.Request == nil {
		return &httpError{http.StatusBadRequest, "malformed", "AdmissionReview has no request"}
	}
	if review.Request.UID == "" {
		return &httpError{http.StatusBadRequest, "missing_uid", "AdmissionReview request has no uid"}
	}
	if review.Request.Kind.Kind == "" || review.Request.Operation == "" {
		return &httpError{http.StatusBadRequest, "malformed", "AdmissionReview request needs kind and operation"}
	}
	return checkOperation(review.Request)
}
