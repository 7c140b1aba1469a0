package metrics

import "github.com/prometheus/client_golang/prometheus"

// Narrowing are the collectors of --narrow-webhooks (internal/narrowing).
type Narrowing struct {
	// Rejected counts a-policy-can-answer conditions the API server
	// refused, by configuration (validating, mutating).
	Rejected *prometheus.CounterVec
	// Narrowed is 1 per configuration while it carries the condition.
	Narrowed *prometheus.GaugeVec
}

func newNarrowingMetrics(reg prometheus.Registerer, m *Metrics) {
	m.Narrowing = Narrowing{
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_webhook_condition_rejections_total",
			Help: "a-policy-can-answer conditions (--narrow-webhooks) the API server refused (e.g. a CEL cost or compile error), by configuration (validating, mutating); the configuration is then left without it, so every request is sent.",
		}, []string{"configuration"}),
		Narrowed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftguard_webhook_narrowed",
			Help: "1 while the webhook configuration (validating, mutating) carries the a-policy-can-answer condition this process computed (--narrow-webhooks), 0 while every request is sent.",
		}, []string{"configuration"}),
	}
	for _, c := range []string{"validating", "mutating"} {
		m.Narrowing.Rejected.WithLabelValues(c)
	}
	reg.MustRegister(m.Narrowing.Rejected, m.Narrowing.Narrowed)
}
