package imapsource

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// The source's metrics (nil-safe: a conn made without a Source has none),
// through the process's global OpenTelemetry meter
// provider (the runner sets PLBA's when platform.telemetry.metrics is on;
// otherwise every instrument is a no-op). Names and units are in the
// README's metric table. Nothing here sends an IMAP command: backlog and
// lag come from the SEARCH and FETCH each cycle makes anyway.
const (
	// MetricPolls counts poll cycles by outcome (succeeded, failed).
	MetricPolls = "plba.imap.polls"
	// MetricBacklog is the number of unseen messages not yet queued that
	// the last cycle found.
	MetricBacklog = "plba.imap.backlog"
	// MetricLag is the age (Date header) of the oldest unseen message the
	// last cycle found, 0 when it found none: how far behind the mailbox
	// the source is.
	MetricLag = "plba.imap.lag"
	// MetricReconnects counts reconnections of the IDLE session.
	MetricReconnects = "plba.imap.reconnects"
	// MetricCommandDuration is a histogram of IMAP round trips by command.
	MetricCommandDuration = "plba.imap.command.duration"
)

const meterScope = "github.com/plba/plba/pkg/source/imapsource"

type imapMetrics struct {
	polls      metric.Int64Counter
	reconnects metric.Int64Counter
	latency    metric.Float64Histogram
	src        attribute.KeyValue
	ok, failed metric.MeasurementOption
	plain      metric.MeasurementOption

	backlog atomic.Int64
	oldest  atomic.Int64 // unix nanoseconds of the oldest unseen message; 0: none
	now     func() time.Time
}

// newMetrics registers the source's instruments with the global meter
// provider as it is when the source is made.
func newMetrics(name string, now func() time.Time) *imapMetrics {
	meter := otel.GetMeterProvider().Meter(meterScope)
	m := &imapMetrics{src: attribute.String("source", name), now: now}
	m.ok = metric.WithAttributes(m.src, attribute.String("outcome", "succeeded"))
	m.failed = metric.WithAttributes(m.src, attribute.String("outcome", "failed"))
	m.plain = metric.WithAttributes(m.src)
	// Errors registering are not the source's to fail on: an instrument
	// the provider refuses is a no-op.
	m.polls, _ = meter.Int64Counter(MetricPolls, metric.WithUnit("{poll}"), metric.WithDescription("IMAP poll cycles by outcome."))
	m.reconnects, _ = meter.Int64Counter(MetricReconnects, metric.WithUnit("{reconnect}"), metric.WithDescription("Reconnections of the IMAP IDLE session."))
	m.latency, _ = meter.Float64Histogram(MetricCommandDuration, metric.WithUnit("s"), metric.WithDescription("IMAP command round trips by command."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
	backlog, _ := meter.Int64ObservableGauge(MetricBacklog, metric.WithUnit("{message}"), metric.WithDescription("Unseen messages not yet queued, as of the last cycle."))
	lag, _ := meter.Float64ObservableGauge(MetricLag, metric.WithUnit("s"), metric.WithDescription("Age of the oldest unseen message the last cycle found."))
	if backlog != nil && lag != nil {
		_, _ = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
			o.ObserveInt64(backlog, m.backlog.Load(), m.plain)
			var age float64
			if t := m.oldest.Load(); t != 0 {
				age = max(0, m.now().Sub(time.Unix(0, t)).Seconds())
			}
			o.ObserveFloat64(lag, age, m.plain)
			return nil
		}, backlog, lag)
	}
	return m
}

// command records one IMAP round trip.
func (m *imapMetrics) command(what string, d time.Duration) {
	if m == nil {
		return
	}
	m.latency.Record(context.Background(), d.Seconds(), metric.WithAttributes(m.src, attribute.String("command", what)))
}

// cycle records a finished poll cycle and the backlog it left.
func (m *imapMetrics) cycle(backlog int) {
	if m == nil {
		return
	}
	m.polls.Add(context.Background(), 1, m.ok)
	m.backlog.Store(int64(backlog))
	if backlog == 0 {
		m.oldest.Store(0)
	}
}

// failedCycle records a poll cycle that failed.
func (m *imapMetrics) failedCycle() {
	if m != nil {
		m.polls.Add(context.Background(), 1, m.failed)
	}
}

// reconnected records a reconnection of the IDLE session.
func (m *imapMetrics) reconnected() {
	if m != nil {
		m.reconnects.Add(context.Background(), 1, m.plain)
	}
}

// fetched notes the oldest Date of the unseen messages a cycle fetched (the
// oldest unseen ones, in UID order); messages without a Date are skipped.
func (m *imapMetrics) fetched(msgs []*imapclient.FetchMessageBuffer) {
	if m == nil {
		return
	}
	var oldest time.Time
	for _, msg := range msgs {
		if msg.Envelope == nil || msg.Envelope.Date.IsZero() {
			continue
		}
		if oldest.IsZero() || msg.Envelope.Date.Before(oldest) {
			oldest = msg.Envelope.Date
		}
	}
	if !oldest.IsZero() {
		m.oldest.Store(oldest.UnixNano())
	}
}
