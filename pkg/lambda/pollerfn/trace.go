package pollerfn

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/xray"
)

// withInvocationTrace gives every task that carries no trace context one:
//
//   - with a tracer, a producer span "publish <kind>" (child of the
//     invocation's X-Ray trace when there is one), whose traceparent the
//     task carries, as the local source worker does;
//   - without one, the invocation's X-Ray trace itself as its W3C
//     traceparent (the X-Ray trace ID is a W3C trace ID; Parent is the
//     span), so the worker's routine span and every line logged inside the
//     task are in the trace X-Ray shows for the poll.
//
// With neither (tracing off, no X-Ray header) p is returned as it is.
func withInvocationTrace(ctx context.Context, tracer trace.Tracer, p contracts.Publisher) contracts.Publisher {
	sc, hasXRay := xray.Parse(xray.FromInvocation(ctx))
	switch {
	case tracer != nil:
		parent := context.Background()
		if hasXRay {
			parent = trace.ContextWithRemoteSpanContext(parent, sc)
		}
		return contracts.PublisherFunc(func(ctx context.Context, t contracts.Task) error {
			if t.Attributes[contracts.AttrTraceParent] != "" {
				return p.Publish(ctx, t)
			}
			sctx, span := tracer.Start(parent, "publish "+t.Kind, trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.String("plba.task.id", t.ID), attribute.String("plba.task.kind", t.Kind)))
			defer span.End()
			carrier := propagation.MapCarrier{}
			propagation.TraceContext{}.Inject(sctx, carrier)
			for k, v := range carrier {
				t = t.WithAttr(k, v)
			}
			err := p.Publish(ctx, t)
			if err != nil {
				span.RecordError(err)
			}
			return err
		})
	case hasXRay:
		tp := traceparent(sc)
		return contracts.PublisherFunc(func(ctx context.Context, t contracts.Task) error {
			if t.Attributes[contracts.AttrTraceParent] == "" {
				t = t.WithAttr(contracts.AttrTraceParent, tp)
			}
			return p.Publish(ctx, t)
		})
	}
	return p
}

func traceparent(sc trace.SpanContext) string {
	flags := "00"
	if sc.IsSampled() {
		flags = "01"
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags
}
