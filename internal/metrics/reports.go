package metrics

import "github.com/prometheus/client_golang/prometheus"

// ReportMetrics are the collectors of the OpenReports writer.
type ReportMetrics struct {
	// Writes counts API writes of reports by result (created, updated,
	// deleted, error).
	Writes *prometheus.CounterVec
	// Results is the number of results in the written reports, by state
	// (written; omitted: findings the cap left out).
	Results *prometheus.GaugeVec
	// CRDMissing is 1 while the openreports.io CRDs are not installed.
	CRDMissing prometheus.Gauge
}

func newReportMetrics(reg prometheus.Registerer) *ReportMetrics {
	r := &ReportMetrics{
		Writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_report_writes_total",
			Help: "API writes of driftguard's OpenReports reports, by result (created, updated, deleted, error). An unchanged audit pass writes nothing.",
		}, []string{"result"}),
		Results: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftguard_report_results",
			Help: "Drift findings in driftguard's reports after the last audit pass, by state (written; omitted: left out by audit.reports.maxResults).",
		}, []string{"state"}),
		CRDMissing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_report_crd_missing",
			Help: "1 while the openreports.io CRDs are not installed (no reports are written; the audit and its metrics go on), else 0.",
		}),
	}
	reg.MustRegister(r.Writes, r.Results, r.CRDMissing)
	return r
}
