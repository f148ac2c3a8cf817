package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
)

// Queue is a task queue on SQS. It is safe for concurrent use. Create it
// with [New] and Close it to stop its goroutines.
type Queue struct {
	opts Options
	fifo bool

	// ops guards shut: operations hold it shared while they hand work to
	// a batcher, Close holds it exclusively to flip shut, so nothing is
	// submitted after the batchers drained.
	ops    sync.RWMutex
	shut   bool
	closed chan struct{}

	recvOnce   sync.Once
	recvCtx    context.Context
	recvCancel context.CancelFunc
	recvDone   chan struct{}
	buf        chan *receipt
	demand     chan struct{}
	waiting    atomic.Int64

	sendCtx    context.Context
	sendCancel context.CancelFunc
	pubs       *opBatcher[*sendItem]
	dels       *opBatcher[*delItem]

	mu      sync.Mutex
	delayed map[string]time.Time // message id → end of its nack delay

	published, acked, nacked, deadLettered atomic.Int64
	closeOnce                              sync.Once
}

var (
	_ contracts.TaskQueue       = (*Queue)(nil)
	_ contracts.LeaseExtender   = (*Queue)(nil)
	_ contracts.DeadLetterQueue = (*Queue)(nil)
)

// receipt is the Delivery.Receipt of this queue: what settling needs.
type receipt struct {
	handle string
	msgID  string
	body   string
	// attrs are the message attributes as received; for a Message from a
	// Lambda event only sattrs is set and attrs is built when needed.
	attrs    map[string]types.MessageAttributeValue
	sattrs   map[string]string
	task     contracts.Task // decoded body
	group    string
	received time.Time
	kind     string
	count    int       // ApproximateReceiveCount
	sentAt   time.Time // SentTimestamp
}

// New returns a queue. It starts no goroutine until the first Consume.
func New(opts Options) (*Queue, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	q := &Queue{
		opts:     opts,
		fifo:     isFIFO(opts.QueueURL),
		closed:   make(chan struct{}),
		recvDone: make(chan struct{}),
		buf:      make(chan *receipt, opts.BatchSize),
		demand:   make(chan struct{}, 1),
		delayed:  map[string]time.Time{},
	}
	q.recvCtx, q.recvCancel = context.WithCancel(context.Background())
	q.sendCtx, q.sendCancel = context.WithCancel(context.Background())
	q.pubs = &opBatcher[*sendItem]{
		maxActive: opts.SendConcurrency,
		take:      takeSends(opts.MaxBatchBytes),
		send: func(ctx context.Context, b []*sendItem) {
			sendBatch(ctx, &q.opts, q.opts.QueueURL, b)
			for _, it := range b {
				close(it.done)
			}
		},
		ctx: q.sendCtx,
	}
	q.dels = &opBatcher[*delItem]{
		maxActive: opts.SendConcurrency,
		take:      takeDeletes,
		send: func(ctx context.Context, b []*delItem) {
			deleteBatch(ctx, &q.opts, q.opts.QueueURL, b)
			for _, it := range b {
				close(it.done)
			}
		},
		ctx: q.sendCtx,
	}
	return q, nil
}

// Name is the queue's name in stats.
func (q *Queue) Name() string { return q.opts.Name }

// URL is the queue's URL.
func (q *Queue) URL() string { return q.opts.QueueURL }

// DeadLetterURL is the dead-letter queue's URL.
func (q *Queue) DeadLetterURL() string { return q.opts.DeadLetterURL }

func (q *Queue) errClosed(op string) error {
	return fmt.Errorf("sqsqueue %s: %s: %w", q.opts.Name, op, contracts.ErrQueueClosed)
}

