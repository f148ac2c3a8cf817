// Package instrument feeds PLBA's task metrics (schema.MetricTasks,
// schema.MetricRoutineDuration) from routine.Executor's Observer into any
// OpenTelemetry metric.Meter: the SDK's locally (pkg/telemetry), the small
// EMF meter in the Lambda functions (pkg/telemetry/emf). It depends on the
// OpenTelemetry metrics API only.
package instrument

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// Tasks holds the task instruments.
type Tasks struct {
	tasks    metric.Int64Counter
	duration metric.Float64Histogram
}

// NewTasks registers the task instruments with meter; buckets are the
// duration histogram's bounds (nil: the meter's default).
func NewTasks(meter metric.Meter, buckets []float64) (*Tasks, error) {
	t := &Tasks{}
	var err error
	if t.tasks, err = meter.Int64Counter(schema.MetricTasks, metric.WithUnit(schema.UnitTask),
		metric.WithDescription("Routine runs by queue, kind and outcome (succeeded, retried, dead_lettered, panicked).")); err != nil {
		return nil, fmt.Errorf("telemetry: %s: %w", schema.MetricTasks, err)
	}
	hopts := []metric.Float64HistogramOption{metric.WithUnit(schema.UnitSeconds), metric.WithDescription("Routine run time by queue and kind.")}
	if len(buckets) > 0 {
		hopts = append(hopts, metric.WithExplicitBucketBoundaries(buckets...))
	}
	if t.duration, err = meter.Float64Histogram(schema.MetricRoutineDuration, hopts...); err != nil {
		return nil, fmt.Errorf("telemetry: %s: %w", schema.MetricRoutineDuration, err)
	}
	return t, nil
}

// kindOpts are the measurement options of one (queue, kind): building
// an attribute.Set, or even boxing a key for a sync.Map, per run would
// cost allocations on every task.
// The options are kept as the slices the variadic calls take: a slice
// built at the call escapes to the heap, one allocation per measurement.
type kindOpts struct {
	outcome  map[string][]metric.AddOption // by outcome; read-only once built
	duration []metric.RecordOption
}

func newKindOpts(queue, kind string) *kindOpts {
	q, k := attribute.String(schema.AttrQueue, queue), attribute.String(schema.AttrKind, kind)
	ko := &kindOpts{outcome: map[string][]metric.AddOption{}, duration: []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(q, k))}}
	for _, o := range []string{schema.OutcomeSucceeded, schema.OutcomeRetried, schema.OutcomeDeadLettered, schema.OutcomePanicked} {
		ko.outcome[o] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(q, k, attribute.String(schema.AttrOutcome, o)))}
	}
	return ko
}

// queueOpts caches kindOpts by kind for one queue: a copy-on-write map, so
// the lookup on every run takes no lock and allocates nothing.
type queueOpts struct {
	queue string
	m     atomic.Pointer[map[string]*kindOpts]
	mu    sync.Mutex
}

func (q *queueOpts) get(kind string) *kindOpts {
	if m := q.m.Load(); m != nil {
		if ko, ok := (*m)[kind]; ok {
			return ko
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	old := q.m.Load()
	if old != nil {
		if ko, ok := (*old)[kind]; ok {
			return ko
		}
	}
	next := make(map[string]*kindOpts, 1)
	if old != nil {
		maps.Copy(next, *old)
	}
	ko := newKindOpts(q.queue, kind)
	next[kind] = ko
	q.m.Store(&next)
	return ko
}

// Observer returns the routine observer that counts queue's runs and
// records their durations.
func (t *Tasks) Observer(queue string) routine.Observer {
	// The observer has no context of the task's; metrics carry no
	// exemplars here.
	ctx := context.Background()
	q := &queueOpts{queue: queue}
	return func(task contracts.Task, r routine.Result) {
		ko := q.get(task.Kind)
		t.tasks.Add(ctx, 1, ko.outcome[schema.Outcome(r)]...)
		t.duration.Record(ctx, r.Duration.Seconds(), ko.duration...)
	}
}
