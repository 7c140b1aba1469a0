package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the collectors of one driftguard process.
type Metrics struct {
	Decisions         *prometheus.CounterVec
	Requests          *prometheus.CounterVec
	Latency           *prometheus.HistogramVec
	InFlight          *prometheus.GaugeVec
	BadRequests       *prometheus.CounterVec
	LoadErrors        prometheus.Counter
	LoadSuccess       prometheus.Counter
	LastLoad          prometheus.Gauge
	LastLoadFailed    prometheus.Gauge
	PoliciesLoaded    prometheus.Gauge
	EvalErrors        *prometheus.CounterVec
	DriftRecords      *prometheus.CounterVec
	CertExpiry        prometheus.Gauge
	DriftObjects      *prometheus.GaugeVec
	AuditRuns         *prometheus.CounterVec
	AuditDuration     prometheus.Gauge
	AuditLastRun      prometheus.Gauge
	AuditObjects      *prometheus.GaugeVec
	PermissionMissing *prometheus.GaugeVec
	PermissionChecks  *prometheus.CounterVec
	Unreviewed        *prometheus.CounterVec
	Reports           *ReportMetrics
	// the decision trail (trail.go)
	DecisionLogSuppressed prometheus.Counter
	EventsDropped         *prometheus.CounterVec
	Reverts               Reverts
	Narrowing             Narrowing
	ClientAuth            ClientAuth
}

// LatencyBuckets resolve below one millisecond, where most reviews land.
var LatencyBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// New creates and registers the collectors on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_admission_decisions_total",
			Help: "Policy decisions on admission requests. decision is one of allow, deny, warn, break_glass, dryrun, error.",
		}, []string{"policy", "decision", "operation", "kind", "dry_run"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_admission_requests_total",
			Help: "Admission reviews answered, by webhook (validate, mutate) and answer (allowed, denied, exempt; the mutating webhook never denies).",
		}, []string{"webhook", "answer", "operation", "kind", "dry_run"}),
		Latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                            "driftguard_admission_duration_seconds",
			Help:                            "Time to answer an admission review, from decoded request to encoded answer.",
			Buckets:                         LatencyBuckets,
			NativeHistogramBucketFactor:     1.1,
			NativeHistogramMaxBucketNumber:  160,
			NativeHistogramMinResetDuration: time.Hour,
		}, []string{"webhook"}),
		InFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "driftguard_admission_in_flight_requests",
			Help: "Admission reviews being handled now.",
		}, []string{"webhook"}),
		BadRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_admission_bad_requests_total",
			Help: "Requests rejected before evaluation, by reason (too_large, content_type, malformed, api_version, missing_uid, method, operation).",
		}, []string{"webhook", "reason"}),
		LoadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftguard_policy_load_errors_total",
			Help: "Policy or config loads that failed; the previous policy set keeps serving.",
		}),
		LoadSuccess: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "driftguard_policy_loads_total",
			Help: "Policy and config loads that succeeded.",
		}),
		LastLoad: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_policy_last_load_timestamp_seconds",
			Help: "Unix time of the last successful policy load.",
		}),
		LastLoadFailed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_policy_last_load_failed",
			Help: "1 when the most recent load attempt failed (the previous set is serving), else 0.",
		}),
		PoliciesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_policies_loaded",
			Help: "Policies in the serving set.",
		}),
		EvalErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_policy_eval_errors_total",
			Help: "Policy evaluations that failed or ran out of time, by policy and reason (error, timeout).",
		}, []string{"policy", "reason"}),
		DriftRecords: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "driftguard_drift_records_total",
			Help: "Drift records stamped (action=stamp) or cleared (action=clear) by the mutating webhook, by kind.",
		}, []string{"action", "kind"}),
		CertExpiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "driftguard_certificate_expiry_timestamp_seconds",
			Help: "Unix time at which the serving certificate expires.",
		}),
	}
	m.DriftObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "driftguard_drift_objects",
		Help: "Live objects with at least one drift finding, by policy, namespace (capped; _other beyond the cap) and kind, as of the last audit.",
	}, []string{"policy", "namespace", "kind"})
	m.AuditRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "driftguard_audit_runs_total",
		Help: "Audit runs, by result (ok, error).",
	}, []string{"result"})
	m.AuditDuration = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "driftguard_audit_duration_seconds",
		Help: "Duration of the last audit run.",
	})
	m.AuditLastRun = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "driftguard_audit_last_run_timestamp_seconds",
		Help: "Unix time of the last completed audit run.",
	})
	m.AuditObjects = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "driftguard_audit_objects",
		Help: "Live objects evaluated by the last audit run, by kind.",
	}, []string{"kind"})
	m.PermissionMissing = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "driftguard_permission_missing",
		Help: "Permissions of the baseline that a service account lacks (SubjectAccessReview), by service_account (namespace/name, from config).",
	}, []string{"service_account"})
	m.PermissionChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "driftguard_permission_checks_total",
		Help: "SubjectAccessReviews of the permission baseline, by result (allowed, denied, error).",
	}, []string{"result"})
	reg.MustRegister(m.PermissionMissing, m.PermissionChecks)
	newLimitMetrics(reg, m)
	m.Reports = newReportMetrics(reg)
	newTrailMetrics(reg, m)
	newRevertMetrics(reg, m)
	newNarrowingMetrics(reg, m)
	newClientAuthMetrics(reg, m)
	reg.MustRegister(m.DriftObjects, m.AuditRuns, m.AuditDuration, m.AuditLastRun, m.AuditObjects)
	reg.MustRegister(m.Decisions, m.Requests, m.Latency, m.InFlight, m.BadRequests, m.LoadErrors, m.LoadSuccess,
		m.LastLoad, m.LastLoadFailed, m.PoliciesLoaded, m.EvalErrors, m.DriftRecords, m.CertExpiry)
	return m
}
