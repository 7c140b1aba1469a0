package narrowing

import (
	"context"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/driftguard/driftguard/internal/metrics"
)

var other = admissionregistrationv1.MatchCondition{Name: "not-a-lease", Expression: "request.kind.kind != 'Lease'"}

func newFake() *fake.Clientset {
	entry := func(name string) []admissionregistrationv1.MatchCondition {
		if name == "settings" {
			return nil
		}
		return []admissionregistrationv1.MatchCondition{other}
	}
	var vws []admissionregistrationv1.ValidatingWebhook
	var mws []admissionregistrationv1.MutatingWebhook
	for _, n := range []string{"tenants", "others", "settings"} {
		vws = append(vws, admissionregistrationv1.ValidatingWebhook{Name: n + ".validate.driftguard.io", MatchConditions: entry(n)})
		mws = append(mws, admissionregistrationv1.MutatingWebhook{Name: n + ".mutate.driftguard.io", MatchConditions: entry(n)})
	}
	return fake.NewClientset(
		&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "dg"}, Webhooks: vws},
		&admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "dg"}, Webhooks: mws})
}

type keeperRun struct {
	t      *testing.T
	cs     *fake.Clientset
	k      *Keeper
	m      *metrics.Metrics
	writes int
}

func newKeeperRun(t *testing.T) *keeperRun {
	cs := newFake()
	r := &keeperRun{t: t, cs: cs, m: metrics.New(prometheus.NewRegistry())}
	cs.PrependReactor("update", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r.writes++
		return false, nil, nil
	})
	r.k = &Keeper{Client: cs, Validating: "dg", Mutating: "dg", Log: logr.Discard(), Metrics: r.m}
	return r
}

func (r *keeperRun) sync() {
	r.t.Helper()
	ctx := context.Background()
	err := r.k.sync(ctx,
		func(n string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
			return r.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
		},
		func(n string) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
			return r.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, n, metav1.GetOptions{})
		})
	if err != nil {
		r.t.Fatal(err)
	}
}

// conditions returns each entry's matchConditions as name=expression.
func (r *keeperRun) conditions() (v, m [][]string) {
	ctx := context.Background()
	vc, err := r.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "dg", metav1.GetOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	mc, err := r.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "dg", metav1.GetOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	text := func(cs []admissionregistrationv1.MatchCondition) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+"="+c.Expression)
		}
		return out
	}
	for _, w := range vc.Webhooks {
		v = append(v, text(w.MatchConditions))
	}
	for _, w := range mc.Webhooks {
		m = append(m, text(w.MatchConditions))
	}
	return v, m
}

func (r *keeperRun) want(v, m string) {
	r.t.Helper()
	gv, gm := r.conditions()
	for i, conds := range append(gv, gm...) {
		want := v
		if i >= len(gv) {
			want = m
		}
		var w []string
		if i%3 != 2 { // the entries with other conditions keep them first
			w = append(w, other.Name+"="+other.Expression)
		}
		if want != "" {
			w = append(w, Name+"="+want)
		}
		if strings.Join(conds, "\n") != strings.Join(w, "\n") {
			r.t.Errorf("entry %d: matchConditions %q, want %q", i, conds, w)
		}
	}
}

func TestKeeperSetsReplacesAndRemoves(t *testing.T) {
	r := newKeeperRun(t)
	r.sync()
	if r.writes != 0 {
		t.Fatalf("%d writes before anything is set", r.writes)
	}
	r.k.Set(Conditions{Validate: "v1", Mutate: "m1"})
	r.sync()
	r.want("v1", "m1")
	if r.writes != 2 {
		t.Errorf("%d writes, want 2", r.writes)
	}
	// the same conditions again (a reload that changes nothing of them)
	r.k.Set(Conditions{Validate: "v1", Mutate: "m1"})
	r.sync()
	r.sync()
	if r.writes != 2 {
		t.Errorf("%d writes after unchanged conditions, want 2", r.writes)
	}
	// only the validating one changes
	r.k.Set(Conditions{Validate: "v2", Mutate: "m1"})
	r.sync()
	r.want("v2", "m1")
	if r.writes != 3 {
		t.Errorf("%d writes, want 3", r.writes)
	}
	r.k.Set(Conditions{Wide: "policy x has kinds [\"*\"]"})
	r.sync()
	r.want("", "")
	if got := testutil.ToFloat64(r.m.Narrowing.Narrowed.WithLabelValues("validating")); got != 0 {
		t.Errorf("driftguard_webhook_narrowed = %v with no condition", got)
	}
}

