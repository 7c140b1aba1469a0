package baseline

import (
	"context"
	"errors"
	"testing"

	"github.com/go-logr/logr"
	authzv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/driftguard/driftguard/internal/config"
)

// Gaps are the denied needs of the last refresh; a failed check is no gap.
func TestKeeperGaps(t *testing.T) {
	cfg := &config.Config{PermissionBaseline: []config.Baseline{{
		ServiceAccount: "kubeflow/argo",
		Permissions: []config.Permission{
			{Verbs: []string{"watch", "list", "get"}, Group: "argoproj.io", Resource: "workflows"},
		},
	}}}
	allowed := map[string]bool{"get": true}
	c := fake.NewClientBuilder().WithInterceptorFuncs(interceptor.Funcs{
		Create: func(ctx context.Context, _ client.WithWatch, obj client.Object, _ ...client.CreateOption) error {
			sar := obj.(*authzv1.SubjectAccessReview)
			if sar.Spec.ResourceAttributes.Verb == "watch" {
				return errors.New("apiserver unavailable")
			}
			sar.Status.Allowed = allowed[sar.Spec.ResourceAttributes.Verb]
			return nil
		},
	}).Build()
	k := &Keeper{Reader: c, Client: c, Config: func() *config.Config { return cfg }, Log: logr.Discard()}
	if g := k.Gaps(); g != nil {
		t.Fatalf("gaps before the first refresh: %v", g)
	}
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	g := k.Gaps()
	if len(g) != 1 || g[0].String() != "list workflows.argoproj.io cluster-wide for kubeflow/argo" {
		t.Fatalf("gaps %v, want only list", g)
	}
	allowed["list"] = true
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g := k.Gaps(); g == nil || len(g) != 0 {
		t.Fatalf("gaps after the grant: %#v, want none", g)
	}
}
