// Package workerfn is the Lambda worker: it runs a module's routines on the
// records of an SQS event and reports partial batch failures, with the same
// semantics as the local consumer pool. Both call
// [routine.Executor.Execute]; only the mapping of its decision differs.
//
// # Mapping
//
//	routine returns nil             → not listed (Lambda deletes the record)
//	Retry(err, after)               → ChangeMessageVisibility(after), listed
//	other error, panic              → listed; the queue's visibility timeout
//	                                  and redrive policy take over
//	Permanent(err), or a failure on → SendMessage to the dead-letter queue
//	the last attempt                  with a reason, not listed
//	malformed record (not a task)   → sent to the dead-letter queue, not
//	                                  listed; listed if that send fails
//	no routine for the task's kind  → dead-lettered like Permanent
//
// The attempt is the record's ApproximateReceiveCount. MaxReceiveCount (the
// redrive policy's, platform.queue.max_attempts) is the executor's
// MaxAttempts unless the routine sets a lower one,
// so the last receive dead-letters through the executor, settlement hooks
// included, instead of SQS moving the message silently.
//
// One bad record never fails the invocation: the handler returns an error
// only when its own configuration is broken.
//
// # Ordering and parallelism
//
// Records of a standard queue run in parallel, at most Concurrency at a
// time. Records of a FIFO queue (the event source ARN ends in ".fifo") run
// in order; the first failure is listed together with every record after
// it, which is not run, so the group's order holds.
//
// # Tracing
//
// # Deadline
//
// An invocation that times out loses its partial batch response: every
// record, done or not, comes back. So the handler keeps a reserve
// ([Options.Reserve], platform.lambda.reserve; default [DefaultReserve]):
// no record starts after deadline − reserve, a record still running then is
// cancelled (its ctx ends) and listed, and at deadline − reserve/2 the
// handler returns whatever happens, listing every record that did not
// finish — a routine that ignores its ctx is left behind rather than
// costing the batch its successes.
//
// Each record's routine continues the trace in its traceparent attribute
// (the executor does that); with a Tracer the batch gets its own span that
// links every record's trace, the X-Ray trace of each record that has an
// AWSTraceHeader, and the invocation's X-Ray trace (_X_AMZN_TRACE_ID), so
// a trace in X-Ray and one in an OpenTelemetry backend find each other.
package workerfn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/reserve"
	"github.com/plba/plba/pkg/lambda/xray"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/routine"
)

// Queue is what the handler needs of the SQS queue; *sqsqueue.Queue
// implements it.
type Queue interface {
	Delivery(m sqsqueue.Message) (contracts.Delivery, error)
	Extend(ctx context.Context, d contracts.Delivery, lease time.Duration) error
	SendToDeadLetter(ctx context.Context, d contracts.Delivery, reason error) error
}

