package narrowing

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"

	"github.com/driftguard/driftguard/internal/metrics"
)

// Keeper keeps the a-policy-can-answer matchCondition on every entry of
// driftguard's two webhook configurations (--narrow-webhooks): the
// conditions of the serving state, set at start and after each
// successful reload (Set). Other matchConditions stay as they are, and a
// configuration is written only when its condition changes.
//
// It fails open: with no condition to set (Conditions.Wide) it removes
// its own; when the API server refuses a condition (a CEL compile or cost
// error) it logs it, counts it (driftguard_webhook_condition_rejections_total)
// and removes the condition from that configuration, so it sends
// everything rather than less, until a reload brings other conditions.
//
// Replicas compute the same conditions from the same files. A replica
// writes only when its own state changes (start, reload): it never writes
// in reaction to another's change, so two replicas that have not both
// reloaded yet do not overwrite each other in turn, and one that still
// serves older policies never puts back a narrower condition another
// removed. An entry that lost the condition (the configuration recreated
// by hand) sends everything until the next reload or restart.
//
// A condition the API server refused is not tried again until the
// conditions change.
type Keeper struct {
	Client     kubernetes.Interface
	Validating string
	Mutating   string
	Log        logr.Logger
	Metrics    *metrics.Metrics // nil: none

	mu       sync.Mutex
	want     Conditions
	gen      int               // bumped by Set
	applied  int               // the gen both configurations were written for
	rejected map[string]string // configuration → the expression the API server refused
	kick     chan struct{}
	once     sync.Once
}

func (k *Keeper) init() {
	k.once.Do(func() {
		k.kick = make(chan struct{}, 1)
		k.rejected = map[string]string{}
	})
}

// Set makes c the conditions to keep (the serving state's) and has both
// configurations checked against them once (written if they differ).
func (k *Keeper) Set(c Conditions) {
	k.init()
	k.mu.Lock()
	k.want = c
	k.gen++
	k.mu.Unlock()
	k.poke()
}

func (k *Keeper) poke() {
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

// NeedLeaderElection is false: every replica writes the conditions of
// its own state.
func (k *Keeper) NeedLeaderElection() bool { return false }

// Start runs until ctx ends (a controller-runtime Runnable).
func (k *Keeper) Start(ctx context.Context) error {
	k.init()
	f := informers.NewSharedInformerFactory(k.Client, 10*time.Minute)
	vInf := f.Admissionregistration().V1().ValidatingWebhookConfigurations()
	mInf := f.Admissionregistration().V1().MutatingWebhookConfigurations()
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { k.poke() },
		UpdateFunc: func(any, any) { k.poke() },
		DeleteFunc: func(any) { k.poke() },
	}
	for _, inf := range []toolscache.SharedIndexInformer{vInf.Informer(), mInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	f.Start(ctx.Done())
	defer f.Shutdown()
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("webhook condition keeper: cache of %v not synced", typ)
		}
	}
	retry := time.Duration(0)
	for {
		var wait time.Duration
		if err := k.sync(ctx, vInf.Lister().Get, mInf.Lister().Get); err != nil {
			retry = min(max(2*retry, 200*time.Millisecond), 30*time.Second)
			wait = retry
			k.Log.Error(err, "keeping the webhook matchCondition "+Name, "retryIn", wait)
		} else {
			retry, wait = 0, 10*time.Minute
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-k.kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// sync writes the wanted conditions once after each Set.
func (k *Keeper) sync(ctx context.Context,
	getV func(string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error),
	getM func(string) (*admissionregistrationv1.MutatingWebhookConfiguration, error),
) error {
	k.mu.Lock()
	want, gen := k.want, k.gen
	done := gen == 0 || gen == k.applied // nothing loaded yet, or written
	k.mu.Unlock()
	if done {
		return nil
	}
	vc, err := getV(k.Validating)
	if err != nil {
		return fmt.Errorf("ValidatingWebhookConfiguration %s: %w", k.Validating, err)
	}
	mc, err := getM(k.Mutating)
	if err != nil {
		return fmt.Errorf("MutatingWebhookConfiguration %s: %w", k.Mutating, err)
	}
	vc, mc = vc.DeepCopy(), mc.DeepCopy()
	configs := []hookConfig{
		{name: "validating", kind: "ValidatingWebhookConfiguration", object: vc.Name, expr: want.Validate,
			update: func() error {
				_, err := k.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vc, metav1.UpdateOptions{FieldManager: "driftguard"})
				return err
			}},
		{name: "mutating", kind: "MutatingWebhookConfiguration", object: mc.Name, expr: want.Mutate,
			update: func() error {
				_, err := k.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mc, metav1.UpdateOptions{FieldManager: "driftguard"})
				return err
			}},
	}
	for i := range vc.Webhooks {
		configs[0].conds = append(configs[0].conds, &vc.Webhooks[i].MatchConditions)
	}
	for i := range mc.Webhooks {
		configs[1].conds = append(configs[1].conds, &mc.Webhooks[i].MatchConditions)
	}
	for _, c := range configs {
		if err := k.keep(c); err != nil {
			return err
		}
	}
	k.mu.Lock()
	if k.gen == gen {
		k.applied = gen
	}
	k.mu.Unlock()
	return nil
}

