package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

// AssembleOptions are what modules are registered with.
type AssembleOptions struct {
	// Config gives modules typed configuration; nil means none (modules
	// keep their defaults).
	Config contracts.Config
	// Logger for modules; each module gets Logger.With("module", name).
	// Use LoggerFor to give each module a component logger instead.
	Logger    *slog.Logger
	LoggerFor func(module string) *slog.Logger
	// Services is the shared container; nil makes a new one.
	Services *ServiceContainer
	// Tracer, when set, is given to every executor.
	Tracer trace.Tracer
	// DefaultTimeout for routines that set none (platform.routines.timeout);
	// 0 means no timeout.
	DefaultTimeout time.Duration
	// Middleware wraps every routine, outermost first, outside each
	// routine's own RoutineSpec.Middleware.
	Middleware []contracts.RoutineMiddleware
	// Backoff for routine errors; nil means routine.DefaultBackoff.
	Backoff routine.Backoff
	// ConfigDeclared: the caller already ran DeclareConfig for these
	// modules (to check the configuration before anything starts).
	ConfigDeclared bool
}

// Assembly is what a set of modules declared. Deployments turn it into
// running things: the local Manager into workers, the Lambda adapters into
// handlers.
type Assembly struct {
	Modules  []string
	Sources  []contracts.SourceSpec
	Routines []contracts.RoutineSpec
	Workers  []contracts.Worker
	Health   []contracts.HealthContributor
	// Settlers by source name: every registered source that implements
	// contracts.Settler.
	Settlers map[string]contracts.Settler
	Services *ServiceContainer

	opts   AssembleOptions
	mu     sync.Mutex
	onStop []func(context.Context) error
	closed bool
}

// Assemble runs every module's Register. Names of sources and routines must
// be unique; a routine's queue must be named.
func Assemble(ctx context.Context, opts AssembleOptions, modules ...contracts.ApplicationModule) (*Assembly, error) {
	if opts.Services == nil {
		opts.Services = NewServiceContainer()
	}
	if opts.Config == nil {
		opts.Config = noConfig{}
	}
	a := &Assembly{Settlers: map[string]contracts.Settler{}, Services: opts.Services, opts: opts}
	if !opts.ConfigDeclared {
		if err := DeclareConfig(opts.Config, modules...); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for _, m := range modules {
		name := m.Name()
		if name == "" || seen[name] {
			return nil, fmt.Errorf("runtime: module name %q empty or registered twice", name)
		}
		seen[name] = true
		log := opts.Logger
		if opts.LoggerFor != nil {
			log = opts.LoggerFor(name)
		} else if log == nil {
			log = slog.Default().With("module", name)
		} else {
			log = log.With("module", name)
		}
		r := &registry{a: a, module: name, log: log}
		if err := m.Register(ctx, r); err != nil {
			_ = a.Close(context.Background())
			return nil, fmt.Errorf("runtime: register module %s: %w", name, err)
		}
		a.Modules = append(a.Modules, name)
	}
	return a, nil
}

// Executor returns the executor for a routine spec, with the assembly's
// settlers, tracer, timeout, backoff and middleware; the routine's context
// carries the task for log records ([WithTask]). MaxAttempts is the
// spec's; 0 leaves it to the queue (see contracts.AttemptLimiter), which the
// deployment applies with [routine.Executor.LimitFrom].
func (a *Assembly) Executor(spec contracts.RoutineSpec) *routine.Executor {
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = a.opts.DefaultTimeout
	}
	// The task's identity goes into the context first, so every line the
	// middleware and the routine log with it names the task.
	mw := append([]contracts.RoutineMiddleware{taskMiddleware(spec.Queue)}, a.opts.Middleware...)
	r := routine.Chain(spec.Routine, append(mw, spec.Middleware...)...)
	return &routine.Executor{
		Routine:     r,
		Timeout:     timeout,
		MaxAttempts: spec.MaxAttempts,
		Backoff:     a.opts.Backoff,
		Settlers:    a.Settlers,
		Tracer:      a.opts.Tracer,
	}
}

