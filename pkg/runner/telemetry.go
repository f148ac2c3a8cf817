package runner

import (
	"context"
	"time"

	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/telemetry"
)

// setupMetrics returns the metrics provider platform.telemetry.metrics
// asks for; nil when metrics are off, so nothing observes the task path.
func setupMetrics(mc runtime.MetricsConfig) (*telemetry.Provider, func(), error) {
	if !mc.Enabled {
		return nil, func() {}, nil
	}
	p, err := telemetry.New(telemetry.Options{DurationBuckets: mc.DurationBuckets})
	if err != nil {
		return nil, nil, configError{err}
	}
	return p, func() {
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
