package lambda

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/telemetry/emf"
	"github.com/plba/plba/pkg/telemetry/instrument"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// Lambda instrument names (beside pkg/telemetry's task metrics).
const (
	// MetricBatchRecords counts the SQS records the worker received.
	MetricBatchRecords = "plba.lambda.batch.records"
	// MetricBatchFailures counts the records the worker listed as failed
	// (partial batch response): they come back after their visibility
	// timeout.
	MetricBatchFailures = "plba.lambda.batch.failures"
	// MetricPollerPublished counts the tasks the poller published, by
	// source; MetricPollerErrors its sources' failed polls.
	MetricPollerPublished = "plba.lambda.poller.published"
	MetricPollerErrors    = "plba.lambda.poller.errors"
	// MetricPollerPublishFailures counts tasks a source produced that could
	// not be sent to the queue, by source.
	MetricPollerPublishFailures = "plba.lambda.poller.publish_failures"
)

// lambdaMetrics is a function's metrics: PLBA's instruments on the EMF
// meter (the OpenTelemetry metrics API without the SDK, which would not fit
// the size budget), flushed at the end of every invocation.
type lambdaMetrics struct {
	m     *emf.Meter
	tasks *instrument.Tasks
	log   *slog.Logger

	records, failures, published, pollErrors, publishFailures metric.Int64Counter
}

// newLambdaMetrics returns nil when platform.telemetry.metrics is off.
func newLambdaMetrics(mc runtime.MetricsConfig, out io.Writer, log *slog.Logger) (*lambdaMetrics, error) {
	if !mc.Enabled {
		return nil, nil
	}
	m := &lambdaMetrics{m: emf.New(out, emf.Options{Namespace: mc.Namespace}), log: log}
	// Libraries (the IMAP source) take their meter from the global
	// provider: theirs go out in the same EMF lines.
	otel.SetMeterProvider(emf.Provider{M: m.m})
	var err error
	if m.tasks, err = instrument.NewTasks(m.m, nil); err != nil {
		return nil, err
	}
	meter := m.m
	for _, c := range []struct {
		dst        *metric.Int64Counter
		name, unit string
		desc       string
	}{
		{&m.records, MetricBatchRecords, "{record}", "SQS records the worker function received."},
		{&m.failures, MetricBatchFailures, "{record}", "Records the worker listed as failed in its partial batch response."},
		{&m.published, MetricPollerPublished, schema.UnitTask, "Tasks the poller function published, by source."},
		{&m.pollErrors, MetricPollerErrors, "{error}", "Failed source polls in the poller function, by source."},
		{&m.publishFailures, MetricPollerPublishFailures, schema.UnitTask, "Tasks the poller function could not send to the queue, by source."},
	} {
		if *c.dst, err = meter.Int64Counter(c.name, metric.WithUnit(c.unit), metric.WithDescription(c.desc)); err != nil {
			return nil, fmt.Errorf("telemetry: %s: %w", c.name, err)
		}
	}
	return m, nil
}

// executor sets the metrics observer on the executors of queue's routines.
func (m *lambdaMetrics) executor(build func(contracts.RoutineSpec) *routine.Executor) func(contracts.RoutineSpec) *routine.Executor {
	if m == nil {
		return build
	}
	return func(spec contracts.RoutineSpec) *routine.Executor {
		e := build(spec)
		e.Observer = routine.Observers(e.Observer, m.tasks.Observer(spec.Queue))
		return e
	}
}

// flush writes the invocation's metrics; a failure is logged, never the
// invocation's.
func (m *lambdaMetrics) flush(ctx context.Context) {
	if err := m.m.Flush(ctx); err != nil {
		m.log.Warn("metrics flush failed", "error", err)
	}
}

type sqsHandler = func(context.Context, events.SQSEvent) (events.SQSEventResponse, error)

// worker counts a batch and its failures and flushes after it.
func (m *lambdaMetrics) worker(h sqsHandler, queue string) sqsHandler {
	if m == nil {
		return h
	}
	set := metric.WithAttributes(telemetryQueue(queue))
	return func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
		resp, err := h(ctx, ev)
		m.records.Add(ctx, int64(len(ev.Records)), set)
		m.failures.Add(ctx, int64(len(resp.BatchItemFailures)), set)
		m.flush(ctx)
		return resp, err
	}
}

type pollHandler = func(context.Context, json.RawMessage) (pollerfn.Summary, error)

// poller counts what each source published and failed, and flushes.
func (m *lambdaMetrics) poller(h pollHandler) pollHandler {
	if m == nil {
		return h
	}
	return func(ctx context.Context, ev json.RawMessage) (pollerfn.Summary, error) {
		sum, err := h(ctx, ev)
		for src, n := range sum.Published {
			m.published.Add(ctx, int64(n), metric.WithAttributes(telemetrySource(src)))
		}
		for src, n := range sum.Failed {
			m.publishFailures.Add(ctx, int64(n), metric.WithAttributes(telemetrySource(src)))
		}
		for src := range sum.Errors {
			m.pollErrors.Add(ctx, 1, metric.WithAttributes(telemetrySource(src)))
		}
		m.flush(ctx)
		return sum, err
	}
}

func telemetryQueue(q string) attribute.KeyValue  { return attribute.String(schema.AttrQueue, q) }
func telemetrySource(s string) attribute.KeyValue { return attribute.String(schema.AttrSource, s) }
