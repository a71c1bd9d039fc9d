package discovery

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ossa-platform/ossa/internal/storage"
)

// metrics are the service's Prometheus metrics.
type metrics struct {
	heartbeats    prometheus.Counter
	probes        *prometheus.CounterVec
	probeDuration prometheus.Histogram
	changes       *prometheus.CounterVec
	syncs         *prometheus.CounterVec
}

// newMetrics creates the metrics and, when reg is non-nil, registers them
// with a collector that reports agents by health from idx at scrape time.
func newMetrics(reg prometheus.Registerer, idx *index) (*metrics, error) {
	m := &metrics{
		heartbeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ossa_discovery_heartbeats_total", Help: "Agent heartbeats accepted.",
		}),
		probes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_discovery_probes_total", Help: "Agent health probes by outcome (ok, http_status, timeout, error).",
		}, []string{"outcome"}),
		probeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ossa_discovery_probe_duration_seconds", Help: "Round-trip time of agent health probes.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_discovery_registry_changes_total", Help: "Agent registrations, updates and deletions by source (api, scan).",
		}, []string{"op", "source"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_discovery_index_syncs_total", Help: "Reloads of the in-memory agent index from the store by result.",
		}, []string{"result"}),
	}
	for _, o := range []string{outcomeOK, outcomeHTTPError, outcomeTimeout, outcomeError} {
		m.probes.WithLabelValues(o)
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.heartbeats, m.probes, m.probeDuration, m.changes, m.syncs, agentsCollector{idx}} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}

func (m *metrics) probe(outcome string, d time.Duration) {
	m.probes.WithLabelValues(outcome).Inc()
	m.probeDuration.Observe(d.Seconds())
}

func (m *metrics) sync(err error) {
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.syncs.WithLabelValues(result).Inc()
}

func (m *metrics) change(op, source string) { m.changes.WithLabelValues(op, source).Inc() }

var agentsDesc = prometheus.NewDesc("ossa_discovery_agents", "Registered agents by health.", []string{"health"}, nil)

// agentsCollector counts agents by health when scraped, so the gauge can
// never drift from the index.
type agentsCollector struct{ idx *index }

func (c agentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- agentsDesc }

func (c agentsCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.idx.countByHealth()
	for _, h := range []storage.Health{storage.HealthHealthy, storage.HealthDegraded, storage.HealthUnhealthy, storage.HealthUnknown} {
		ch <- prometheus.MustNewConstMetric(agentsDesc, prometheus.GaugeValue, float64(counts[h]), string(h))
	}
}
