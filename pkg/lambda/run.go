package lambda

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/lambda/controlfn"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/lambda/workerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/runtime"
)

// Function is one of the three functions of a split deployment. Each
// carries its own handler constructor, so a bootstrap links only the
// handler it serves: a main that names Poller does not link the worker's or
// the control function's code (see docs/serverless.md, "Size budget").
type Function struct {
	name string
	// consumes: the function opens only the queue its routines consume.
	consumes bool
	// metrics: the function runs sources or routines and writes their
	// metrics (the control function counts nothing).
	metrics bool
	handler func(in *handlerInput) (any, error)
}

// String returns the function's name: poller, worker or control.
func (f Function) String() string { return f.name }

// handlerInput is what Build prepared for a function's handler.
type handlerInput struct {
	o        *Options
	p        runtime.PlatformConfig
	a        *runtime.Assembly
	queues   map[string]*sqsqueue.Queue
	steps    []contracts.Step
	consumed string
	modules  []contracts.ApplicationModule
	ctx      context.Context
	metrics  *lambdaMetrics
}

// The functions of a split deployment. Each is a statically initialised
// value, so the linker keeps only the ones a main refers to.
var (
	Poller  = Function{name: "poller", metrics: true, handler: pollerHandler}
	Worker  = Function{name: "worker", consumes: true, metrics: true, handler: workerHandler}
	Control = Function{name: "control", handler: controlHandler}
)

// FunctionNamed returns the function called name; it links all three (for
// test bootstraps that serve any of them).
func FunctionNamed(name string) (Function, bool) {
	for _, f := range []Function{Poller, Worker, Control} {
		if f.name == name {
			return f, true
		}
	}
	return Function{}, false
}

func pollerHandler(in *handlerInput) (any, error) {
	p, err := pollerfn.New(pollerfn.Options{Sources: in.a.Sources, Steps: in.steps, Queues: in.queues, Reserve: in.p.Lambda.Reserve,
		Logger: in.o.Logger, Tracer: in.o.Assemble.Tracer})
	if err != nil {
		return nil, err
	}
	if in.metrics != nil {
		return in.metrics.poller(p.Handle), nil
	}
	return p.Handle, nil
}

func workerHandler(in *handlerInput) (any, error) {
	h, err := workerfn.New(workerfn.Options{
		Routines: in.a.Routines, Executor: in.metrics.executor(in.a.Executor), QueueName: in.consumed, Queue: in.queues[in.consumed],
		MaxReceiveCount: in.p.Queue.MaxAttempts, Concurrency: in.p.Lambda.Worker.Concurrency, Reserve: in.p.Lambda.Reserve,
		Tracer: in.o.Assemble.Tracer, Logger: in.o.Logger,
	})
	if err != nil {
		return nil, err
	}
	if in.metrics != nil {
		return in.metrics.worker(h.Handle, in.consumed), nil
	}
	return h.Handle, nil
}

func controlHandler(in *handlerInput) (any, error) {
	qs := make(map[string]control.QueueHandle, len(in.queues))
	for n, q := range in.queues {
		qs[n] = q
	}
	var pauser control.Pauser
	if in.o.ControlPauser != nil {
		var err error
		if pauser, err = in.o.ControlPauser(in.ctx, getenvFrom(in.o.Environ)); err != nil {
			return nil, err
		}
	}
	h, err := controlfn.New(controlfn.Options{Queues: qs, Health: in.a.Health, Pauser: pauser,
		Modules: in.modules, Build: in.o.Build, ConfigVersion: in.o.ConfigVersion, Config: in.o.ConfigView, Logger: in.o.Logger})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}

