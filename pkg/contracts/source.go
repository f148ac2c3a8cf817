package contracts

import "context"

// Publisher accepts the tasks a source produces. A queue's Publish method
// satisfies it; the Lambda poller passes a batching SQS publisher.
type Publisher interface {
	Publish(ctx context.Context, task Task) error
}

// PublisherFunc adapts a function to [Publisher].
type PublisherFunc func(ctx context.Context, task Task) error

// Publish calls f(ctx, task).
func (f PublisherFunc) Publish(ctx context.Context, task Task) error { return f(ctx, task) }

// TaskSource turns outside events into tasks. Poll does one cycle: it fetches
// what is available now, publishes a task for each item and returns how many
// it published. A source must not publish an item again while its task is
// still in flight, and must not lose an item whose Publish failed: it stays
// available for the next cycle.
//
// Poll is what the Lambda poller calls once per invocation and what the
// local source worker calls on an interval.
type TaskSource interface {
	Name() string
	Poll(ctx context.Context, pub Publisher) (int, error)
}

// PushSource is a source that can also wait for events and push them as they
// arrive (e.g. IMAP IDLE). Run blocks until ctx is done or the source fails;
// it must catch up on anything that arrived while it was not listening. The
// local runner prefers Run when the source is configured for push; Lambda
// always uses Poll.
type PushSource interface {
	TaskSource
	Run(ctx context.Context, pub Publisher) error
}

// Outcome is the final result of a task, reported to the source that made it.
type Outcome int

// Outcomes a [Settler] hears about.
const (
	// OutcomeSucceeded: the routine returned nil.
	OutcomeSucceeded Outcome = iota + 1
	// OutcomeDeadLettered: the task was dead-lettered ([Permanent] or too
	// many attempts) and will not be retried automatically.
	OutcomeDeadLettered
)

func (o Outcome) String() string {
	switch o {
	case OutcomeSucceeded:
		return "succeeded"
	case OutcomeDeadLettered:
		return "dead-lettered"
	default:
		return "unknown"
	}
}

// Settler is implemented by sources that act on a task's final outcome, e.g.
// an IMAP source that marks a message \Seen only after it was processed.
// Settle runs before the delivery is acknowledged; if it fails, the task is
// retried (routines are idempotent), so nothing is marked done that was not.
type Settler interface {
	Settle(ctx context.Context, task Task, outcome Outcome, cause error) error
}

// StampSource returns a publisher that sets [AttrSource] to name on every
// task that lacks it, then publishes to p. The deployments wrap each
// source's publisher with it, so a source need not know the attribute that
// routes its settlement back to it.
func StampSource(p Publisher, name string) Publisher {
	return PublisherFunc(func(ctx context.Context, t Task) error {
		if t.Attributes[AttrSource] == "" {
			t = t.WithAttr(AttrSource, name)
		}
		return p.Publish(ctx, t)
	})
}

// Backpressure is implemented by the publisher a long-lived deployment
// gives a source when its queue lives in the process (the in-memory queue):
// a source reads ahead of the consumers no further than they can start
// soon, so that a crash or a stop strands little. Sources that mark what
// they publish (the IMAP source) ask Room before marking.
type Backpressure interface {
	// Room is how many more tasks may be published now; ≤ 0 means none.
	Room() int
	// WaitRoom returns when there is room enough for a worthwhile batch
	// (the runtime's: half the bound free; at once if there is), or with
	// ctx's error.
	WaitRoom(ctx context.Context) error
}

// MarkKeeper is implemented by sources that mark at their origin what they
// published and not yet settled (the IMAP source's $Queued keyword). Before
// the first poll the deployment tells it whether its queue keeps tasks
// beyond this process. When it does not (the in-memory queue), a mark
// found at start belongs to a process that is gone — its task died with
// that process — so the source clears it and publishes the message again
// at once; and marks of tasks this process published but did not finish
// are cleared by ReleaseMarks, which the deployment calls at stop once its
// consumers drained. With a durable queue (SQS, Redis) a mark lives as long
// as the queue's copy of the task: until Settle, and ReleaseMarks does
// nothing.
type MarkKeeper interface {
	QueueOutlivesProcess(durable bool)
	ReleaseMarks(ctx context.Context) error
}

// DurableQueue is implemented by queues that keep their tasks beyond the
// process (SQS, Redis). A queue that does not implement it is taken to
// live in the process.
type DurableQueue interface {
	Durable() bool
}

// DeadLetterSource is implemented by sources that keep their own mark on a
// dead-lettered item (an IMAP keyword or folder). The mark outlives the
// process, so the control plane can list and redrive such items after a
// restart lost an in-memory queue's dead letters.
//
// The method names differ from [DeadLetterQueue]'s on purpose: a binary
// that lists queue dead letters through that interface (the Lambda control
// function) does not link a source's implementation.
type DeadLetterSource interface {
	TaskSource
	// MarkedDeadLetters lists up to limit marked items as the tasks Poll
	// would make of them (payload included), oldest first.
	MarkedDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// RedriveMarked clears the mark of the listed items with these task
	// IDs (ids from MarkedDeadLetters; nil means every marked item) so the
	// next Poll publishes them again; it returns how many it released.
	RedriveMarked(ctx context.Context, ids []string) (int, error)
	// PurgeMarked settles every marked item as done without running it
	// (for IMAP: \Seen, mark cleared; nothing is deleted) and returns how
	// many.
	PurgeMarked(ctx context.Context) (int, error)
}

// TaskHolder is implemented by durable queues that can say which tasks
// they still hold — ready, in flight, delayed for a retry, or in their
// dead-letter store — by task ID. A source that marks what it published
// (a [MarkKeeper]) uses it to tell a mark whose task is waiting from one
// whose publisher died between marking and publishing: with such a queue
// the second kind is published again within seconds instead of after the
// source's stale period. Redis can answer; SQS cannot (it has no lookup
// by ID), and the in-memory queue needs no answer (its tasks die with the
// process, see MarkKeeper).
type TaskHolder interface {
	// TellsHeld reports whether HeldTasks can answer on this backend.
	TellsHeld() bool
	// HeldTasks reports, for each of ids, whether the queue holds a task
	// with that ID. It fails (wrapping errors.ErrUnsupported) when
	// TellsHeld is false.
	HeldTasks(ctx context.Context, ids []string) ([]bool, error)
}

// HeldAware is implemented by mark keepers that recover faster with a
// [TaskHolder]. The deployment calls UseTaskHolder before the first poll
// when the source's queue tells what it holds.
type HeldAware interface {
	UseTaskHolder(h TaskHolder)
}
