package server

import (
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/driftguard/driftguard/internal/admit"
	"github.com/driftguard/driftguard/internal/events"
	"github.com/driftguard/driftguard/internal/metrics"
)

// eventWriteTimeout bounds one Event write to the API server, so that a
// slow API server cannot pile up the broadcaster's writes.
const eventWriteTimeout = 10 * time.Second

// addEventRecorder sends the decision trail's Events (--cluster): the
// recorder runs in the manager on every replica.
func addEventRecorder(log logr.Logger, mgr ctrl.Manager, t *admit.Trail, m *metrics.Metrics) error {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.Timeout = eventWriteTimeout
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	r := events.New(client, events.Instance(), m)
	if err := mgr.Add(r); err != nil {
		return err
	}
	t.Events = r
	log.Info("sending Events of denied hand edits, break-glass and recorded drift", "reportingController", events.ReportingController, "reportingInstance", events.Instance())
	return nil
}
