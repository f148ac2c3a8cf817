package runner

import (
	"context"
	"fmt"
	"io"

	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/runtime"
)

// setupTracing returns the tracer for platform.tracing; nil when off. The
// stdout exporter writes one JSON span per line to w, for watching traces
// locally; production exporters (OTLP) plug in the same way.
func setupTracing(tc runtime.TracingConfig, w io.Writer) (trace.Tracer, func(), error) {
	switch tc.Exporter {
	case "", "none":
		return nil, func() {}, nil
	case "stdout":
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, nil, fmt.Errorf("platform.tracing.exporter: stdout: %w", err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		return tp.Tracer("github.com/plba/plba"), func() { _ = tp.Shutdown(context.Background()) }, nil
	default:
		return nil, nil, fmt.Errorf("platform.tracing.exporter: %q is not supported (none, stdout)", tc.Exporter)
	}
}
