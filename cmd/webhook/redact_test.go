package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/loader"
)

// Planted values: one per place a Secret value can hide. Each is unique
// enough that finding it (or a good part of it) in an output is a leak.
const (
	plantData        = "pl4nted-data-7Qx9-value"       // data.TOKEN, base64-encoded in the object
	plantStringData  = "pl4nted-stringdata-K2vw-value" // stringData.PASSWORD
	plantLastApplied = "pl4nted-lastapplied-Zr8m-value"
	plantOld         = "pl4nted-old-data-Jd3e-value" // oldObject's data.TOKEN, base64
)

func plantedSecret(tokenB64 string) map[string]any {
	lastApplied, _ := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "creds", "namespace": "tenant-a"},
		"stringData": map[string]any{"PASSWORD": plantLastApplied},
	})
	return map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{
			"name": "creds", "namespace": "tenant-a", "uid": "sec-1", "resourceVersion": "5",
			"annotations": map[string]any{"kubectl.kubernetes.io/last-applied-configuration": string(lastApplied)},
		},
		"data": map[string]any{"TOKEN": tokenB64, "USER": base64.StdEncoding.EncodeToString([]byte("app"))},
	}
}

// plantedReview is alice's UPDATE of a Secret that carries every planted
// value (the new object with stringData, the old one with its own data).
func plantedReview(t *testing.T) []byte {
	t.Helper()
	obj := plantedSecret(base64.StdEncoding.EncodeToString([]byte(plantData)))
	obj["stringData"] = map[string]any{"PASSWORD": plantStringData}
	old := plantedSecret(base64.StdEncoding.EncodeToString([]byte(plantOld)))
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid":  "planted-1",
			"kind": map[string]any{"group": "", "version": "v1", "kind": "Secret"}, "resource": map[string]any{"group": "", "version": "v1", "resource": "secrets"},
			"name": "creds", "namespace": "tenant-a", "operation": "UPDATE",
			"userInfo": map[string]any{"username": "alice", "groups": []any{"devs", "system:authenticated"}},
			"object":   obj, "oldObject": old,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// copyPolicy patches Secrets with their own values (a copy of data.TOKEN,
// the last-applied annotation rewritten, the whole stringData), so that
// patches printed by eval --mutate and by test reports carry them.
const copyPolicy = `# METADATA
# custom:
#   kinds: [Secret]
#   operations: [UPDATE]
package driftguard.policies.copy_secret
import rego.v1
patch contains {"op": "add", "path": "/data/COPY", "value": input.object.data.TOKEN}
patch contains {"op": "replace", "path": "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration", "value": input.object.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]}
patch contains {"op": "add", "path": "/stringData", "value": input.object.stringData}
patch contains {"op": "add", "path": "/metadata/annotations", "value": input.oldObject.metadata.annotations}
`

// leaks lists the planted values (and recognisable parts) found in text.
func leaks(text string) []string {
	var found []string
	for _, v := range []string{plantData, plantStringData, plantLastApplied, plantOld} {
		for _, s := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), v[:14], base64.StdEncoding.EncodeToString([]byte(v))[:16]} {
			if i := strings.Index(text, s); i >= 0 {
				lo, hi := max(0, i-120), min(len(text), i+len(s)+40)
				found = append(found, fmt.Sprintf("%q at ...%s...", s, text[lo:hi]))
				break
			}
		}
	}
	return found
}

// TestPlantedSecretValuesInNoOutput: Secret data, stringData and the
// last-applied annotation reach no output of eval (text and JSON, with
// --show-input and --mutate), of test reports (text, JSON, JUnit) of a
// failing case, or of the webhook's logs and answers (except the patch
// sent back to the API server, which must carry the values it sets).
func TestPlantedSecretValuesInNoOutput(t *testing.T) {
	dir := t.TempDir()
	review := filepath.Join(dir, "review.json")
	if err := os.WriteFile(review, plantedReview(t), 0o644); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "copy_secret.rego"), []byte(copyPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	// a case that fails on purpose (wrong answer, wrong patch count), so
	// the reports print what it got
	suiteFile := filepath.Join(pol, "planted.suite.yaml")
	if err := os.WriteFile(suiteFile, []byte("name: planted\ncases:\n  - name: planted secret\n    review: ../review.json\n    expect:\n      allowed: false\n      patchCount: 0\n      patch: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	outputs := map[string]string{}
	for _, args := range [][]string{
		{"eval", "-f", review, "--policies", pol, "--show-input", "--mutate"},
		{"eval", "-f", review, "--policies", pol, "--show-input", "--mutate", "-o", "json"},
		{"test", "--no-rego-tests", pol, suiteFile},
		{"test", "--no-rego-tests", "-o", "json", pol, suiteFile},
		{"test", "--no-rego-tests", "-o", "junit", pol, suiteFile},
	} {
		var stdout, stderr bytes.Buffer
		var code int
		if args[0] == "eval" {
			code = evalMain(args[1:], strings.NewReader(""), &stdout, &stderr)
		} else {
			code = testMain(args[1:], &stdout, &stderr)
		}
		name := strings.Join(args, " ")
		outputs[name] = stdout.String() + stderr.String()
		if args[0] == "eval" && code != exitOK {
			t.Fatalf("%s: exit %d\n%s", name, code, outputs[name])
		}
		if args[0] == "test" && code == exitOK {
			t.Fatalf("%s: passed, want the planted case to fail\n%s", name, outputs[name])
		}
	}

	// the webhook: logs and answers of the same review, well-formed and not
	var logBuf bytes.Buffer
	var mu sync.Mutex
	log := funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(&logBuf, "%s %s\n", prefix, args)
	}, funcr.Options{Verbosity: 10})
	st, err := loader.Load(t.Context(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := admit.NewEngine(st, nil)
	body := plantedReview(t)
	broken := bytes.Replace(body, []byte(`"type":"Opaque"`), []byte(`"type":{"x":`), 1)
	var answers strings.Builder
	for _, h := range []*admit.HTTPHandler{
		admit.NewHTTPHandler("validate", &admit.Validator{Engine: e}, e, log),
		admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: e}, e, log),
	} {
		for _, b := range [][]byte{body, broken} {
			r := httptest.NewRequest(http.MethodPost, "/"+h.Name, bytes.NewReader(b))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if h.Name == "validate" {
				answers.WriteString(w.Body.String())
			}
		}
	}
	mu.Lock()
	outputs["webhook logs"] = logBuf.String()
	mu.Unlock()
	outputs["validating answers"] = answers.String()

	for name, out := range outputs {
		for _, l := range leaks(out) {
			t.Errorf("%s prints a planted Secret value: %s", name, l)
		}
	}
	// not vacuous: the outputs do show the Secret, its keys and the patches
	evalText := outputs["eval -f "+review+" --policies "+pol+" --show-input --mutate"]
	for _, want := range []string{`"TOKEN": "(redacted: `, `"PASSWORD": "(redacted: `, `"kubectl.kubernetes.io/last-applied-configuration": "(redacted: `, `/data/COPY`, `"oldObject"`} {
		if !strings.Contains(evalText, want) {
			t.Errorf("eval --show-input --mutate output lacks %q:\n%s", want, evalText)
		}
	}
	if txt := outputs["test --no-rego-tests "+pol+" "+suiteFile]; !strings.Contains(txt, "/data/COPY") || !strings.Contains(txt, "(redacted: ") {
		t.Errorf("the failing case's report does not show the redacted patch:\n%s", txt)
	}
}
