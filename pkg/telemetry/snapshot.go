package telemetry

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// Snapshot is every metric's current value, as the control plane's
// `metrics` action answers it (the status page reads this shape):
//
//	{"time":"…","counters":[{"name":"plba.tasks","unit":"{task}","attributes":{"queue":"orders","kind":"…","outcome":"succeeded"},"value":12}],
//	 "gauges":[{"name":"plba.queue.depth","unit":"{task}","attributes":{"queue":"orders"},"value":3}],
//	 "histograms":[{"name":"plba.routine.duration","unit":"s","attributes":{…},"count":12,"sum":0.51,"bounds":[…],"counts":[…]}]}
//
// Counters are cumulative since the process started. Lists are sorted by
// name, then attributes, and are never null.
type Snapshot struct {
	Time       time.Time   `json:"time"`
	Counters   []Point     `json:"counters"`
	Gauges     []Point     `json:"gauges"`
	Histograms []Histogram `json:"histograms"`
}

// Point is one counter or gauge series.
type Point struct {
	Name       string            `json:"name"`
	Unit       string            `json:"unit"`
	Attributes map[string]string `json:"attributes"`
	Value      float64           `json:"value"`
}

// Histogram is one histogram series: Counts has len(Bounds)+1 buckets, the
// last for values above the last bound.
type Histogram struct {
	Name       string            `json:"name"`
	Unit       string            `json:"unit"`
	Attributes map[string]string `json:"attributes"`
	Count      uint64            `json:"count"`
	Sum        float64           `json:"sum"`
	Bounds     []float64         `json:"bounds"`
	Counts     []uint64          `json:"counts"`
}

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
	s := Snapshot{Counters: []Point{}, Gauges: []Point{}, Histograms: []Histogram{}}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				s.addSum(d.IsMonotonic, points(m, d.DataPoints))
			case metricdata.Sum[float64]:
				s.addSum(d.IsMonotonic, points(m, d.DataPoints))
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
	slices.SortFunc(s.Counters, comparePoints)
	slices.SortFunc(s.Gauges, comparePoints)
	slices.SortFunc(s.Histograms, func(a, b Histogram) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(attrString(a.Attributes), attrString(b.Attributes)))
	})
	return s
}

func (s *Snapshot) addSum(monotonic bool, ps []Point) {
	if monotonic {
		s.Counters = append(s.Counters, ps...)
	} else {
		s.Gauges = append(s.Gauges, ps...)
	}
}

func points[N int64 | float64](m metricdata.Metrics, dps []metricdata.DataPoint[N]) []Point {
	out := make([]Point, 0, len(dps))
	for _, dp := range dps {
		out = append(out, Point{Name: m.Name, Unit: m.Unit, Attributes: attrs(dp.Attributes), Value: float64(dp.Value)})
	}
	return out
}

func histograms[N int64 | float64](m metricdata.Metrics, dps []metricdata.HistogramDataPoint[N]) []Histogram {
	out := make([]Histogram, 0, len(dps))
	for _, dp := range dps {
		out = append(out, Histogram{Name: m.Name, Unit: m.Unit, Attributes: attrs(dp.Attributes),
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

func attrString(m map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
		b.WriteByte(',')
	}
	return b.String()
}

func comparePoints(a, b Point) int {
	return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(attrString(a.Attributes), attrString(b.Attributes)))
}

// Find returns the counter or gauge series of name whose attributes
// include want, and whether there is one.
func (s Snapshot) Find(name string, want map[string]string) (Point, bool) {
	for _, list := range [][]Point{s.Counters, s.Gauges} {
		for _, p := range list {
			if p.Name == name && includes(p.Attributes, want) {
				return p, true
			}
		}
	}
	return Point{}, false
}

// FindHistogram returns the histogram series of name whose attributes
// include want.
func (s Snapshot) FindHistogram(name string, want map[string]string) (Histogram, bool) {
	for _, h := range s.Histograms {
		if h.Name == name && includes(h.Attributes, want) {
			return h, true
		}
	}
	return Histogram{}, false
}

func includes(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
