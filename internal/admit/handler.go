package admit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	gojson "github.com/goccy/go-json"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Validator is the validating webhook: it allows, denies and warns.
type Validator struct{ Engine *Engine }

// Mutator is the mutating webhook: it stamps and clears drift records
// and applies policy patches. It never denies and never warns (the
// validating webhook does both, so kubectl prints each warning once).
type Mutator struct{ Engine *Engine }

var (
	_ admission.Handler = (*Validator)(nil)
	_ admission.Handler = (*Mutator)(nil)
)

// Handle answers a validating review.
func (v *Validator) Handle(ctx context.Context, req admission.Request) admission.Response {
	d, err := v.Engine.Decide(ctx, &req.AdmissionRequest)
	if err != nil {
		if v.Engine.Trail != nil && claimAnswer(ctx) {
			v.Engine.Trail.recordError(&req.AdmissionRequest)
		}
		return errored(err)
	}
	if claimAnswer(ctx) {
		v.Engine.count("validate", d)
		v.Engine.Trail.record(d)
	}
	if !d.Allowed {
		resp := admission.Denied(denialMessage(d))
		resp.Warnings = d.Warnings
		return resp
	}
	resp := admission.Allowed("")
	if d.Input.Exempt != "" {
		resp.Result.Message = "exempt: " + d.Input.Exempt
	}
	resp.Warnings = d.Warnings
	return resp
}

// Handle answers a mutating review.
func (m *Mutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	d, err := m.Engine.decideMutate(ctx, &req.AdmissionRequest)
	if err != nil {
		return errored(err)
	}
	patches, err := m.Engine.patches(d)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	if claimAnswer(ctx) {
		m.Engine.count("mutate", d)
	}
	resp := admission.Allowed("")
	resp.Patches = patches
	return resp
}

func errored(err error) admission.Response {
	var bad *BadInputError
	if errors.As(err, &bad) {
		return admission.Errored(http.StatusBadRequest, err)
	}
	return admission.Errored(http.StatusInternalServerError, err)
}

// maxDenials keeps the denial readable; the rest are summarised.
const maxDenials = 8

func denialMessage(d *Decision) string {
	msgs := d.Denials
	extra := 0
	if len(msgs) > maxDenials {
		extra = len(msgs) - maxDenials
		msgs = msgs[:maxDenials]
	}
	var b strings.Builder
	b.WriteString("driftguard: ")
	b.WriteString(strings.Join(msgs, " | "))
	if extra > 0 {
		fmt.Fprintf(&b, " | and %d more", extra)
	}
	if a := d.Input.Actor; a.BreakGlassReason != "" && a.BreakGlassInfo.Group == "" {
		fmt.Fprintf(&b, " | break-glass was requested, but %s is not in a break-glass group", a.Username)
	}
	if d.BreakGlassHint != "" {
		b.WriteString(" | ")
		b.WriteString(d.BreakGlassHint)
	}
	return b.String()
}

func (e *Engine) count(webhook string, d *Decision) {
	if e.Metrics == nil {
		return
	}
	req := d.Input.Request
	op, kind := opLabel(req.Operation), KindLabel(e.State(), req.Kind.Kind)
	dry := strconv.FormatBool(req.DryRun != nil && *req.DryRun)
	answer := "allowed"
	switch {
	case d.Input.Exempt != "":
		answer = "exempt"
	case !d.Allowed:
		answer = "denied"
	}
	if webhook == "mutate" {
		// the mutating webhook never denies; its answer is "patched" or "allowed",
		// and policy decisions are counted once, by the validating webhook
		if answer == "denied" {
			answer = "allowed"
		}
		e.Metrics.Requests.WithLabelValues(webhook, answer, op, kind, dry).Inc()
		return
	}
	e.Metrics.Requests.WithLabelValues(webhook, answer, op, kind, dry).Inc()
	for _, v := range d.Verdicts {
		e.Metrics.Decisions.WithLabelValues(v.Policy, v.Decision, op, kind, dry).Inc()
	}
}

