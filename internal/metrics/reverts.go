package metrics

import "github.com/prometheus/client_golang/prometheus"

// Reverts are the collectors of revert detection (internal/revert).
type Reverts struct {
	Observed    *prometheus.CounterVec
	Predictions *prometheus.CounterVec
	Tracked     prometheus.Gauge
}

// newRevertMetrics adds the collectors of revert detection.
func newRevertMetrics(reg prometheus.Registerer, m *Metrics) {
	m.Reverts = Reverts{
		Observed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_reverts_total",
			Help: "Observed reverts: a field a person changed set back to its previous value by another manager within audit.reverts.window, by namespace (capped like the drift gauges), kind, reverter (managers in audit.reverts.reverters, else other), predicted (true when a revert warning named it) and older_image (true when an image went back to an older tag).",
		}, []string{"namespace", "kind", "reverter", "predicted", "older_image"}),
		Predictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_revert_predictions_total",
			Help: "What became of revert predictions, by outcome: came_true (warned and reverted within the window), not_came_true (warned, not reverted within the window), missed (reverted, not warned).",
		}, []string{"outcome"}),
		Tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_revert_tracked_edits",
			Help: "Hand edits the revert detector remembers now (at most audit.reverts.maxTracked).",
		}),
	}
	for _, o := range []string{"came_true", "not_came_true", "missed"} {
		m.Reverts.Predictions.WithLabelValues(o)
	}
	reg.MustRegister(m.Reverts.Observed, m.Reverts.Predictions, m.Reverts.Tracked)
}
