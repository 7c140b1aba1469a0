package metrics

import "github.com/prometheus/client_golang/prometheus"

// ClientAuth are the collectors of --client-ca-file.
type ClientAuth struct {
	// Refused counts webhook connections refused for their client
	// certificate, by reason.
	Refused *prometheus.CounterVec
	// CAReloadFailures counts --client-ca-file reads that left the
	// previous CAs in use.
	CAReloadFailures prometheus.Counter
}

// Reasons of ClientAuth.Refused.
var ClientAuthReasons = []string{"no_certificate", "untrusted", "name"}

func newClientAuthMetrics(reg prometheus.Registerer, m *Metrics) {
	m.ClientAuth = ClientAuth{
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_webhook_client_refusals_total",
			Help: "Webhook connections refused in the TLS handshake for their client certificate (--client-ca-file), by reason: no_certificate, untrusted (not signed by a --client-ca-file CA for client authentication) or name (not one of --client-names).",
		}, []string{"reason"}),
		CAReloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftguard_webhook_client_ca_reload_failures_total",
			Help: "Reads of a changed --client-ca-file that found no usable CA certificate; the previous CAs stay in use.",
		}),
	}
	for _, r := range ClientAuthReasons {
		m.ClientAuth.Refused.WithLabelValues(r)
	}
	reg.MustRegister(m.ClientAuth.Refused, m.ClientAuth.CAReloadFailures)
}