// Options configure a [Handler].
type Options struct {
	// Routines are the module's routine specs (runtime.Assembly.Routines).
	Routines []contracts.RoutineSpec
	// Executor builds the executor of a spec (runtime.Assembly.Executor).
	// It is called once per spec, at New.
	Executor func(contracts.RoutineSpec) *routine.Executor
	// QueueName limits the handler to routines consuming this logical
	// queue; "" accepts routines of any queue.
	QueueName string
	// Queue is the SQS queue the records come from. Required.
	Queue Queue
	// MaxReceiveCount is the queue's redrive maxReceiveCount; 0 if unknown.
	MaxReceiveCount int
	// Concurrency bounds parallel records on a standard queue; default 10.
	Concurrency int
	// QuickRecord: while records take less than this on average, a batch
	// runs on the invocation's goroutine alone, because handing records to
	// other goroutines costs more than running them in parallel saves.
	// Default 50µs; negative always uses the parallel pool.
	QuickRecord time.Duration
	// Reserve is how long before the invocation's deadline the handler
	// stops: no record starts after deadline − Reserve, records still
	// running then are cancelled, and the handler returns with the
	// unfinished ones listed by deadline − Reserve/2 at the latest (a
	// routine that ignores its ctx is left behind), so the partial batch
	// response always reaches Lambda. 0 means [DefaultReserve].
	Reserve time.Duration
	// Tracer, when set, adds a span per batch linking the records' traces.
	Tracer trace.Tracer
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Handler handles SQS events. It is safe for concurrent use and meant to be
// built once per cold start.
type Handler struct {
	opts      Options
	executors map[string]*routine.Executor // by spec name
	byKind    map[string]string            // kind → spec name ("" = fallback)
	// recordNS is a moving average of how long one record takes (ns), 0
	// until the first record ran.
	recordNS atomic.Int64
}

// observe folds one record's duration into the moving average (weight 1/8).
func (h *Handler) observe(d time.Duration) {
	old := h.recordNS.Load()
	if old == 0 {
		h.recordNS.Store(int64(d))
		return
	}
	h.recordNS.Store(old + (int64(d)-old)/8)
}

// DefaultReserve returns the reserve for an invocation with left time to
// its deadline: a tenth of it, at least 100ms and at most 3s (a 30 s
// function stops starting records 3 s before its deadline).
func DefaultReserve(left time.Duration) time.Duration { return reserve.Default(left) }

// New validates opts and builds the executors.
func New(opts Options) (*Handler, error) {
	if opts.Queue == nil {
		return nil, errors.New("workerfn: Queue is required")
	}
	if opts.Executor == nil {
		return nil, errors.New("workerfn: Executor is required")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 10
	}
	if opts.QuickRecord == 0 {
		opts.QuickRecord = 50 * time.Microsecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{opts: opts, executors: map[string]*routine.Executor{}, byKind: map[string]string{}}
	for _, spec := range opts.Routines {
		if opts.QueueName != "" && spec.Queue != opts.QueueName {
			continue
		}
		if _, dup := h.byKind[spec.Kind]; dup {
			return nil, fmt.Errorf("workerfn: two routines for kind %q; give each queue its own worker function (QueueName)", spec.Kind)
		}
		ex := *opts.Executor(spec)
		if m := opts.MaxReceiveCount; m > 0 && (ex.MaxAttempts <= 0 || ex.MaxAttempts > m) {
			// SQS moves the message on the m-th receive anyway: the
			// executor dead-letters then, settlement hooks included.
			ex.MaxAttempts = m
		}
		h.executors[spec.Name] = &ex
		h.byKind[spec.Kind] = spec.Name
	}
	if len(h.executors) == 0 {
		return nil, fmt.Errorf("workerfn: no routine consumes queue %q", opts.QueueName)
	}
	return h, nil
}

// Handle processes an SQS event. It never fails because of a record.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	if len(ev.Records) == 0 {
		return events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}, nil
	}
	if h.opts.Tracer != nil {
		var span trace.Span
		ctx, span = h.opts.Tracer.Start(ctx, "sqs batch", trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithLinks(links(ctx, ev.Records)...),
			trace.WithAttributes(attribute.Int("messaging.batch.message_count", len(ev.Records))))
		defer span.End()
	}
	// state[i]: 0 not started, 1 running, 2 done, 3 to be listed. Records
	// left behind at the hard stop may still write theirs: atomics.
	state := make([]atomic.Int32, len(ev.Records))
	runCtx, hardStop, cancel := h.deadlines(ctx)
	defer cancel()
	run := func(i int, p prepared) {
		state[i].Store(1)
		start := time.Now()
		if h.record(ctx, runCtx, &ev.Records[i], p) {
			state[i].Store(3)
		} else {
			state[i].Store(2)
		}
		h.observe(time.Since(start))
	}
	prep := make([]prepared, len(ev.Records))
	for i := range ev.Records {
		prep[i] = h.prepare(&ev.Records[i])
	}
	var body func()
	fifo := isFIFO(ev.Records[0].EventSourceARN)
	if fifo {
		body = func() {
			for i := range ev.Records {
				if runCtx.Err() != nil {
					return
				}
				if run(i, prep[i]); state[i].Load() != 2 {
					return
				}
			}
		}
	} else {
		// A pool of min(Concurrency, records) goroutines takes records in
		// order; with one, or while records have been quick
		// (Options.QuickRecord), the records run in one goroutine.
		var next atomic.Int64
		work := func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ev.Records) || runCtx.Err() != nil {
					// Out of time: what has not started is retried later.
					return
				}
				run(i, prep[i])
			}
		}
		helpers := min(h.opts.Concurrency, len(ev.Records)) - 1
		if avg := h.recordNS.Load(); avg != 0 && time.Duration(avg) < h.opts.QuickRecord {
			helpers = 0
		}
		body = func() {
			var wg sync.WaitGroup
			for range helpers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					work()
				}()
			}
			work()
			wg.Wait()
		}
	}
	if hardStop == nil {
		body() // no deadline (tests, direct calls): nothing to return before
	} else {
		done := make(chan struct{})
		go func() {
			defer close(done)
			body()
		}()
		select {
		case <-done:
		case <-hardStop:
			h.opts.Logger.Error("workerfn: records still running at the deadline reserve; returning without them (they are listed and come back)")
		}
	}
	failed := make([]bool, len(ev.Records))
	for i := range state {
		failed[i] = state[i].Load() != 2
		if fifo && failed[i] {
			for j := i; j < len(failed); j++ {
				failed[j] = true
			}
			break
		}
	}
	// An empty list, not null: success for every record.
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// deadlines derives the context records run under (done at deadline −
// reserve) and the hard stop (deadline − reserve/2) from the invocation's
// deadline; without one, runCtx is ctx and hardStop nil.
func (h *Handler) deadlines(ctx context.Context) (runCtx context.Context, hardStop <-chan time.Time, cancel func()) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, nil, func() {}
	}
	r := h.opts.Reserve
	if r <= 0 {
		r = reserve.Default(time.Until(dl))
	}
	runCtx, cancelRun := context.WithDeadline(ctx, dl.Add(-r))
	t := time.NewTimer(time.Until(dl.Add(-r / 2)))
	return runCtx, t.C, func() { t.Stop(); cancelRun() }
}

