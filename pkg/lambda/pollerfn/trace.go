package pollerfn

import (
	"context"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/xray"
)

// withInvocationTrace gives every task that carries no trace context the
// invocation's X-Ray trace as its W3C traceparent (the X-Ray trace ID is a
// W3C trace ID; Parent is the span), so the worker's routine span and
// every line logged inside the task are in the trace X-Ray shows for the
// poll — without a tracer in the function. Without an X-Ray header
// (tracing off) p is returned as it is.
func withInvocationTrace(ctx context.Context, p contracts.Publisher) contracts.Publisher {
	sc, ok := xray.Parse(xray.FromInvocation(ctx))
	if !ok {
		return p
	}
	tp := traceparent(sc)
	return contracts.PublisherFunc(func(ctx context.Context, t contracts.Task) error {
		if t.Attributes[contracts.AttrTraceParent] == "" {
			t = t.WithAttr(contracts.AttrTraceParent, tp)
		}
		return p.Publish(ctx, t)
	})
}

func traceparent(sc trace.SpanContext) string {
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}
