// Package redisqueue is a [contracts.TaskQueue] on Redis (6.0 or later; tested on 7.0),
// built on github.com/redis/go-redis/v9. It also implements
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
//	plba:{NAME}:m:ID      HASH   one message: body (the envelope), attempt,
//	                             token (while in flight), reason and dead_at (when dead)
//	plba:{NAME}:counters  HASH   published, acked, nacked, dead_lettered (HINCRBY)
//	plba:{NAME}:seq       STRING message id sequence (INCR)
//	plba:{NAME}:signal    LIST   one wake-up token per push to ready
//	plba:{NAME}:space     LIST   wake-up tokens for publishers waiting on Capacity
//
// The body is JSON: {"v":1,"id":…,"kind":…,"payload":base64,"attrs":{…},
// "enqueued_at":RFC 3339}. The attempt count lives beside it in the hash, so
// a delivery increments a field instead of re-encoding the body.
//
// # Operations
//
//   - Publish: one script checks Capacity (ready + in flight + delayed),
//     stores the message and pushes its id. When the queue is full Publish
//     waits on the space list (BLPOP) until a settlement frees a slot.
//   - Consume: one script pops the oldest ready id, increments its attempt,
//     stores a fresh per-delivery token and puts it in flight with a lease.
//     With nothing ready the consumer waits on the signal list (BLPOP): a
//     publish wakes one consumer, not all of them.
//   - Ack / Nack / DeadLetter / Extend check the delivery's token, so a
//     second settlement, or one after the lease expired and the task was
//     handed out again, fails with [contracts.ErrNotInFlight].
//   - Nack(delay) puts the task in the delayed set, never back in ready
//     before the delay; Nack of the MaxAttempts-th delivery dead-letters it
//     with the reason "max attempts (N) reached".
//   - The mover, one goroutine per Queue (not per message), runs one script
//     that moves due delayed tasks and expired leases back to ready (or to
//     the dead list past MaxAttempts). It sleeps until the next due time it
//     knows of, at most MoverInterval, and is woken by local Nacks.
//   - Stats: one script reads the gauges (LLEN/ZCARD, exact at one instant)
//     and the counters. Counters are shared by every process using the
//     queue and count since the queue's keys were created.
//   - DeadLetters / Redrive list and move dead letters (oldest first);
//     Redrive resets the attempt count and respects Capacity.
//
// Time in scripts is Redis server time (TIME), so leases and delays do not
// depend on the clocks of the processes sharing the queue.
//
// # Blocking and Close
//
// With a *redis.Client or *redis.ClusterClient, each blocked call waits on a
// connection of its own whose client id the queue knows; Close and a
// cancelled ctx end the wait at once with CLIENT UNBLOCK. With other clients
// (a Ring) waits end within BlockTimeout. Close stops the mover; tasks stay in
// Redis. The caller owns the client and closes it after the queue.
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
