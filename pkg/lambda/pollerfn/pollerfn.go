// Package pollerfn is the Lambda poller: a scheduled function that runs each
// of a module's sources once per invocation and publishes their tasks to SQS
// in batches, the split-mode counterpart of the local source worker.
//
// # An invocation
//
// Every source's Poll runs once, concurrently, into its own
// [sqsqueue.Batcher] (10 tasks per SendMessageBatch call), which is flushed
// when Poll returns; then every custom worker's [contracts.Step] runs once.
// The result is a [Summary]: tasks published and failed per source, and each
// source's and step's error. A failing source does not stop the others.
//
// # Failures are signals
//
// When a source failed (it could not connect, log in or select; a publish
// failed), Handle returns an error ([ErrSourceFailed], the summary in its
// message) after everything else ran: Lambda counts the invocation in the
// function's Errors metric, which the stack alarms on, so a wrong password
// or an unreachable mailbox is seen. The stack sets the asynchronous retries
// of the scheduled invocation to 0 (the next schedule polls again, sources
// keep what they could not publish) and limits the poller to one concurrent
// invocation, so polls of one mailbox never overlap. A failing step is
// reported in the summary and the log only: its work is retried on the next
// schedule and must not page anyone on its own.
//
// # Deadline
//
// Sources poll with a context that ends Reserve before the invocation's
// deadline; the batches are flushed within the remaining time, so the
// invocation returns before Lambda would cut it off.
//
// Build the Poller once per cold start: the sources' connections, the SQS
// client and configuration are reused by warm invocations.
package pollerfn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/reserve"
	"github.com/plba/plba/pkg/queue/sqsqueue"
)

// Options configure a [Poller].
type Options struct {
	// Sources are the module's sources (runtime.Assembly.Sources).
	Sources []contracts.SourceSpec
	// Steps are custom workers' periodic work (contracts.Step), run once
	// per invocation after the sources, one after another.
	Steps []contracts.Step
	// Queues maps each logical queue name a source publishes to onto its
	// SQS queue. Required for every source's queue.
	Queues map[string]*sqsqueue.Queue
	// Reserve: sources must be done this long before the deadline; 0
	// means reserve.Default (a tenth of the time left, 100ms–3s).
	Reserve time.Duration
	// Logger; default slog.Default().
	Logger *slog.Logger
	// Tracer, when set, starts a producer span ("publish <kind>") for
	// every task without trace context, child of the invocation's X-Ray
	// trace when there is one, and writes its traceparent into the task,
	// as the local source worker does.
	Tracer trace.Tracer
}

// ErrSourceFailed is wrapped by Handle's error when a source failed.
var ErrSourceFailed = errors.New("pollerfn: source failed")

// Poller polls sources. It is safe for concurrent use, though Lambda
// invokes it one event at a time.
type Poller struct {
	opts Options
}

// Summary is the poller's response.
type Summary struct {
	// Published counts the tasks each source got onto the queue.
	Published map[string]int `json:"published"`
	// Failed counts tasks a source published that could not be sent.
	Failed map[string]int `json:"failed,omitempty"`
	// Errors holds each failing source's error.
	Errors map[string]string `json:"errors,omitempty"`
	// StepErrors holds each failing step's error.
	StepErrors map[string]string `json:"step_errors,omitempty"`
	DurationMS int64             `json:"duration_ms"`
}

// New checks that every source has a queue.
func New(opts Options) (*Poller, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Sources) == 0 && len(opts.Steps) == 0 {
		return nil, errors.New("pollerfn: no sources and no steps")
	}
	for _, s := range opts.Sources {
		if opts.Queues[s.Queue] == nil {
			return nil, fmt.Errorf("pollerfn: source %s publishes to queue %q, which has no SQS queue", s.Source.Name(), s.Queue)
		}
	}
	return &Poller{opts: opts}, nil
}

// Handle polls every source once. The event (an EventBridge schedule
// event, or anything) is not read.
func (p *Poller) Handle(ctx context.Context, _ json.RawMessage) (Summary, error) {
	start := time.Now()
	pollCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		r := p.opts.Reserve
		if r <= 0 {
			r = reserve.Default(time.Until(dl))
		}
		var cancel context.CancelFunc
		pollCtx, cancel = context.WithDeadline(ctx, dl.Add(-r))
		defer cancel()
	}
	sum := Summary{Published: map[string]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, spec := range p.opts.Sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := spec.Source.Name()
			sent, failed, err := p.poll(pollCtx, ctx, spec)
			mu.Lock()
			defer mu.Unlock()
			sum.Published[name] = sent
			if failed > 0 {
				if sum.Failed == nil {
					sum.Failed = map[string]int{}
				}
				sum.Failed[name] = failed
			}
			if err != nil {
				if sum.Errors == nil {
					sum.Errors = map[string]string{}
				}
				sum.Errors[name] = err.Error()
				p.opts.Logger.Error("pollerfn: source failed", "source", name, "published", sent, "failed", failed, "error", err)
			}
		}()
	}
	wg.Wait()
	for _, st := range p.opts.Steps {
		if err := runStep(pollCtx, st); err != nil {
			if sum.StepErrors == nil {
				sum.StepErrors = map[string]string{}
			}
			sum.StepErrors[st.Name()] = err.Error()
			p.opts.Logger.Error("pollerfn: step failed", "step", st.Name(), "error", err)
		}
	}
	sum.DurationMS = time.Since(start).Milliseconds()
	p.opts.Logger.Info("pollerfn: poll done", "published", sum.Published, "failed", sum.Failed, "duration_ms", sum.DurationMS)
	if len(sum.Errors) > 0 {
		names := make([]string, 0, len(sum.Errors))
		for n := range sum.Errors {
			names = append(names, n)
		}
		sort.Strings(names)
		var b strings.Builder
		for _, n := range names {
			fmt.Fprintf(&b, "; %s: %s", n, sum.Errors[n])
		}
		return sum, fmt.Errorf("%w: %d of %d (published %v)%s", ErrSourceFailed, len(sum.Errors), len(p.opts.Sources), sum.Published, b.String())
	}
	return sum, nil
}

// poll runs one source with ctx; the batch is flushed with flushCtx (the
// invocation's), so what was published goes out even when ctx ended.
func (p *Poller) poll(ctx, flushCtx context.Context, spec contracts.SourceSpec) (sent, failed int, err error) {
	b := p.opts.Queues[spec.Queue].NewBatcher()
	defer func() {
		if v := recover(); v != nil {
			err = errors.Join(err, fmt.Errorf("pollerfn: source %s panicked: %v", spec.Source.Name(), v))
		}
		// Whatever the source published before it failed still goes out.
		ferr := b.Flush(flushCtx)
		if ferr != nil {
			var pe *sqsqueue.PublishError
			for _, e := range unjoin(ferr) {
				if errors.As(e, &pe) {
					failed++
				}
			}
			err = errors.Join(err, ferr)
		}
		sent = b.Sent()
	}()
	_, err = spec.Source.Poll(ctx, withInvocationTrace(ctx, p.opts.Tracer, contracts.StampSource(b, spec.Source.Name())))
	return
}

// runStep runs one step, recovering a panic.
func runStep(ctx context.Context, st contracts.Step) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("pollerfn: step %s panicked: %v", st.Name(), v)
		}
	}()
	return st.RunOnce(ctx)
}

func unjoin(err error) []error {
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()
	}
	return []error{err}
}
