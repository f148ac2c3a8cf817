package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
)

// SourceOptions configure a source worker.
type SourceOptions struct {
	// Name identifies the worker; default "source:" + the source's name.
	Name   string
	Source contracts.TaskSource
	// Publisher receives the tasks (usually the queue).
	Publisher contracts.Publisher
	// Mode: poll (default) calls Poll every Interval; push calls Run, which
	// requires a contracts.PushSource.
	Mode     contracts.SourceMode
	Interval time.Duration
	// FailureLimit: consecutive failed polls (or Run exits) after which the
	// worker stops with an error so its supervisor can restart it; 0 means
	// never give up (errors are logged and retried with backoff).
	FailureLimit int
	Logger       *slog.Logger
	// Tracer, when set, starts a producer span for every published task
	// that carries no trace context yet and writes its W3C traceparent into
	// the task's attributes, so source → queue → worker → routine is one
	// trace.
	Tracer trace.Tracer
}

// SourceWorker drives a task source and publishes what it produces.
type SourceWorker struct {
	lifecycle
	opts SourceOptions
	log  *slog.Logger

	published, polls, failures atomic.Int64
}

var _ contracts.Worker = (*SourceWorker)(nil)

// NewSourceWorker validates opts and returns an unstarted worker.
func NewSourceWorker(opts SourceOptions) (*SourceWorker, error) {
	if opts.Source == nil || opts.Publisher == nil {
		return nil, errors.New("workers: source worker needs a source and a publisher")
	}
	if opts.Name == "" {
		opts.Name = "source:" + opts.Source.Name()
	}
	if opts.Mode == "" {
		opts.Mode = contracts.SourcePoll
	}
	switch opts.Mode {
	case contracts.SourcePoll:
		if opts.Interval <= 0 {
			opts.Interval = 30 * time.Second
		}
	case contracts.SourcePush:
		if _, ok := opts.Source.(contracts.PushSource); !ok {
			return nil, fmt.Errorf("workers: source %s: push mode needs a PushSource", opts.Source.Name())
		}
	default:
		return nil, fmt.Errorf("workers: source %s: unknown mode %q (want poll or push)", opts.Source.Name(), opts.Mode)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	w := &SourceWorker{opts: opts, log: opts.Logger.With("worker", opts.Name)}
	w.init()
	return w, nil
}

// Name returns the worker's name.
func (w *SourceWorker) Name() string { return w.opts.Name }

// Start launches the polling or push loop.
func (w *SourceWorker) Start(context.Context) error {
	if !w.begin() {
		return fmt.Errorf("workers: %s: already started", w.opts.Name)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	name := w.opts.Source.Name()
	var pub contracts.Publisher = contracts.PublisherFunc(func(ctx context.Context, t contracts.Task) error {
		if t.Attributes[contracts.AttrSource] == "" {
			// Settlement finds its source through this attribute.
			t = t.WithAttr(contracts.AttrSource, name)
		}
		var span trace.Span
		if w.opts.Tracer != nil && t.Attr(contracts.AttrTraceParent) == "" {
			ctx, span = w.opts.Tracer.Start(ctx, "publish "+t.Kind, trace.WithSpanKind(trace.SpanKindProducer),
				trace.WithAttributes(attribute.String("plba.source", w.opts.Source.Name()), attribute.String("plba.task.id", t.ID)))
			carrier := propagation.MapCarrier{}
			propagation.TraceContext{}.Inject(ctx, carrier)
			for k, v := range carrier {
				t = t.WithAttr(k, v)
			}
			defer span.End()
		}
		if err := w.opts.Publisher.Publish(ctx, t); err != nil {
			if span != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, err.Error())
			}
			return err
		}
		w.published.Add(1)
		return nil
	})
	if bp, ok := w.opts.Publisher.(contracts.Backpressure); ok {
		// Keep the bound visible to the source through the wrapper.
		pub = backpressured{Publisher: pub, Backpressure: bp}
	}
	w.running()
	go func() {
		var err error
		if w.opts.Mode == contracts.SourcePush {
			err = w.push(ctx, pub)
		} else {
			err = w.poll(ctx, pub)
		}
		if w.stopping.Load() {
			err = nil
		}
		cancel()
		w.finish(err)
	}()
	return nil
}

// backpressured is the source worker's publisher when the deployment
// bounds the read-ahead.
type backpressured struct {
	contracts.Publisher
	contracts.Backpressure
}

func (w *SourceWorker) poll(ctx context.Context, pub contracts.Publisher) error {
	t := time.NewTimer(0)
	defer t.Stop()
	consecutive := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		w.polls.Add(1)
		n, err := w.opts.Source.Poll(ctx, pub)
		wait := w.opts.Interval
		if err != nil && ctx.Err() == nil {
			consecutive++
			w.failures.Add(1)
			w.recordError(err)
			w.log.Warn("poll failed", "err", err, "published", n, "consecutive", consecutive)
			if w.opts.FailureLimit > 0 && consecutive >= w.opts.FailureLimit {
				return fmt.Errorf("source %s: %d consecutive polls failed: %w", w.opts.Source.Name(), consecutive, err)
			}
			wait = min(w.opts.Interval, time.Duration(consecutive)*time.Second)
		} else {
			consecutive = 0
			if n > 0 {
				w.log.Debug("poll published", "count", n)
				if bp, ok := pub.(contracts.Backpressure); ok {
					// Under a read-ahead bound a poll publishes at most the
					// room there was: the source may have more. Poll again
					// as soon as consumers made room, until a poll finds
					// nothing.
					if bp.WaitRoom(ctx) == nil {
						wait = 0
					}
				}
			}
		}
		t.Reset(wait)
	}
}

func (w *SourceWorker) push(ctx context.Context, pub contracts.Publisher) error {
	ps := w.opts.Source.(contracts.PushSource)
	consecutive := 0
	for {
		err := ps.Run(ctx, pub)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("push source returned without error")
		}
		consecutive++
		w.failures.Add(1)
		w.recordError(err)
		if w.opts.FailureLimit > 0 && consecutive >= w.opts.FailureLimit {
			return fmt.Errorf("source %s: run failed %d times: %w", w.opts.Source.Name(), consecutive, err)
		}
		wait := min(time.Duration(consecutive)*time.Second, 30*time.Second)
		w.log.Warn("push source stopped; restarting", "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

// Stop cancels the source and waits for it to return. force changes nothing:
// a source holds no task that could be lost (a task it could not publish
// stays at its origin).
func (w *SourceWorker) Stop(ctx context.Context, _ bool) error { return w.stopRun(ctx, w.opts.Name) }

// Health combines the worker's state with the source's own health when it
// is a HealthContributor.
func (w *SourceWorker) Health() contracts.Health { return w.health() }

// Status is a snapshot of the worker's counters.
func (w *SourceWorker) Status() contracts.WorkerStatus {
	st := contracts.WorkerStatus{
		Name:      w.opts.Name,
		Kind:      "source/" + string(w.opts.Mode),
		Published: w.published.Load(),
		Failed:    w.failures.Load(),
		Succeeded: w.polls.Load() - w.failures.Load(),
	}
	if st.Succeeded < 0 {
		st.Succeeded = 0
	}
	w.fill(&st)
	return st
}