// prepare encodes a task for sending and checks its size.
func (q *Queue) prepare(task contracts.Task) (*sendItem, error) {
	if task.ID == "" {
		return nil, fmt.Errorf("sqsqueue %s: publish: task has no ID (sources derive it from the origin)", q.opts.Name)
	}
	if task.EnqueuedAt.IsZero() {
		task.EnqueuedAt = time.Now()
	}
	enc, err := Encode(task)
	if err != nil {
		return nil, err
	}
	if enc.Size > q.opts.MaxMessageSize {
		return nil, fmt.Errorf("sqsqueue %s: publish task %s: encoded message is %d bytes (payload %d bytes, base64 in a JSON envelope), over the queue's limit of %d: store the payload elsewhere and publish a reference: %w",
			q.opts.Name, task.ID, enc.Size, len(task.Payload), q.opts.MaxMessageSize, contracts.ErrTooLarge)
	}
	it := &sendItem{task: task, enc: enc, done: make(chan struct{})}
	if q.fifo {
		it.group = task.Attr(contracts.AttrGroup)
		if it.group == "" {
			it.group = task.Kind
		}
		it.group = fifoID(it.group)
		it.dedup = task.Attr(contracts.AttrDedupID)
		if it.dedup == "" {
			it.dedup = task.ID
		}
		it.dedup = fifoID(it.dedup)
	}
	return it, nil
}

// Publish sends a task. Concurrent publishes share SendMessageBatch calls.
// If ctx ends first, Publish returns its error, but the task may still be
// sent (at-least-once).
func (q *Queue) Publish(ctx context.Context, task contracts.Task) error {
	it, err := q.prepare(task)
	if err != nil {
		return err
	}
	q.ops.RLock()
	if q.shut {
		q.ops.RUnlock()
		return q.errClosed("publish")
	}
	q.pubs.submit(it)
	q.ops.RUnlock()
	select {
	case <-it.done:
	case <-ctx.Done():
		return fmt.Errorf("sqsqueue %s: publish task %s: %w", q.opts.Name, task.ID, ctx.Err())
	}
	if it.err != nil {
		return it.err
	}
	q.published.Add(1)
	return nil
}

// Consume returns the next task, waiting while the queue is empty.
func (q *Queue) Consume(ctx context.Context) (contracts.Delivery, error) {
	if q.isShut() {
		return contracts.Delivery{}, q.errClosed("consume")
	}
	q.recvOnce.Do(func() { go q.receiveLoop() })
	for {
		var r *receipt
		select {
		case r = <-q.buf:
		default:
			q.waiting.Add(1)
			select {
			case q.demand <- struct{}{}:
			default:
			}
			select {
			case r = <-q.buf:
			case <-ctx.Done():
				q.waiting.Add(-1)
				return contracts.Delivery{}, ctx.Err()
			case <-q.closed:
				q.waiting.Add(-1)
				return contracts.Delivery{}, q.errClosed("consume")
			}
			q.waiting.Add(-1)
		}
		// A message that waited in the buffer past its visibility may
		// already be with another consumer; SQS redelivers it, so drop it.
		if time.Since(r.received) > q.opts.VisibilityTimeout-time.Second {
			q.opts.Logger.Debug("sqsqueue: dropping buffered message past its visibility", "queue", q.opts.Name, "message_id", r.msgID)
			continue
		}
		return q.delivery(r), nil
	}
}

func (q *Queue) isShut() bool {
	q.ops.RLock()
	defer q.ops.RUnlock()
	return q.shut
}

// delivery completes r's decoded task with what SQS knows.
func (q *Queue) delivery(r *receipt) contracts.Delivery {
	task := r.task
	task.Attempt = max(r.count, 1)
	if task.EnqueuedAt.IsZero() {
		task.EnqueuedAt = r.sentAt
	}
	return contracts.Delivery{Task: task, Receipt: r}
}

