package contracts

import (
	"context"
	"log/slog"
	"time"
)

// ApplicationModule describes an application to the runtime. Register is
// called once, during bootstrap, before anything starts; it declares the
// module's pieces and must not start goroutines of its own (custom workers
// do that in Start).
type ApplicationModule interface {
	Name() string
	Register(ctx context.Context, r Registry) error
}

// Registry is what a module registers its pieces with. The deployment
// (local runner, Lambda poller/worker/control) decides how they run.
type Registry interface {
	// Logger is the module's logger.
	Logger() *slog.Logger
	// Config gives typed access to configuration.
	Config() Config
	// Services is the service container, for sharing clients and stores.
	Services() Services
	// AddSource registers a task source publishing into a named queue.
	AddSource(spec SourceSpec) error
	// AddRoutine registers the routine for tasks of a kind, consumed from a
	// named queue.
	AddRoutine(spec RoutineSpec) error
	// AddWorker registers a custom worker; it runs in long-lived
	// deployments only.
	AddWorker(w Worker) error
	// AddHealth registers a health contributor.
	AddHealth(h HealthContributor) error
	// OnStop registers a function run once at shutdown, after every worker
	// stopped (close clients, flush stores).
	OnStop(f func(ctx context.Context) error)
}

// Services is a registry of shared services by name.
type Services interface {
	Provide(name string, svc any) error
	Lookup(name string) (any, bool)
}

// SourceMode says how a long-lived deployment drives a source.
type SourceMode string

// Source modes.
const (
	// SourcePoll calls Poll on an interval.
	SourcePoll SourceMode = "poll"
	// SourcePush calls Run (the source must be a PushSource).
	SourcePush SourceMode = "push"
)

// SourceSpec declares a source.
type SourceSpec struct {
	Source TaskSource
	// Queue names the queue the source publishes to.
	Queue string
	// Mode is poll or push; default poll.
	Mode SourceMode
	// Interval between polls in poll mode; default 30s.
	Interval time.Duration
}

// RoutineSpec declares a routine and how to run it.
type RoutineSpec struct {
	// Name identifies the routine's worker pool; default Kind.
	Name string
	// Kind is the task kind the routine handles; "" handles every kind on
	// the queue.
	Kind string
	// Queue names the queue to consume from.
	Queue   string
	Routine Routine
	// Workers is the pool size in long-lived deployments; default 1.
	Workers int
	// WorkersKey, when set, is the configuration key that holds Workers
	// (e.g. "apps.mailorderbot.workers"): a reload that changes it resizes
	// the pool without a restart.
	WorkersKey string
	// Timeout bounds one run of the routine; 0 means the runtime default.
	Timeout time.Duration
	// MaxAttempts is how many deliveries a task gets before it is
	// dead-lettered; 0 means the queue's (see [AttemptLimiter]).
	MaxAttempts int
	// Middleware wraps this routine, outermost first, inside the
	// runtime-wide middleware (which wraps every routine). Both run inside
	// the executor's fixed steps: trace span, timeout, panic recovery,
	// outcome classification and settlement.
	Middleware []RoutineMiddleware
}

// Settlers: after a task's final outcome the runtime calls Settle on the
// registered source whose name is in the task's [AttrSource] attribute, if
// that source implements [Settler]. This holds in every deployment.
