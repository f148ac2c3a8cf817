// Package emf writes PLBA's metrics as CloudWatch Embedded Metric Format
// documents, one JSON object per line, for the Lambda functions: Lambda
// sends stdout to CloudWatch Logs, which extracts the metrics, so the
// functions need no CloudWatch API call, no agent and no extra permission.
//
// It is written here because no maintained Go EMF library exists (AWS
// keeps EMF libraries for Node.js, Python, Java and .NET only) and the
// format is small. What it follows of the specification:
//
//   - every document has the _aws metadata object with Timestamp (epoch
//     milliseconds) and one MetricDirective (Namespace, Dimensions,
//     Metrics);
//   - at most 100 metric definitions per document and at most 100 values
//     per metric: more become further documents;
//   - a dimension set has at most 30 dimensions: a series with more
//     attributes keeps the first 30 (by name) as dimensions and the rest as
//     plain members;
//   - every dimension and metric named in the directive is a member of the
//     root with a string (dimension) or number / number array (metric)
//     value;
//   - units are CloudWatch units (Seconds, Count, Bytes, ...).
//
// [Meter] is an OpenTelemetry metric.Meter (the metrics API, not the SDK:
// the SDK would grow a bootstrap by 1.3 MB, past the 15 MB budget), so the
// functions record through the same instruments as `plba run`
// (pkg/telemetry/instrument) and the metric names are the OpenTelemetry
// names (schema.MetricTasks is "plba.tasks", as in the `metrics` action;
// Prometheus shows plba_tasks_total). Dimensions are the attributes (queue, kind, outcome);
// each series is also rolled up without its kind, and without kind, queue
// and source (see dimensionSets), so alarms and dashboards can name one
// metric per queue or per namespace whatever the application's names.
//
// Counters are written as their sum since the last flush; histograms as
// their samples (exact: CloudWatch computes the percentiles), gauges as
// their last value. Observable gauges are read at each flush (their
// callbacks run then); observable counters are no-ops.
package emf

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	"go.opentelemetry.io/otel/metric/noop"
)

// Limits of the EMF specification.
const (
	MaxMetrics    = 100 // metric definitions per directive
	MaxValues     = 100 // values per metric
	MaxDimensions = 30  // dimensions per dimension set
)

// DefaultNamespace is the CloudWatch namespace when Options.Namespace is
// empty.
const DefaultNamespace = "PLBA"

// Options configure a Meter.
type Options struct {
	// Namespace is the CloudWatch namespace; default DefaultNamespace.
	Namespace string
	// Now is the clock for Timestamp; default time.Now.
	Now func() time.Time
}

type kind int

const (
	kindSum kind = iota
	kindSamples
	kindLast
)

type seriesKey struct {
	name  string
	attrs attribute.Distinct
}

// series is one metric's values for one attribute set since the last
// flush.
type series struct {
	name, unit string
	kind       kind
	attrs      attribute.Set
	values     []float64
}

// Meter records measurements in memory and writes them as EMF documents
// on Flush. It is safe for concurrent use.
type Meter struct {
	// noop.Meter gives the metric.Meter methods the OTel API may add
	// later; every instrument kind of today's API is a method below, and
	// the kinds EMF has no use for (up-down and observable counters) say so
	// with ErrUnsupported instead of dropping measurements in silence.
	noop.Meter

	w         io.Writer
	namespace string
	now       func() time.Time

	mu        sync.Mutex
	series    map[seriesKey]*series
	callbacks []metric.Callback
	flush     sync.Mutex // one flush at a time: lines must not interleave
}

var _ metric.Meter = (*Meter)(nil)

// New returns a Meter writing to w (Lambda: os.Stdout).
func New(w io.Writer, o Options) *Meter {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Meter{w: w, namespace: o.Namespace, now: o.Now, series: map[seriesKey]*series{}}
}

func (m *Meter) record(name, unit string, k kind, set attribute.Set, v float64) {
	key := seriesKey{name, set.Equivalent()}
	m.mu.Lock()
	s, ok := m.series[key]
	if !ok {
		s = &series{name: name, unit: unit, kind: k, attrs: set}
		m.series[key] = s
	}
	switch {
	case k == kindSum && len(s.values) == 1:
		s.values[0] += v
	case k == kindLast && len(s.values) == 1:
		s.values[0] = v
	default:
		s.values = append(s.values, v)
	}
	m.mu.Unlock()
}

