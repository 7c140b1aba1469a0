package certs

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// BundleKeeper keeps the caBundle of driftguard's two webhook
// configurations: the CA in the rotated Secret (ca.crt) first, plus the
// previous CA for Overlap after a CA rotation (MergeBundle). It reacts
// to changes of the Secret and of the configurations (a `helm upgrade`
// that resets caBundle is repaired at once) and tells Gate which CAs the
// API server trusts. cert-controller generates and rotates the
// certificates; this replaces its CA injection, which writes the new CA
// alone and so breaks calls until the new certificate is mounted.
type BundleKeeper struct {
	Client     kubernetes.Interface
	Namespace  string // of the Secret
	Secret     string
	Validating string
	Mutating   string
	Overlap    time.Duration
	Gate       *Gate
	Log        logr.Logger
	Now        func() time.Time
	// Injected is closed once both configurations trust the current CA.
	Injected chan struct{}

	once sync.Once
}

// Start runs until ctx ends (a controller-runtime Runnable).
func (k *BundleKeeper) Start(ctx context.Context) error {
	if k.Now == nil {
		k.Now = time.Now
	}
	secrets := informers.NewSharedInformerFactoryWithOptions(k.Client, 10*time.Minute,
		informers.WithNamespace(k.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", k.Secret).String()
		}))
	hooks := informers.NewSharedInformerFactory(k.Client, 10*time.Minute)
	secretInf := secrets.Core().V1().Secrets()
	vInf := hooks.Admissionregistration().V1().ValidatingWebhookConfigurations()
	mInf := hooks.Admissionregistration().V1().MutatingWebhookConfigurations()

	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}
	for _, inf := range []toolscache.SharedIndexInformer{secretInf.Informer(), vInf.Informer(), mInf.Informer()} {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	secrets.Start(ctx.Done())
	hooks.Start(ctx.Done())
	defer secrets.Shutdown()
	defer hooks.Shutdown()
	for typ, ok := range secrets.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("CA bundle keeper: cache of %v not synced", typ)
		}
	}
	for typ, ok := range hooks.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("CA bundle keeper: cache of %v not synced", typ)
		}
	}

	retry := time.Duration(0)
	for {
		next, err := k.sync(ctx, secretInf.Lister().Secrets(k.Namespace).Get, vInf.Lister().Get, mInf.Lister().Get)
		wait := time.Minute
		if err != nil {
			retry = min(max(2*retry, 200*time.Millisecond), 30*time.Second)
			wait = retry
			k.Log.Error(err, "keeping the webhook CA bundle", "retryIn", wait)
		} else {
			retry = 0
			if !next.IsZero() {
				wait = min(wait, max(next.Sub(k.Now()), 10*time.Millisecond))
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-kick:
		case <-t.C:
		}
		t.Stop()
	}
}

// sync brings both configurations' caBundles up to date; next is when
// an overlap ends (zero: none running).
func (k *BundleKeeper) sync(ctx context.Context,
	getSecret func(string) (*corev1.Secret, error),
	getV func(string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error),
	getM func(string) (*admissionregistrationv1.MutatingWebhookConfiguration, error),
) (next time.Time, err error) {
	sec, err := getSecret(k.Secret)
	if err != nil {
		return next, fmt.Errorf("Secret %s/%s: %w", k.Namespace, k.Secret, err)
	}
	current := sec.Data["ca.crt"]
	if len(ParseCerts(current)) == 0 {
		return next, nil // the rotator is filling the Secret; its write brings us back
	}
	now := k.Now()
	vc, err := getV(k.Validating)
	if err != nil {
		return next, fmt.Errorf("ValidatingWebhookConfiguration %s: %w", k.Validating, err)
	}
	mc, err := getM(k.Mutating)
	if err != nil {
		return next, fmt.Errorf("MutatingWebhookConfiguration %s: %w", k.Mutating, err)
	}
	vc, mc = vc.DeepCopy(), mc.DeepCopy()
	configs := []hookConfig{
		{kind: "ValidatingWebhookConfiguration", meta: &vc.ObjectMeta, update: func() error {
			_, err := k.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Update(ctx, vc, metav1.UpdateOptions{FieldManager: "driftguard"})
			return err
		}},
		{kind: "MutatingWebhookConfiguration", meta: &mc.ObjectMeta, update: func() error {
			_, err := k.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(ctx, mc, metav1.UpdateOptions{FieldManager: "driftguard"})
			return err
		}},
	}
	for i := range vc.Webhooks {
		configs[0].bundles = append(configs[0].bundles, &vc.Webhooks[i].ClientConfig.CABundle)
	}
	for i := range mc.Webhooks {
		configs[1].bundles = append(configs[1].bundles, &mc.Webhooks[i].ClientConfig.CABundle)
	}
	var trusted [][]*x509.Certificate
	for _, c := range configs {
		changed, until := k.mergeAll(c.meta, c.bundles, current, now)
		if changed {
			if err := c.update(); err != nil {
				return next, k.updateErr(c.kind, c.meta.Name, err)
			}
			k.Log.Info("CA bundle updated", "kind", c.kind, "name", c.meta.Name, "previousCAUntil", until)
		}
		for _, b := range c.bundles {
			trusted = append(trusted, ParseCerts(*b))
		}
		if next.IsZero() || (!until.IsZero() && until.Before(next)) {
			next = until
		}
	}

	if k.Gate != nil {
		k.Gate.SetTrusted(intersect(trusted))
	}
	k.once.Do(func() {
		if k.Injected != nil {
			close(k.Injected)
		}
	})
	return next, nil
}

func (k *BundleKeeper) updateErr(kind, name string, err error) error {
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s %s changed meanwhile, again: %w", kind, name, err)
	}
	return fmt.Errorf("updating the caBundle of %s %s: %w", kind, name, err)
}

// hookConfig is one webhook configuration being brought up to date.
type hookConfig struct {
	kind    string
	meta    *metav1.ObjectMeta
	bundles []*[]byte // each webhook's caBundle
	update  func() error
}

// mergeAll merges the caBundle of each webhook of one configuration and
// records the overlap's end in its annotation.
func (k *BundleKeeper) mergeAll(meta *metav1.ObjectMeta, bundles []*[]byte, current []byte, now time.Time) (changed bool, until time.Time) {
	var prevUntil time.Time
	if s := meta.Annotations[PreviousCAUntilAnnotation]; s != "" {
		prevUntil, _ = time.Parse(time.RFC3339, s) // unparsable: a new overlap starts
	}
	for _, b := range bundles {
		nb, u := MergeBundle(*b, current, prevUntil, now, k.Overlap)
		if !bytes.Equal(nb, *b) {
			*b = nb
			changed = true
		}
		if u.After(until) {
			until = u
		}
	}
	want := ""
	if !until.IsZero() {
		want = until.UTC().Format(time.RFC3339)
	}
	if meta.Annotations[PreviousCAUntilAnnotation] != want {
		changed = true
		if want == "" {
			delete(meta.Annotations, PreviousCAUntilAnnotation)
		} else {
			if meta.Annotations == nil {
				meta.Annotations = map[string]string{}
			}
			meta.Annotations[PreviousCAUntilAnnotation] = want
		}
	}
	return changed, until
}

// intersect returns the certificates present in every list.
func intersect(lists [][]*x509.Certificate) []*x509.Certificate {
	if len(lists) == 0 {
		return nil
	}
	var out []*x509.Certificate
	for _, c := range lists[0] {
		all := true
		for _, l := range lists[1:] {
			if !containsCert(l, c) {
				all = false
				break
			}
		}
		if all {
			out = append(out, c)
		}
	}
	return out
}
