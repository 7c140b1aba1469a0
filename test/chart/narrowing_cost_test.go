package chart

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// a-policy-can-answer walks the objects' annotations, labels and
// managedFields. kube-apiserver gives all of a webhook's matchConditions
// one runtime cost budget per request (RuntimeCELCostBudgetMatchConditions);
// past it the condition errs and the entry's failurePolicy applies (Fail
// for tenants: the write is rejected). So the condition must stay within
// the budget for the largest objects the API server stores (etcd's
// 1.5 MiB), with nothing in them that stops the walk early.

// hugeObject is a Service of about size bytes made of n of what, with
// no sign of ownership, so that the condition walks all of it.
func hugeObject(what string, size int) map[string]any {
	md := map[string]any{"name": "big", "namespace": "tenant-a", "uid": "u-1", "resourceVersion": "7"}
	switch what {
	case "annotations", "labels":
		m := map[string]any{}
		// keys of 63 characters; annotations are limited to 256 KiB in all
		limit := size
		if what == "annotations" {
			limit = 256 << 10
		}
		for i := 0; i*70 < limit; i++ {
			m[fmt.Sprintf("k%062d", i)] = ""
		}
		md[what] = m
	case "managedFields":
		var entries []any
		for i := 0; i*400 < size; i++ {
			entries = append(entries, map[string]any{
				// field manager names are at most 128 characters
				"manager":    fmt.Sprintf("%0128d", i),
				"operation":  "Apply",
				"apiVersion": "v1",
				"time":       "2026-12-01T10:00:00Z",
				"fieldsType": "FieldsV1",
				"fieldsV1":   map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{"f:x": map[string]any{}}}},
			})
		}
		md["managedFields"] = entries
	}
	return map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": md,
		"spec": map[string]any{"ports": []any{map[string]any{"port": 80.0}}}}
}

func TestNarrowingWithinTheCELBudgetOnHugeObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds objects of 1.4 MiB")
	}
	// the chart's rendered condition and the one serve --narrow-webhooks computes
	conds := map[string]senders{"chart": sendersFor(t)(request{}), "run-time": goSendersFor(t, nil)(request{})}
	const size = 1400 << 10
	for _, what := range []string{"annotations", "labels", "managedFields"} {
		obj := hugeObject(what, size)
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range []admissionv1.Operation{admissionv1.Update, admissionv1.Delete} {
			req := &admissionv1.AdmissionRequest{
				UID: "u", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Service"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "services"},
				Name:     "big", Namespace: "tenant-a", Operation: op,
				UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"devs", "system:authenticated"}},
				OldObject: runtime.RawExtension{Raw: raw},
			}
			if op == admissionv1.Update {
				req.Object = runtime.RawExtension{Raw: raw}
			}
			for name, snd := range map[string]sender{
				"chart's validating": conds["chart"].validate, "chart's mutating": conds["chart"].mutate,
				"run-time validating": conds["run-time"].validate, "run-time mutating": conds["run-time"].mutate,
			} {
				sent, err := snd.sends(req)
				if err != nil {
					t.Errorf("%s of a %d-byte Service with many %s: the %s entries' condition fails (failurePolicy applies): %v",
						op, len(raw), what, name, truncateErr(err))
					continue
				}
				if sent {
					t.Errorf("%s of a Service with no sign of ownership is sent to the %s entries", op, name)
				}
			}
		}
		t.Logf("%s: %d bytes", what, len(raw))
	}
}

func truncateErr(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.TrimSpace(s)
}
