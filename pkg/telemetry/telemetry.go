// Package telemetry owns PLBA's metrics in a long-lived process: one
// OpenTelemetry SDK MeterProvider, read by the control plane's `metrics`
// action and by exporters (Prometheus /metrics, OTLP). The names are in
// [schema]; the Lambda functions, which must stay small, use the same
// instruments ([instrument]) on the EMF meter of package emf instead of
// the SDK.
//
// Nothing in the task path counts by itself: task outcomes and routine
// durations come from [routine.Executor]'s Observer hook
// ([Provider.Observer]), queue depths from the queues' own Stats through
// observable gauges ([Provider.ObserveQueues]), read only when a reader
// collects. A process without a Provider (metrics off) installs no
// observer at all, so its task path is the one without telemetry.
//
// The names and attributes are listed in [schema] and in the README's
// metric table; they are a contract with dashboards, alarms and the status
// page.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry/instrument"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// ScopeName is the instrumentation scope of PLBA's own instruments.
const ScopeName = "github.com/plba/plba"

// DefaultDurationBuckets are the duration histogram's bucket bounds in
// seconds when [Options.DurationBuckets] is empty: from a millisecond
// (an in-memory routine) to the default routine timeout of five minutes.
var DefaultDurationBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Options configure a Provider.
type Options struct {
	// DurationBuckets are the duration histogram's bounds in seconds,
	// ascending; empty means DefaultDurationBuckets.
	DurationBuckets []float64
	// ServiceName and ServiceVersion name the process in every export
	// (the OTel resource's service.name and service.version; Prometheus
	// shows them in target_info).
	ServiceName, ServiceVersion string
	// Readers are further readers (the Prometheus exporter, a periodic
	// OTLP or EMF reader); the Provider always has its own manual reader
	// for [Provider.Snapshot].
	Readers []sdkmetric.Reader
}

// Provider owns the MeterProvider and PLBA's instruments. Its methods are
// safe for concurrent use.
type Provider struct {
	mp     *sdkmetric.MeterProvider
	reader *sdkmetric.ManualReader
	meter  metric.Meter

	tasks *instrument.Tasks

	mu      sync.Mutex
	queues  []func(ctx context.Context) []contracts.QueueStats
	workers []func() []contracts.WorkerStatus
	now     func() time.Time
}

// New returns a Provider with PLBA's instruments registered.
func New(opts Options) (*Provider, error) {
	buckets := opts.DurationBuckets
	if len(buckets) == 0 {
		buckets = DefaultDurationBuckets
	}
	if err := checkBuckets(buckets); err != nil {
		return nil, err
	}
	p := &Provider{reader: sdkmetric.NewManualReader(), now: time.Now}
	mpOpts := []sdkmetric.Option{sdkmetric.WithReader(p.reader), sdkmetric.WithResource(Resource(opts.ServiceName, opts.ServiceVersion))}
	for _, r := range opts.Readers {
		mpOpts = append(mpOpts, sdkmetric.WithReader(r))
	}
	p.mp = sdkmetric.NewMeterProvider(mpOpts...)
	p.meter = p.mp.Meter(ScopeName)
	var err error
	if p.tasks, err = instrument.NewTasks(p.meter, buckets); err != nil {
		return nil, err
	}
	if err := p.registerQueueGauges(); err != nil {
		return nil, err
	}
	if err := p.registerWorkerCounters(); err != nil {
		return nil, err
	}
	return p, nil
}

// Resource describes the process to exporters; empty values are left out
// (the SDK then says unknown_service).
func Resource(name, version string) *resource.Resource {
	var kv []attribute.KeyValue
	if name != "" {
		kv = append(kv, attribute.String("service.name", name))
	}
	if version != "" {
		kv = append(kv, attribute.String("service.version", version))
	}
	r, err := resource.Merge(resource.Default(), resource.NewSchemaless(kv...))
	if err != nil {
		return resource.NewSchemaless(kv...)
	}
	return r
}

// ErrBuckets is returned for duration buckets that are not positive and
// ascending.
var ErrBuckets = errors.New("telemetry: duration buckets must be positive and ascending")

func checkBuckets(b []float64) error {
	for i, v := range b {
		if v <= 0 || (i > 0 && v <= b[i-1]) {
			return fmt.Errorf("%w: %v", ErrBuckets, b)
		}
	}
	return nil
}

// Meter is the meter further PLBA instrumentation registers its
// instruments with (sources, the Lambda adapters, applications).
func (p *Provider) Meter() metric.Meter { return p.meter }

// MeterProvider is the SDK provider, for exporters that need it.
func (p *Provider) MeterProvider() *sdkmetric.MeterProvider { return p.mp }

// Shutdown flushes and stops every reader.
func (p *Provider) Shutdown(ctx context.Context) error { return p.mp.Shutdown(ctx) }

// ForceFlush makes periodic readers export now (the Lambda functions flush
// per invocation).
func (p *Provider) ForceFlush(ctx context.Context) error { return p.mp.ForceFlush(ctx) }

// Observer returns the routine observer that counts queue's runs and
// records their durations; the runtime installs one per queue.
func (p *Provider) Observer(queue string) routine.Observer {
	return p.tasks.Observer(queue)
}

