package telemetry

import (
	"context"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/plba/plba/pkg/telemetry/schema"
)

// Snapshot is the `metrics` action's answer; see [schema.Snapshot].
type Snapshot = schema.Snapshot

// Snapshot collects every instrument now.
func (p *Provider) Snapshot(ctx context.Context) (Snapshot, error) {
	rm, err := p.Collect(ctx)
	if err != nil {
		return Snapshot{}, err
	}
	s := FromResourceMetrics(rm)
	s.Time = p.now().UTC()
	return s, nil
}

// FromResourceMetrics converts collected SDK data: monotonic sums are
// counters, other sums and gauges are gauges.
func FromResourceMetrics(rm metricdata.ResourceMetrics) Snapshot {
	var s Snapshot
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				addSum(&s, d.IsMonotonic, points(m, d.DataPoints))
			case metricdata.Sum[float64]:
				addSum(&s, d.IsMonotonic, points(m, d.DataPoints))
			case metricdata.Gauge[int64]:
				s.Gauges = append(s.Gauges, points(m, d.DataPoints)...)
			case metricdata.Gauge[float64]:
				s.Gauges = append(s.Gauges, points(m, d.DataPoints)...)
			case metricdata.Histogram[float64]:
				s.Histograms = append(s.Histograms, histograms(m, d.DataPoints)...)
			case metricdata.Histogram[int64]:
				s.Histograms = append(s.Histograms, histograms(m, d.DataPoints)...)
			}
		}
	}
	s.Sort()
	return s
}

func points[N int64 | float64](m metricdata.Metrics, dps []metricdata.DataPoint[N]) []schema.Point {
	out := make([]schema.Point, 0, len(dps))
	for _, dp := range dps {
		out = append(out, schema.Point{Name: m.Name, Unit: m.Unit, Attributes: attrs(dp.Attributes), Value: float64(dp.Value)})
	}
	return out
}

func histograms[N int64 | float64](m metricdata.Metrics, dps []metricdata.HistogramDataPoint[N]) []schema.Histogram {
	out := make([]schema.Histogram, 0, len(dps))
	for _, dp := range dps {
		out = append(out, schema.Histogram{Name: m.Name, Unit: m.Unit, Attributes: attrs(dp.Attributes),
			Count: dp.Count, Sum: float64(dp.Sum), Bounds: slices.Clone(dp.Bounds), Counts: slices.Clone(dp.BucketCounts)})
	}
	return out
}

func attrs(set attribute.Set) map[string]string {
	out := make(map[string]string, set.Len())
	for _, kv := range set.ToSlice() {
		out[string(kv.Key)] = kv.Value.String()
	}
	return out
}

func addSum(s *Snapshot, monotonic bool, ps []schema.Point) {
	if monotonic {
		s.Counters = append(s.Counters, ps...)
	} else {
		s.Gauges = append(s.Gauges, ps...)
	}
}
