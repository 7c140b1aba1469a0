package metrics

import "github.com/prometheus/client_golang/prometheus"

// Serving are the collectors of the serving certificate (the expiry of
// the served certificate is Metrics.CertExpiry).
type Serving struct {
	CertReloadFailures *prometheus.CounterVec
	CertReloadFailing  prometheus.Gauge
}

// NewServing creates and registers the serving collectors on reg.
func NewServing(reg prometheus.Registerer) *Serving {
	s := &Serving{
		CertReloadFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_certificate_reload_failures_total",
			Help: "Certificates in --cert-dir refused instead of served, by reason (expired, not_yet_valid, key_mismatch, unreadable); the previous certificate keeps being served.",
		}, []string{"reason"}),
		CertReloadFailing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_certificate_reload_failing",
			Help: "1 while the files in --cert-dir hold a certificate that is refused (an older one is served, or an invalid one because there is no other), else 0.",
		}),
	}
	reg.MustRegister(s.CertReloadFailures, s.CertReloadFailing)
	return s
}