// Flush writes every series recorded since the last flush and forgets
// them; the Lambda functions call it at the end of each invocation, before
// they return (a frozen sandbox would hold the lines back).
func (m *Meter) Flush(ctx context.Context) error {
	m.flush.Lock()
	defer m.flush.Unlock()
	m.mu.Lock()
	cbs := slices.Clone(m.callbacks)
	m.mu.Unlock()
	for _, cb := range cbs {
		// A failing callback loses its own observations only.
		_ = cb(ctx, observer{m: m})
	}
	m.mu.Lock()
	all := m.series
	m.series = map[seriesKey]*series{}
	m.mu.Unlock()
	docs, err := encode(all, m.namespace, m.now())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	for _, d := range docs {
		buf.Write(d)
		buf.WriteByte('\n')
	}
	if buf.Len() == 0 {
		return nil
	}
	if _, err := m.w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("emf: write: %w", err)
	}
	return nil
}

// Int64Counter implements metric.Meter.
func (m *Meter) Int64Counter(name string, opts ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	return int64Counter{inst: inst{m, name, metric.NewInt64CounterConfig(opts...).Unit(), kindSum}}, nil
}

// Float64Counter implements metric.Meter.
func (m *Meter) Float64Counter(name string, opts ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	return float64Counter{inst: inst{m, name, metric.NewFloat64CounterConfig(opts...).Unit(), kindSum}}, nil
}

// Float64Histogram implements metric.Meter; bucket boundaries are
// ignored: EMF gets the samples.
func (m *Meter) Float64Histogram(name string, opts ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	return float64Histogram{inst: inst{m, name, metric.NewFloat64HistogramConfig(opts...).Unit(), kindSamples}}, nil
}

// Int64Histogram implements metric.Meter.
func (m *Meter) Int64Histogram(name string, opts ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	return int64Histogram{inst: inst{m, name, metric.NewInt64HistogramConfig(opts...).Unit(), kindSamples}}, nil
}

// Int64Gauge implements metric.Meter.
func (m *Meter) Int64Gauge(name string, opts ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	return int64Gauge{inst: inst{m, name, metric.NewInt64GaugeConfig(opts...).Unit(), kindLast}}, nil
}

// Float64Gauge implements metric.Meter.
func (m *Meter) Float64Gauge(name string, opts ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	return float64Gauge{inst: inst{m, name, metric.NewFloat64GaugeConfig(opts...).Unit(), kindLast}}, nil
}

// Int64ObservableGauge implements metric.Meter: read at each Flush.
func (m *Meter) Int64ObservableGauge(name string, opts ...metric.Int64ObservableGaugeOption) (metric.Int64ObservableGauge, error) {
	return int64ObsGauge{inst: inst{m, name, metric.NewInt64ObservableGaugeConfig(opts...).Unit(), kindLast}}, nil
}

// Float64ObservableGauge implements metric.Meter: read at each Flush.
func (m *Meter) Float64ObservableGauge(name string, opts ...metric.Float64ObservableGaugeOption) (metric.Float64ObservableGauge, error) {
	return float64ObsGauge{inst: inst{m, name, metric.NewFloat64ObservableGaugeConfig(opts...).Unit(), kindLast}}, nil
}

// ErrUnsupported: the Meter has no such instrument kind; the instrument
// returned with it records nothing.
var ErrUnsupported = errors.New("emf: instrument kind not supported")

func unsupported(kind, name string) error {
	return fmt.Errorf("%w: %s %q", ErrUnsupported, kind, name)
}

// Int64UpDownCounter implements metric.Meter: not supported.
func (m *Meter) Int64UpDownCounter(name string, opts ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	i, _ := m.Meter.Int64UpDownCounter(name, opts...)
	return i, unsupported("Int64UpDownCounter", name)
}

// Float64UpDownCounter implements metric.Meter: not supported.
func (m *Meter) Float64UpDownCounter(name string, opts ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	i, _ := m.Meter.Float64UpDownCounter(name, opts...)
	return i, unsupported("Float64UpDownCounter", name)
}

// Int64ObservableCounter implements metric.Meter: not supported.
func (m *Meter) Int64ObservableCounter(name string, opts ...metric.Int64ObservableCounterOption) (metric.Int64ObservableCounter, error) {
	i, _ := m.Meter.Int64ObservableCounter(name, opts...)
	return i, unsupported("Int64ObservableCounter", name)
}

// Float64ObservableCounter implements metric.Meter: not supported.
func (m *Meter) Float64ObservableCounter(name string, opts ...metric.Float64ObservableCounterOption) (metric.Float64ObservableCounter, error) {
	i, _ := m.Meter.Float64ObservableCounter(name, opts...)
	return i, unsupported("Float64ObservableCounter", name)
}

