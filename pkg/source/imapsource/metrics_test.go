package imapsource_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/telemetry"
)

// One poll against Dovecot with more unseen mail than a batch: the poll
// counter, the backlog left, the lag (the oldest unseen message's age by its
// Date header, from the FETCH the cycle makes anyway) and the command
// latencies reach the process's meter provider.
func TestMetricsFromACycle(t *testing.T) {
	a := dovecotAccount(t)
	p, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(p.MeterProvider())
	defer otel.SetMeterProvider(prev)

	a.seed(t, "INBOX", "metrics", 5)
	// imaptest.Message dates every message 2026-01-02 03:04:05 UTC.
	clock := &fakeClock{t: time.Date(2026, 1, 2, 4, 4, 5, 0, time.UTC)}
	src := newSource(t, a.config(func(c *imapsource.Config) { c.BatchSize = 2 }), imapsource.WithName("metrics-src"), imapsource.WithClock(clock.now))
	if n, err := src.Poll(t.Context(), newCollector()); err != nil || n != 2 {
		t.Fatalf("poll: %d %v", n, err)
	}
	s, err := p.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src1 := map[string]string{"source": "metrics-src"}
	if pt, ok := s.Find(imapsource.MetricPolls, map[string]string{"source": "metrics-src", "outcome": "succeeded"}); !ok || pt.Value != 1 {
		t.Errorf("polls %+v %v", pt, ok)
	}
	if pt, ok := s.Find(imapsource.MetricBacklog, src1); !ok || pt.Value != 3 {
		t.Errorf("backlog %+v %v, want 3 (5 unseen, batch 2)", pt, ok)
	}
	if pt, ok := s.Find(imapsource.MetricLag, src1); !ok || pt.Value != 3600 || pt.Unit != "s" {
		t.Errorf("lag %+v %v, want 3600 s", pt, ok)
	}
	for _, cmd := range []string{"search unseen", "fetch"} {
		if h, ok := s.FindHistogram(imapsource.MetricCommandDuration, map[string]string{"source": "metrics-src", "command": cmd}); !ok || h.Count == 0 {
			t.Errorf("no latency of %q: %+v", cmd, s.Histograms)
		}
	}
}
