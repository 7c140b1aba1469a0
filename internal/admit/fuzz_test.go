package admit_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FuzzServeHTTP sends arbitrary bodies through the validating and the
// mutating handler: never a panic; either HTTP 200 with a v1
// AdmissionReview answering the request's uid, or a 4xx with a JSON
// Status. Seeds: the review fixtures, truncated and garbled variants; the
// committed corpus is in testdata/fuzz/FuzzServeHTTP.
func FuzzServeHTTP(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "test", "fixtures", "reviews", "*.json"))
	if len(files) == 0 {
		f.Fatal("no review fixtures")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)-1])
		f.Add(bytes.ReplaceAll(b, []byte(`"UPDATE"`), []byte(`"CREATE"`)))
		f.Add(bytes.ReplaceAll(b, []byte(`"object"`), []byte(`"object":null,"x"`)))
		f.Add(bytes.ReplaceAll(b, []byte(`"metadata": {`), []byte(`"metadata": {"managedFields":7,`)))
	}
	for _, s := range []string{
		``, `{`, `null`, `[]`, `"x"`, `{not json`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":"not an object"}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Secret","version":"v1"},"operation":"UPDATE","object":{"metadata":"x"},"oldObject":{"data":[1]}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"apps","kind":"Deployment","version":"v1"},"operation":"UPDATE","object":{"spec":{"template":{"spec":{"containers":[{"name":"a"},{"name":"a"}]}}}},"oldObject":{"metadata":{"ownerReferences":[{"controller":true,"kind":"Namespace","apiVersion":"v1"}],"managedFields":[{"manager":"Terraform","fieldsType":"FieldsV1","fieldsV1":{"f:spec":7}}]}}}}`,
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1"}}`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, h := range []http.Handler{e.validate, e.mutate} {
			r := httptest.NewRequest(http.MethodPost, "/validate", bytes.NewReader(body))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r) // a panic fails the fuzz target
			checkHTTPAnswer(t, body, w)
		}
	})
}

// checkHTTPAnswer asserts the webhook contract for one body.
func checkHTTPAnswer(t testing.TB, body []byte, w *httptest.ResponseRecorder) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("HTTP %d with content type %q", w.Code, ct)
	}
	switch {
	case w.Code == http.StatusOK:
		var rv admissionv1.AdmissionReview
		if err := json.Unmarshal(w.Body.Bytes(), &rv); err != nil {
			t.Fatalf("HTTP 200 body is not an AdmissionReview: %v: %s", err, w.Body.String())
		}
		if rv.APIVersion != "admission.k8s.io/v1" || rv.Kind != "AdmissionReview" || rv.Response == nil {
			t.Fatalf("HTTP 200 body is not a v1 review answer: %s", w.Body.String())
		}
		// the request's uid, as the standard decoder reads it
		var in struct {
			Request *struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if err := json.Unmarshal(body, &in); err == nil && in.Request != nil && in.Request.UID != "" && string(rv.Response.UID) != in.Request.UID {
			t.Fatalf("answer uid %q, request uid %q", rv.Response.UID, in.Request.UID)
		}
		if rv.Response.UID == "" {
			t.Fatalf("answer without a uid: %s", w.Body.String())
		}
		if !rv.Response.Allowed && (rv.Response.Result == nil || rv.Response.Result.Message == "") {
			t.Fatalf("denial without a message: %s", w.Body.String())
		}
	case w.Code >= 400 && w.Code < 500:
		var st metav1.Status
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil {
			t.Fatalf("HTTP %d body is not a Status: %v: %s", w.Code, err, w.Body.String())
		}
		if st.Kind != "Status" || st.APIVersion != "v1" || int(st.Code) != w.Code || st.Message == "" || st.Status != metav1.StatusFailure {
			t.Fatalf("HTTP %d with Status %+v", w.Code, st)
		}
	default:
		t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
	}
}
