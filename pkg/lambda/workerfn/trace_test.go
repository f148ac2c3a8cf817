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
	// Record a was sent with X-Ray active; the invocation has its own
	// X-Ray trace (aws-lambda-go puts the header in the context).
	ev.Records[0].Attributes["AWSTraceHeader"] = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	//lint:ignore SA1029 aws-lambda-go's own key is a plain string
	ctx := context.WithValue(context.Background(), "x-amzn-trace-id", "Root=1-6759e988-cd862e3fe1be46a994272793;Parent=63995c3f42cd8ad8;Sampled=1")
	if _, err := h.Handle(ctx, ev); err != nil {
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
	if batch == nil || len(batch.Links()) != 4 {
		t.Fatalf("batch span %v with links %v, want 4 links (2 traceparents, 1 record X-Ray header, the invocation's)", batch, batch)
	}
	linked := map[string]bool{}
	for _, l := range batch.Links() {
		linked[l.SpanContext.TraceID().String()] = true
	}
	for _, xr := range []string{"5759e988bd862e3fe1be46a994272793", "6759e988cd862e3fe1be46a994272793"} {
		if !linked[xr] {
			t.Errorf("batch span does not link the X-Ray trace %s", xr)
		}
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