// A replica writes only when its own state changes: a condition another
// replica wrote is left alone, and so is an entry without one (it sends
// everything), until this replica reloads.
func TestKeeperWritesOnlyForItsOwnState(t *testing.T) {
	r := newKeeperRun(t)
	r.k.Set(Conditions{Validate: "v1", Mutate: "m1"})
	r.sync()
	// another replica, reloaded first, writes v2; someone removes the
	// mutating one
	ctx := context.Background()
	vc, _ := r.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "dg", metav1.GetOptions{})
	setAll([]*[]admissionregistrationv1.MatchCondition{&vc.Webhooks[0].MatchConditions, &vc.Webhooks[1].MatchConditions, &vc.Webhooks[2].MatchConditions}, "v2")
	if _, err := r.cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, _ := r.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, "dg", metav1.GetOptions{})
	setAll([]*[]admissionregistrationv1.MatchCondition{&mc.Webhooks[0].MatchConditions, &mc.Webhooks[1].MatchConditions, &mc.Webhooks[2].MatchConditions}, "")
	if _, err := r.cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	writes := r.writes
	r.sync()
	r.want("v2", "")
	if r.writes != writes {
		t.Errorf("%d writes without a change of this replica's state", r.writes-writes)
	}
	// a reload of this replica that leaves its conditions as they were
	// puts them back
	r.k.Set(Conditions{Validate: "v1", Mutate: "m1"})
	r.sync()
	r.want("v1", "m1")
	// this replica reloads a change
	r.k.Set(Conditions{Validate: "v2", Mutate: "m2"})
	r.sync()
	r.want("v2", "m2")
}

// A condition the API server refuses is not left half set nor replaced
// by nothing-changed: the configuration ends without it, and the refusal
// is counted.
func TestKeeperFailsOpenWhenRefused(t *testing.T) {
	r := newKeeperRun(t)
	r.k.Set(Conditions{Validate: "v1", Mutate: "m1"})
	r.sync()
	r.cs.PrependReactor("update", "validatingwebhookconfigurations", func(a k8stesting.Action) (bool, runtime.Object, error) {
		obj := a.(k8stesting.UpdateAction).GetObject().(*admissionregistrationv1.ValidatingWebhookConfiguration)
		for _, w := range obj.Webhooks {
			for _, c := range w.MatchConditions {
				if strings.Contains(c.Expression, "too costly") {
					return true, nil, apierrors.NewInvalid(schema.GroupKind{Group: "admissionregistration.k8s.io", Kind: "ValidatingWebhookConfiguration"}, "dg",
						field.ErrorList{field.Forbidden(field.NewPath("webhooks[0].matchConditions[1].expression"), "estimated cost exceeds budget")})
				}
			}
		}
		return false, nil, nil
	})
	r.k.Set(Conditions{Validate: "v2 too costly", Mutate: "m2"})
	r.sync()
	r.want("", "m2")
	if got := testutil.ToFloat64(r.m.Narrowing.Rejected.WithLabelValues("validating")); got != 1 {
		t.Errorf("rejections %v, want 1", got)
	}
	// not tried again at every sync
	r.sync()
	if got := testutil.ToFloat64(r.m.Narrowing.Rejected.WithLabelValues("validating")); got != 1 {
		t.Errorf("rejections %v after another sync, want 1", got)
	}
	r.want("", "m2")
	// a reload with other conditions sets them
	r.k.Set(Conditions{Validate: "v3", Mutate: "m2"})
	r.sync()
	r.want("v3", "m2")
}