// HTTPHandler checks the HTTP request and the review before handing it to
// a controller-runtime admission webhook: v1 reviews only, a uid, a body
// within the size limit. Anything else gets a 4xx with a clear message.
type HTTPHandler struct {
	Name    string // validate or mutate, for metrics and logs
	Webhook *admission.Webhook
	Engine  *Engine
	Log     logr.Logger
}

// NewHTTPHandler wraps an admission.Handler for serving.
func NewHTTPHandler(name string, h admission.Handler, e *Engine, log logr.Logger) *HTTPHandler {
	wh := &admission.Webhook{Handler: h}
	return &HTTPHandler{Name: name, Webhook: wh, Engine: e, Log: log.WithName(name)}
}

type httpError struct {
	code   int
	reason string
	msg    string
}

func (h *HTTPHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := h.Engine.Metrics
	if m != nil {
		g := m.InFlight.WithLabelValues(h.Name)
		g.Inc()
		defer g.Dec()
	}
	// The whole review (the wait for its memory share, decoding, the diff,
	// the input and evaluation) runs under requestTimeout. Shutdown
	// (controller-runtime cancels the server's base context) must not cut
	// it short.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), h.Engine.State().Config.RequestTimeout.Duration)
	defer cancel()
	review, herr := h.read(r)
	if herr != nil {
		if m != nil {
			m.BadRequests.WithLabelValues(h.Name, herr.reason).Inc()
		}
		h.Log.Info("bad admission request", "reason", herr.reason, "error", herr.msg, "remote", r.RemoteAddr)
		writeStatus(w, herr.code, herr.msg)
		return
	}
	resp := h.handle(ctx, review, r.ContentLength)
	if resp.Result != nil && resp.Result.Code >= 400 && !resp.Allowed && resp.Result.Reason == "" && resp.Result.Code != http.StatusForbidden {
		h.Log.Info("review could not be evaluated", "uid", review.Request.UID, "error", resp.Result.Message)
	}
	out := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	out.Response.UID = review.Request.UID
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(out); err != nil {
		h.Log.Error(err, "writing admission response", "uid", review.Request.UID)
	}
	if m != nil {
		m.Latency.WithLabelValues(h.Name).Observe(time.Since(start).Seconds())
	}
}

func (h *HTTPHandler) read(r *http.Request) (*admissionv1.AdmissionReview, *httpError) {
	if r.Method != http.MethodPost {
		return nil, &httpError{http.StatusMethodNotAllowed, "method", "admission reviews are POSTed"}
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return nil, &httpError{http.StatusUnsupportedMediaType, "content_type", fmt.Sprintf("content type %q is not application/json", ct)}
		}
	}
	limit := h.Engine.State().Config.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("admission review of %d bytes is over the limit of %d bytes", r.ContentLength, limit)}
	}
	body, err := readBody(r, limit)
	if err != nil {
		return nil, &httpError{http.StatusBadRequest, "malformed", "reading request body: " + err.Error()}
	}
	if int64(len(body)) > limit {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("admission review is over the limit of %d bytes", limit)}
	}
	if len(body) == 0 {
		return nil, &httpError{http.StatusBadRequest, "malformed", "request body is empty; expected an admission.k8s.io/v1 AdmissionReview"}
	}
	review := &admissionv1.AdmissionReview{}
	if err := gojson.Unmarshal(body, review); err != nil {
		return nil, &httpError{http.StatusBadRequest, "malformed", "request body is not an AdmissionReview: " + err.Error()}
	}
	if herr := checkReview(review); herr != nil {
		return nil, herr
	}
	return review, nil
}

// maxPresize bounds the buffer a declared Content-Length sizes up front.
const maxPresize = 64 << 10

// readBody reads up to limit+1 bytes of the body into one buffer sized
// by Content-Length when it is given (io.ReadAll would grow and copy its
// buffer several times for a typical review). The declared length sizes
// at most maxPresize bytes up front, so a caller that declares a large
// body and sends little holds no more than that; past it the buffer
// grows as bytes arrive.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	n := min(r.ContentLength, limit, maxPresize)
	if n < 0 {
		n = 0
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+bytes.MinRead))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	return buf.Bytes(), err
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   metav1.StatusFailure, Code: int32(code), Message: msg,
		Reason: metav1.StatusReason(http.StatusText(code)),
	})
}
