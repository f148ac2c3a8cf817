// Package redisqueue is the Redis backend of the portable queue, registered
// as "redis" (Redis 6.0 or later; tested on 7.0), built on
// github.com/redis/go-redis/v9. Its queue also implements
// [contracts.LeaseExtender] and [contracts.DeadLetterQueue], and passes the
// queue conformance suite (package queuetest) against a real Redis with
// bounded capacity and strict receipts: the local runner can swap the
// in-memory queue for Redis, and several processes can share one queue,
// without a change in semantics.
//
// # Keys
//
// All keys of queue NAME start with Prefix:{NAME}: (default prefix "plba");
// the braces are a hash tag, so every key of a queue lives in one Redis
// Cluster slot and each operation is one atomic Lua script there:
//
//	plba:{NAME}:ready     LIST   message ids ready for delivery (FIFO)
//	plba:{NAME}:inflight  ZSET   delivered message ids, scored by lease deadline (ms)
//	plba:{NAME}:delayed   ZSET   nacked message ids, scored by due time (ms)
//	plba:{NAME}:dead      LIST   dead-lettered message ids, oldest first
//	plba:{NAME}:m:ID      HASH   one message: body (the envelope), attempt, tid (task id),
//	                             token (while in flight), reason and dead_at (when dead)
//	plba:{NAME}:ids       HASH   task id -> copies held (ready, in flight, delayed or
//	                             dead); an ack removes the copy (HeldTasks)
//	plba:{NAME}:counters  HASH   published, acked, nacked, dead_lettered (HINCRBY)
//	plba:{NAME}:seq       STRING message id sequence (INCR)
//	plba:{NAME}:signal    LIST   wake-up tokens for a waiting receiver (at most 16)
//
// The body is the one task envelope of every backend ([driver.Envelope]).
// The attempt count lives beside it in the hash, so a delivery increments a
// field instead of re-encoding the body.
//
// # Division of labour
//
// [New] returns the portable [queue.Queue] over a [Driver]: attempts and
// the dead-letter decision, close and drain, the settle rules, read-ahead
// and the size limit are the portable type's; the driver does Redis I/O.
//
// # Operations
//
//   - Send: one script checks Capacity (ready + in flight + delayed) and
//     stores the batch. A full queue returns driver.ErrFull and the
//     portable type retries with a short backoff (up to 50 ms).
//   - Receive: one script claims up to a batch of ready tasks (pop, count
//     the attempt, store a per-delivery token, lease). The portable type's
//     receive loop keeps up to ReadAhead claimed tasks ready for consumers
//     (Prefetch). With nothing ready the loop waits on the signal list.
//   - Settle: acks, nacks and dead-letters check the delivery's token, so a
//     stale settlement (after the lease expired and the task was handed
//     out again) fails with [contracts.ErrNotInFlight]; concurrent
//     settlements are combined into one script while one is on the wire.
//   - The mover, one goroutine per driver (not per message), moves due
//     delayed tasks and expired leases back to ready. A task claimed past
//     MaxAttempts is dead-lettered by the portable type ("lease expired on
//     attempt N").
//   - HeldTasks ([contracts.TaskHolder]): one script answers, by task id,
//     whether the queue holds a copy (ready, in flight, delayed or dead),
//     from the ids hash the send and ack scripts keep. The IMAP source uses
//     it to publish again a message whose publisher was killed between
//     marking it and publishing it. Tasks stored by a version without the
//     hash are not found: drain the queue before upgrading processes that
//     share it.
//   - Stats: one script reads the gauges (exact at one instant) and the
//     counters, which every process using the queue shares.
//   - DeadLetters / Redrive list and move dead letters (oldest first);
//     Redrive resets the attempt count and respects Capacity.
//   - Release (Close): read-ahead tasks nobody took go back to the head of
//     the ready list at once, their attempt not counted.
//
// Time in scripts is Redis server time (TIME), so leases and delays do not
// depend on the clocks of the processes sharing the queue.
//
// # Blocking and Close
//
// Only the receive loop blocks, on one connection per driver that belongs
// to a private one-connection client made from the caller's client options
// (*redis.Client, or the node of a *redis.ClusterClient): waiting never
// holds a connection of the caller's pool, so any number of queues sharing
// a client leave its pool to publishes, claims and acks. A cancelled wait
// ends at once with CLIENT UNBLOCK; Close closes the private client. With
// other clients (a Ring) waits go through the pool and end within
// BlockTimeout. Tasks stay in Redis; the caller owns its client and closes
// it after the queue.
//
// # Malformed entries
//
// A ready id without a message record (pushed by something else), a record
// that is not a hash, a body that is not an envelope, or a delayed or
// in-flight member without a record is never handed to a routine and never
// retried in a loop: it is moved to the dead list with a reason
// ("malformed entry …") and shows in DeadLetters with its raw content as
// payload and the attribute [AttrMalformed].
package redisqueue
