// Package schedule runs sources on a calendar: a cron expression
// ("0 9 * * 1-5", "@daily") and the ticks due at each poll, the same in a
// long-lived process (polled every SourceSpec.Interval) and in the Lambda
// poller (invoked by its EventBridge schedule).
//
// # Sections
//
//   - [Parse] reads a standard five-field cron expression (minute, hour,
//     day of month, month, day of week; names, ranges, steps, lists) or a
//     descriptor (@hourly, @daily, @weekly, @monthly, @yearly), in a time
//     zone (robfig/cron/v3's parser).
//   - [Ticker] says which ticks are due at a poll: those after the last one
//     it reported done, but no older than its catch-up window. The window
//     is what makes it work where nothing survives between polls (a Lambda
//     cold start): a tick at most CatchUp old still runs, older ones are
//     missed, as with cron while the machine was off.
//   - [Source] publishes one task per due tick (a daily digest, a nightly
//     cleanup). [Gate] lets another source poll only when a tick is due
//     (fetch feeds at 09:00 on weekdays).
//
// Delivery is at least once: two cold sandboxes polling within one
// catch-up window see the same tick. Tick tasks carry the tick in their id
// and in contracts.AttrDedupID, so a FIFO queue drops the second one and a
// routine can tell it apart.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/plba/plba/pkg/contracts"
)

// ErrInvalid is wrapped by every error of [Parse].
var ErrInvalid = errors.New("schedule: invalid cron expression")

// MaxTicksPerPoll caps the ticks one poll reports, whatever the window.
const MaxTicksPerPoll = 100

// AttrTick is the task attribute that holds a tick (RFC 3339, UTC).
const AttrTick = "plba.schedule.tick"

var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Schedule is a parsed cron expression.
type Schedule struct {
	expr  string
	sched cron.Schedule
	loc   *time.Location
}

// Parse reads expr in loc (nil means UTC). "@every" is refused: an
// interval is SourceSpec.Interval's job, and it has no calendar ticks.
func Parse(expr string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	e := strings.TrimSpace(expr)
	if strings.HasPrefix(e, "@every") {
		return nil, fmt.Errorf("%w: %q: @every has no calendar ticks (use the source's interval)", ErrInvalid, expr)
	}
	if strings.HasPrefix(e, "TZ=") || strings.HasPrefix(e, "CRON_TZ=") {
		return nil, fmt.Errorf("%w: %q: give the time zone separately", ErrInvalid, expr)
	}
	s, err := parser.Parse(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalid, expr, err)
	}
	return &Schedule{expr: e, sched: s, loc: loc}, nil
}

// Next is the first tick strictly after t.
func (s *Schedule) Next(t time.Time) time.Time { return s.sched.Next(t.In(s.loc)) }

// String is the expression.
func (s *Schedule) String() string { return s.expr }

// Ticker reports due ticks. It is safe for concurrent use.
type Ticker struct {
	sched   *Schedule
	catchUp time.Duration

	mu   sync.Mutex
	last time.Time // last tick reported done
}

// NewTicker returns a ticker whose window reaches catchUp back from each
// poll (at least a second).
func NewTicker(s *Schedule, catchUp time.Duration) *Ticker {
	return &Ticker{sched: s, catchUp: max(catchUp, time.Second)}
}

// Due lists the ticks in (max(last done, now-catchUp), now], oldest
// first, at most MaxTicksPerPoll. It does not mark them done.
func (t *Ticker) Due(now time.Time) []time.Time {
	t.mu.Lock()
	from := t.last
	t.mu.Unlock()
	if w := now.Add(-t.catchUp); from.Before(w) {
		from = w
	}
	var out []time.Time
	for tick := t.sched.Next(from); !tick.After(now) && len(out) < MaxTicksPerPoll; tick = t.sched.Next(tick) {
		out = append(out, tick)
	}
	return out
}

// Done marks tick and every earlier one done.
func (t *Ticker) Done(tick time.Time) {
	t.mu.Lock()
	if tick.After(t.last) {
		t.last = tick
	}
	t.mu.Unlock()
}

// Options configure a [Source].
type Options struct {
	// Name of the source (settlement routes by it) and prefix of the
	// task ids.
	Name string
	// Schedule and CatchUp make the source's [Ticker].
	Schedule *Schedule
	CatchUp  time.Duration
	// Kind of the tasks.
	Kind string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Source publishes one task per due tick: id "<name>@<tick, RFC 3339
// UTC>", the tick as payload and in [AttrTick].
type Source struct {
	o Options
	t *Ticker
}

// NewSource returns the source.
func NewSource(o Options) (*Source, error) {
	if o.Name == "" || o.Schedule == nil {
		return nil, errors.New("schedule: a source needs a name and a schedule")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Source{o: o, t: NewTicker(o.Schedule, o.CatchUp)}, nil
}

// Name implements contracts.TaskSource.
func (s *Source) Name() string { return s.o.Name }

// Poll publishes the due ticks, oldest first; a tick whose Publish fails
// stays due for the next poll (within the window).
func (s *Source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	n := 0
	for _, tick := range s.t.Due(s.o.Now()) {
		at := tick.UTC().Format(time.RFC3339)
		id := s.o.Name + "@" + at
		task := contracts.Task{ID: id, Kind: s.o.Kind, Payload: []byte(at),
			Attributes: map[string]string{AttrTick: at, contracts.AttrDedupID: id}}
		if err := pub.Publish(ctx, task); err != nil {
			return n, fmt.Errorf("schedule %s: publish tick %s: %w", s.o.Name, at, err)
		}
		s.t.Done(tick)
		n++
	}
	return n, nil
}

// Gate returns a source that polls src only when ticker has a due tick,
// and marks the ticks done when that poll succeeds: a poll that fails is
// tried again at the next poll while its tick is in the window. It settles
// through src when src is a contracts.Settler.
func Gate(src contracts.TaskSource, ticker *Ticker, now func() time.Time) contracts.TaskSource {
	if now == nil {
		now = time.Now
	}
	return &gate{src: src, t: ticker, now: now}
}

type gate struct {
	src contracts.TaskSource
	t   *Ticker
	now func() time.Time
}

func (g *gate) Name() string { return g.src.Name() }

func (g *gate) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	due := g.t.Due(g.now())
	if len(due) == 0 {
		return 0, nil
	}
	n, err := g.src.Poll(ctx, pub)
	if err == nil {
		g.t.Done(due[len(due)-1])
	}
	return n, err
}

func (g *gate) Settle(ctx context.Context, t contracts.Task, o contracts.Outcome, cause error) error {
	if s, ok := g.src.(contracts.Settler); ok {
		return s.Settle(ctx, t, o, cause)
	}
	return nil
}
