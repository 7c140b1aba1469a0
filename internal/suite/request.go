package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/driftguard/driftguard/internal/admit"
)

// OperationAudit is a case that only evaluates drift rules (the live
// object's audit), as input.OperationAudit.
const OperationAudit = "AUDIT"

var operations = map[string]bool{"CREATE": true, "UPDATE": true, "DELETE": true, "CONNECT": true, OperationAudit: true}

// ReadReview reads an AdmissionReview (JSON or YAML) from a file, or from
// stdin when path is "-", and checks it as the webhook does
// (admit.CheckReview).
func ReadReview(path string, stdin io.Reader) (*admissionv1.AdmissionReview, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(stdin)
		path = "stdin"
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	rv, err := ParseReview(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rv, nil
}

// ParseReview decodes an AdmissionReview (JSON or YAML) and checks it as
// the webhook does (admit.CheckReview).
func ParseReview(b []byte) (*admissionv1.AdmissionReview, error) {
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, errors.New("empty; expected an admission.k8s.io/v1 AdmissionReview")
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("neither JSON nor YAML: %w", err)
	}
	rv := &admissionv1.AdmissionReview{}
	if err := json.Unmarshal(j, rv); err != nil {
		return nil, fmt.Errorf("not an AdmissionReview: %w", cleanJSONError(err))
	}
	if err := admit.CheckReview(rv); err != nil {
		return nil, err
	}
	return rv, nil
}

// files caches the files a run reads (objects are often reused).
type files struct{ cache map[string][]byte }

// readJSON reads a JSON or YAML file as JSON.
func (f *files) readJSON(path string) ([]byte, error) {
	if b, ok := f.cache[path]; ok {
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("%s: neither JSON nor YAML: %w", path, err)
	}
	if f.cache == nil {
		f.cache = map[string][]byte{}
	}
	f.cache[path] = j
	return j, nil
}

// source resolves a field that is either a file path (a string, relative
// to dir) or an inline value; it returns the JSON and where it came from.
func (f *files) source(raw json.RawMessage, dir string) ([]byte, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	var p string
	if json.Unmarshal(raw, &p) == nil {
		if p == "" {
			return nil, "", errors.New("empty file path")
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		b, err := f.readJSON(p)
		return b, p, err
	}
	return raw, "", nil
}

// object resolves an object field and applies a JSON patch to it.
func (f *files) object(field string, raw json.RawMessage, patch json.RawMessage, dir string) (map[string]any, error) {
	b, from, err := f.source(raw, dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if b == nil {
		return nil, nil // absent
	}
	return decodeObject(field, from, b, patch)
}

func decodeObject(field, from string, b []byte, patch json.RawMessage) (map[string]any, error) {
	at := field
	if from != "" {
		at = field + " (" + from + ")"
	}
	if len(patch) > 0 && string(patch) != "null" {
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, fmt.Errorf("%sPatch: not a JSON patch (a list of {op, path, value}): %w", field, err)
		}
		if b, err = p.Apply(b); err != nil {
			return nil, fmt.Errorf("%sPatch: applying it to %s: %w", field, at, err)
		}
	}
	var obj map[string]any
	if err := json.Unmarshal(b, &obj); err != nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object: %w", at, cleanJSONError(err))
	}
	if obj == nil {
		return nil, fmt.Errorf("%s: not a Kubernetes object (null)", at)
	}
	return obj, nil
}

// GVKOf returns the group, version and kind of an object.
func GVKOf(obj map[string]any) metav1.GroupVersionKind {
	av, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	g, v, ok := strings.Cut(av, "/")
	if !ok {
		g, v = "", av
	}
	return metav1.GroupVersionKind{Group: g, Version: v, Kind: kind}
}

// Plural guesses the resource name of a kind, as kubectl's fallback does.
func Plural(kind string) string {
	k := strings.ToLower(kind)
	switch {
	case k == "":
		return ""
	case k == "endpoints":
		return k
	case strings.HasSuffix(k, "s"), strings.HasSuffix(k, "x"), strings.HasSuffix(k, "z"),
		strings.HasSuffix(k, "ch"), strings.HasSuffix(k, "sh"):
		return k + "es"
	case strings.HasSuffix(k, "y") && len(k) > 1 && !strings.ContainsAny(k[len(k)-2:len(k)-1], "aeiou"):
		return k[:len(k)-1] + "ies"
	}
	return k + "s"
}

func meta(obj map[string]any) (ns, name string) {
	md, _ := obj["metadata"].(map[string]any)
	ns, _ = md["namespace"].(string)
	name, _ = md["name"].(string)
	return ns, name
}

