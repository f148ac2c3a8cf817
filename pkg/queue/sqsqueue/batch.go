package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
)

// sendItem is one message on its way to a batch send.
type sendItem struct {
	task  contracts.Task // for error messages
	enc   Encoded
	group string // FIFO only
	dedup string // FIFO only
	err   error
	done  chan struct{}
}

// delItem is one receipt on its way to a batch delete.
type delItem struct {
	handle string
	err    error
	done   chan struct{}
}

// opBatcher batches items opportunistically: an item is sent at once when
// fewer than maxActive sends are on the wire, and otherwise joins the next
// batch. No timer delays a lone caller, and concurrent callers share calls.
type opBatcher[T any] struct {
	maxActive int
	take      func(pending []T) int // how many of pending make the next batch (≥ 1)
	send      func(ctx context.Context, batch []T)

	mu      sync.Mutex
	pending []T
	active  int
	wg      sync.WaitGroup
	ctx     context.Context
}

func (b *opBatcher[T]) submit(it T) {
	b.mu.Lock()
	b.pending = append(b.pending, it)
	if b.active < b.maxActive {
		b.active++
		b.wg.Add(1)
		go b.run()
	}
	b.mu.Unlock()
}

func (b *opBatcher[T]) run() {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.active--
			b.mu.Unlock()
			return
		}
		n := b.take(b.pending)
		batch := make([]T, n)
		copy(batch, b.pending[:n])
		// Shift rather than reslice so the backing array does not pin
		// settled items.
		rest := copy(b.pending, b.pending[n:])
		clear(b.pending[rest:])
		b.pending = b.pending[:rest]
		b.mu.Unlock()
		b.send(b.ctx, batch)
	}
}

// drain waits until everything submitted has been sent.
func (b *opBatcher[T]) drain() { b.wg.Wait() }

// takeSends picks up to 10 items within maxBytes (at least one).
func takeSends(maxBytes int) func([]*sendItem) int {
	return func(p []*sendItem) int {
		size := 0
		for i, it := range p {
			if i == MaxBatchEntries || (i > 0 && size+it.enc.Size > maxBytes) {
				return i
			}
			size += it.enc.Size
		}
		return len(p)
	}
}

func takeDeletes(p []*delItem) int { return min(len(p), MaxBatchEntries) }

// sendBatch sends items to url with SendMessageBatch and sets each item's
// err. Entries the server failed on its side are retried with backoff; a
// batch the server finds too long is split.
func sendBatch(ctx context.Context, o *Options, url string, items []*sendItem) {
	fifo := isFIFO(url)
	pending := items
	for attempt := 0; ; attempt++ {
		entries := make([]types.SendMessageBatchRequestEntry, len(pending))
		for i, it := range pending {
			e := types.SendMessageBatchRequestEntry{
				Id:                aws.String(strconv.Itoa(i)),
				MessageBody:       aws.String(it.enc.Body),
				MessageAttributes: it.enc.Attributes,
			}
			if fifo {
				e.MessageGroupId = aws.String(it.group)
				e.MessageDeduplicationId = aws.String(it.dedup)
			}
			entries[i] = e
		}
		out, err := o.Client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			var tooLong *types.BatchRequestTooLong
			if errors.As(err, &tooLong) && len(pending) > 1 {
				half := len(pending) / 2
				sendBatch(ctx, o, url, pending[:half])
				sendBatch(ctx, o, url, pending[half:])
				return
			}
			for _, it := range pending {
				it.err = fmt.Errorf("sqsqueue %s: send task %s: %w", o.Name, it.task.ID, err)
			}
			return
		}
		var retry []*sendItem
		for _, f := range out.Failed {
			i, perr := strconv.Atoi(aws.ToString(f.Id))
			if perr != nil || i < 0 || i >= len(pending) {
				continue
			}
			it := pending[i]
			if f.SenderFault || attempt >= o.EntryRetries {
				it.err = fmt.Errorf("sqsqueue %s: send task %s: %s: %s", o.Name, it.task.ID, aws.ToString(f.Code), aws.ToString(f.Message))
				continue
			}
			retry = append(retry, it)
		}
		if len(retry) == 0 {
			return
		}
		if err := sleepBackoff(ctx, attempt); err != nil {
			for _, it := range retry {
				it.err = fmt.Errorf("sqsqueue %s: send task %s: retry: %w", o.Name, it.task.ID, err)
			}
			return
		}
		pending = retry
	}
}

