package metrics

import "github.com/prometheus/client_golang/prometheus"

// newTrailMetrics adds the collectors of the decision trail (the log
// line per non-allow decision and the Kubernetes Events).
func newTrailMetrics(reg prometheus.Registerer, m *Metrics) {
	m.DecisionLogSuppressed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "driftguard_decision_log_suppressed_total",
		Help: "Decision log lines (one per non-allow admission decision) not written because their rate limit was exhausted; a periodic \"decision log lines suppressed\" line reports them too.",
	})
	m.EventsDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "driftguard_events_dropped_total",
		Help: "Kubernetes Events (HandEditDenied, BreakGlassUsed, DriftRecorded) not sent, by reason (queue_full: the bounded send queue was full; rate_limited: over the Event rate limit).",
	}, []string{"reason"})
	reg.MustRegister(m.DecisionLogSuppressed, m.EventsDropped)
}
