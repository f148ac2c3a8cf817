package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"

	awslambda "github.com/aws/aws-lambda-go/lambda"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/controlfn"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/lambda/workerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
)

// Function names one of the three functions.
type Function string

// The functions of a split deployment.
const (
	Poller  Function = "poller"
	Worker  Function = "worker"
	Control Function = "control"
)

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
	// Build is shown by control status; default $PLBA_BUILD.
	Build string
	// Logger; default a JSON logger on stderr (CloudWatch).
	Logger *slog.Logger
	// Client talks to SQS; default NewSQSClient.
	Client sqsqueue.API
	// Getenv; default os.Getenv.
	Getenv func(string) string
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

// Build assembles modules and builds function fn's handler.
func Build(ctx context.Context, fn Function, o Options, modules ...contracts.ApplicationModule) (*Built, error) {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", string(fn))
	}
	if o.Build == "" {
		o.Build = o.Getenv("PLBA_BUILD")
	}
	if o.Client == nil {
		c, err := NewSQSClient(ctx)
		if err != nil {
			return nil, err
		}
		o.Client = c
	}
	ao := o.Assemble
	ao.Config, ao.Logger = o.Config, o.Logger
	a, err := runtime.Assemble(ctx, ao, modules...)
	if err != nil {
		return nil, fmt.Errorf("lambda %s: %w", fn, err)
	}
	b := &Built{Assembly: a}
	fail := func(err error) (*Built, error) {
		_ = b.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("lambda %s: %w", fn, err)
	}
	names := a.Queues()
	if fn == Worker {
		name, err := workerQueue(a, o.Getenv)
		if err != nil {
			return fail(err)
		}
		names = []string{name}
	}
	if b.Queues, err = OpenQueues(o.Client, names, o.Getenv, o.Logger); err != nil {
		return fail(err)
	}
	switch fn {
	case Poller:
		p, err := pollerfn.New(pollerfn.Options{Sources: a.Sources, Queues: b.Queues, Logger: o.Logger})
		if err != nil {
			return fail(err)
		}
		b.Handler = p.Handle
	case Worker:
		maxRecv, err := MaxReceiveCount(o.Getenv)
		if err != nil {
			return fail(err)
		}
		conc := 0
		if v := o.Getenv("PLBA_WORKER_CONCURRENCY"); v != "" {
			if conc, err = strconv.Atoi(v); err != nil {
				return fail(fmt.Errorf("PLBA_WORKER_CONCURRENCY=%q: %w", v, err))
			}
		}
		name := names[0]
		h, err := workerfn.New(workerfn.Options{
			Routines: a.Routines, Executor: a.Executor, QueueName: name, Queue: b.Queues[name],
			MaxReceiveCount: maxRecv, Concurrency: conc, Tracer: o.Assemble.Tracer, Logger: o.Logger,
		})
		if err != nil {
			return fail(err)
		}
		b.Handler = h.Handle
	case Control:
		qs := make(map[string]controlfn.Queue, len(b.Queues))
		for n, q := range b.Queues {
			qs[n] = q
		}
		h := controlfn.New(controlfn.Options{Queues: qs, Health: a.Health, Build: o.Build, ConfigVersion: o.ConfigVersion, Config: o.ConfigView, Logger: o.Logger})
		b.Handler = h.Handle
	default:
		return fail(fmt.Errorf("unknown function %q", fn))
	}
	return b, nil
}

// workerQueue picks the logical queue the worker consumes.
func workerQueue(a *runtime.Assembly, getenv func(string) string) (string, error) {
	if q := getenv("PLBA_WORKER_QUEUE"); q != "" {
		return q, nil
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
		return "", fmt.Errorf("routines consume %d queues %q: set PLBA_WORKER_QUEUE", len(names), names)
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
		m, err := LoadConfig(ctx, o.Getenv, o.Logger, modules...)
		if err != nil {
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "function", string(fn), "error", err)
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
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("init failed", "function", string(fn), "error", err)
		os.Exit(1)
	}
	awslambda.StartWithOptions(b.Handler, awslambda.WithEnableSIGTERM(func() {
		_ = b.Close(context.Background())
	}))
}
