package taskagent

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the task service's Prometheus metrics.
type metrics struct {
	submitted      prometheus.Counter
	finished       *prometheus.CounterVec
	attempts       *prometheus.CounterVec
	attemptSeconds prometheus.Histogram
	running        prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		submitted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ossa_tasks_submitted_total", Help: "Tasks accepted.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_tasks_finished_total", Help: "Tasks that reached a terminal state, by state.",
		}, []string{"state"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ossa_task_attempts_total",
			Help: "Attempts run by this process, by outcome: ok, failed, timeout, canceled, interrupted.",
		}, []string{"outcome"}),
		attemptSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ossa_task_attempt_duration_seconds", Help: "Duration of attempts run by this process.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ossa_task_attempts_running", Help: "Attempts this process is running now.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.submitted, m.finished, m.attempts, m.attemptSeconds, m.running} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