// Options configure how a function is built from modules. Everything here
// happens once per cold start.
type Options struct {
	// Config is the modules' configuration; nil means defaults only.
	Config contracts.Config
	// ConfigVersion is shown by control status.
	ConfigVersion string
	// ConfigView, if set, is shown by control status (secrets must be
	// contracts.Secret).
	ConfigView any
	// ControlPauser, when set, builds the control function's pause and
	// resume from its environment (awspause.FromEnv); nil: they answer
	// not_supported.
	ControlPauser func(ctx context.Context, getenv func(string) string) (control.Pauser, error)
	// Build is shown by control status; default $PLBA_BUILD.
	Build string
	// Logger; default a JSON logger on stderr (CloudWatch) with the levels
	// of platform.log per component, every record carrying the function,
	// its version and, when logged with the invocation's context, the
	// request id (and inside a task its trace and identity).
	Logger *slog.Logger
	// Metrics receives the poller's and the worker's metrics as CloudWatch
	// Embedded Metric Format lines, flushed per invocation
	// (platform.telemetry.metrics); default os.Stdout, which Lambda sends
	// to CloudWatch Logs.
	Metrics io.Writer
	// Client talks to SQS; default NewSQSClient.
	Client sqsqueue.API
	// Environ is the function's environment ("NAME=value"); nil means
	// os.Environ(). Configuration comes from it through [LoadConfig].
	Environ []string
	// Assemble adds options for runtime.Assemble (Tracer, Backoff, ...);
	// Config and Logger above win.
	Assemble runtime.AssembleOptions
}

// Built is a function ready to serve: its handler, and what to close.
type Built struct {
	// Handler is the value to pass to aws-lambda-go's lambda.Start.
	Handler  any
	Assembly *runtime.Assembly
	Queues   map[string]*sqsqueue.Queue
}

// Close closes the queues and runs the modules' OnStop functions.
func (b *Built) Close(ctx context.Context) error {
	for _, q := range b.Queues {
		_ = q.Close()
	}
	if b.Assembly != nil {
		return b.Assembly.Close(ctx)
	}
	return nil
}

// Build assembles modules and builds function fn's handler. Queue URLs,
// max attempts (the redrive policy's maxReceiveCount), the routine timeout
// and backoff, and the worker's queue and concurrency come from the
// platform section of o.Config, validated like `plba run`'s.
//
// Custom workers the modules registered run where they can: one that is a
// contracts.Step (workers.Every) runs once per poller invocation; any other
// makes every function fail to build, naming it, rather than vanish.
func Build(ctx context.Context, fn Function, o Options, modules ...contracts.ApplicationModule) (*Built, error) {
	o.Environ = environOrOS(o.Environ)
	getenv := getenvFrom(o.Environ)
	if o.Build == "" {
		o.Build = getenv("PLBA_BUILD")
	}
	p := runtime.DefaultPlatformConfig()
	var sc sqsqueue.Config // platform.queue.sqs: the SQS backend's own section
	if o.Config != nil {
		if err := o.Config.Decode("platform", &p); err != nil {
			return nil, fmt.Errorf("lambda %s: %w", fn, err)
		}
		if _, ok := p.Queue.Backends["sqs"]; ok {
			if err := o.Config.Decode("platform.queue.sqs", &sc); err != nil {
				return nil, fmt.Errorf("lambda %s: %w", fn, err)
			}
		}
	}
	ao := o.Assemble
	if o.Logger == nil {
		logging, err := newLogging(os.Stderr, p.Log, fn, getenv)
		if err != nil {
			return nil, fmt.Errorf("lambda %s: %w", fn, err)
		}
		o.Logger = logging.Logger("lambda")
		if ao.LoggerFor == nil {
			ao.LoggerFor = logging.Logger
		}
	}
	if o.Client == nil {
		c, err := NewSQSClient(ctx)
		if err != nil {
			return nil, err
		}
		o.Client = c
	}
	ao.Config, ao.Logger = o.Config, o.Logger
	if ao.DefaultTimeout == 0 {
		ao.DefaultTimeout = p.Routines.Timeout
	}
	if ao.Backoff == nil {
		ao.Backoff = routine.ExponentialBackoff(p.Routines.BackoffMin, p.Routines.BackoffMax)
	}
	// Metrics first: the modules' sources take their meter from the global
	// provider when they are made.
	var metrics *lambdaMetrics
	if fn.metrics {
		// Not Control.name: naming Control would link its handler into
		// every bootstrap.
		if o.Metrics == nil {
			o.Metrics = os.Stdout
		}
		var err error
		if metrics, err = newLambdaMetrics(p.Telemetry.Metrics, o.Metrics, o.Logger); err != nil {
			return nil, fmt.Errorf("lambda %s: %w", fn, err)
		}
	}
	a, err := runtime.Assemble(ctx, ao, modules...)
	if err != nil {
		return nil, fmt.Errorf("lambda %s: %w", fn, err)
	}
	b := &Built{Assembly: a}
	fail := func(err error) (*Built, error) {
		_ = b.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lambda %s: %w", fn, err)
	}
	steps, err := stepsOf(a.Workers)
	if err != nil {
		return fail(err)
	}
	if fn.handler == nil {
		return fail(errors.New("unknown function (use lambda.Poller, Worker or Control)"))
	}
	in := &handlerInput{o: &o, p: p, a: a, steps: steps, modules: modules, ctx: ctx, metrics: metrics}
	names := a.Queues()
	if fn.consumes {
		if in.consumed, err = workerQueue(a, p.Lambda.Worker.Queue); err != nil {
			return fail(err)
		}
		names = []string{in.consumed}
	}
	if b.Queues, err = OpenQueues(o.Client, names, p.Queue, sc, o.Logger); err != nil {
		return fail(err)
	}
	in.queues = b.Queues
	if b.Handler, err = fn.handler(in); err != nil {
		return fail(err)
	}
	return b, nil
}

