// Package workers holds the standard [contracts.Worker] implementations the
// runtime composes an application from:
//
//   - [Pool]: N goroutines consuming a [contracts.TaskQueue] and running each
//     task through a [routine.Executor] (ack, nack with delay, dead-letter,
//     panics recovered, per-task timeout, lease heartbeat);
//   - [SourceWorker]: drives a [contracts.TaskSource] by interval polling or
//     by push ([contracts.PushSource]) and publishes into a queue;
//   - [Func]: adapts a plain run function into a Worker, the easiest way to
//     write a custom worker that still plugs into supervision and status.
//
// All of them share the life cycle in [contracts.Worker]: Start once, Stop
// once, Done closed when stopped.
package workers
