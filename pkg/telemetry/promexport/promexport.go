// Package promexport serves PLBA's metrics in the Prometheus text format
// through the OpenTelemetry Prometheus exporter, on a registry of its own
// (never the process-global one). Only the local runner links it: the
// Lambda functions export through EMF and stay small.
//
// Names follow the exporter's default translation: dots become
// underscores, the unit is appended and counters end in _total
// (plba.tasks → plba_tasks_total, plba.routine.duration →
// plba_routine_duration_seconds); the README's metric table lists them.
package promexport

import (
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// New returns the reader to add to telemetry.Options.Readers and the
// handler that serves /metrics from it, with the Go runtime's and the
// process's own collectors beside PLBA's instruments. The otel_scope_*
// labels are left out: PLBA's instruments are one scope, and shorter series
// are what people query.
func New() (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, nil, fmt.Errorf("promexport: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("promexport: go collector: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("promexport: process collector: %w", err)
	}
	// Errors are answered with a 500 and the text, so a scrape that fails
	// says why (a queue whose Stats failed is left out, not an error).
	return exp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}), nil
}
