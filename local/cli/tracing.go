package cli

import (
	"fmt"
	"io"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/runtime"
)

// setupTracing returns the tracer for platform.tracing; nil when off.
func setupTracing(tc runtime.TracingConfig, _ io.Writer) (trace.Tracer, func(), error) {
	switch tc.Exporter {
	case "", "none":
		return nil, func() {}, nil
	default:
		return nil, nil, fmt.Errorf("platform.tracing.exporter: %q is not supported", tc.Exporter)
	}
}
