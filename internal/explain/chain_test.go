package explain

import (
	"context"
	"strings"
	"testing"

	"github.com/driftguard/driftguard/internal/config"
	"github.com/driftguard/driftguard/internal/input"
)

func chainText(c Chain) string { return c.String() }

func TestOwnerChainToRoot(t *testing.T) {
	ctx := context.Background()
	ns := obj(t, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"admin","uid":"ns-uid"}}`)
	dep := obj(t, deployment("admin", "ui", "dep-uid", ownerRefJSON("v1", "Namespace", "admin", "ns-uid")))
	rs := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"ui-1","namespace":"admin","uid":"rs-uid",
	  "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"other","uid":"cm"},
	                     {"apiVersion":"apps/v1","kind":"Deployment","name":"ui","uid":"dep-uid","controller":true}]}}`)
	f := newFake(ns, dep, rs)
	c := OwnerChain(ctx, f, rs)
	if got, want := chainText(c), "ReplicaSet admin/ui-1 → Deployment admin/ui → Namespace admin"; got != want {
		t.Errorf("chain %q, want %q", got, want)
	}
	if c.End != EndRoot || !strings.Contains(c.EndNote, "Namespace admin has no controlling ownerReference") {
		t.Errorf("end %s: %s", c.End, c.EndNote)
	}
	if len(c.Links[0].OtherOwners) != 1 || c.Links[0].OtherOwners[0] != "ConfigMap other" {
		t.Errorf("other owners: %v", c.Links[0].OtherOwners)
	}
	// the cluster-scoped Namespace is read without a namespace
	if c.Links[2].Namespace != "" || !c.Links[2].Found || c.Links[2].UID != "ns-uid" {
		t.Errorf("namespace link: %+v", c.Links[2])
	}
	if len(c.objs) != 3 {
		t.Errorf("objects kept: %d", len(c.objs))
	}

	// a root on its own
	c = OwnerChain(ctx, f, ns)
	if len(c.Links) != 1 || c.End != EndRoot {
		t.Errorf("root chain: %+v", c)
	}
}

func TestOwnerChainStops(t *testing.T) {
	ctx := context.Background()
	t.Run("missing owner", func(t *testing.T) {
		rs := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r","namespace":"a","uid":"r"`+
			ownerRefJSON("apps/v1", "Deployment", "gone", "gone-uid")+`}}`)
		c := OwnerChain(ctx, newFake(rs), rs)
		if c.End != EndMissing || len(c.Links) != 2 || c.Links[1].Found {
			t.Fatalf("chain %+v", c)
		}
		if !strings.Contains(c.EndNote, "owner Deployment a/gone (uid gone-uid) does not exist") {
			t.Errorf("note: %s", c.EndNote)
		}
		if got := chainText(c); got != "ReplicaSet a/r → Deployment a/gone (missing)" {
			t.Errorf("text %q", got)
		}
	})
	t.Run("owner recreated with another uid", func(t *testing.T) {
		dep := obj(t, deployment("a", "d", "new-uid", ""))
		rs := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"r","namespace":"a","uid":"r"`+
			ownerRefJSON("apps/v1", "Deployment", "d", "old-uid")+`}}`)
		c := OwnerChain(ctx, newFake(dep, rs), rs)
		if c.End != EndUIDMismatch || !strings.Contains(c.EndNote, "has uid new-uid, not the referenced old-uid") {
			t.Errorf("chain %s: %s", c.End, c.EndNote)
		}
	})
	t.Run("cycle", func(t *testing.T) {
		a := obj(t, deployment("n", "a", "ua", ownerRefJSON("apps/v1", "Deployment", "b", "ub")))
		b := obj(t, deployment("n", "b", "ub", ownerRefJSON("apps/v1", "Deployment", "a", "ua")))
		f := newFake(a, b)
		c := OwnerChain(ctx, f, a)
		if c.End != EndCycle || chainText(c) != "Deployment n/a → Deployment n/b → Deployment n/a" {
			t.Errorf("chain %q end %s", chainText(c), c.End)
		}
		if !strings.Contains(c.EndNote, "ownership cycle: Deployment n/a is already in the chain") {
			t.Errorf("note %s", c.EndNote)
		}
	})
	t.Run("self-owned", func(t *testing.T) {
		a := obj(t, deployment("n", "a", "ua", ownerRefJSON("apps/v1", "Deployment", "a", "ua")))
		c := OwnerChain(ctx, newFake(a), a)
		if c.End != EndCycle || len(c.Links) != 2 {
			t.Errorf("chain %q end %s", chainText(c), c.End)
		}
	})
	t.Run("unknown owner kind", func(t *testing.T) {
		s := obj(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s","namespace":"a","uid":"s"`+
			ownerRefJSON("external-secrets.io/v1", "ExternalSecret", "s", "es")+`}}`)
		f := newFake(s)
		f.unknown["ExternalSecret"] = true
		c := OwnerChain(ctx, f, s)
		if c.End != EndError || !strings.Contains(c.EndNote, "cannot look up owner kind external-secrets.io/v1 ExternalSecret") {
			t.Errorf("end %s: %s", c.End, c.EndNote)
		}
	})
	t.Run("cluster-scoped child of a namespaced owner", func(t *testing.T) {
		cr := obj(t, `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"c","uid":"c"`+
			ownerRefJSON("apps/v1", "Deployment", "d", "du")+`}}`)
		c := OwnerChain(ctx, newFake(cr), cr)
		if c.End != EndInvalid {
			t.Errorf("end %s: %s", c.End, c.EndNote)
		}
	})
}