// stepsOf returns the custom workers as steps, or an error naming each
// worker that cannot run in a Lambda deployment.
func stepsOf(ws []contracts.Worker) ([]contracts.Step, error) {
	var steps []contracts.Step
	var bad []string
	for _, w := range ws {
		if st, ok := w.(contracts.Step); ok {
			steps = append(steps, st)
			continue
		}
		bad = append(bad, w.Name())
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: %q (a custom worker runs in Lambda only as a contracts.Step, e.g. workers.Every, which the poller runs once per invocation)", ErrWorkerNotSupported, bad)
	}
	return steps, nil
}

// ErrWorkerNotSupported is returned by [Build] for a custom worker that
// cannot run in a Lambda function.
var ErrWorkerNotSupported = errors.New("custom workers cannot run in Lambda")

// workerQueue picks the logical queue the worker consumes.
func workerQueue(a *runtime.Assembly, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	seen := map[string]bool{}
	var names []string
	for _, r := range a.Routines {
		if !seen[r.Queue] {
			seen[r.Queue] = true
			names = append(names, r.Queue)
		}
	}
	if len(names) != 1 {
		return "", fmt.Errorf("routines consume %d queues %q: set platform.lambda.worker.queue (PLBA_PLATFORM__LAMBDA__WORKER__QUEUE)", len(names), names)
	}
	return names[0], nil
}

// Main builds function fn from modules and serves it with aws-lambda-go;
// it is the whole body of a function's main. A build failure is logged and
// the process exits 1, which Lambda reports as Runtime.InitError.
//
// Without Options.Config, the configuration comes from [LoadConfig], and
// control status shows its version and its redacted values.
func Main(fn Function, o Options, modules ...contracts.ApplicationModule) {
	ctx := context.Background()
	if o.Config == nil {
		m, err := LoadConfig(ctx, o.Environ, o.Logger, modules...)
		if err != nil {
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "function", fn.String(), "error", err)
			os.Exit(1)
		}
		o.Config = m
		// LoadConfig declared the modules' configuration already.
		o.Assemble.ConfigDeclared = true
		if o.ConfigVersion == "" {
			o.ConfigVersion = m.Version()
		}
		if o.ConfigView == nil {
			o.ConfigView = m.Redacted()
		}
	}
	b, err := Build(ctx, fn, o, modules...)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "function", fn.String(), "error", err)
		os.Exit(1)
	}
	awslambda.StartWithOptions(b.Handler, awslambda.WithEnableSIGTERM(func() {
		_ = b.Close(context.Background())
		if c, ok := o.Config.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}))
}
