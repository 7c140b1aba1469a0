package revert

import (
	"context"
	"encoding/json"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/driftguard/driftguard/internal/admit"
)

// PredictPolicy is the policy whose warnings are revert predictions.
const PredictPolicy = "revert_warning"

// EnginePredictor predicts as the validating webhook would have: it
// evaluates the serving policies on the update as an admission review by
// the editor and takes the fields PredictPolicy warned about. It runs on
// the leader for hand edits only (never on a request's path).
func EnginePredictor(e *admit.Engine) Predictor {
	return func(ctx context.Context, old, new map[string]any, editor string) map[string]string {
		oldRaw, err1 := json.Marshal(old)
		newRaw, err2 := json.Marshal(new)
		if err1 != nil || err2 != nil {
			return nil
		}
		ref := refOf(new)
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		req := &admissionv1.AdmissionRequest{
			UID:       "revert-prediction",
			Kind:      metav1.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: ref.Kind},
			Resource:  metav1.GroupVersionResource{Group: gv.Group, Version: gv.Version, Resource: strings.ToLower(ref.Kind) + "s"},
			Namespace: ref.Namespace, Name: ref.Name,
			Operation: admissionv1.Update,
			UserInfo:  authenticationv1.UserInfo{Username: editor},
			Object:    runtime.RawExtension{Raw: newRaw},
			OldObject: runtime.RawExtension{Raw: oldRaw},
		}
		d, err := e.Decide(ctx, req)
		if err != nil || d == nil {
			return nil
		}
		var out map[string]string
		for _, v := range d.Verdicts {
			if v.Policy != PredictPolicy {
				continue
			}
			for _, w := range v.Result.Warn {
				if w.Field == "" {
					continue
				}
				if out == nil {
					out = map[string]string{}
				}
				if out[w.Field] == "" {
					out[w.Field] = w.Owner
				}
			}
		}
		return out
	}
}
