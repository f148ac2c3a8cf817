// Package runtime is the platform core: it bootstraps an application from
// its modules, runs its workers under supervision and reports on them.
//
// # Pieces
//
//   - [Manager] (the RuntimeManager of the design): bootstrap, register
//     modules, start and stop everything in order with timeouts, snapshot.
//   - [Assemble] runs modules' Register against a registry and returns the
//     declared pieces ([Assembly]); the local Manager and the Lambda
//     adapters both build on it, so a module is written once.
//   - [WorkerSupervisor]: starts workers, restarts failed ones with jittered
//     backoff up to a restart intensity, stops them in reverse order.
//   - [ServiceContainer]: typed registry of shared services.
//   - [HealthRegistry]: liveness, readiness and a detailed view aggregated
//     from contributors and workers.
//   - [Logging]: log/slog, JSON or text, a level per component.
//
// # Start and stop order
//
// Start: queues, then consumer pools, then custom workers, then sources —
// so nothing is published before something consumes. Stop is the reverse:
// sources stop first (no new tasks), custom workers next, then pools drain
// in-flight tasks until the shutdown deadline and return what is left to
// the queue, then queues close and modules' OnStop hooks run.
package runtime