// receiveLoop long-polls while consumers wait and fills the buffer.
func (q *Queue) receiveLoop() {
	defer close(q.recvDone)
	ctx := q.recvCtx
	failures := 0
	for {
		// Receive only while more consumers wait than the buffer holds:
		// a receive nobody waits for only ages messages in the buffer.
		for q.waiting.Load() <= int64(len(q.buf)) {
			select {
			case <-q.demand:
			case <-ctx.Done():
				return
			}
		}
		free := cap(q.buf) - len(q.buf)
		if free == 0 {
			select {
			case <-q.demand:
			case <-ctx.Done():
				return
			}
			continue
		}
		out, err := q.opts.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.opts.QueueURL),
			MaxNumberOfMessages:         int32(free),
			WaitTimeSeconds:             seconds(q.opts.WaitTime, MaxWaitTime),
			VisibilityTimeout:           seconds(q.opts.VisibilityTimeout, MaxVisibility),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			// Deprecated, but some SQS-compatible servers (local-aws-sqs)
			// only return receive counts when it is set.
			//lint:ignore SA1019 local-aws-sqs reports receive counts only when the deprecated AttributeNames asks for them
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			q.opts.Logger.Warn("sqsqueue: receive failed", "queue", q.opts.Name, "error", err, "failures", failures)
			if sleepBackoff(ctx, min(failures+2, 8)) != nil {
				return
			}
			continue
		}
		failures = 0
		now := time.Now()
		for _, m := range out.Messages {
			r := receiptOf(m, now)
			task, derr := Decode(r.body, stringAttrs(r.attrs))
			if derr != nil {
				q.dropMalformed(ctx, r, derr)
				continue
			}
			r.task, r.kind = task, task.Kind
			q.buf <- r // never blocks: we asked for at most the free space
		}
	}
}

func receiptOf(m types.Message, now time.Time) *receipt {
	r := &receipt{
		handle:   aws.ToString(m.ReceiptHandle),
		msgID:    aws.ToString(m.MessageId),
		body:     aws.ToString(m.Body),
		attrs:    m.MessageAttributes,
		received: now,
	}
	r.group = m.Attributes[string(types.MessageSystemAttributeNameMessageGroupId)]
	r.count, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	r.sentAt = msToTime(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)])
	return r
}

// dropMalformed moves a message that is not a task envelope to the
// dead-letter queue, so it never reaches a routine and never loops.
func (q *Queue) dropMalformed(ctx context.Context, r *receipt, cause error) {
	log := q.opts.Logger.With("queue", q.opts.Name, "message_id", r.msgID)
	attrs := maps.Clone(r.typedAttrs())
	if attrs == nil {
		attrs = map[string]types.MessageAttributeValue{}
	}
	if len(attrs) < maxMessageAttributes-2 {
		attrs[AttrMalformed] = strAttr("true")
	}
	if err := q.sendDead(ctx, r, attrs, cause.Error()); err != nil {
		// It stays invisible for VisibilityTimeout and comes back then: no
		// hot loop, and the redrive policy ends it eventually.
		log.Error("sqsqueue: malformed message; moving it to the dead-letter queue failed", "error", err, "cause", cause)
		return
	}
	if err := q.deleteNow(ctx, r.handle); err != nil {
		log.Error("sqsqueue: malformed message moved to the dead-letter queue; deleting it failed", "error", err)
		return
	}
	q.deadLettered.Add(1)
	log.Warn("sqsqueue: malformed message moved to the dead-letter queue", "cause", cause)
}

// typedAttrs returns the message attributes in the SDK's form.
func (r *receipt) typedAttrs() map[string]types.MessageAttributeValue {
	if r.attrs == nil && len(r.sattrs) > 0 {
		r.attrs = make(map[string]types.MessageAttributeValue, len(r.sattrs))
		for k, v := range r.sattrs {
			r.attrs[k] = strAttr(v)
		}
	}
	return r.attrs
}

func strAttr(v string) types.MessageAttributeValue {
	return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
}

