package handler

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// The bot's own metrics, through the process's global OpenTelemetry meter
// provider (PLBA sets it when metrics are on; otherwise these are no-ops):
// they show next to PLBA's in the `metrics` action, /metrics and EMF.
const (
	// MetricOrders counts processed orders by status (accepted, rejected,
	// review) and whether the run found the order already stored.
	MetricOrders = "mailorderbot.orders"
	// MetricOrderValue is a histogram of accepted orders' totals in major
	// currency units (minor units / 100: the catalog's currencies have two
	// decimals), by currency.
	MetricOrderValue = "mailorderbot.order.value"
)

type metrics struct {
	orders metric.Int64Counter
	value  metric.Float64Histogram
}

func newMetrics() metrics {
	meter := otel.GetMeterProvider().Meter("github.com/plba/plba/apps/mailorderbot")
	var m metrics
	// A provider that refuses an instrument leaves it a no-op.
	m.orders, _ = meter.Int64Counter(MetricOrders, metric.WithUnit("{order}"), metric.WithDescription("Processed orders by status."))
	m.value, _ = meter.Float64Histogram(MetricOrderValue, metric.WithUnit("{currency_unit}"), metric.WithDescription("Accepted orders' totals by currency."),
		metric.WithExplicitBucketBoundaries(10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000))
	return m
}

func (m metrics) outcome(ctx context.Context, out Outcome) {
	if m.orders == nil {
		return
	}
	m.orders.Add(ctx, 1, metric.WithAttributes(attribute.String("status", string(out.Order.Status)), attribute.Bool("duplicate", out.Duplicate)))
	if out.Order.Status == domain.StatusAccepted && !out.Duplicate && out.Order.Total.Currency != "" {
		m.value.Record(ctx, float64(out.Order.Total.Amount)/100, metric.WithAttributes(attribute.String("currency", out.Order.Total.Currency)))
	}
}
