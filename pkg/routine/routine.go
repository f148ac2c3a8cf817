// Package routine runs one task through a routine and decides what happens
// to it. Every deployment shares it: the local consumer pool and the Lambda
// worker both call [Executor.Execute] and only map its [Decision] onto their
// queue (memqueue ack/nack, SQS delete/visibility/DLQ).
//
// # What Execute guarantees
//
//   - The routine runs with the task's trace context (W3C traceparent from
//     the task attributes) and, when configured, a per-task timeout.
//   - A panic is recovered and becomes a failure; the caller survives.
//   - nil → [Ack]; [contracts.Permanent] → [DeadLetter]; [contracts.Retry]
//     → [Retry] after its delay; any other error → [Retry] after the
//     backoff for the attempt. A failure on the last allowed attempt is a
//     [DeadLetter].
//   - The task's source, if it is a [contracts.Settler], is told the final
//     outcome before the decision is returned. If that fails after a
//     success, the task is retried: routines are idempotent, and a source
//     must never record as done what was not.
//
// # Settling elsewhere
//
// Execute is [Executor.Run] (the routine; a provisional decision) followed
// by [Pending.Settle] (the source's settlement; the final decision). A
// caller may call Settle on another goroutine, so that the worker that ran
// the routine takes its next task while the source settles: the consumer
// pool does this, bounded, and the IMAP source then sets \Seen for many
// messages in one round trip. The order holds either way: the routine has
// returned (its outcome is stored) before Run returns, the source hears of
// the outcome in Settle, and the queue hears only of Settle's result.
package routine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
)

// Decision is what should happen to a task after a run.
type Decision int

// Decisions.
const (
	// Ack: done, remove the task.
	Ack Decision = iota + 1
	// Retry: return the task to the queue, visible after Result.Delay.
	Retry
	// DeadLetter: move the task to the dead-letter queue.
	DeadLetter
)

func (d Decision) String() string {
	switch d {
	case Ack:
		return "ack"
	case Retry:
		return "retry"
	case DeadLetter:
		return "dead-letter"
	}
	return "unknown"
}

// Result describes one run.
type Result struct {
	Decision Decision
	// Delay before redelivery, for Retry.
	Delay time.Duration
	// Err is the routine's error (or the settlement error), nil on success.
	Err error
	// Panicked is true when the routine panicked.
	Panicked bool
	// Duration of the routine call.
	Duration time.Duration
}

// Backoff returns the delay before the next attempt after attempt failed.
type Backoff func(attempt int) time.Duration

// ExponentialBackoff doubles from min up to max with full jitter in the
// upper half, so retries of many tasks that failed together spread out.
func ExponentialBackoff(min, max time.Duration) Backoff {
	return func(attempt int) time.Duration {
		if attempt < 1 {
			attempt = 1
		}
		d := min
		for i := 1; i < attempt && d < max; i++ {
			d *= 2
		}
		if d > max {
			d = max
		}
		half := d / 2
		if half <= 0 {
			return d
		}
		return half + rand.N(half+1)
	}
}

// DefaultBackoff is 1s doubling to 5 minutes.
var DefaultBackoff = ExponentialBackoff(time.Second, 5*time.Minute)

// Chain wraps r in middleware, the first outermost: Chain(r, a, b) runs a,
// then b, then r.
func Chain(r contracts.Routine, mw ...contracts.RoutineMiddleware) contracts.Routine {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			r = mw[i](r)
		}
	}
	return r
}

// Observer hears about every run; it must be quick and must not block.
type Observer func(task contracts.Task, r Result)

// Observers combines observers into one that calls each in order; nil ones
// are skipped, none gives nil and one is returned as it is, so a feature
// that is off costs nothing per task.
func Observers(obs ...Observer) Observer {
	var set []Observer
	for _, o := range obs {
		if o != nil {
			set = append(set, o)
		}
	}
	switch len(set) {
	case 0:
		return nil
	case 1:
		return set[0]
	}
	return func(t contracts.Task, r Result) {
		for _, o := range set {
			o(t, r)
		}
	}
}

// Executor runs tasks through one routine. Configure it, then do not change
// it: Execute is safe for concurrent use.
type Executor struct {
	Routine contracts.Routine
	// Timeout bounds one run; 0 means no timeout.
	Timeout time.Duration
	// MaxAttempts: a failure on this attempt dead-letters; 0 means the
	// executor never dead-letters by count (the queue does: set it from the
	// queue's contracts.AttemptLimiter, as the runtime does).
	MaxAttempts int
	// Backoff for plain errors; nil means DefaultBackoff.
	Backoff Backoff
	// Settlers by source name (the task's contracts.AttrSource).
	Settlers map[string]contracts.Settler
	// Tracer, when set, wraps each run in a span continuing the task's
	// trace context.
	Tracer trace.Tracer
	// Observer, when set, is called after each run.
	Observer Observer
}

var propagator = propagation.TraceContext{}

const spanName = "plba.routine"

var spanKind = trace.WithSpanKind(trace.SpanKindConsumer)

// Execute runs task and returns what to do with it. It never panics. It is
// [Executor.Run] followed by [Pending.Settle] on the same goroutine.
func (e *Executor) Execute(ctx context.Context, task contracts.Task) Result {
	p := e.Run(ctx, task)
	return p.Settle()
}

