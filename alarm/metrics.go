package alarm

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowlens/flowlens/internal/promset"
)

// metrics are the engine's Prometheus series.
type metrics struct {
	state       *prometheus.GaugeVec   // 1 for the alarm's current state, 0 for the others
	sent        *prometheus.CounterVec // by kind
	failed      *prometheus.CounterVec // by kind, after every retry
	retries     *prometheus.CounterVec // by kind
	refused     *prometheus.CounterVec // by kind: target outside --notify-allowed-hosts
	evaluations prometheus.Counter
	evalErrors  prometheus.Counter
	transitions *prometheus.CounterVec // by new state
	collect     promset.Set
}

func newMetrics() *metrics {
	m := &metrics{
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "flowlens_alarm_state",
			Help: "1 for the state each alarm is in, 0 for the others."}, []string{"alarm", "state"}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_alarm_notifications_sent_total",
			Help: "Alarm notifications delivered, by kind (webhook, alertmanager)."}, []string{"kind"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_alarm_notifications_failed_total",
			Help: "Alarm notifications given up after every retry, by kind."}, []string{"kind"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_alarm_notification_retries_total",
			Help: "Alarm notification attempts retried after a failure, by kind."}, []string{"kind"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_alarm_notifications_refused_total",
			Help: "Alarm notifications not sent because the target is outside --notify-allowed-hosts, by kind."}, []string{"kind"}),
		evaluations: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_alarm_evaluations_total",
			Help: "Alarm evaluations."}),
		evalErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowlens_alarm_evaluation_errors_total",
			Help: "Alarm evaluations that failed to read their metric."}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "flowlens_alarm_transitions_total",
			Help: "Alarm state transitions, by new state."}, []string{"state"}),
	}
	m.collect = promset.Set{m.state, m.sent, m.failed, m.retries, m.refused, m.evaluations, m.evalErrors, m.transitions}
	return m
}

func (m *metrics) setState(alarm string, s State) {
	for _, st := range States {
		v := 0.0
		if st == s {
			v = 1
		}
		m.state.WithLabelValues(alarm, string(st)).Set(v)
	}
}

func (m *metrics) forget(alarm string) {
	for _, st := range States {
		m.state.DeleteLabelValues(alarm, string(st))
	}
}