// Int64ObservableUpDownCounter implements metric.Meter: not supported.
func (m *Meter) Int64ObservableUpDownCounter(name string, opts ...metric.Int64ObservableUpDownCounterOption) (metric.Int64ObservableUpDownCounter, error) {
	i, _ := m.Meter.Int64ObservableUpDownCounter(name, opts...)
	return i, unsupported("Int64ObservableUpDownCounter", name)
}

// Float64ObservableUpDownCounter implements metric.Meter: not supported.
func (m *Meter) Float64ObservableUpDownCounter(name string, opts ...metric.Float64ObservableUpDownCounterOption) (metric.Float64ObservableUpDownCounter, error) {
	i, _ := m.Meter.Float64ObservableUpDownCounter(name, opts...)
	return i, unsupported("Float64ObservableUpDownCounter", name)
}

// RegisterCallback implements metric.Meter: f runs at each Flush.
func (m *Meter) RegisterCallback(f metric.Callback, _ ...metric.Observable) (metric.Registration, error) {
	m.mu.Lock()
	m.callbacks = append(m.callbacks, f)
	i := len(m.callbacks) - 1
	m.mu.Unlock()
	return registration{unregister: func() {
		m.mu.Lock()
		if i < len(m.callbacks) {
			m.callbacks[i] = func(context.Context, metric.Observer) error { return nil }
		}
		m.mu.Unlock()
	}}, nil
}

type registration struct {
	embedded.Registration
	unregister func()
}

func (r registration) Unregister() error { r.unregister(); return nil }

// Provider is a metric.MeterProvider whose every meter is M, for
// otel.SetMeterProvider in a function (libraries such as the IMAP source
// take their meter from the global provider).
type Provider struct {
	noop.MeterProvider
	M *Meter
}

// Meter implements metric.MeterProvider.
func (p Provider) Meter(string, ...metric.MeterOption) metric.Meter { return p.M }

type observer struct {
	noop.Observer
	m *Meter
}

func (o observer) ObserveFloat64(obs metric.Float64Observable, v float64, opts ...metric.ObserveOption) {
	if g, ok := obs.(float64ObsGauge); ok {
		o.m.record(g.name, g.unit, kindLast, metric.NewObserveConfig(opts).Attributes(), v)
	}
}

func (o observer) ObserveInt64(obs metric.Int64Observable, v int64, opts ...metric.ObserveOption) {
	if g, ok := obs.(int64ObsGauge); ok {
		o.m.record(g.name, g.unit, kindLast, metric.NewObserveConfig(opts).Attributes(), float64(v))
	}
}

type int64ObsGauge struct {
	metric.Int64Observable
	embedded.Int64ObservableGauge
	inst
}

type float64ObsGauge struct {
	metric.Float64Observable
	embedded.Float64ObservableGauge
	inst
}

type inst struct {
	m    *Meter
	name string
	unit string
	kind kind
}

func (i inst) Enabled(context.Context) bool { return true }

type int64Counter struct {
	embedded.Int64Counter
	inst
}

func (c int64Counter) Add(_ context.Context, v int64, opts ...metric.AddOption) {
	c.m.record(c.name, c.unit, c.kind, metric.NewAddConfig(opts).Attributes(), float64(v))
}

type float64Counter struct {
	embedded.Float64Counter
	inst
}

func (c float64Counter) Add(_ context.Context, v float64, opts ...metric.AddOption) {
	c.m.record(c.name, c.unit, c.kind, metric.NewAddConfig(opts).Attributes(), v)
}

type float64Histogram struct {
	embedded.Float64Histogram
	inst
}

func (h float64Histogram) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	h.m.record(h.name, h.unit, h.kind, metric.NewRecordConfig(opts).Attributes(), v)
}

type int64Histogram struct {
	embedded.Int64Histogram
	inst
}

func (h int64Histogram) Record(_ context.Context, v int64, opts ...metric.RecordOption) {
	h.m.record(h.name, h.unit, h.kind, metric.NewRecordConfig(opts).Attributes(), float64(v))
}

type int64Gauge struct {
	embedded.Int64Gauge
	inst
}

func (g int64Gauge) Record(_ context.Context, v int64, opts ...metric.RecordOption) {
	g.m.record(g.name, g.unit, g.kind, metric.NewRecordConfig(opts).Attributes(), float64(v))
}

type float64Gauge struct {
	embedded.Float64Gauge
	inst
}

func (g float64Gauge) Record(_ context.Context, v float64, opts ...metric.RecordOption) {
	g.m.record(g.name, g.unit, g.kind, metric.NewRecordConfig(opts).Attributes(), v)
}

// group is every series sharing one attribute set: they share dimensions.
type group struct {
	attrs  [][2]string // sorted by key
	series []series
}

