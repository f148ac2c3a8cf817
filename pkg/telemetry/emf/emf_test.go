package emf_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry/emf"
	"github.com/plba/plba/pkg/telemetry/instrument"
	"github.com/plba/plba/pkg/telemetry/schema"
)

type observerFunc func(queue string) routine.Observer

func setup(t *testing.T) (observerFunc, *emf.Meter, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	m := emf.New(&out, emf.Options{Now: func() time.Time { return time.UnixMilli(1_700_000_000_000) }})
	tasks, err := instrument.NewTasks(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Observer, m, &out
}

func parseAll(t *testing.T, out *bytes.Buffer) []emf.Document {
	t.Helper()
	var docs []emf.Document
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		d, err := emf.Parse(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	return docs
}

// One flush writes valid documents with the instruments' names, CloudWatch
// units, the attributes as dimensions (also without kind), counters as
// sums since the last flush and histograms as their samples; a flush with
// nothing new writes nothing.
func TestFlushWritesSpecDocuments(t *testing.T) {
	observer, w, out := setup(t)
	obs := observer("orders")
	for i := range 3 {
		obs(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Ack, Duration: time.Duration(10*(i+1)) * time.Millisecond})
	}
	obs(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Retry, Duration: time.Second})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	docs := parseAll(t, out)
	got := map[string]emf.Metric{}
	for _, d := range docs {
		if d.Namespace != emf.DefaultNamespace || d.Timestamp != 1_700_000_000_000 {
			t.Errorf("namespace %q timestamp %d", d.Namespace, d.Timestamp)
		}
		if d.DimensionValues["queue"] != "orders" || d.DimensionValues["kind"] != "mail" {
			t.Errorf("dimensions %v", d.DimensionValues)
		}
		want := "[[kind queue] [queue] []]"
		if _, ok := d.DimensionValues["outcome"]; ok {
			want = "[[kind outcome queue] [outcome queue] [outcome]]"
		}
		if got := fmt.Sprint(d.Dimensions); got != want {
			t.Errorf("dimension sets %s, want %s", got, want)
		}
		for _, m := range d.Metrics {
			got[m.Name+"/"+d.DimensionValues["outcome"]] = m
		}
	}
	if m := got[schema.MetricTasks+"/succeeded"]; m.Unit != "Count" || fmt.Sprint(m.Values) != "[3]" {
		t.Errorf("succeeded %+v", m)
	}
	if m := got[schema.MetricTasks+"/retried"]; fmt.Sprint(m.Values) != "[1]" {
		t.Errorf("retried %+v", m)
	}
	h := got[schema.MetricRoutineDuration+"/"]
	if h.Unit != "Seconds" || len(h.Values) != 4 {
		t.Fatalf("duration %+v", h)
	}
	for i, want := range []float64{0.01, 0.02, 0.03, 1} {
		if math.Abs(h.Values[i]-want) > 1e-12 {
			t.Errorf("sample %d = %v, want %v", i, h.Values[i], want)
		}
	}

	// Deltas: nothing new, nothing written; one more run, a count of one.
	out.Reset()
	if err := w.Flush(context.Background()); err != nil || out.Len() != 0 {
		t.Fatalf("empty flush wrote %q (%v)", out.String(), err)
	}
	obs(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Ack})
	_ = w.Flush(context.Background())
	for _, d := range parseAll(t, out) {
		for _, m := range d.Metrics {
			if m.Name == schema.MetricTasks && fmt.Sprint(m.Values) != "[1]" {
				t.Errorf("second flush %s = %v, want the delta [1]", m.Name, m.Values)
			}
		}
	}
}

