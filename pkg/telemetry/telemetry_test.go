package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/telemetry"
	"github.com/plba/plba/pkg/telemetry/schema"
)

type routineFunc func(ctx context.Context, t contracts.Task) error

func (f routineFunc) Run(ctx context.Context, t contracts.Task) error { return f(ctx, t) }

// The executor's observer feeds plba.tasks and plba.routine.duration with
// one outcome per run; panics count as panicked whatever their decision.
func TestObserverCountsOutcomes(t *testing.T) {
	p, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	e := &routine.Executor{MaxAttempts: 3, Backoff: func(int) time.Duration { return 0 }, Observer: p.Observer("orders"),
		Routine: routineFunc(func(_ context.Context, t contracts.Task) error {
			switch string(t.Payload) {
			case "fail":
				return errors.New("boom")
			case "bad":
				return contracts.Permanent(errors.New("bad input"))
			case "panic":
				panic("oops")
			}
			time.Sleep(2 * time.Millisecond)
			return nil
		})}
	ctx := context.Background()
	run := func(payload string, attempt int) {
		e.Execute(ctx, contracts.Task{ID: payload, Kind: "mail", Payload: []byte(payload), Attempt: attempt})
	}
	for range 3 {
		run("ok", 1)
	}
	run("fail", 1) // retried
	run("fail", 3) // last attempt: dead-lettered
	run("bad", 1)  // permanent: dead-lettered
	run("panic", 1)

	s, err := p.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{schema.OutcomeSucceeded: 3, schema.OutcomeRetried: 1, schema.OutcomeDeadLettered: 2, schema.OutcomePanicked: 1}
	for outcome, n := range want {
		pt, ok := s.Find(schema.MetricTasks, map[string]string{"queue": "orders", "kind": "mail", "outcome": outcome})
		if !ok || pt.Value != n {
			t.Errorf("%s{outcome=%s} = %v (found %v), want %v", schema.MetricTasks, outcome, pt.Value, ok, n)
		}
		if pt.Unit != schema.UnitTask {
			t.Errorf("unit %q", pt.Unit)
		}
	}
	h, ok := s.FindHistogram(schema.MetricRoutineDuration, map[string]string{"queue": "orders", "kind": "mail"})
	if !ok {
		t.Fatalf("no %s in %+v", schema.MetricRoutineDuration, s.Histograms)
	}
	if h.Count != 7 || h.Unit != "s" || h.Sum < 0.006 || len(h.Counts) != len(h.Bounds)+1 {
		t.Errorf("histogram %+v", h)
	}
	if len(h.Bounds) != len(telemetry.DefaultDurationBuckets) || h.Bounds[0] != 0.001 {
		t.Errorf("bounds %v, want the defaults", h.Bounds)
	}
	var sum uint64
	for _, c := range h.Counts {
		sum += c
	}
	if sum != h.Count {
		t.Errorf("bucket counts %v add to %d, count %d", h.Counts, sum, h.Count)
	}
}

// Queue gauges come from the queues' Stats at collection time; a value a
// backend cannot tell (-1) is left out.
func TestQueueGauges(t *testing.T) {
	p, err := telemetry.New(telemetry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	calls := 0
	p.ObserveQueues(func(context.Context) []contracts.QueueStats {
		calls++
		return []contracts.QueueStats{
			{Name: "orders", Ready: 3, InFlight: 2, Delayed: 1, Dead: 4},
			{Name: "remote", Ready: 7, InFlight: -1, Delayed: -1, Dead: 0},
		}
	})
	if calls != 0 {
		t.Fatal("stats read before any collection")
	}
	s, err := p.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("stats read %d times for one collection", calls)
	}
	for name, v := range map[string]float64{schema.MetricQueueDepth: 3, schema.MetricQueueInFlight: 2, schema.MetricQueueDelayed: 1, schema.MetricQueueDead: 4} {
		pt, ok := s.Find(name, map[string]string{"queue": "orders"})
		if !ok || pt.Value != v || pt.Unit != schema.UnitTask {
			t.Errorf("%s = %+v (found %v), want %v", name, pt, ok, v)
		}
	}
	if _, ok := s.Find(schema.MetricQueueInFlight, map[string]string{"queue": "remote"}); ok {
		t.Error("unknown in-flight count (-1) reported")
	}
	if pt, _ := s.Find(schema.MetricQueueDepth, map[string]string{"queue": "remote"}); pt.Value != 7 {
		t.Errorf("remote depth %v", pt.Value)
	}
}

// The JSON shape is a contract with the status page.
func TestSnapshotJSONShape(t *testing.T) {
	p, err := telemetry.New(telemetry.Options{DurationBuckets: []float64{0.1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(context.Background())
	p.Observer("orders")(contracts.Task{Kind: "mail"}, routine.Result{Decision: routine.Ack, Duration: 500 * time.Millisecond})
	p.ObserveQueues(func(context.Context) []contracts.QueueStats {
		return []contracts.QueueStats{{Name: "orders", Ready: 3}}
	})
	s, err := p.Snapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Time     string `json:"time"`
		Counters []struct {
			Name       string            `json:"name"`
			Unit       string            `json:"unit"`
			Attributes map[string]string `json:"attributes"`
			Value      float64           `json:"value"`
		} `json:"counters"`
		Gauges     []map[string]any `json:"gauges"`
		Histograms []struct {
			Name       string            `json:"name"`
			Unit       string            `json:"unit"`
			Attributes map[string]string `json:"attributes"`
			Count      uint64            `json:"count"`
			Sum        float64           `json:"sum"`
			Bounds     []float64         `json:"bounds"`
			Counts     []uint64          `json:"counts"`
		} `json:"histograms"`
	}
	dec := json.NewDecoder(bytesReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	if _, err := time.Parse(time.RFC3339Nano, got.Time); err != nil {
		t.Errorf("time %q: %v", got.Time, err)
	}
	if len(got.Counters) != 1 || got.Counters[0].Name != "plba.tasks" || got.Counters[0].Value != 1 ||
		got.Counters[0].Attributes["outcome"] != "succeeded" || got.Counters[0].Attributes["queue"] != "orders" || got.Counters[0].Attributes["kind"] != "mail" {
		t.Errorf("counters %+v", got.Counters)
	}
	if len(got.Histograms) != 1 || got.Histograms[0].Sum != 0.5 || len(got.Histograms[0].Bounds) != 2 ||
		len(got.Histograms[0].Counts) != 3 || got.Histograms[0].Counts[1] != 1 {
		t.Errorf("histograms %+v", got.Histograms)
	}
	if len(got.Gauges) != 4 {
		t.Errorf("gauges %+v", got.Gauges)
	}

	// Empty lists are [], not null.
	empty, _ := telemetry.New(telemetry.Options{})
	defer empty.Shutdown(context.Background())
	es, _ := empty.Snapshot(context.Background())
	eb, _ := json.Marshal(es)
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(eb, &raw)
	for _, k := range []string{"counters", "gauges", "histograms"} {
		if string(raw[k]) != "[]" {
			t.Errorf("%s = %s, want []", k, raw[k])
		}
	}
}

func TestBucketsChecked(t *testing.T) {
	for _, b := range [][]float64{{1, 0.5}, {0, 1}, {-1}} {
		if _, err := telemetry.New(telemetry.Options{DurationBuckets: b}); !errors.Is(err, telemetry.ErrBuckets) {
			t.Errorf("%v: %v", b, err)
		}
	}
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
