package main

import (
	"bytes"
	"strings"
	"testing"
)

// eval refuses a review the webhook refuses, with the webhook's message:
// an operation Kubernetes does not have is not answered "allowed".
func TestEvalRefusesWhatTheWebhookRefuses(t *testing.T) {
	for _, op := range []string{"PATCH", "AUDIT"} {
		review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1",` +
			`"kind":{"group":"","version":"v1","kind":"ConfigMap"},"resource":{"group":"","version":"v1","resource":"configmaps"},` +
			`"operation":"` + op + `","namespace":"a","name":"x","userInfo":{"username":"alice"},` +
			`"object":{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x","namespace":"a"}}}}`
		var stdout, stderr bytes.Buffer
		code := evalMain([]string{"-f", "-"}, strings.NewReader(review), &stdout, &stderr)
		want := `stdin: operation "` + op + `" is not an admission operation (CREATE, UPDATE, DELETE, CONNECT)`
		if code != exitBadFile || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %d and %q", op, code, stdout.String(), stderr.String(), exitBadFile, want)
		}
	}
}