// Pending is a run whose outcome the task's source has not been told yet:
// the routine returned, the decision is provisional. [Pending.Settle]
// completes it, on any goroutine, exactly once. A pool hands a Pending to
// a settling goroutine so that its worker can take the next task while
// the source settles (and coalesces the settlements of many tasks); the
// order "outcome stored, then source settled, then queue settled" holds
// because the routine has returned before Run does and the caller settles
// on the queue only with the Result of Settle.
type Pending struct {
	e       *Executor
	ctx     context.Context
	span    trace.Span
	task    contracts.Task
	r       Result
	settler contracts.Settler
	outcome contracts.Outcome
}

// Run runs the routine (with trace context, timeout and panic recovery)
// and returns the provisional decision; nothing is settled with the
// source yet. It never panics.
func (e *Executor) Run(ctx context.Context, task contracts.Task) Pending {
	var span trace.Span
	if e.Tracer != nil {
		ctx = propagator.Extract(ctx, propagation.MapCarrier(task.Attributes))
		// Span name and attributes are kept few: this runs for every task.
		ctx, span = e.Tracer.Start(ctx, spanName, spanKind,
			trace.WithAttributes(
				attribute.String("plba.task.kind", task.Kind),
				attribute.String("plba.task.id", task.ID),
				attribute.Int("plba.task.attempt", task.Attempt),
			))
	}
	start := time.Now()
	err, panicked := e.call(ctx, start, task)
	p := Pending{e: e, ctx: ctx, span: span, task: task,
		r: Result{Err: err, Panicked: panicked, Duration: time.Since(start)}}
	switch {
	case err == nil:
		p.r.Decision = Ack
		p.outcome = contracts.OutcomeSucceeded
	case contracts.IsPermanent(err) || (e.MaxAttempts > 0 && task.Attempt >= e.MaxAttempts):
		p.r.Decision = DeadLetter
		p.outcome = contracts.OutcomeDeadLettered
	default:
		p.r.Decision = Retry
		if d, ok := contracts.RetryAfter(err); ok {
			p.r.Delay = d
		} else {
			p.r.Delay = e.backoff(task.Attempt)
		}
	}
	if p.outcome != 0 {
		p.settler = e.settlerFor(task)
	}
	return p
}

// NeedsSettle reports whether [Pending.Settle] will call the task's source
// (a final outcome and a source that is a contracts.Settler): only then is
// it worth settling off the caller's goroutine.
func (p *Pending) NeedsSettle() bool { return p.settler != nil }

// Settle tells the task's source the final outcome, if it has a settler,
// and returns what to do with the task: a failed settlement after a
// success turns the decision into Retry (the routine is idempotent; a
// source must never record as done what was not). The Observer hears the
// final result here.
func (p *Pending) Settle() Result {
	e, r := p.e, p.r
	if p.settler != nil {
		serr := e.settle(p.ctx, p.settler, p.task, p.outcome, r.Err)
		switch {
		case serr == nil:
		case r.Decision == Ack:
			r.Decision, r.Err = Retry, serr
			r.Delay = e.backoff(p.task.Attempt)
		default:
			// The task is dead-lettered regardless: it can be redriven,
			// and the source's own recovery (e.g. stale in-flight marks)
			// covers the missing settlement.
			r.Err = errors.Join(r.Err, serr)
		}
	}
	if p.span != nil {
		if r.Err != nil {
			p.span.SetAttributes(attribute.String("plba.decision", r.Decision.String()))
			p.span.RecordError(r.Err)
			p.span.SetStatus(codes.Error, r.Err.Error())
		}
		p.span.End()
	}
	if e.Observer != nil {
		e.Observer(p.task, r)
	}
	return r
}

func (e *Executor) backoff(attempt int) time.Duration {
	if e.Backoff != nil {
		return e.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

// call runs the routine with the timeout, recovering a panic.
func (e *Executor) call(ctx context.Context, start time.Time, task contracts.Task) (err error, panicked bool) {
	if e.Timeout > 0 {
		dc := withLazyDeadline(ctx, start, e.Timeout)
		defer dc.release()
		ctx = dc
	}
	defer func() {
		if v := recover(); v != nil {
			err, panicked = &contracts.PanicError{Value: v, Stack: debug.Stack()}, true
		}
	}()
	err = e.Routine.Run(ctx, task)
	if err != nil && e.Timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w (task timeout %s)", err, e.Timeout)
	}
	return err, panicked
}

// settlerFor returns the settler of task's source, or nil.
func (e *Executor) settlerFor(task contracts.Task) contracts.Settler {
	if len(e.Settlers) == 0 {
		return nil
	}
	return e.Settlers[task.Attributes[contracts.AttrSource]]
}

func (e *Executor) settle(ctx context.Context, s contracts.Settler, task contracts.Task, o contracts.Outcome, cause error) error {
	// Settlement must happen even when the run's ctx is cancelled by a
	// drain deadline: it is short and it is what keeps sources consistent.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Settle(sctx, task, o, cause); err != nil {
		return fmt.Errorf("settle %s of task %s with source %q: %w", o, task.ID, task.Attributes[contracts.AttrSource], err)
	}
	return nil
}

// LimitFrom sets MaxAttempts from q when it is 0 and q is a
// contracts.AttemptLimiter, so the executor and the queue dead-letter on the
// same delivery. It returns e.
func (e *Executor) LimitFrom(q any) *Executor {
	if l, ok := q.(contracts.AttemptLimiter); ok && e.MaxAttempts == 0 {
		e.MaxAttempts = l.MaxAttempts()
	}
	return e
}