func TestConventions(t *testing.T) {
	ctx := context.Background()
	nsAdmin := obj(t, `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"admin","uid":"ns-uid"}}`)
	kfp := obj(t, deployment("admin", "ml-pipeline-ui-artifact", "kfp-uid", ownerRefJSON("v1", "Namespace", "admin", "ns-uid")))
	dep := obj(t, deployment("tenant-a", "api", "dep-uid", ""))
	paused := obj(t, deployment("tenant-a", "paused", "paused-uid", ""))
	paused["spec"].(map[string]any)["paused"] = true
	rs := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"api-1","namespace":"tenant-a","uid":"rs-uid"`+
		ownerRefJSON("apps/v1", "Deployment", "api", "dep-uid")+`},"spec":{"template":{"spec":{"containers":[{"name":"api","image":"x:1"}]}}}}`)
	rsPaused := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"paused-1","namespace":"tenant-a","uid":"rsp-uid"`+
		ownerRefJSON("apps/v1", "Deployment", "paused", "paused-uid")+`}}`)
	es := obj(t, `{"apiVersion":"external-secrets.io/v1","kind":"ExternalSecret","metadata":{"name":"flags","namespace":"tenant-a","uid":"es-uid"}}`)
	secret := obj(t, `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"flags","namespace":"tenant-a","uid":"s-uid"`+
		ownerRefJSON("external-secrets.io/v1", "ExternalSecret", "flags", "es-uid")+`},"data":{"K":"dg=="}}`)
	flux := obj(t, deployment("tenant-a", "flux", "flux-uid", `,"labels":{"kustomize.toolkit.fluxcd.io/name":"apps"},"annotations":{"argocd.argoproj.io/tracking-id":"tenant-a-api:apps/Deployment:tenant-a/flux"}`))
	fluxOff := obj(t, deployment("tenant-a", "flux-off", "fo-uid", `,"labels":{"kustomize.toolkit.fluxcd.io/name":"apps","kustomize.toolkit.fluxcd.io/namespace":"gitops"},"annotations":{"kustomize.toolkit.fluxcd.io/reconcile":"disabled"}`))
	f := newFake(nsAdmin, kfp, dep, paused, rs, rsPaused, es, secret, flux, fluxOff)
	st := state(t, f)

	conv := func(o map[string]any, resource string) Conventions {
		t.Helper()
		c, err := conventions(ctx, st, OwnerChain(ctx, f, o), o, targetFor(o, resource))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("ReplicaSet of a Deployment", func(t *testing.T) {
		c := conv(rs, "replicasets")
		if len(c.Owners) != 1 {
			t.Fatalf("owners %+v", c.Owners)
		}
		o := c.Owners[0]
		if !o.Known || !o.Reconciles || !o.ParentRead || o.PausedBy != "" || o.OwnerKind != "Deployment.apps" ||
			o.Reconciler != "the Deployment controller" || o.Source != "the pod template of Deployment tenant-a/api" {
			t.Errorf("convention %+v", o)
		}
		if o.Verdict != "the Deployment controller reverts hand edits; change the pod template of Deployment tenant-a/api instead" {
			t.Errorf("verdict %q", o.Verdict)
		}
		if c.AsOwner != nil || c.ObjectOwner != nil || len(c.GitOps) != 0 {
			t.Errorf("extra conventions %+v", c)
		}
	})
	t.Run("ReplicaSet of a paused Deployment", func(t *testing.T) {
		o := conv(rsPaused, "replicasets").Owners[0]
		if o.Reconciles || o.PausedBy != "spec.paused" || !strings.Contains(o.Verdict, "will not revert hand edits: Deployment tenant-a/paused has spec.paused: true") {
			t.Errorf("convention %+v", o)
		}
	})
	t.Run("the paused Deployment as an owner", func(t *testing.T) {
		c := conv(paused, "deployments")
		if c.AsOwner == nil || c.AsOwner.PausedBy != "spec.paused" || c.AsOwner.Reconciles {
			t.Fatalf("as owner %+v", c.AsOwner)
		}
		if c2 := conv(dep, "deployments"); c2.AsOwner == nil || !c2.AsOwner.Reconciles || c2.AsOwner.Object != "children of Deployment tenant-a/api" {
			t.Errorf("as owner %+v", c2.AsOwner)
		}
	})
	t.Run("Deployment rendered from a Namespace", func(t *testing.T) {
		c := conv(kfp, "deployments")
		o := c.Owners[0]
		if !o.Reconciles || !o.ParentRead || o.Owner != "Namespace admin" || o.OwnerKind != "Namespace" ||
			!strings.Contains(o.Reconciler, "Kubeflow profile controller") || !strings.Contains(o.Source, "pipeline-install-config") {
			t.Errorf("convention %+v", o)
		}
	})
	t.Run("Secret synced by an ExternalSecret", func(t *testing.T) {
		c := conv(secret, "secrets")
		o := c.Owners[0]
		if o.DeclaredOwner != "external-secrets" || !o.Reconciles || o.Reconciler != "External Secrets Operator" ||
			!strings.Contains(o.Verdict, "wholly owned by declared owner External Secrets Operator") {
			t.Errorf("convention %+v", o)
		}
		if c.ObjectOwner == nil || c.ObjectOwner.Name != "external-secrets" || c.ObjectOwner.Via != "ownerReference" ||
			!strings.Contains(c.ObjectOwner.Source, "ExternalSecret tenant-a/flags") {
			t.Errorf("object owner %+v", c.ObjectOwner)
		}
	})
	t.Run("owner without a convention", func(t *testing.T) {
		cm := obj(t, `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"tenant-a","uid":"c"`+
			ownerRefJSON("v1", "Secret", "flags", "s-uid")+`}}`)
		o := conv(cm, "configmaps").Owners[0]
		if o.Known || o.Reconciles || !strings.Contains(o.Verdict, "no ownerKinds convention for Secret") {
			t.Errorf("convention %+v", o)
		}
	})
	t.Run("missing owner keeps the convention, says so", func(t *testing.T) {
		orphan := obj(t, `{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"o","namespace":"tenant-a","uid":"o"`+
			ownerRefJSON("apps/v1", "Deployment", "gone", "gone")+`}}`)
		o := conv(orphan, "replicasets").Owners[0]
		if !o.Known || o.ParentRead || !strings.Contains(o.Verdict, "the owner was not found") {
			t.Errorf("convention %+v", o)
		}
	})
	t.Run("Flux and Argo CD tracking", func(t *testing.T) {
		g := conv(flux, "deployments").GitOps
		if len(g) != 2 || g[0].System != "Flux Kustomization" || g[0].Namespace != "flux-system" || g[0].Name != "apps" || !g[0].Reverts ||
			g[1].System != "Argo CD Application" || g[1].Name != "tenant-a-api" {
			t.Errorf("gitops %+v", g)
		}
		g = conv(fluxOff, "deployments").GitOps
		if len(g) != 1 || g[0].Reverts || g[0].Namespace != "gitops" || !strings.Contains(g[0].Verdict, "no revert") {
			t.Errorf("gitops %+v", g)
		}
	})
	t.Run("not enrolled", func(t *testing.T) {
		cfgKinds := st.Config.OwnerKinds
		defer func() { st.Config.OwnerKinds = cfgKinds }()
		st.Config.OwnerKinds = append([]config.OwnerKind{}, cfgKinds...)
		for i := range st.Config.OwnerKinds {
			if st.Config.OwnerKinds[i].Kind == "Namespace" {
				st.Config.OwnerKinds[i].MatchLabels = map[string]string{"app.kubernetes.io/part-of": "kubeflow-profile"}
			}
		}
		st2 := *st
		st2.Builder = input.NewBuilder(st.Config, NewParentLookup(f))
		c, err := conventions(ctx, &st2, OwnerChain(ctx, f, kfp), kfp, targetFor(kfp, "deployments"))
		if err != nil {
			t.Fatal(err)
		}
		o := c.Owners[0]
		if o.Reconciles || o.NotEnrolled != "app.kubernetes.io/part-of" ||
			!strings.Contains(o.Verdict, "lacks the label app.kubernetes.io/part-of=kubeflow-profile") {
			t.Errorf("convention %+v", o)
		}
	})
}