// Queues lists the queue names the assembly uses, in first-use order.
func (a *Assembly) Queues() []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, r := range a.Routines {
		add(r.Queue)
	}
	for _, s := range a.Sources {
		add(s.Queue)
	}
	return out
}

// Close runs the modules' OnStop functions, last registered first, once.
func (a *Assembly) Close(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	fns := a.onStop
	a.mu.Unlock()
	var errs []error
	for i := len(fns) - 1; i >= 0; i-- {
		if err := fns[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type registry struct {
	a      *Assembly
	module string
	log    *slog.Logger
}

func (r *registry) Logger() *slog.Logger         { return r.log }
func (r *registry) Config() contracts.Config     { return r.a.opts.Config }
func (r *registry) Services() contracts.Services { return r.a.Services }

func (r *registry) AddSource(spec contracts.SourceSpec) error {
	if spec.Source == nil {
		return errors.New("AddSource: nil source")
	}
	name := spec.Source.Name()
	if spec.Queue == "" {
		return fmt.Errorf("AddSource %s: no queue named", name)
	}
	for _, s := range r.a.Sources {
		if s.Source.Name() == name {
			return fmt.Errorf("AddSource: source %q registered twice", name)
		}
	}
	if spec.Mode == "" {
		spec.Mode = contracts.SourcePoll
	}
	if spec.Mode == contracts.SourcePush {
		if _, ok := spec.Source.(contracts.PushSource); !ok {
			return fmt.Errorf("AddSource %s: push mode needs a PushSource", name)
		}
	}
	if spec.Interval <= 0 {
		spec.Interval = 30 * time.Second
	}
	r.a.Sources = append(r.a.Sources, spec)
	if s, ok := spec.Source.(contracts.Settler); ok {
		r.a.Settlers[name] = s
	}
	return nil
}

func (r *registry) AddRoutine(spec contracts.RoutineSpec) error {
	if spec.Routine == nil {
		return errors.New("AddRoutine: nil routine")
	}
	if spec.Queue == "" {
		return fmt.Errorf("AddRoutine %s: no queue named", spec.Kind)
	}
	if spec.Name == "" {
		spec.Name = spec.Kind
		if spec.Name == "" {
			spec.Name = r.module
		}
	}
	for _, s := range r.a.Routines {
		if s.Name == spec.Name {
			return fmt.Errorf("AddRoutine: routine %q registered twice", spec.Name)
		}
		if s.Queue == spec.Queue && s.Kind == spec.Kind {
			return fmt.Errorf("AddRoutine %s: kind %q on queue %q already handled by %s", spec.Name, spec.Kind, spec.Queue, s.Name)
		}
	}
	if spec.Workers <= 0 {
		spec.Workers = 1
	}
	r.a.Routines = append(r.a.Routines, spec)
	return nil
}

func (r *registry) AddWorker(w contracts.Worker) error {
	if w == nil {
		return errors.New("AddWorker: nil worker")
	}
	r.a.Workers = append(r.a.Workers, w)
	return nil
}

func (r *registry) AddHealth(h contracts.HealthContributor) error {
	if h == nil {
		return errors.New("AddHealth: nil contributor")
	}
	r.a.Health = append(r.a.Health, h)
	return nil
}

func (r *registry) OnStop(f func(ctx context.Context) error) {
	r.a.mu.Lock()
	r.a.onStop = append(r.a.onStop, f)
	r.a.mu.Unlock()
}

type noConfig struct{}

func (noConfig) Decode(string, any) error  { return nil }
func (noConfig) Declare(string, any) error { return nil }

// DeclareConfig lets every module that is a contracts.ConfigDeclarer state
// its configuration; Assemble does it before Register.
func DeclareConfig(cfg contracts.Config, modules ...contracts.ApplicationModule) error {
	for _, m := range modules {
		if d, ok := m.(contracts.ConfigDeclarer); ok {
			if err := d.DeclareConfig(cfg); err != nil {
				return fmt.Errorf("runtime: module %s: declare config: %w", m.Name(), err)
			}
		}
	}
	return nil
}