func (q *Queue) receipt(op string, d contracts.Delivery) (*receipt, error) {
	r, ok := d.Receipt.(*receipt)
	if !ok || r == nil || r.handle == "" {
		return nil, fmt.Errorf("sqsqueue %s: %s task %s: no SQS receipt: %w", q.opts.Name, op, d.Task.ID, contracts.ErrNotInFlight)
	}
	return r, nil
}

// Ack deletes the message. Concurrent acks share DeleteMessageBatch calls.
func (q *Queue) Ack(ctx context.Context, d contracts.Delivery) error {
	r, err := q.receipt("ack", d)
	if err != nil {
		return err
	}
	if err := q.delete(ctx, r.handle); err != nil {
		return fmt.Errorf("ack task %s: %w", d.Task.ID, err)
	}
	q.acked.Add(1)
	return nil
}

func (q *Queue) delete(ctx context.Context, handle string) error {
	it := &delItem{handle: handle, done: make(chan struct{})}
	q.ops.RLock()
	if q.shut {
		q.ops.RUnlock()
		return q.errClosed("delete")
	}
	q.dels.submit(it)
	q.ops.RUnlock()
	select {
	case <-it.done:
		return it.err
	case <-ctx.Done():
		return fmt.Errorf("sqsqueue %s: delete: %w", q.opts.Name, ctx.Err())
	}
}

// deleteNow deletes without the batcher (used by the receive loop, which
// must not wait behind callers' batches while Close drains them).
func (q *Queue) deleteNow(ctx context.Context, handle string) error {
	_, err := q.opts.Client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.opts.QueueURL), ReceiptHandle: aws.String(handle)})
	if err != nil {
		return fmt.Errorf("sqsqueue %s: delete: %w", q.opts.Name, classify(err))
	}
	return nil
}

// classify wraps receipt errors with contracts.ErrNotInFlight.
func classify(err error) error {
	var bad *types.ReceiptHandleIsInvalid
	var notIn *types.MessageNotInflight
	if errors.As(err, &bad) || errors.As(err, &notIn) {
		return fmt.Errorf("%w: %w", err, contracts.ErrNotInFlight)
	}
	return err
}

// Nack makes the message visible again after delay (rounded up to whole
// seconds, at most 12h). On the MaxAttempts-th delivery it dead-letters.
func (q *Queue) Nack(ctx context.Context, d contracts.Delivery, delay time.Duration) error {
	r, err := q.receipt("nack", d)
	if err != nil {
		return err
	}
	if q.isShut() {
		return q.errClosed("nack")
	}
	q.nacked.Add(1)
	if q.opts.MaxAttempts > 0 && d.Task.Attempt >= q.opts.MaxAttempts {
		return q.deadLetter(ctx, d, r, fmt.Sprintf("max attempts (%d) reached", q.opts.MaxAttempts))
	}
	if err := q.changeVisibility(ctx, r.handle, delay); err != nil {
		return fmt.Errorf("nack task %s: %w", d.Task.ID, err)
	}
	if delay > 0 {
		q.mu.Lock()
		q.delayed[r.msgID] = time.Now().Add(delay)
		q.mu.Unlock()
	}
	return nil
}

// Extend keeps the message invisible for lease from now (whole seconds, at
// most 12h).
func (q *Queue) Extend(ctx context.Context, d contracts.Delivery, lease time.Duration) error {
	r, err := q.receipt("extend", d)
	if err != nil {
		return err
	}
	if q.isShut() {
		return q.errClosed("extend")
	}
	if err := q.changeVisibility(ctx, r.handle, lease); err != nil {
		return fmt.Errorf("extend task %s: %w", d.Task.ID, err)
	}
	return nil
}

func (q *Queue) changeVisibility(ctx context.Context, handle string, d time.Duration) error {
	_, err := q.opts.Client.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{
		QueueUrl:          aws.String(q.opts.QueueURL),
		ReceiptHandle:     aws.String(handle),
		VisibilityTimeout: seconds(d, MaxVisibility),
	})
	if err != nil {
		return fmt.Errorf("sqsqueue %s: change visibility: %w", q.opts.Name, classify(err))
	}
	return nil
}

