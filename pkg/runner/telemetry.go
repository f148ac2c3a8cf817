package runner

import (
	"context"
	"net/http"
	"time"

	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/telemetry"
	"github.com/plba/plba/pkg/telemetry/promexport"
)

// setupMetrics returns the metrics provider platform.telemetry.metrics
// asks for, and the /metrics handler when Prometheus is on; nil when
// metrics are off, so nothing observes the task path.
func setupMetrics(mc runtime.MetricsConfig, oc runtime.OTLPConfig, service, version string) (*telemetry.Provider, http.Handler, func(), error) {
	if !mc.Enabled {
		return nil, nil, func() {}, nil
	}
	opts := telemetry.Options{DurationBuckets: mc.DurationBuckets, ServiceName: service, ServiceVersion: version}
	var prom http.Handler
	if mc.Prometheus {
		r, h, err := promexport.New()
		if err != nil {
			return nil, nil, nil, err
		}
		opts.Readers, prom = append(opts.Readers, r), h
	}
	otlp, err := otlpReader(oc)
	if err != nil {
		return nil, nil, nil, configError{err}
	}
	if otlp != nil {
		opts.Readers = append(opts.Readers, otlp)
	}
	p, err := telemetry.New(opts)
	if err != nil {
		return nil, nil, nil, configError{err}
	}
	return p, prom, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	}, nil
}

// metricsObserver is the per-queue observer of p, nil when metrics are off.
func metricsObserver(p *telemetry.Provider) func(string) routine.Observer {
	if p == nil {
		return nil
	}
	return p.Observer
}