// buildRequest makes the AdmissionRequest of a case given by its parts.
func buildRequest(c *CaseSpec, obj, old map[string]any, uid string) (*admissionv1.AdmissionRequest, error) {
	op := strings.ToUpper(c.Operation)
	if op == "" {
		switch {
		case obj != nil && old != nil:
			op = "UPDATE"
		case obj != nil:
			op = "CREATE"
		case old != nil:
			op = "DELETE"
		default:
			return nil, errors.New("needs review, or object and/or oldObject")
		}
	}
	if !operations[op] {
		return nil, fmt.Errorf("operation %q is not one of CREATE, UPDATE, DELETE, CONNECT, AUDIT", c.Operation)
	}
	switch {
	case op == "UPDATE" && (obj == nil || old == nil):
		return nil, errors.New("UPDATE needs object and oldObject (object may be oldObject plus objectPatch)")
	case (op == "CREATE" || op == OperationAudit) && obj == nil:
		return nil, fmt.Errorf("%s needs object", op)
	case op == "DELETE" && old == nil:
		return nil, errors.New("DELETE needs oldObject")
	case op == "DELETE" && obj != nil:
		return nil, errors.New("DELETE has no object (the API server sends only oldObject)")
	}
	ref := obj
	if ref == nil {
		ref = old
	}
	gvk := GVKOf(ref)
	if c.Kind != nil {
		gvk = *c.Kind
	}
	if gvk.Kind == "" || gvk.Version == "" {
		return nil, errors.New("the object has no apiVersion and kind; set kind: {group, version, kind}")
	}
	res := metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: Plural(gvk.Kind)}
	if c.Resource != nil {
		res = *c.Resource
	}
	ns, name := meta(ref)
	if c.Namespace != nil {
		ns = *c.Namespace
	}
	if c.ObjectName != nil {
		name = *c.ObjectName
	}
	req := &admissionv1.AdmissionRequest{
		UID:             types.UID(uid),
		Kind:            gvk,
		Resource:        res,
		SubResource:     c.SubResource,
		RequestKind:     &gvk,
		RequestResource: &res,
		Name:            name,
		Namespace:       ns,
		Operation:       admissionv1.Operation(op),
		DryRun:          c.DryRun,
	}
	if c.UserInfo != nil {
		req.UserInfo = *c.UserInfo
	}
	var err error
	if req.Object, err = raw(obj); err != nil {
		return nil, err
	}
	if req.OldObject, err = raw(old); err != nil {
		return nil, err
	}
	opts := c.Options
	if opts == nil && (c.FieldManager != "" || op != OperationAudit) {
		kind := map[string]string{"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}[op]
		if kind != "" {
			opts = map[string]any{"apiVersion": "meta.k8s.io/v1", "kind": kind}
		}
	}
	if c.FieldManager != "" {
		if opts == nil {
			opts = map[string]any{}
		}
		opts["fieldManager"] = c.FieldManager
	}
	if opts != nil {
		b, err := json.Marshal(opts)
		if err != nil {
			return nil, fmt.Errorf("options: %w", err)
		}
		req.Options = runtime.RawExtension{Raw: b}
	}
	return req, nil
}

// applyOverrides changes a review's request as a case asks (who, options,
// dry run) so one recorded review can serve several cases.
func applyOverrides(c *CaseSpec, req *admissionv1.AdmissionRequest) error {
	if c.UserInfo != nil {
		req.UserInfo = *c.UserInfo
	}
	if c.DryRun != nil {
		req.DryRun = c.DryRun
	}
	if c.Options != nil || c.FieldManager != "" {
		opts := c.Options
		if opts == nil {
			opts = map[string]any{}
			if len(req.Options.Raw) > 0 {
				if err := json.Unmarshal(req.Options.Raw, &opts); err != nil {
					return fmt.Errorf("review request.options: %w", err)
				}
			}
		}
		if c.FieldManager != "" {
			opts["fieldManager"] = c.FieldManager
		}
		b, err := json.Marshal(opts)
		if err != nil {
			return fmt.Errorf("options: %w", err)
		}
		req.Options = runtime.RawExtension{Raw: b}
	}
	return nil
}

func raw(obj map[string]any) (runtime.RawExtension, error) {
	if obj == nil {
		return runtime.RawExtension{}, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return runtime.RawExtension{}, err
	}
	return runtime.RawExtension{Raw: b}, nil
}

// objectOf decodes a raw object of a review (nil when absent).
func objectOf(r runtime.RawExtension) (map[string]any, error) {
	if len(r.Raw) == 0 || string(r.Raw) == "null" {
		return nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(r.Raw, &m); err != nil {
		return nil, err
	}
	return m, nil
}