// hookConfig is one webhook configuration being brought up to date.
type hookConfig struct {
	name, kind, object string
	expr               string // the wanted expression ("": none)
	conds              []*[]admissionregistrationv1.MatchCondition
	update             func() error
}

// keep brings one configuration's entries to its expression.
func (k *Keeper) keep(c hookConfig) error {
	k.mu.Lock()
	expr := c.expr
	if expr != "" && k.rejected[c.name] == expr {
		expr = "" // refused before: keep it off until the conditions change
	}
	k.mu.Unlock()
	if !setAll(c.conds, expr) {
		k.narrowed(c.name, hasAny(c.conds))
		return nil
	}
	err := c.update()
	if err == nil {
		k.narrowed(c.name, expr != "")
		k.Log.Info("webhook matchCondition "+Name+" updated", "kind", c.kind, "name", c.object, "narrowed", expr != "")
		return nil
	}
	if expr == "" || !(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) {
		return fmt.Errorf("updating the matchConditions of %s %s: %w", c.kind, c.object, err)
	}
	// refused: send everything rather than keep an older, narrower one
	k.Log.Error(err, "the API server refused the matchCondition "+Name+"; the configuration is left without it, so every request is sent", "kind", c.kind, "name", c.object)
	if k.Metrics != nil {
		k.Metrics.Narrowing.Rejected.WithLabelValues(c.name).Inc()
	}
	k.mu.Lock()
	k.rejected[c.name] = c.expr
	k.mu.Unlock()
	setAll(c.conds, "")
	if err := c.update(); err != nil {
		return fmt.Errorf("removing the matchCondition %s of %s %s: %w", Name, c.kind, c.object, err)
	}
	k.narrowed(c.name, false)
	return nil
}

func (k *Keeper) narrowed(name string, on bool) {
	if k.Metrics == nil {
		return
	}
	v := 0.0
	if on {
		v = 1
	}
	k.Metrics.Narrowing.Narrowed.WithLabelValues(name).Set(v)
}

// setAll sets the condition on each entry's matchConditions (expr "":
// removes it). It reports whether anything changed.
func setAll(all []*[]admissionregistrationv1.MatchCondition, expr string) bool {
	changed := false
	for _, conds := range all {
		i := slices.IndexFunc(*conds, func(m admissionregistrationv1.MatchCondition) bool { return m.Name == Name })
		switch {
		case i < 0 && expr != "":
			*conds = append(*conds, admissionregistrationv1.MatchCondition{Name: Name, Expression: expr})
			changed = true
		case i >= 0 && expr == "":
			*conds = slices.Delete(*conds, i, i+1)
			if len(*conds) == 0 {
				*conds = nil
			}
			changed = true
		case i >= 0 && (*conds)[i].Expression != expr:
			(*conds)[i].Expression = expr
			changed = true
		}
	}
	return changed
}

func hasAny(all []*[]admissionregistrationv1.MatchCondition) bool {
	for _, conds := range all {
		if slices.ContainsFunc(*conds, func(m admissionregistrationv1.MatchCondition) bool { return m.Name == Name }) {
			return true
		}
	}
	return false
}