// prepared is a record decoded into a delivery (or why it could not be).
type prepared struct {
	d   contracts.Delivery
	err error
}

// prepare decodes a record. Decoding runs on the invocation's goroutine,
// before the pool starts: JSON decoding needs deep stacks, which fresh pool
// goroutines would have to grow.
func (h *Handler) prepare(rec *events.SQSMessage) (p prepared) {
	defer func() {
		if v := recover(); v != nil {
			p.err = fmt.Errorf("workerfn: panic decoding record: %v", v)
		}
	}()
	p.d, p.err = h.opts.Queue.Delivery(MessageOf(rec))
	return p
}

// record runs one record and reports whether it must be listed as failed.
// Loggers are not derived per record (slog's With allocates); the ids are
// passed where something is logged.
// The routine runs with runCtx (cancelled at the deadline reserve); queue
// calls use ctx, the invocation's, which lasts until the real deadline.
func (h *Handler) record(ctx, runCtx context.Context, rec *events.SQSMessage, p prepared) (failed bool) {
	log := h.opts.Logger
	defer func() {
		if v := recover(); v != nil {
			log.ErrorContext(ctx, "workerfn: panic handling record", "message_id", rec.MessageId, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			failed = true
		}
	}()
	d, err := p.d, p.err
	if err != nil {
		if !errors.Is(err, sqsqueue.ErrMalformed) {
			log.ErrorContext(ctx, "workerfn: record", "message_id", rec.MessageId, "error", err)
			return true
		}
		if derr := h.opts.Queue.SendToDeadLetter(ctx, d, err); derr != nil {
			log.ErrorContext(ctx, "workerfn: malformed record; sending it to the dead-letter queue failed, listing it", "message_id", rec.MessageId, "error", err, "dlq_error", derr)
			return true
		}
		log.WarnContext(ctx, "workerfn: malformed record sent to the dead-letter queue", "message_id", rec.MessageId, "error", err)
		return false
	}
	ex := h.executor(d.Task.Kind)
	if ex == nil {
		reason := fmt.Errorf("no routine for task kind %q", d.Task.Kind)
		if derr := h.opts.Queue.SendToDeadLetter(ctx, d, reason); derr != nil {
			log.ErrorContext(ctx, "workerfn: no routine; sending to the dead-letter queue failed", "message_id", rec.MessageId, "task_id", d.Task.ID, "kind", d.Task.Kind, "error", derr)
			return true
		}
		log.ErrorContext(ctx, "workerfn: no routine for the task's kind; dead-lettered", "message_id", rec.MessageId, "task_id", d.Task.ID, "kind", d.Task.Kind)
		return false
	}
	r := ex.Execute(runCtx, d.Task)
	switch r.Decision {
	case routine.Ack:
		return false
	case routine.DeadLetter:
		if err := h.opts.Queue.SendToDeadLetter(ctx, d, r.Err); err != nil {
			log.ErrorContext(ctx, "workerfn: dead-letter failed; listing the record so it is retried", "message_id", rec.MessageId, "task_id", d.Task.ID, "kind", d.Task.Kind, "attempt", d.Task.Attempt, "error", err, "cause", r.Err)
			return true
		}
		log.WarnContext(ctx, "workerfn: task dead-lettered", "message_id", rec.MessageId, "task_id", d.Task.ID, "kind", d.Task.Kind, "attempt", d.Task.Attempt, "error", r.Err)
		return false
	default:
		if after, ok := contracts.RetryAfter(r.Err); ok {
			if err := h.opts.Queue.Extend(ctx, d, after); err != nil {
				log.ErrorContext(ctx, "workerfn: setting the retry delay failed; the queue's visibility timeout applies", "message_id", rec.MessageId, "task_id", d.Task.ID, "error", err)
			}
		}
		log.InfoContext(ctx, "workerfn: task failed, will be retried", "message_id", rec.MessageId, "task_id", d.Task.ID, "kind", d.Task.Kind, "attempt", d.Task.Attempt, "error", r.Err, "panicked", r.Panicked)
		return true
	}
}

func (h *Handler) executor(kind string) *routine.Executor {
	name, ok := h.byKind[kind]
	if !ok {
		name, ok = h.byKind[""]
	}
	if !ok {
		return nil
	}
	return h.executors[name]
}

// MessageOf converts an event record.
func MessageOf(rec *events.SQSMessage) sqsqueue.Message {
	m := sqsqueue.Message{
		ID:            rec.MessageId,
		ReceiptHandle: rec.ReceiptHandle,
		Body:          rec.Body,
		GroupID:       rec.Attributes["MessageGroupId"],
	}
	m.ReceiveCount, _ = strconv.Atoi(rec.Attributes["ApproximateReceiveCount"])
	if ms, err := strconv.ParseInt(rec.Attributes["SentTimestamp"], 10, 64); err == nil && ms > 0 {
		m.SentAt = time.UnixMilli(ms)
	}
	if len(rec.MessageAttributes) > 0 {
		m.Attributes = make(map[string]string, len(rec.MessageAttributes))
		for k, v := range rec.MessageAttributes {
			if v.StringValue != nil {
				m.Attributes[k] = *v.StringValue
			}
		}
	}
	return m
}

var propagator = propagation.TraceContext{}

// links returns a link to each record's trace context and X-Ray trace, and
// to the invocation's X-Ray trace.
func links(ctx context.Context, recs []events.SQSMessage) []trace.Link {
	var out []trace.Link
	if sc, ok := xray.Parse(xray.FromInvocation(ctx)); ok {
		out = append(out, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("plba.link", "aws.lambda.invocation")}})
	}
	for i := range recs {
		if sc, ok := xray.Parse(recs[i].Attributes["AWSTraceHeader"]); ok {
			out = append(out, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				attribute.String("plba.link", "aws.xray.record"), attribute.String("messaging.message.id", recs[i].MessageId)}})
		}
		a, ok := recs[i].MessageAttributes[contracts.AttrTraceParent]
		if !ok || a.StringValue == nil {
			continue
		}
		carrier := propagation.MapCarrier{contracts.AttrTraceParent: *a.StringValue}
		if ts, ok := recs[i].MessageAttributes[contracts.AttrTraceState]; ok && ts.StringValue != nil {
			carrier[contracts.AttrTraceState] = *ts.StringValue
		}
		sc := trace.SpanContextFromContext(propagator.Extract(context.Background(), carrier))
		if sc.IsValid() {
			out = append(out, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{
				attribute.String("plba.link", "traceparent"), attribute.String("messaging.message.id", recs[i].MessageId)}})
		}
	}
	return out
}

func isFIFO(arn string) bool { return strings.HasSuffix(arn, ".fifo") }