// deleteBatch deletes receipts from url with DeleteMessageBatch and sets
// each item's err; an invalid receipt wraps contracts.ErrNotInFlight.
func deleteBatch(ctx context.Context, o *Options, url string, items []*delItem) {
	pending := items
	for attempt := 0; ; attempt++ {
		entries := make([]types.DeleteMessageBatchRequestEntry, len(pending))
		for i, it := range pending {
			entries[i] = types.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(it.handle)}
		}
		out, err := o.Client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(url), Entries: entries})
		if err != nil {
			for _, it := range pending {
				it.err = fmt.Errorf("sqsqueue %s: delete: %w", o.Name, err)
			}
			return
		}
		var retry []*delItem
		for _, f := range out.Failed {
			i, perr := strconv.Atoi(aws.ToString(f.Id))
			if perr != nil || i < 0 || i >= len(pending) {
				continue
			}
			it := pending[i]
			switch code := aws.ToString(f.Code); {
			case code == "ReceiptHandleIsInvalid" || code == "InvalidParameterValue":
				it.err = fmt.Errorf("sqsqueue %s: delete: %s: %w", o.Name, aws.ToString(f.Message), contracts.ErrNotInFlight)
			case f.SenderFault || attempt >= o.EntryRetries:
				it.err = fmt.Errorf("sqsqueue %s: delete: %s: %s", o.Name, code, aws.ToString(f.Message))
			default:
				retry = append(retry, it)
			}
		}
		if len(retry) == 0 {
			return
		}
		if err := sleepBackoff(ctx, attempt); err != nil {
			for _, it := range retry {
				it.err = fmt.Errorf("sqsqueue %s: delete: retry: %w", o.Name, err)
			}
			return
		}
		pending = retry
	}
}

// sleepBackoff waits 100ms·2^attempt (upper half jittered), or until ctx
// is done.
func sleepBackoff(ctx context.Context, attempt int) error {
	d := 100 * time.Millisecond << min(attempt, 6)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PublishError reports a task a [Batcher] could not send.
type PublishError struct {
	TaskID string
	Kind   string
	Err    error
}

func (e *PublishError) Error() string { return e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

// Batcher is a [contracts.Publisher] that sends tasks in batches of 10 (and
// at most MaxBatchBytes): Publish only encodes and buffers, sending when a
// batch is full; Flush sends the rest. This is what the Lambda poller passes
// to sources: one SendMessageBatch call per 10 tasks.
//
// Because Publish returns before its task is on the wire, a send failure is
// reported by Flush, not by the Publish that queued the task (a
// [PublishError] per task, joined). Sources that mark items in flight when
// Publish succeeds rely on their stale-mark recovery for those; the
// poller logs and counts them. Entries the server failed on its side are
// retried with backoff first.
//
// A Batcher is safe for concurrent use; sends happen in the goroutine that
// fills a batch or calls Flush.
type Batcher struct {
	q       *Queue
	mu      sync.Mutex
	pending []*sendItem
	size    int
	sent    int
	failed  []error
}

// NewBatcher returns a batching publisher into q.
func (q *Queue) NewBatcher() *Batcher { return &Batcher{q: q} }

// Publish encodes task and queues it for the next batch. It fails at once
// for a task over the size limit ([contracts.ErrTooLarge]) or a closed
// queue.
func (b *Batcher) Publish(ctx context.Context, task contracts.Task) error {
	it, err := b.q.prepare(task)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) > 0 && b.size+it.enc.Size > b.q.opts.MaxBatchBytes {
		b.sendLocked(ctx)
	}
	b.pending = append(b.pending, it)
	b.size += it.enc.Size
	if len(b.pending) == MaxBatchEntries {
		b.sendLocked(ctx)
	}
	return nil
}

// Flush sends whatever is buffered and returns the failures since the last
// Flush, joined ([PublishError] each), or nil.
func (b *Batcher) Flush(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) > 0 {
		b.sendLocked(ctx)
	}
	err := errors.Join(b.failed...)
	b.failed = nil
	return err
}

// Sent is the number of tasks sent successfully so far.
func (b *Batcher) Sent() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sent
}

// Pending is the number of tasks buffered and not yet sent.
func (b *Batcher) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

func (b *Batcher) sendLocked(ctx context.Context) {
	batch := b.pending
	b.pending, b.size = nil, 0
	sendBatch(ctx, &b.q.opts, b.q.opts.QueueURL, batch)
	for _, it := range batch {
		if it.err != nil {
			b.failed = append(b.failed, &PublishError{TaskID: it.task.ID, Kind: it.task.Kind, Err: it.err})
			continue
		}
		b.sent++
		b.q.published.Add(1)
	}
}
