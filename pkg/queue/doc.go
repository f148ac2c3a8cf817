// Package queue holds the task queue backends and their conformance suite.
//
// # Backends
//
//   - memqueue: bounded in-memory queue for the local runner and tests.
//   - sqsqueue: Amazon SQS (and SQS-compatible servers).
//   - redisqueue: Redis (lists and sorted sets driven by Lua scripts).
//
// Every backend implements contracts.TaskQueue and passes queuetest.Run,
// so the runtime can rely on the same semantics everywhere: at-least-once
// delivery, Nack(delay) never redelivers before the delay, attempts are
// counted, and dead letters are kept until redriven.
package queue
