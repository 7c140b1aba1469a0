package admit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/loader"
	"github.com/driftguard/driftguard/internal/metrics"
)

func seriesCount(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		n += len(mf.GetMetric())
	}
	return n
}

func smallReview(uid, kind, op string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,"kind":{"group":"evil.example","version":"v1","kind":%q},"resource":{"group":"evil.example","version":"v1","resource":"things"},"namespace":"team-a","name":"x","operation":%q,"userInfo":{"username":"mallory"},"object":{"apiVersion":"evil.example/v1","kind":%q,"metadata":{"name":"x","namespace":"team-a"}}}}`, uid, kind, op, kind)
}

// Kinds and operations are chosen by whoever calls the webhook port: 20,000
// reviews of invented kinds must not add 20,000 series.
func TestInventedKindsAddNoSeries(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	e := admit.NewEngine(st, m)
	validate := admit.NewHTTPHandler("validate", &admit.Validator{Engine: e}, e, logr.Discard())
	mutate := admit.NewHTTPHandler("mutate", &admit.Mutator{Engine: e}, e, logr.Discard())

	// warm up: one review of an invented kind creates the _other series
	for _, h := range []*admit.HTTPHandler{validate, mutate} {
		if w := post(h, smallReview("warm", "Warmup", "CREATE")); w.Code != 200 {
			t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
		}
	}
	before := seriesCount(t, reg)
	for i := range 20000 {
		h := validate
		if i%10 == 0 {
			h = mutate
		}
		kind := fmt.Sprintf("Invented%d", i)
		if w := post(h, smallReview(fmt.Sprint(i), kind, "CREATE")); w.Code != 200 {
			t.Fatalf("review %d: HTTP %d: %s", i, w.Code, w.Body.String())
		}
	}
	if after := seriesCount(t, reg); after != before {
		t.Fatalf("20,000 invented kinds added %d series (%d -> %d)", after-before, before, after)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("validate", "allowed", "CREATE", admit.OtherKind, "false")); got < 18000 {
		t.Fatalf("invented kinds counted as %s: %v, want >= 18000", admit.OtherKind, got)
	}
	// kinds Kubernetes has keep their name
	if w := post(validate, smallReview("cm", "ConfigMap", "CREATE")); w.Code != 200 {
		t.Fatalf("HTTP %d", w.Code)
	}
	if got := testutil.ToFloat64(m.Requests.WithLabelValues("validate", "allowed", "CREATE", "ConfigMap", "false")); got != 1 {
		t.Fatalf("ConfigMap requests = %v, want 1", got)
	}
}

func TestUnknownOperationIsBadRequest(t *testing.T) {
	e := newEnv(t, "")
	for _, op := range []string{"FROB", "create", strings.Repeat("X", 5000)} {
		w := post(e.validate, smallReview("u", "ConfigMap", op))
		if w.Code != 400 || !strings.Contains(w.Body.String(), "not an admission operation") {
			t.Fatalf("operation %.10q: HTTP %d %s, want 400", op, w.Code, w.Body.String())
		}
		if len(w.Body.String()) > 1000 {
			t.Fatalf("the answer echoes the whole operation: %d bytes", len(w.Body.String()))
		}
	}
	if got := testutil.ToFloat64(e.metrics.BadRequests.WithLabelValues("validate", "operation")); got != 3 {
		t.Fatalf("bad requests (operation) = %v, want 3", got)
	}
	if got := testutil.CollectAndCount(e.metrics.Requests); got != 0 {
		t.Fatalf("unknown operations were counted as answered requests: %d series", got)
	}
}

func TestKindLabelKeepsNamedKinds(t *testing.T) {
	st, err := loader.Load(context.Background(), loader.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for kind, want := range map[string]string{
		"Deployment":     "Deployment",
		"Secret":         "Secret",
		"Pod":            "Pod",
		"ExternalSecret": "ExternalSecret", // an owner kind of the default config
		"Frobnicator":    admit.OtherKind,
		"DeploymentList": admit.OtherKind,
	} {
		if got := admit.KindLabel(st, kind); got != want {
			t.Errorf("KindLabel(%s) = %s, want %s", kind, got, want)
		}
	}
}