// DeadLetter sends the message to the dead-letter queue with reason, then
// deletes it from the queue.
func (q *Queue) DeadLetter(ctx context.Context, d contracts.Delivery, reason error) error {
	r, err := q.receipt("dead-letter", d)
	if err != nil {
		return err
	}
	if q.isShut() {
		return q.errClosed("dead-letter")
	}
	msg := "dead-lettered"
	if reason != nil {
		msg = reason.Error()
	}
	return q.deadLetter(ctx, d, r, msg)
}

func (q *Queue) deadLetter(ctx context.Context, d contracts.Delivery, r *receipt, reason string) error {
	if err := q.sendDead(ctx, r, r.typedAttrs(), reason); err != nil {
		return fmt.Errorf("dead-letter task %s: %w", d.Task.ID, err)
	}
	if err := q.delete(ctx, r.handle); err != nil {
		return fmt.Errorf("dead-letter task %s: sent to the dead-letter queue, but: %w", d.Task.ID, err)
	}
	q.deadLettered.Add(1)
	return nil
}

// SendToDeadLetter sends d's message to the dead-letter queue with reason
// and leaves it in the queue. The Lambda worker uses it: the event source
// mapping deletes every record the handler does not report as failed.
func (q *Queue) SendToDeadLetter(ctx context.Context, d contracts.Delivery, reason error) error {
	r, err := q.receipt("dead-letter", d)
	if err != nil {
		return err
	}
	msg := "dead-lettered"
	if reason != nil {
		msg = reason.Error()
	}
	if err := q.sendDead(ctx, r, r.typedAttrs(), msg); err != nil {
		return fmt.Errorf("dead-letter task %s: %w", d.Task.ID, err)
	}
	q.deadLettered.Add(1)
	return nil
}

// sendDead sends r's body with attrs plus reason and time to the DLQ.
func (q *Queue) sendDead(ctx context.Context, r *receipt, attrs map[string]types.MessageAttributeValue, reason string) error {
	out := make(map[string]types.MessageAttributeValue, len(attrs)+2)
	maps.Copy(out, attrs)
	// Attributes from an earlier dead-lettering are replaced, not kept.
	delete(out, AttrReason)
	delete(out, AttrDeadAt)
	if len(out) < maxMessageAttributes {
		out[AttrReason] = strAttr(truncate(sanitize(reason), maxReasonBytes))
	}
	if len(out) < maxMessageAttributes {
		out[AttrDeadAt] = strAttr(time.Now().UTC().Format(time.RFC3339Nano))
	}
	in := &sqs.SendMessageInput{
		QueueUrl:          aws.String(q.opts.DeadLetterURL),
		MessageBody:       aws.String(r.body),
		MessageAttributes: out,
	}
	if isFIFO(q.opts.DeadLetterURL) {
		g := r.group
		if g == "" {
			g = r.kind
		}
		if g == "" {
			g = "plba"
		}
		in.MessageGroupId = aws.String(fifoID(g))
		// The message id is unique per send, so a task dead-lettered
		// twice within five minutes is not deduplicated away.
		in.MessageDeduplicationId = aws.String(fifoID(r.msgID))
	}
	if _, err := q.opts.Client.SendMessage(ctx, in); err != nil {
		return fmt.Errorf("sqsqueue %s: send to dead-letter queue: %w", q.opts.Name, err)
	}
	return nil
}

// sanitize replaces characters SQS refuses in attribute values.
func sanitize(s string) string {
	if validAttrValue(s) {
		return s
	}
	b := make([]rune, 0, len(s))
	for _, r := range s {
		if !validAttrValue(string(r)) {
			r = '?'
		}
		b = append(b, r)
	}
	return string(b)
}

