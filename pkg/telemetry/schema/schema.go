// Package schema is PLBA's metric vocabulary without any metrics SDK: the
// instrument names, units, attribute keys and outcomes every exporter
// shows, and the JSON shape of the control plane's `metrics` action
// ([Snapshot]). Packages that only name or show metrics (the control plane,
// the Lambda functions) import it and stay small; pkg/telemetry owns the
// OpenTelemetry SDK.
package schema

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/plba/plba/pkg/routine"
)

// Instrument names. Units follow UCUM as OpenTelemetry recommends
// ("{task}" is an annotation: Prometheus drops it, EMF writes Count).
const (
	// MetricTasks counts routine runs by queue, kind and outcome
	// (OutcomeSucceeded, OutcomeRetried, OutcomeDeadLettered,
	// OutcomePanicked), cumulative since start.
	MetricTasks = "plba.tasks"
	// MetricRoutineDuration is a histogram of routine run times in seconds
	// by queue and kind.
	MetricRoutineDuration = "plba.routine.duration"
	// MetricQueueDepth is the number of ready (visible) tasks, by queue.
	MetricQueueDepth = "plba.queue.depth"
	// MetricQueueInFlight is the number of tasks being run, by queue.
	MetricQueueInFlight = "plba.queue.in_flight"
	// MetricQueueDelayed is the number of tasks waiting for a retry delay,
	// by queue.
	MetricQueueDelayed = "plba.queue.delayed"
	// MetricQueueDead is the number of dead letters, by queue.
	MetricQueueDead = "plba.queue.dead"
)

// Counters read from the workers' own status counters (locally; the
// Lambda poller has its plba.lambda.poller.* counters instead).
const (
	// MetricSourcePolls counts source polls by source and outcome
	// (succeeded, failed); a failed publish fails its poll.
	MetricSourcePolls = "plba.source.polls"
	// MetricSourcePublished counts the tasks a source published.
	MetricSourcePublished = "plba.source.published"
	// MetricRestarts counts supervisor restarts by worker.
	MetricRestarts = "plba.worker.restarts"
)

// Units.
const (
	UnitTask    = "{task}"
	UnitSeconds = "s"
)

// Attribute keys.
const (
	AttrQueue   = "queue"
	AttrKind    = "kind"
	AttrOutcome = "outcome"
	AttrSource  = "source"
	AttrWorker  = "worker"
)

// Outcomes of MetricTasks. A run that panicked counts as panicked whatever
// its decision (retry or dead letter), so the outcomes of a queue add up to
// its runs.
const (
	OutcomeSucceeded    = "succeeded"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
	OutcomePanicked     = "panicked"
)

// Outcome names a run's outcome as MetricTasks counts it.
func Outcome(r routine.Result) string {
	switch {
	case r.Panicked:
		return OutcomePanicked
	case r.Decision == routine.Ack:
		return OutcomeSucceeded
	case r.Decision == routine.DeadLetter:
		return OutcomeDeadLettered
	default:
		return OutcomeRetried
	}
}

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

// Sort orders every list by name, then attributes, as the action shows
// them, and turns nil lists into empty ones.
func (s *Snapshot) Sort() {
	if s.Counters == nil {
		s.Counters = []Point{}
	}
	if s.Gauges == nil {
		s.Gauges = []Point{}
	}
	if s.Histograms == nil {
		s.Histograms = []Histogram{}
	}
	slices.SortFunc(s.Counters, comparePoints)
	slices.SortFunc(s.Gauges, comparePoints)
	slices.SortFunc(s.Histograms, func(a, b Histogram) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(attrString(a.Attributes), attrString(b.Attributes)))
	})
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
