// Package instrument feeds PLBA's task metrics (schema.MetricTasks,
// schema.MetricRoutineDuration) from routine.Executor's Observer into any
// OpenTelemetry metric.Meter: the SDK's locally (pkg/telemetry), the small
// EMF meter in the Lambda functions (pkg/telemetry/emf). It depends on the
// OpenTelemetry metrics API only.
package instrument

import (
	"context"
	"fmt"
	"sync"

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
	attrs    sync.Map // attrKey → metric.MeasurementOption
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

type attrKey struct{ queue, kind, outcome string }

// options returns the cached measurement option for one attribute set:
// building an attribute.Set per run would cost allocations on every task.
func (t *Tasks) options(k attrKey) metric.MeasurementOption {
	if v, ok := t.attrs.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	kv := []attribute.KeyValue{attribute.String(schema.AttrQueue, k.queue), attribute.String(schema.AttrKind, k.kind)}
	if k.outcome != "" {
		kv = append(kv, attribute.String(schema.AttrOutcome, k.outcome))
	}
	v, _ := t.attrs.LoadOrStore(k, metric.WithAttributeSet(attribute.NewSet(kv...)))
	return v.(metric.MeasurementOption)
}

// Observer returns the routine observer that counts queue's runs and
// records their durations.
func (t *Tasks) Observer(queue string) routine.Observer {
	// The observer has no context of the task's; metrics carry no
	// exemplars here.
	ctx := context.Background()
	return func(task contracts.Task, r routine.Result) {
		t.tasks.Add(ctx, 1, t.options(attrKey{queue, task.Kind, schema.Outcome(r)}))
		t.duration.Record(ctx, r.Duration.Seconds(), t.options(attrKey{queue: queue, kind: task.Kind}))
	}
}
