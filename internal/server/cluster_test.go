package server

import (
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

// serve --cluster runs one informer cache against the API server: the
// owner lookups read the controller manager's cache, which the audit and
// the permission baseline also read.
func TestOwnerLookupsShareTheManagersCache(t *testing.T) {
	// nothing listens there: making a manager does not contact the API server
	mgr, err := newManager(logr.Discard(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	l := newClusterParents(logr.Discard(), mgr)
	if l.Reader != mgr.GetCache() {
		t.Errorf("owner lookups read %T, not the manager's cache", l.Reader)
	}
}