// dimensionSets rolls a series up: the full set, without kind, and
// without kind, queue and source (possibly no dimension at all), so that
// alarms and dashboards can name a metric per queue, or across the whole
// namespace, without knowing the application's kinds, queues and sources.
func dimensionSets(dims []string) [][]string {
	sets := [][]string{dims}
	add := func(drop ...string) {
		next := slices.DeleteFunc(slices.Clone(dims), func(d string) bool { return slices.Contains(drop, d) })
		for _, s := range sets {
			if slices.Equal(s, next) {
				return
			}
		}
		sets = append(sets, next)
	}
	add("kind")
	add("kind", "queue", "source")
	return sets
}

// encode turns the series into EMF documents (without newlines), grouped
// by attribute set and sorted, so the output is deterministic.
func encode(all map[seriesKey]*series, namespace string, ts time.Time) ([][]byte, error) {
	groups := map[string]*group{}
	var order []string
	for _, s := range all {
		if len(s.values) == 0 {
			continue
		}
		attrs := attrsOf(s.attrs.ToSlice())
		var key strings.Builder
		for _, kv := range attrs {
			key.WriteString(kv[0] + "\x00" + kv[1] + "\x00")
		}
		g, ok := groups[key.String()]
		if !ok {
			g = &group{attrs: attrs}
			groups[key.String()] = g
			order = append(order, key.String())
		}
		g.series = append(g.series, *s)
	}
	slices.Sort(order)
	var docs [][]byte
	for _, k := range order {
		g := groups[k]
		slices.SortFunc(g.series, func(a, b series) int { return cmp.Compare(a.name, b.name) })
		d, err := g.documents(namespace, ts)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d...)
	}
	return docs, nil
}

// documents splits a group into documents within the limits: metric
// definitions in chunks of MaxMetrics, values in chunks of MaxValues.
func (g *group) documents(namespace string, ts time.Time) ([][]byte, error) {
	dims := make([]string, 0, min(len(g.attrs), MaxDimensions))
	for _, kv := range g.attrs {
		if len(dims) < MaxDimensions {
			dims = append(dims, kv[0])
		}
	}
	sets := dimensionSets(dims)
	var docs [][]byte
	for round := 0; ; round++ {
		// Metrics with values left in this round of MaxValues each.
		var defs []map[string]string
		root := map[string]any{}
		for _, s := range g.series {
			lo := round * MaxValues
			if lo >= len(s.values) {
				continue
			}
			vals := s.values[lo:min(len(s.values), lo+MaxValues)]
			if len(defs) == MaxMetrics {
				doc, err := document(namespace, ts, sets, defs, root, g.attrs)
				if err != nil {
					return nil, err
				}
				docs = append(docs, doc)
				defs, root = nil, map[string]any{}
			}
			defs = append(defs, map[string]string{"Name": s.name, "Unit": Unit(s.unit)})
			if len(vals) == 1 {
				root[s.name] = vals[0]
			} else {
				root[s.name] = vals
			}
		}
		if len(defs) == 0 {
			return docs, nil
		}
		doc, err := document(namespace, ts, sets, defs, root, g.attrs)
		if err != nil {
			return nil, err
		}
		docs = append(docs, doc)
	}
}

func document(namespace string, ts time.Time, sets [][]string, defs []map[string]string, root map[string]any, attrs [][2]string) ([]byte, error) {
	for _, kv := range attrs {
		root[kv[0]] = kv[1]
	}
	root["_aws"] = map[string]any{
		"Timestamp": ts.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  namespace,
			"Dimensions": sets,
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(root)
	if err != nil {
		return nil, fmt.Errorf("emf: encode: %w", err)
	}
	return b, nil
}

func attrsOf(kvs []attribute.KeyValue) [][2]string {
	out := make([][2]string, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, [2]string{string(kv.Key), kv.Value.String()})
	}
	slices.SortFunc(out, func(a, b [2]string) int { return cmp.Compare(a[0], b[0]) })
	return out
}

// Unit maps a UCUM unit (as OpenTelemetry instruments declare them) to a
// CloudWatch unit; annotations like "{task}" and "1" are Count.
func Unit(u string) string {
	switch u {
	case "s":
		return "Seconds"
	case "ms":
		return "Milliseconds"
	case "us":
		return "Microseconds"
	case "By":
		return "Bytes"
	case "KiBy":
		return "Kilobytes"
	case "MiBy":
		return "Megabytes"
	case "%":
		return "Percent"
	case "", "1":
		return "Count"
	}
	if strings.HasPrefix(u, "{") && strings.HasSuffix(u, "}") {
		return "Count"
	}
	if strings.HasPrefix(u, "{") && strings.HasSuffix(u, "}/s") {
		return "Count/Second"
	}
	return "None"
}