// More than 100 samples and more than 100 metrics per attribute set are
// split over documents; more than 30 attributes keep 30 dimensions.
func TestLimits(t *testing.T) {
	observer, w, out := setup(t)
	obs := observer("q")
	for range 250 {
		obs(contracts.Task{Kind: "k"}, routine.Result{Decision: routine.Ack, Duration: time.Millisecond})
	}
	var kv []attribute.KeyValue
	for i := range 35 {
		kv = append(kv, attribute.String(fmt.Sprintf("a%02d", i), "v"))
	}
	set := metric.WithAttributeSet(attribute.NewSet(kv...))
	for i := range 150 {
		c, _ := w.Int64Counter(fmt.Sprintf("test.c%03d", i))
		c.Add(context.Background(), 1, set)
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	samples, counters := 0, 0
	for _, d := range parseAll(t, out) {
		for _, m := range d.Metrics {
			switch {
			case m.Name == schema.MetricRoutineDuration:
				samples += len(m.Values)
			case strings.HasPrefix(m.Name, "test.c"):
				counters++
				if len(d.Dimensions[0]) != emf.MaxDimensions {
					t.Errorf("dimension set of %d", len(d.Dimensions[0]))
				}
			}
		}
	}
	if samples != 250 || counters != 150 {
		t.Errorf("%d samples, %d counters over the documents; want 250 and 150", samples, counters)
	}
}

func TestParseRejects(t *testing.T) {
	for _, bad := range []string{
		`{}`,
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["q"]],"Metrics":[{"Name":"m"}]}]},"m":1}`,              // dimension not in root
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m","Unit":"Things"}]}]},"m":1}`, // unit
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]}}`,                       // metric missing
		`{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":1}`,                               // no timestamp
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m"}]}]},"m":"x"}`,               // value
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["q"]],"Metrics":[{"Name":"m"}]}]},"m":1,"q":3}`,        // dim not string
		`{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"m","Other":1}]}]},"m":1}`,       // extra member
	} {
		if _, err := emf.Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

func TestUnits(t *testing.T) {
	for in, want := range map[string]string{"s": "Seconds", "{task}": "Count", "By": "Bytes", "1": "Count", "ms": "Milliseconds", "weird": "None", "{mail}/s": "Count/Second"} {
		if got := emf.Unit(in); got != want {
			t.Errorf("Unit(%q) = %q, want %q", in, got, want)
		}
	}
}

// Observable gauges are read at each flush, through the global-provider
// shape libraries use.
func TestObservableGaugeAtFlush(t *testing.T) {
	var out bytes.Buffer
	m := emf.New(&out, emf.Options{})
	mp := emf.Provider{M: m}
	meter := mp.Meter("lib")
	g, _ := meter.Int64ObservableGauge("lib.backlog", metric.WithUnit("{message}"))
	n := int64(0)
	reg, err := meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		n++
		o.ObserveInt64(g, 7*n, metric.WithAttributes(attribute.String("source", "imap")))
		return nil
	}, g)
	if err != nil {
		t.Fatal(err)
	}
	_ = m.Flush(context.Background())
	_ = m.Flush(context.Background())
	docs := parseAll(t, &out)
	if len(docs) != 2 || docs[1].Metrics[0].Name != "lib.backlog" || docs[1].Metrics[0].Values[0] != 14 || docs[1].DimensionValues["source"] != "imap" {
		t.Fatalf("%+v", docs)
	}
	_ = reg.Unregister()
	out.Reset()
	_ = m.Flush(context.Background())
	if out.Len() != 0 {
		t.Fatalf("unregistered callback still observed: %s", out.String())
	}
}

// Kinds EMF does not write say so instead of dropping measurements.
func TestUnsupportedKindsSaySo(t *testing.T) {
	m := emf.New(io.Discard, emf.Options{})
	if _, err := m.Int64ObservableCounter("x"); !errors.Is(err, emf.ErrUnsupported) {
		t.Fatalf("Int64ObservableCounter: %v", err)
	}
	c, err := m.Float64UpDownCounter("y")
	if !errors.Is(err, emf.ErrUnsupported) || c == nil {
		t.Fatalf("Float64UpDownCounter: %v, %v", c, err)
	}
	c.Add(t.Context(), 1) // the no-op instrument records nothing and does not panic
}
