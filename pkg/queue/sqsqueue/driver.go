package sqsqueue

import (
	"context"
	"errors"
	"sync"
	"time"

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

// Driver is the SQS driver of the portable queue. It reuses [Queue]'s
// batchers (SendMessageBatch, DeleteMessageBatch shared by concurrent
// callers) and its demand-driven receive loop, whose local buffer is
// handed back at Close (ChangeMessageVisibilityBatch to 0).
type Driver struct {
	q *Queue
}

var (
	_ driver.Queue       = (*Driver)(nil)
	_ driver.DeadLetters = (*Driver)(nil)
)

// Limits: batches of 10, SQS's message size, visibility leases, receipts
// that SQS does not check strictly (a second delete succeeds).
func (d *Driver) Limits() driver.Limits {
	return driver.Limits{MaxBatch: 10, MaxMessageBytes: d.q.opts.MaxMessageSize, Leases: true}
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

// Receive waits for one message and adds what else is buffered, up to max.
func (d *Driver) Receive(ctx context.Context, max int) ([]*driver.Message, error) {
	dl, err := d.q.Consume(ctx)
	if err != nil {
		return nil, err
	}
	m := &driver.Message{Task: dl.Task, Handle: dl}
	if max <= 1 {
		return m.One(), nil
	}
	out := []*driver.Message{m}
	for len(out) < max {
		select {
		case r := <-d.q.buf:
			if time.Since(r.received) > d.q.opts.VisibilityTimeout-time.Second {
				continue // SQS redelivers it
			}
			dl := d.q.delivery(r)
			out = append(out, &driver.Message{Task: dl.Task, Handle: dl})
		default:
			return out, nil
		}
	}
	return out, nil
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

// Release makes the messages visible again at once.
func (d *Driver) Release(ctx context.Context, batch []*driver.Message) error {
	var errs []error
	for _, m := range batch {
		dl, _ := m.Handle.(contracts.Delivery)
		r, err := d.q.receipt("release", dl)
		if err == nil {
			err = d.q.changeVisibility(ctx, r.handle, 0)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
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

// SQS returns the SQS-specific queue under the driver (URLs, KeepAlive).
func (d *Driver) SQS() *Queue { return d.q }
