package workers_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/workers"
)

// BenchmarkPipeline measures publish → consume → no-op routine → ack through
// memqueue and the consumer pool; ns/op and allocs/op are per task.
func BenchmarkPipeline(b *testing.B) {
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			benchPipeline(b, n, nil)
		})
	}
}

func benchPipeline(b *testing.B, workersN int, configure func(*routine.Executor)) {
	q := memqueue.New(memqueue.Options{Capacity: 4096})
	defer q.Close()
	var count atomic.Int64
	done := make(chan struct{})
	target := int64(b.N)
	exec := &routine.Executor{Routine: contracts.RoutineFunc(func(ctx context.Context, t contracts.Task) error {
		if count.Add(1) == target {
			close(done)
		}
		return nil
	}), Timeout: time.Minute}
	if configure != nil {
		configure(exec)
	}
	p, err := workers.NewPool(workers.PoolOptions{Name: "bench", Queue: q, Workers: workersN,
		Executors: map[string]*routine.Executor{"": exec}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Start(ctx); err != nil {
		b.Fatal(err)
	}
	task := contracts.Task{ID: "t", Kind: "bench", Payload: []byte("x")}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := q.Publish(ctx, task); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	if err := p.Stop(ctx, false); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPipelineTracing is BenchmarkPipeline/workers=4 with an OTel SDK
// tracer and a no-op exporter: every task continues a trace and records a
// span. Target ≤ 3 µs per task.
func BenchmarkPipelineTracing(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	defer tp.Shutdown(context.Background())
	tr := tp.Tracer("bench")
	benchPipeline(b, 4, func(e *routine.Executor) { e.Tracer = tr })
}
