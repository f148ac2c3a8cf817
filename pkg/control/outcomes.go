package control

import (
	"slices"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

// OutcomeRecord is one routine run as "outcomes" shows it. Error is the
// routine's error text; routines must not put secrets in errors (the
// project rule), and it is cut to 512 bytes.
type OutcomeRecord struct {
	Queue    string        `json:"queue"`
	ID       string        `json:"id"`
	Kind     string        `json:"kind"`
	Attempt  int           `json:"attempt"`
	Outcome  string        `json:"outcome"`
	Duration time.Duration `json:"duration_ns"`
	Error    string        `json:"error,omitempty"`
	At       time.Time     `json:"at"`
}

// Outcomes keeps the most recent routine outcomes, a bounded ring per
// queue, fed by the runtime's per-queue observers.
type Outcomes struct {
	size int
	now  func() time.Time

	mu    sync.Mutex
	rings map[string]*ring
}

type ring struct {
	buf  []OutcomeRecord
	next int
	full bool
}

// DefaultOutcomesPerQueue is the ring size NewOutcomes uses for 0.
const DefaultOutcomesPerQueue = 256

// NewOutcomes returns rings of size records per queue.
func NewOutcomes(size int) *Outcomes {
	if size <= 0 {
		size = DefaultOutcomesPerQueue
	}
	return &Outcomes{size: size, now: time.Now, rings: map[string]*ring{}}
}

const maxOutcomeError = 512

// Record adds one outcome.
func (o *Outcomes) Record(r OutcomeRecord) {
	if len(r.Error) > maxOutcomeError {
		r.Error = r.Error[:maxOutcomeError]
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	rg := o.rings[r.Queue]
	if rg == nil {
		rg = &ring{buf: make([]OutcomeRecord, o.size)}
		o.rings[r.Queue] = rg
	}
	rg.buf[rg.next] = r
	rg.next++
	if rg.next == len(rg.buf) {
		rg.next, rg.full = 0, true
	}
}

// Observer returns a routine observer that records queue's outcomes; the
// runtime installs one per queue.
func (o *Outcomes) Observer(queue string) routine.Observer {
	return func(t contracts.Task, res routine.Result) {
		rec := OutcomeRecord{Queue: queue, ID: t.ID, Kind: t.Kind, Attempt: t.Attempt, Duration: res.Duration, At: o.now().UTC()}
		switch res.Decision {
		case routine.Ack:
			rec.Outcome = "succeeded"
		case routine.Retry:
			rec.Outcome = "retry"
		case routine.DeadLetter:
			rec.Outcome = "dead-lettered"
		default:
			rec.Outcome = res.Decision.String()
		}
		if res.Panicked {
			rec.Outcome += " (panic)"
		}
		if res.Err != nil {
			rec.Error = res.Err.Error()
		}
		o.Record(rec)
	}
}

// Recent returns up to limit records (default 50, at most the ring size),
// newest first, of one queue or of every queue when queue is "".
func (o *Outcomes) Recent(queue string, limit int) []OutcomeRecord {
	if limit <= 0 {
		limit = 50
	}
	o.mu.Lock()
	var out []OutcomeRecord
	for name, rg := range o.rings {
		if queue != "" && name != queue {
			continue
		}
		n := rg.next
		if rg.full {
			n = len(rg.buf)
		}
		for i := range n {
			out = append(out, rg.buf[(rg.next-1-i+len(rg.buf))%len(rg.buf)])
		}
	}
	o.mu.Unlock()
	slices.SortStableFunc(out, func(a, b OutcomeRecord) int { return b.At.Compare(a.At) })
	if len(out) > limit {
		out = out[:limit]
	}
	if out == nil {
		out = []OutcomeRecord{}
	}
	return out
}