// Stats reads the queue's and the dead-letter queue's attributes.
func (q *Queue) Stats(ctx context.Context) (contracts.QueueStats, error) {
	s := contracts.QueueStats{
		Name:         q.opts.Name,
		Backend:      "sqs",
		Published:    q.published.Load(),
		Acked:        q.acked.Load(),
		Nacked:       q.nacked.Load(),
		DeadLettered: q.deadLettered.Load(),
	}
	main, err := q.depths(ctx, q.opts.QueueURL)
	if err != nil {
		return s, err
	}
	dead, err := q.depths(ctx, q.opts.DeadLetterURL)
	if err != nil {
		return s, err
	}
	buffered := int64(len(q.buf))
	localDelayed := q.localDelayed()
	s.Ready = main.visible + buffered
	s.InFlight = max(0, main.invisible-buffered-localDelayed)
	s.Delayed = main.delayed + min(localDelayed, main.invisible)
	s.Dead = dead.visible + dead.invisible + dead.delayed
	return s, nil
}

type depths struct{ visible, invisible, delayed int64 }

func (q *Queue) depths(ctx context.Context, url string) (depths, error) {
	out, err := q.opts.Client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url),
		AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages,
			types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		},
	})
	if err != nil {
		return depths{}, fmt.Errorf("sqsqueue %s: stats of %s: %w", q.opts.Name, url, err)
	}
	num := func(k types.QueueAttributeName) int64 {
		n, _ := strconv.ParseInt(out.Attributes[string(k)], 10, 64)
		return n
	}
	d := depths{
		visible:   num(types.QueueAttributeNameApproximateNumberOfMessages),
		invisible: num(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
		delayed:   num(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
	}
	if q.opts.ReadyCountsInFlight {
		d.visible = max(0, d.visible-d.invisible)
	}
	return d, nil
}

func (q *Queue) localDelayed() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	var n int64
	for id, due := range q.delayed {
		if now.After(due) {
			delete(q.delayed, id)
			continue
		}
		n++
	}
	return n
}

// Close stops consuming, waits for pending publishes and acks, and makes
// messages still in the local buffer visible again. A long poll in
// progress is cancelled rather than waited for (up to WaitTime); messages
// the server had already handed to it come back after VisibilityTimeout, as
// after a crash. Deliveries handed out are not waited for either: their
// consumers settle them before Close, or their visibility runs out.
func (q *Queue) Close() error {
	var err error
	q.closeOnce.Do(func() {
		q.ops.Lock()
		q.shut = true
		q.ops.Unlock()
		close(q.closed)
		q.recvCancel()
		q.recvOnce.Do(func() { close(q.recvDone) }) // the loop never started
		<-q.recvDone
		q.pubs.drain()
		q.dels.drain()
		err = q.releaseBuffered()
		q.sendCancel()
	})
	return err
}

// releaseBuffered makes buffered messages visible at once.
func (q *Queue) releaseBuffered() error {
	var entries []types.ChangeMessageVisibilityBatchRequestEntry
	for {
		select {
		case r := <-q.buf:
			entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
				Id: aws.String(strconv.Itoa(len(entries))), ReceiptHandle: aws.String(r.handle), VisibilityTimeout: 0,
			})
			continue
		default:
		}
		break
	}
	if len(entries) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(q.sendCtx, 10*time.Second)
	defer cancel()
	out, err := q.opts.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(q.opts.QueueURL), Entries: entries,
	})
	if err != nil {
		return fmt.Errorf("sqsqueue %s: close: release %d buffered messages: %w", q.opts.Name, len(entries), err)
	}
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return fmt.Errorf("sqsqueue %s: close: release %d of %d buffered messages failed: %s: %s", q.opts.Name, len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return nil
}

// MaxAttempts implements contracts.AttemptLimiter: executors on this queue
// dead-letter on the delivery the queue would bury.
func (q *Queue) MaxAttempts() int { return q.opts.MaxAttempts }

// Durable implements contracts.DurableQueue: tasks outlive the process.
func (q *Queue) Durable() bool { return true }
