package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/telemetry"
)

// setupTracing returns the tracer for platform.tracing; nil when off. The
// stdout exporter writes one JSON span per line to w, for watching traces
// locally; otlp sends them over HTTP (protobuf) to
// platform.telemetry.otlp.endpoint.
func setupTracing(tc runtime.TracingConfig, oc runtime.OTLPConfig, w io.Writer, service, version string) (trace.Tracer, func(), error) {
	var exp sdktrace.SpanExporter
	switch tc.Exporter {
	case "", "none":
		return nil, func() {}, nil
	case "stdout":
		e, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, nil, fmt.Errorf("platform.tracing.exporter: stdout: %w", err)
		}
		exp = e
	case "otlp":
		e, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(otlpURL(oc.Endpoint, "/v1/traces")),
			otlptracehttp.WithHeaders(otlpHeaders(oc)))
		if err != nil {
			return nil, nil, fmt.Errorf("platform.telemetry.otlp.endpoint: %w", err)
		}
		exp = e
	default:
		return nil, nil, fmt.Errorf("platform.tracing.exporter: %q is not supported (none, stdout, otlp)", tc.Exporter)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(telemetry.Resource(service, version)))
	return tp.Tracer(telemetry.ScopeName), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx)
	}, nil
}

// otlpReader is the periodic OTLP metrics reader, nil when
// platform.telemetry.otlp has no endpoint or exports no metrics.
func otlpReader(oc runtime.OTLPConfig) (sdkmetric.Reader, error) {
	if oc.Endpoint == "" || !oc.Metrics {
		return nil, nil
	}
	exp, err := otlpmetrichttp.New(context.Background(), otlpmetrichttp.WithEndpointURL(otlpURL(oc.Endpoint, "/v1/metrics")),
		otlpmetrichttp.WithHeaders(otlpHeaders(oc)))
	if err != nil {
		return nil, fmt.Errorf("platform.telemetry.otlp.endpoint: %w", err)
	}
	return sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(oc.Interval)), nil
}

func otlpURL(base, path string) string { return strings.TrimSuffix(base, "/") + path }

// otlpHeaders reveals the header secrets for the exporter, the only place
// they leave their contracts.Secret.
func otlpHeaders(oc runtime.OTLPConfig) map[string]string {
	if len(oc.Headers) == 0 {
		return nil
	}
	h := make(map[string]string, len(oc.Headers))
	for k, v := range oc.Headers {
		h[k] = v.Reveal()
	}
	return h
}
