package workers_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry"
)

// BenchmarkPipelineMetrics is BenchmarkPipeline/workers=4 with the
// telemetry the runner installs: "metrics" adds the metrics observer
// (plba.tasks and plba.routine.duration through the OTel SDK), "tracing+
// metrics" adds an SDK tracer with a no-op exporter too. Targets (issue
// 18): tracing+metrics ≤ 2 µs per task; with metrics off the pipeline is
// BenchmarkPipeline/workers=4 itself (no observer is installed).
func BenchmarkPipelineMetrics(b *testing.B) {
	p, err := telemetry.New(telemetry.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	obs := p.Observer("bench")
	b.Run("metrics", func(b *testing.B) {
		benchPipeline(b, 4, func(e *routine.Executor) { e.Observer = obs })
	})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	b.Run("tracing+metrics", func(b *testing.B) {
		benchPipeline(b, 4, func(e *routine.Executor) { e.Tracer, e.Observer = tr, obs })
	})
}
