package metrics

import "github.com/prometheus/client_golang/prometheus"

// newLimitMetrics adds the collectors of the request budget (config
// requestTimeout, maxChanges and the memory budget).
func newLimitMetrics(reg prometheus.Registerer, m *Metrics) {
	m.Unreviewed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "driftguard_admission_unreviewed_total",
		Help: "Admission reviews answered per failurePolicy without evaluation, by webhook and reason (too_many_changes: more than maxChanges; timeout: requestTimeout ran out before evaluation; busy: no memory budget share within requestTimeout; managed_fields: the old object's managedFields cannot be parsed; parent_unreadable: the object of a scale request could not be read).",
	}, []string{"webhook", "reason"})
	reg.MustRegister(m.Unreviewed)
}