// ObserveQueues adds a feed of queue statistics (each with its Name set)
// for the queue gauges; it is called only when a reader collects, so a
// remote queue's Stats call happens per scrape, not per task.
func (p *Provider) ObserveQueues(stats func(ctx context.Context) []contracts.QueueStats) {
	p.mu.Lock()
	p.queues = append(p.queues, stats)
	p.mu.Unlock()
}

func (p *Provider) registerQueueGauges() error {
	type gauge struct {
		name, desc string
		value      func(contracts.QueueStats) int64
		inst       metric.Int64ObservableGauge
	}
	gauges := []*gauge{
		{name: schema.MetricQueueDepth, desc: "Tasks ready to run, by queue.", value: func(s contracts.QueueStats) int64 { return s.Ready }},
		{name: schema.MetricQueueInFlight, desc: "Tasks being run, by queue.", value: func(s contracts.QueueStats) int64 { return s.InFlight }},
		{name: schema.MetricQueueDelayed, desc: "Tasks waiting for their retry delay, by queue.", value: func(s contracts.QueueStats) int64 { return s.Delayed }},
		{name: schema.MetricQueueDead, desc: "Dead letters, by queue.", value: func(s contracts.QueueStats) int64 { return s.Dead }},
	}
	insts := make([]metric.Observable, 0, len(gauges))
	for _, g := range gauges {
		var err error
		if g.inst, err = p.meter.Int64ObservableGauge(g.name, metric.WithUnit(schema.UnitTask), metric.WithDescription(g.desc)); err != nil {
			return fmt.Errorf("telemetry: %s: %w", g.name, err)
		}
		insts = append(insts, g.inst)
	}
	_, err := p.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		p.mu.Lock()
		feeds := append([]func(context.Context) []contracts.QueueStats(nil), p.queues...)
		p.mu.Unlock()
		for _, feed := range feeds {
			for _, s := range feed(ctx) {
				set := metric.WithAttributeSet(attribute.NewSet(attribute.String(schema.AttrQueue, s.Name)))
				for _, g := range gauges {
					// A backend that cannot tell reports -1: no point
					// beats a wrong one.
					if v := g.value(s); v >= 0 {
						o.ObserveInt64(g.inst, v, set)
					}
				}
			}
		}
		return nil
	}, insts...)
	if err != nil {
		return fmt.Errorf("telemetry: queue gauges: %w", err)
	}
	return nil
}

// Collect reads every instrument once through the Provider's own reader.
func (p *Provider) Collect(ctx context.Context) (metricdata.ResourceMetrics, error) {
	var rm metricdata.ResourceMetrics
	if err := p.reader.Collect(ctx, &rm); err != nil {
		return rm, fmt.Errorf("telemetry: collect: %w", err)
	}
	return rm, nil
}

// ObserveWorkers adds a feed of worker statuses (the supervisor's): source
// polls and published tasks, and restarts, are read from the counters the
// workers keep anyway, when a reader collects.
func (p *Provider) ObserveWorkers(statuses func() []contracts.WorkerStatus) {
	p.mu.Lock()
	p.workers = append(p.workers, statuses)
	p.mu.Unlock()
}

func (p *Provider) registerWorkerCounters() error {
	polls, err := p.meter.Int64ObservableCounter(schema.MetricSourcePolls, metric.WithUnit("{poll}"),
		metric.WithDescription("Source polls by source and outcome (succeeded, failed)."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", schema.MetricSourcePolls, err)
	}
	published, err := p.meter.Int64ObservableCounter(schema.MetricSourcePublished, metric.WithUnit(schema.UnitTask),
		metric.WithDescription("Tasks a source published, by source."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", schema.MetricSourcePublished, err)
	}
	restarts, err := p.meter.Int64ObservableCounter(schema.MetricRestarts, metric.WithUnit("{restart}"),
		metric.WithDescription("Supervisor restarts by worker."))
	if err != nil {
		return fmt.Errorf("telemetry: %s: %w", schema.MetricRestarts, err)
	}
	_, err = p.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		p.mu.Lock()
		feeds := append([]func() []contracts.WorkerStatus(nil), p.workers...)
		p.mu.Unlock()
		for _, feed := range feeds {
			for _, w := range feed() {
				o.ObserveInt64(restarts, int64(w.Restarts), metric.WithAttributes(attribute.String(schema.AttrWorker, w.Name)))
				src, ok := strings.CutPrefix(w.Name, "source:")
				if !ok || !strings.HasPrefix(w.Kind, "source/") {
					continue
				}
				a := attribute.String(schema.AttrSource, src)
				o.ObserveInt64(polls, w.Succeeded, metric.WithAttributes(a, attribute.String(schema.AttrOutcome, schema.OutcomeSucceeded)))
				o.ObserveInt64(polls, w.Failed, metric.WithAttributes(a, attribute.String(schema.AttrOutcome, "failed")))
				o.ObserveInt64(published, w.Published, metric.WithAttributes(a))
			}
		}
		return nil
	}, polls, published, restarts)
	if err != nil {
		return fmt.Errorf("telemetry: worker counters: %w", err)
	}
	return nil
}
