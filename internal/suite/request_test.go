package suite

import (
	"strings"
	"testing"
)

// A recorded review is refused as the webhook refuses it (operations
// Kubernetes does not have included), naming the case.
func TestReviewCheckedAsTheWebhookDoes(t *testing.T) {
	for _, op := range []string{"PATCH", "AUDIT"} {
		dir := t.TempDir()
		f := write(t, dir, "x.suite.yaml", `cases:
  - name: a
    review:
      apiVersion: admission.k8s.io/v1
      kind: AdmissionReview
      request:
        uid: u1
        kind: {group: "", version: v1, kind: ConfigMap}
        operation: `+op+`
        object: {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: d}}
    expect: {allowed: true}
`)
		_, _, err := load(t, Options{}, f)
		if err == nil || !strings.Contains(err.Error(), `cases[0] (a): review: operation "`+op+`" is not an admission operation`) {
			t.Errorf("%s: %v", op, err)
		}
	}
}
