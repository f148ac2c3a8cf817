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

// Execute runs task and returns what to do with it. It never panics.
func (e *Executor) Execute(ctx context.Context, task contracts.Task) Result {
	if e.Tracer != nil {
		ctx = propagator.Extract(ctx, propagation.MapCarrier(task.Attributes))
		var span trace.Span
		// Span name and attributes are kept few: this runs for every task.
		ctx, span = e.Tracer.Start(ctx, spanName, spanKind,
			trace.WithAttributes(
				attribute.String("plba.task.kind", task.Kind),
				attribute.String("plba.task.id", task.ID),
				attribute.Int("plba.task.attempt", task.Attempt),
			))
		r := e.execute(ctx, task)
		if r.Err != nil {
			span.SetAttributes(attribute.String("plba.decision", r.Decision.String()))
			span.RecordError(r.Err)
			span.SetStatus(codes.Error, r.Err.Error())
		}
		span.End()
		return r
	}
	return e.execute(ctx, task)
}

func (e *Executor) execute(ctx context.Context, task contracts.Task) Result {
	start := time.Now()
	err, panicked := e.call(ctx, task)
	r := Result{Err: err, Panicked: panicked, Duration: time.Since(start)}
	switch {
	case err == nil:
		r.Decision = Ack
		if serr := e.settle(ctx, task, contracts.OutcomeSucceeded, nil); serr != nil {
			r.Decision, r.Err = Retry, serr
			r.Delay = e.backoff(task.Attempt)
		}
	case contracts.IsPermanent(err) || (e.MaxAttempts > 0 && task.Attempt >= e.MaxAttempts):
		r.Decision = DeadLetter
		if serr := e.settle(ctx, task, contracts.OutcomeDeadLettered, err); serr != nil {
			// The task is dead-lettered regardless: it can be redriven, and
			// the source's own recovery (e.g. stale in-flight marks) covers
			// the missing settlement.
			r.Err = errors.Join(err, serr)
		}
	default:
		r.Decision = Retry
		if d, ok := contracts.RetryAfter(err); ok {
			r.Delay = d
		} else {
			r.Delay = e.backoff(task.Attempt)
		}
	}
	if e.Observer != nil {
		e.Observer(task, r)
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
func (e *Executor) call(ctx context.Context, task contracts.Task) (err error, panicked bool) {
	if e.Timeout > 0 {
		dc := withLazyDeadline(ctx, e.Timeout)
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

func (e *Executor) settle(ctx context.Context, task contracts.Task, o contracts.Outcome, cause error) error {
	if len(e.Settlers) == 0 {
		return nil
	}
	name := task.Attributes[contracts.AttrSource]
	s, ok := e.Settlers[name]
	if !ok || s == nil {
		return nil
	}
	// Settlement must happen even when the run's ctx is cancelled by a
	// drain deadline: it is short and it is what keeps sources consistent.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := s.Settle(sctx, task, o, cause); err != nil {
		return fmt.Errorf("settle %s of task %s with source %q: %w", o, task.ID, name, err)
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
