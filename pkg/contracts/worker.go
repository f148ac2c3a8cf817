package contracts

import (
	"context"
	"time"
)

// Worker is the unit the runtime starts, stops, supervises and reports on.
// The runtime is centred on it: a consumer pool, a source poller and any
// custom loop an application writes are all Workers.
//
// The life cycle is Start once, then Stop once; Done is closed when the
// worker has stopped, by Stop or on its own (a failure the supervisor may
// answer with a restart of a fresh instance, see WorkerDefinition in package
// runtime).
type Worker interface {
	// Name identifies the worker in status, logs and health.
	Name() string
	// Start begins work and returns once the worker runs, or with the reason
	// it could not start. It must not block for the worker's lifetime.
	Start(ctx context.Context) error
	// Stop ends the worker. Without force it stops taking new work and
	// drains what is in flight until ctx is done, then abandons (returns to
	// its queue) whatever is left. With force it cancels in-flight work at
	// once. Stop returns when the worker has stopped.
	Stop(ctx context.Context, force bool) error
	// Done is closed once the worker has stopped.
	Done() <-chan struct{}
	// Err reports why the worker stopped on its own; nil while running and
	// after a requested Stop.
	Err() error
	// Health is the worker's own view of its health.
	Health() Health
	// Status is a snapshot for status pages.
	Status() WorkerStatus
}

// WorkerState is a worker's life-cycle state.
type WorkerState string

// Worker states.
const (
	WorkerIdle     WorkerState = "idle"
	WorkerStarting WorkerState = "starting"
	WorkerRunning  WorkerState = "running"
	WorkerStopping WorkerState = "stopping"
	WorkerStopped  WorkerState = "stopped"
	WorkerFailed   WorkerState = "failed"
	// WorkerPaused: stopped by an operator until resumed (set by the
	// supervisor, not by workers).
	WorkerPaused WorkerState = "paused"
)

// WorkerStatus is a worker's status snapshot.
type WorkerStatus struct {
	Name      string      `json:"name"`
	Kind      string      `json:"kind"`
	State     WorkerState `json:"state"`
	StartedAt time.Time   `json:"started_at,omitzero"`
	// Concurrency is the number of goroutines doing work.
	Concurrency int `json:"concurrency,omitempty"`
	// InFlight is the number of tasks being processed now.
	InFlight int64 `json:"in_flight"`
	// Succeeded and Failed count routine outcomes; Panics is part of Failed.
	Succeeded int64 `json:"succeeded"`
	Failed    int64 `json:"failed"`
	Panics    int64 `json:"panics,omitempty"`
	// DeadLettered counts tasks this worker sent to the dead-letter queue.
	DeadLettered int64 `json:"dead_lettered,omitempty"`
	// Published counts tasks a source worker published.
	Published int64 `json:"published,omitempty"`
	// Restarts is filled in by the supervisor.
	Restarts  int       `json:"restarts"`
	LastError string    `json:"last_error,omitempty"`
	LastAt    time.Time `json:"last_at,omitzero"`
}

// Step is a custom worker's unit of periodic work, so that deployments
// without long-lived processes can run it: the Lambda poller runs every
// registered worker that is a Step once per invocation (on the poller's
// schedule), while the local runner runs the worker itself. A custom worker
// that is not a Step cannot run in a Lambda deployment, and the functions
// refuse to start with an error naming it.
type Step interface {
	Name() string
	// RunOnce does one round of the work.
	RunOnce(ctx context.Context) error
}
