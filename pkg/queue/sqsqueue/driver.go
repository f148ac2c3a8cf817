package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/driver"
)

// Open returns the portable queue ([queue.Queue]) on SQS: the semantics
// (attempts and dead-letter decision, close and drain, settle rules,
// counters) are the portable type's, SQS I/O is this package's. Options
// are those of [New]; opts.MaxAttempts is the portable type's.
//
// [New] returns the SQS-specific type the Lambda adapters use on event
// records (Delivery, SendToDeadLetter); Open is what runners use.
func Open(opts Options) (*queue.Queue, error) {
	maxAttempts := opts.MaxAttempts
	opts.MaxAttempts = -1 // the portable type decides
	q, err := New(opts)
	if err != nil {
		return nil, err
	}
	d := &Driver{q: q}
	return queue.New(d, queue.Options{Name: q.opts.Name, Backend: "sqs", MaxAttempts: maxAttempts,
		MaxTaskBytes: q.opts.MaxMessageSize, Logger: q.opts.Logger}), nil
}

// Driver is the SQS driver of the portable queue: only SQS I/O. It reuses
// [Queue]'s batchers (SendMessageBatch, DeleteMessageBatch shared by
// concurrent callers), envelope and dead-letter handling; receiving is the
// portable type's demand-driven loop over [Driver.Receive], and what it read
// ahead goes back at Close ([Driver.Release]).
type Driver struct {
	q *Queue
}

var (
	_ driver.Queue       = (*Driver)(nil)
	_ driver.DeadLetters = (*Driver)(nil)
)

// Limits: batches of 10, SQS's message size, one receive's worth of read
// ahead (BatchSize) fetched only for waiting consumers (visibility runs
// while a message waits), visibility leases, receipts that SQS does not
// check strictly (a second delete succeeds).
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBatch: MaxBatchEntries, MaxMessageBytes: d.q.opts.MaxMessageSize, ReadAhead: d.q.opts.BatchSize, Leases: true, Lease: d.q.opts.VisibilityTimeout, Durable: true}
}

// Send publishes the batch; concurrent sends share SendMessageBatch calls.
func (d *Driver) Send(ctx context.Context, batch []*driver.Message) error {
	if len(batch) == 1 {
		return d.q.Publish(ctx, batch[0].Task)
	}
	errs := make([]error, len(batch))
	var wg sync.WaitGroup
	for i, m := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.q.Publish(ctx, m.Task)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Receive long-polls ReceiveMessage until it returns messages or ctx is
// done. A message that is not a task envelope goes to the dead-letter queue
// and is not returned.
func (d *Driver) Receive(ctx context.Context, max int) ([]*driver.Message, error) {
	q := d.q
	for {
		out, err := q.opts.Client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(q.opts.QueueURL),
			MaxNumberOfMessages:         int32(min(max, q.opts.BatchSize)),
			WaitTimeSeconds:             seconds(q.opts.WaitTime, MaxWaitTime),
			VisibilityTimeout:           seconds(q.opts.VisibilityTimeout, MaxVisibility),
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
			//lint:ignore SA1019 local-aws-sqs reports receive counts only when the deprecated AttributeNames asks for them
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("receive: %w", err)
		}
		now := time.Now()
		ms := make([]*driver.Message, 0, len(out.Messages))
		for _, sm := range out.Messages {
			r := receiptOf(sm, now)
			task, derr := Decode(r.body, stringAttrs(r.attrs))
			if derr != nil {
				q.dropMalformed(ctx, r, derr)
				continue
			}
			r.task, r.kind = task, task.Kind
			dl := q.delivery(r)
			ms = append(ms, &driver.Message{Task: dl.Task, Handle: dl})
		}
		if len(ms) > 0 {
			return ms, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// Settle deletes, changes visibility or dead-letters each message.
func (d *Driver) Settle(ctx context.Context, batch []*driver.Message) ([]error, error) {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, m := range batch {
		run := func() {
			dl, _ := m.Handle.(contracts.Delivery)
			var err error
			switch m.Op {
			case driver.OpAck:
				err = d.q.Ack(ctx, dl)
			case driver.OpNack:
				err = d.q.Nack(ctx, dl, m.Delay)
			default:
				err = d.q.DeadLetter(ctx, dl, errors.New(m.Reason))
			}
			if err != nil {
				mu.Lock()
				if errs == nil {
					errs = make([]error, len(batch))
				}
				errs[i] = err
				mu.Unlock()
			}
		}
		if len(batch) == 1 {
			run()
			break
		}
		wg.Add(1)
		go func() { defer wg.Done(); run() }()
	}
	wg.Wait()
	return errs, nil
}

// Extend changes the message's visibility.
func (d *Driver) Extend(ctx context.Context, m *driver.Message, lease time.Duration) error {
	dl, _ := m.Handle.(contracts.Delivery)
	return d.q.Extend(ctx, dl, lease)
}

// Release makes the messages visible again at once
// (ChangeMessageVisibilityBatch).
func (d *Driver) Release(ctx context.Context, batch []*driver.Message) error {
	entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, 0, len(batch))
	for i, m := range batch {
		dl, _ := m.Handle.(contracts.Delivery)
		r, err := d.q.receipt("release", dl)
		if err != nil {
			return err
		}
		entries = append(entries, types.ChangeMessageVisibilityBatchRequestEntry{
			Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(r.handle), VisibilityTimeout: 0,
		})
	}
	out, err := d.q.opts.Client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{
		QueueUrl: aws.String(d.q.opts.QueueURL), Entries: entries,
	})
	if err != nil {
		return fmt.Errorf("release %d messages: %w", len(entries), err)
	}
	if len(out.Failed) > 0 {
		f := out.Failed[0]
		return fmt.Errorf("release: %d of %d failed: %s: %s", len(out.Failed), len(entries), aws.ToString(f.Code), aws.ToString(f.Message))
	}
	return nil
}

// DeadLetters lists the dead-letter queue.
func (d *Driver) DeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	return d.q.DeadLetters(ctx, limit)
}

// Redrive moves dead letters back.
func (d *Driver) Redrive(ctx context.Context, limit int) (int, error) {
	return d.q.Redrive(ctx, limit)
}

// Stats reads the queues' attributes (the portable type counts).
func (d *Driver) Stats(ctx context.Context) (contracts.QueueStats, error) {
	return d.q.Stats(ctx)
}

// Close drains the batchers and hands the receive buffer back to SQS.
func (d *Driver) Close() error { return d.q.Close() }

// SQS returns the SQS-specific queue under the driver (URLs, dead letters).
func (d *Driver) SQS() *Queue { return d.q }
