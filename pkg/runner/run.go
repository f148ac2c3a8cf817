package runner

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/routine"
	"github.com/plba/plba/pkg/runtime"
)

func (a *App) runCmd(ctx context.Context, args []string, out, errw io.Writer) int {
	fs := flag.NewFlagSet(a.name()+" run", flag.ContinueOnError)
	var cf configFlags
	cf.register(fs)
	queue := fs.String("queue", "", "queue backend `memory|sqs|redis` (sets platform.queue.backend)")
	listen := fs.String("listen", "", "control plane `address` (sets platform.control.listen; \"off\" disables)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: %s run [--config FILE]... [--set key=value]... [--demo] [--queue memory|sqs|redis] [--listen ADDR]

Runs the application until SIGINT or SIGTERM. The first signal stops sources and drains
in-flight tasks within platform.shutdown.timeout (unfinished tasks return to the queue);
a second signal forces the stop. SIGHUP reloads the configuration.

Without --config and --set the application runs its demo, if it has one.

Flags:
`, a.name())
		fs.PrintDefaults()
	}
	if code, ok := parse(fs, args, errw); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errw, "%s run: unexpected arguments %v\n", a.name(), fs.Args())
		return ExitUsage
	}
	extra := map[string]string{}
	if *queue != "" {
		extra["platform.queue.backend"] = *queue
	}
	if *listen != "" {
		extra["platform.control.listen"] = *listen
	}
	if cf.bare() {
		cf.demo = true
	}
	l, err := a.loadConfig(ctx, &cf, extra, newBootLogger(errw), out)
	if err != nil {
		return exitFor(errw, a.name(), err)
	}
	return a.run(ctx, l, out, errw)
}

func (a *App) run(ctx context.Context, l *loaded, out, errw io.Writer) int {
	defer l.cfg.Close()
	p := l.platform
	logging, err := runtime.NewLogging(errw, p.Log)
	if err != nil {
		return exitFor(errw, a.name(), configError{err})
	}
	log := logging.Logger("runner")
	// The control plane's settings are checked before anything starts: a
	// non-loopback listen without a token is the user's to fix (exit 2).
	ctlPrep, err := control.Prepare(p.Control)
	if err != nil {
		return exitFor(errw, a.name(), configError{err})
	}
	defer ctlPrep.Cleanup()
	outcomes := control.NewOutcomes(0)
	queues, closeQueues, err := queueFactory(ctx, l.cfg, p.Queue, logging.Logger("queue"))
	if err != nil {
		return exitFor(errw, a.name(), err)
	}
	defer closeQueues()
	tracer, stopTracing, err := setupTracing(p.Tracing, p.Telemetry.OTLP, out, a.name(), a.version())
	if err != nil {
		return exitFor(errw, a.name(), configError{err})
	}
	defer stopTracing()
	metrics, promHandler, stopMetrics, err := setupMetrics(p.Telemetry.Metrics, p.Telemetry.OTLP, a.name(), a.version())
	if err != nil {
		return exitFor(errw, a.name(), err)
	}
	defer stopMetrics()
	mgr := runtime.NewManager(runtime.Options{
		Config:       l.cfg,
		Logging:      logging,
		Queues:       queues,
		StartTimeout: p.Startup.Timeout,
		StopTimeout:  p.Shutdown.Timeout,
		Supervisor:   runtime.SupervisorOptions{MaxRestarts: p.Restart.MaxRestarts, Window: p.Restart.Window},
		Backoff:      routine.ExponentialBackoff(p.Routines.BackoffMin, p.Routines.BackoffMax),
		Middleware:   a.Middleware,

		RoutineTimeout: p.Routines.Timeout,
		ReadAhead:      p.Queue.ReadAhead,
		Lease:          p.Queue.Lease,
		Tracer:         tracer,

		QueueObserver:  runtime.QueueObservers(outcomes.Observer, metricsObserver(metrics)),
		ConfigDeclared: true,
	})
	if err := mgr.Register(l.modules...); err != nil {
		return exitFor(errw, a.name(), err)
	}
	if metrics != nil {
		metrics.ObserveQueues(mgr.QueueStats)
		metrics.ObserveWorkers(mgr.Supervisor().Statuses)
		// Libraries (the IMAP source) and applications take their meter
		// from the global provider.
		otel.SetMeterProvider(metrics.MeterProvider())
	}
	sig := make(chan os.Signal, 4)
	stopSignals := a.signals(sig)
	defer stopSignals()

	if err := mgr.Start(ctx); err != nil {
		return exitFor(errw, a.name(), fmt.Errorf("start: %w", err))
	}
	var ctl *control.Server
	if addr := p.Control.Listen; addr != "" && addr != "off" {
		so := control.LocalOptions(mgr)
		so.Config, so.Build, so.Outcomes, so.Modules = l.cfg, a.version(), outcomes, l.modules
		so.Sources = control.SourcesOf(mgr.SourceSpecs())
		so.Logger = logging.Logger("control")
		if metrics != nil {
			so.Metrics = metrics
		}
		svc, err := control.NewService(so)
		if err == nil {
			ho := ctlPrep.HTTP
			ho.Service, ho.Logger, ho.Metrics = svc, so.Logger, promHandler
			ctl, err = control.Listen(addr, control.NewHTTPHandler(ho))
		}
		if err != nil {
			_ = mgr.Stop(context.Background(), true)
			return exitFor(errw, a.name(), err)
		}
		page := "http://" + ctl.Addr() + "/"
		if ctlPrep.Generated {
			log.Info("control plane listening", "url", page, "token_file", ctlPrep.TokenFile)
		} else {
			log.Info("control plane listening", "url", page)
		}
		// The one line a person running `make run` looks for: the live
		// status page (its buttons ask for the token above).
		log.Info("status page: open " + page + " in a browser")
	}
	// platform.log's levels apply again on every reload (the format is
	// fixed at start).
	stopLogWatch := config.OnChange(l.cfg, "platform.log", func(_, lc runtime.LogConfig) {
		if err := logging.Apply(lc); err != nil {
			log.Warn("log levels not applied", "err", err)
			return
		}
		log.Info("log levels applied", "level", lc.Level, "levels", lc.Levels)
	})
	defer stopLogWatch()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		_ = l.cfg.Watch(watchCtx)
	}()

	stopped := make(chan error, 1)
	stopping := false
	stop := func(force bool) {
		if !stopping {
			stopping = true
			go func() { stopped <- mgr.Stop(context.Background(), force) }()
			return
		}
		go func() { _ = mgr.Stop(context.Background(), true) }()
	}
	done := ctx.Done()
loop:
	for {
		select {
		case s := <-sig:
			switch s {
			case syscall.SIGHUP:
				if err := l.cfg.Reload(context.Background()); err != nil {
					log.Warn("configuration reload rejected; keeping the previous one", "err", err)
				} else {
					log.Info("configuration reloaded", "version", l.cfg.Version())
				}
			default:
				if stopping {
					log.Warn("second signal: forcing stop", "signal", s.String())
					stop(true)
				} else {
					log.Info("stopping: draining in-flight tasks (signal again to force)", "signal", s.String(), "deadline", p.Shutdown.Timeout)
					stop(false)
				}
			}
		case <-done:
			done = nil
			stop(false)
		case err = <-stopped:
			break loop
		}
	}
	stopWatch()
	<-watchDone
	if ctl != nil {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = ctl.Shutdown(sctx)
		cancel()
	}
	if err != nil {
		log.Warn("stopped with errors", "err", err)
		return ExitFailure
	}
	return ExitOK
}
