package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// API is the part of the SQS client the queue uses. *sqs.Client satisfies
// it; tests wrap it to count or fail calls.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	SendMessageBatch(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

var _ API = (*sqs.Client)(nil)

// SQS limits the package works within.
const (
	// MaxBatchEntries is the most entries one batch call takes.
	MaxBatchEntries = 10
	// MaxVisibility is the longest visibility timeout SQS accepts (12h).
	MaxVisibility = 12 * time.Hour
	// MaxWaitTime is the longest long poll SQS accepts.
	MaxWaitTime = 20 * time.Second
	// DefaultMaxMessageSize is the limit every SQS queue accepts (256 KiB).
	// Queues created since 2025 may allow up to 1 MiB; raise
	// [Options].MaxMessageSize to the queue's MaximumMessageSize.
	DefaultMaxMessageSize = 256 * 1024
	// MaxBatchBytes is SQS's limit on the sum of a batch's messages (1 MiB).
	// A queue with a smaller MaximumMessageSize rejects a larger batch with
	// BatchRequestTooLong; the publisher then splits the batch.
	MaxBatchBytes = 1024 * 1024
)

// Options configure a [Queue].
type Options struct {
	// Client talks to SQS. Required.
	Client API
	// QueueURL is the queue's URL; a name ending in ".fifo" makes it a
	// FIFO queue. Required.
	QueueURL string
	// DeadLetterURL is the dead-letter queue's URL (the queue's redrive
	// target). Required: dead letters and malformed messages go there.
	DeadLetterURL string
	// Name appears in stats; default: the last segment of QueueURL.
	Name string
	// MaxAttempts: Nack of the MaxAttempts-th delivery dead-letters. Keep it
	// ≤ the redrive policy's maxReceiveCount so the queue, not SQS, decides
	// and records a reason. Default 5; negative means never (the redrive
	// policy alone decides).
	MaxAttempts int
	// WaitTime is the long-poll wait of ReceiveMessage, whole seconds up to
	// 20s. Default 20s; 0 is not allowed (use a short positive value).
	WaitTime time.Duration
	// VisibilityTimeout is requested on every receive, whole seconds.
	// Default 30s. Buffered messages older than this are dropped.
	VisibilityTimeout time.Duration
	// BatchSize is MaxNumberOfMessages per receive, 1..10. Default 10.
	BatchSize int
	// MaxMessageSize bounds one encoded message; default
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// MaxBatchBytes bounds one SendMessageBatch; default MaxBatchBytes.
	MaxBatchBytes int
	// SendConcurrency bounds concurrent batch calls per kind (send,
	// delete). Default 4.
	SendConcurrency int
	// EntryRetries is how often an entry a batch call failed on the
	// server's side is retried (with exponential backoff) before the error
	// is reported. Default 3.
	EntryRetries int
	// ReadyCountsInFlight tells Stats that the server's
	// ApproximateNumberOfMessages includes in-flight messages
	// (local-aws-sqs 2.0.2 does; SQS does not).
	ReadyCountsInFlight bool
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Errors returned by [Options.Validate] and [New].
var ErrInvalidOptions = errors.New("sqsqueue: invalid options")

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = o.QueueURL[strings.LastIndexByte(o.QueueURL, '/')+1:]
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 5
	}
	if o.WaitTime == 0 {
		o.WaitTime = MaxWaitTime
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	if o.BatchSize == 0 {
		o.BatchSize = MaxBatchEntries
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxBatchBytes == 0 {
		o.MaxBatchBytes = MaxBatchBytes
	}
	if o.SendConcurrency == 0 {
		o.SendConcurrency = 4
	}
	if o.EntryRetries == 0 {
		o.EntryRetries = 3
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate reports the first invalid option, after defaults are applied.
func (o Options) Validate() error {
	o = o.withDefaults()
	var problems []string
	if o.Client == nil {
		problems = append(problems, "Client is required")
	}
	if o.QueueURL == "" {
		problems = append(problems, "QueueURL is required")
	}
	if o.DeadLetterURL == "" {
		problems = append(problems, "DeadLetterURL is required")
	}
	if o.QueueURL != "" && o.DeadLetterURL == o.QueueURL {
		problems = append(problems, "DeadLetterURL must differ from QueueURL")
	}
	if isFIFO(o.QueueURL) != isFIFO(o.DeadLetterURL) && o.DeadLetterURL != "" {
		problems = append(problems, "a FIFO queue needs a FIFO dead-letter queue and a standard queue a standard one")
	}
	if o.WaitTime < time.Second || o.WaitTime > MaxWaitTime {
		problems = append(problems, fmt.Sprintf("WaitTime %s: must be 1s..20s", o.WaitTime))
	}
	if o.VisibilityTimeout < time.Second || o.VisibilityTimeout > MaxVisibility {
		problems = append(problems, fmt.Sprintf("VisibilityTimeout %s: must be 1s..12h", o.VisibilityTimeout))
	}
	if o.BatchSize < 1 || o.BatchSize > MaxBatchEntries {
		problems = append(problems, fmt.Sprintf("BatchSize %d: must be 1..10", o.BatchSize))
	}
	if o.MaxMessageSize < 1024 || o.MaxMessageSize > MaxBatchBytes {
		problems = append(problems, fmt.Sprintf("MaxMessageSize %d: must be 1 KiB..1 MiB", o.MaxMessageSize))
	}
	if o.MaxBatchBytes < o.MaxMessageSize || o.MaxBatchBytes > MaxBatchBytes {
		problems = append(problems, fmt.Sprintf("MaxBatchBytes %d: must be MaxMessageSize..1 MiB", o.MaxBatchBytes))
	}
	if o.SendConcurrency < 1 {
		problems = append(problems, "SendConcurrency must be ≥ 1")
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, strings.Join(problems, "; "))
	}
	return nil
}

func isFIFO(url string) bool { return strings.HasSuffix(url, ".fifo") }

// seconds rounds d up to whole seconds within [0, max]: SQS counts in
// seconds, and rounding down would make a delay end early.
func seconds(d, max time.Duration) int32 {
	if d <= 0 {
		return 0
	}
	if d > max {
		d = max
	}
	return int32((d + time.Second - 1) / time.Second)
}
