package workerfn_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/workerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
)

// TestTrace: each record's routine span continues the record's trace; the
// batch span links every record's trace.
func TestTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("test")
	a, err := runtime.Assemble(context.Background(), runtime.AssembleOptions{Logger: quiet, Tracer: tracer}, module{run: byKind})
	if err != nil {
		t.Fatal(err)
	}
	q, err := sqsqueue.New(sqsqueue.Options{Client: &fakeSQS{}, QueueURL: "http://sqs.local/1/tasks", DeadLetterURL: "http://sqs.local/1/dlq", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	h, err := workerfn.New(workerfn.Options{Routines: a.Routines, Executor: a.Executor, Queue: q, Tracer: tracer, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	parents := map[string]string{
		"a": "00-11111111111111111111111111111111-1111111111111111-01",
		"b": "00-22222222222222222222222222222222-2222222222222222-01",
	}
	ev := events.SQSEvent{}
	for id, tp := range parents {
		task := contracts.Task{ID: id, Kind: "ok", Attributes: map[string]string{contracts.AttrTraceParent: tp}}
		ev.Records = append(ev.Records, record(t, stdARN, task, 1))
	}
	if _, err := h.Handle(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	var batch sdktrace.ReadOnlySpan
	routines := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		if s.Name() == "sqs batch" {
			batch = s
			continue
		}
		for _, kv := range s.Attributes() {
			if kv.Key == "plba.task.id" {
				routines[kv.Value.AsString()] = s
			}
		}
	}
	if batch == nil || len(batch.Links()) != 2 {
		t.Fatalf("batch span %v with links %v, want 2 links", batch, batch)
	}
	linked := map[string]bool{}
	for _, l := range batch.Links() {
		linked[l.SpanContext.TraceID().String()] = true
	}
	for id, parent := range parents {
		traceID := parent[3:35]
		if !linked[traceID] {
			t.Errorf("batch span does not link trace %s", traceID)
		}
		s, ok := routines[id]
		if !ok {
			t.Fatalf("no routine span for %s", id)
		}
		if got := s.SpanContext().TraceID().String(); got != traceID {
			t.Errorf("routine span of %s in trace %s, want the record's trace %s", id, got, traceID)
		}
		if got := s.Parent().SpanID().String(); got != parent[36:52] {
			t.Errorf("routine span of %s has parent %s, want %s", id, got, parent[36:52])
		}
	}
}
