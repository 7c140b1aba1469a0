package server

import (
	"testing"

	"github.com/go-logr/logr"
	orv1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// The manager's scheme, which the report writer's client uses, knows the
// OpenReports kinds.
func TestManagerSchemeHasReports(t *testing.T) {
	mgr, err := newManager(logr.Discard(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []runtime.Object{&orv1.Report{}, &orv1.ClusterReport{}, &orv1.ReportList{}} {
		gvks, _, err := mgr.GetScheme().ObjectKinds(o)
		if err != nil || len(gvks) != 1 || gvks[0].Group != "openreports.io" {
			t.Errorf("%T: %v %v", o, gvks, err)
		}
	}
}
