// Package sqsqueue is a [contracts.TaskQueue] on Amazon SQS (and
// SQS-compatible servers such as local-aws-sqs), built on
// aws-sdk-go-v2/service/sqs.
//
// It passes the queue conformance suite (package queuetest) against a real
// SQS-compatible server, so the local runner can swap the in-memory queue for
// SQS without a change in semantics, and the Lambda adapters (package
// lambda/...) share its envelope, dead-letter and visibility handling.
//
// # Two faces
//
// [Open] returns the portable [queue.Queue] over a [Driver] (registered as
// backend "sqs"): the semantics are the portable type's — attempts and the
// dead-letter decision, close and drain, settle rules, read-ahead and
// hand-back at close — and this package does SQS I/O. [New] returns the
// SQS-specific [Queue] that the Lambda adapters use on event records
// ([Queue.Delivery], [Queue.SendToDeadLetter]); the mapping below is the
// same for both.
//
// # Mapping
//
//   - Publish: SendMessageBatch, batched opportunistically: a publish that
//     arrives while a batch is on the wire joins the next one (up to 10
//     entries and MaxBatchBytes), so concurrent publishers share calls
//     without waiting for a timer. [Batcher] defers sending until it holds 10
//     tasks or is flushed (the Lambda poller: ≤ 0.1 calls per task).
//   - Consume: long-poll ReceiveMessage (WaitTime, VisibilityTimeout,
//     BatchSize) by one receiver goroutine that runs only while consumers
//     wait; extra messages wait in a small local buffer and are handed out
//     one by one. A buffered message whose visibility ran out is dropped (SQS
//     redelivers it). Task.Attempt is ApproximateReceiveCount.
//   - Ack: DeleteMessageBatch, batched the same way as Publish.
//   - Nack(delay): ChangeMessageVisibility(delay), rounded up to whole
//     seconds and capped at SQS's 12 hours: never an immediate redelivery
//     loop. On the MaxAttempts-th delivery Nack dead-letters instead, the
//     same rule as the in-memory queue.
//   - DeadLetter: SendMessage of the same body and attributes to the
//     dead-letter queue with a plba.reason attribute, then DeleteMessage.
//   - Extend ([contracts.LeaseExtender]): ChangeMessageVisibility; see
//     Extend for a long routine (the consumer pool extends leases itself).
//   - DeadLetters / Redrive ([contracts.DeadLetterQueue]): read the
//     dead-letter queue (messages are made visible again after listing) and
//     move messages back with SendMessageBatch + DeleteMessageBatch, so the
//     receive count starts again at 1.
//   - Stats: GetQueueAttributes on the queue and its dead-letter queue.
//
// # Envelope
//
// The body is JSON: {"plba":1,"id":…,"kind":…,"payload":base64,…}. The task
// kind, W3C trace context (traceparent, tracestate) and further task
// attributes travel as String message attributes, so consoles, filters and
// the Lambda worker see them without parsing the body; SQS allows 10 message
// attributes, of which this package uses at most 8 on publish (2 stay free
// for plba.reason and plba.dead_at on dead letters). Attributes that do not
// fit, whose names SQS does not allow, or whose values are empty go in the
// body. Attempt is never stored: it is SQS's receive count.
//
// A task whose encoded message exceeds MaxMessageSize is rejected with an
// error wrapping [contracts.ErrTooLarge] that names the sizes. Store large
// payloads elsewhere (S3, a database) and publish a reference.
//
// # Malformed messages
//
// A message whose body is not this package's envelope (sent by another
// producer, hand-edited in a console) is never handed to a routine and never
// crashes the consumer: Consume sends it to the dead-letter queue with the
// reason "malformed message: …", deletes it, logs a warning and goes on. It
// shows up in DeadLetters with its raw body as payload and the attribute
// plba.malformed=true.
//
// # FIFO queues
//
// A queue URL ending in ".fifo" is a FIFO queue: MessageGroupId comes from
// the task attribute [contracts.AttrGroup] (default: the task kind) and
// MessageDeduplicationId from [contracts.AttrDedupID] (default: the task
// ID). Values SQS would refuse (over 128 characters or outside its
// alphabet) are replaced by their SHA-256.
//
// # Stats
//
// SQS gauges are approximate and lag by seconds. Ready includes messages
// received into the local buffer but not yet handed out; Delayed includes
// messages this Queue nacked whose delay is still running (SQS itself
// reports those as not visible and cannot tell them from in-flight ones, so
// nacks by other processes show as InFlight). The counters (Published,
// Acked, Nacked, DeadLettered) count what this Queue value did since New.
//
// # Local servers
//
// local-aws-sqs 2.0.2 (scripts/services/sqs.sh) differs from SQS in two ways
// that matter here: its ApproximateNumberOfMessages also counts in-flight
// messages (set [Options].ReadyCountsInFlight), and a long poll waits the
// full WaitTime unless the batch fills (keep WaitTime short against it).
package sqsqueue
