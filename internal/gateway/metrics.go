package gateway

import "github.com/prometheus/client_golang/prometheus"

// metrics are the gateway's own counters; request counts and latencies are
// httpx's.
type metrics struct {
	denied         *prometheus.CounterVec
	rateLimited    prometheus.Counter
	upstreamErrors *prometheus.CounterVec
	auditFailures  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_gateway_denied_total", Help: "Requests refused by authentication or authorisation, by reason (missing, invalid, forbidden).",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ossa_gateway_rate_limited_total", Help: "Requests refused with 429 by a caller's rate limit.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_gateway_upstream_errors_total", Help: "Proxied requests a service did not answer, by service and the status sent instead.",
		}, []string{"service", "code"}),
		auditFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ossa_gateway_audit_failures_total", Help: "Audit events that could not be stored.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.denied, m.rateLimited, m.upstreamErrors, m.auditFailures} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
