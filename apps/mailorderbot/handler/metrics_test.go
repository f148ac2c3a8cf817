package handler_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/pkg/telemetry"
)

// The bot's own metrics reach the process's meter provider: orders by
// status (a redelivery counts as duplicate) and the accepted order's value.
func TestOrderMetrics(t *testing.T) {
	p, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(p.MeterProvider())
	defer otel.SetMeterProvider(prev)

	r := newRig(t, nil)
	ctx := context.Background()
	for range 2 { // the second run is a redelivery
		if err := r.h.Run(ctx, task(fixture(t, "plain_all_forms.eml"), ref)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pt, ok := s.Find(handler.MetricOrders, map[string]string{"status": "accepted", "duplicate": "false"}); !ok || pt.Value != 1 {
		t.Errorf("first order %+v %v", pt, ok)
	}
	if pt, ok := s.Find(handler.MetricOrders, map[string]string{"status": "accepted", "duplicate": "true"}); !ok || pt.Value != 1 {
		t.Errorf("redelivery %+v %v", pt, ok)
	}
	h, ok := s.FindHistogram(handler.MetricOrderValue, nil)
	if !ok || h.Count != 1 || h.Sum != 271.12 || h.Attributes["currency"] == "" {
		t.Errorf("order value %+v %v", h, ok)
	}
}
