package runner_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

// counterConfig is apps.counter: the test application's section.
type counterConfig struct {
	Interval time.Duration    `koanf:"interval" validate:"gt=0"`
	Workers  int              `koanf:"workers" validate:"gte=1,lte=64"`
	Greeting string           `koanf:"greeting"`
	Password contracts.Secret `koanf:"password"`
}

// counter is an application written the way a newcomer would write one,
// outside every PLBA folder: a source numbering ticks, a routine logging
// them, a contributed command reading the configuration.
type counter struct {
	cfg counterConfig
	log *slog.Logger
	n   atomic.Int64
}

func newCounter() *counter {
	return &counter{cfg: counterConfig{Interval: time.Second, Workers: 2, Greeting: "hello"}}
}

func (m *counter) Name() string                           { return "counter" }
func (m *counter) DeclareConfig(c contracts.Config) error { return c.Declare("apps.counter", &m.cfg) }

func (m *counter) Register(_ context.Context, r contracts.Registry) error {
	if err := r.Config().Decode("apps.counter", &m.cfg); err != nil {
		return err
	}
	m.log = r.Logger()
	if err := r.AddSource(contracts.SourceSpec{Source: m, Queue: "ticks", Interval: m.cfg.Interval}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "tick", Queue: "ticks", Workers: m.cfg.Workers,
		WorkersKey: "apps.counter.workers", Routine: contracts.RoutineFunc(func(ctx context.Context, t contracts.Task) error {
			n, _ := strconv.Atoi(string(t.Payload))
			m.log.InfoContext(ctx, "tick processed", "tick", n)
			return nil
		})})
}

// errUnreachable is what the counter's connection check reports.
var errUnreachable = errors.New("counter: greeting target unreachable")

// CheckConnections (contracts.ConnectionChecker) fails when the greeting
// says "unreachable", standing in for a mailbox that cannot be opened.
func (m *counter) CheckConnections(_ context.Context, c contracts.Config) error {
	cfg := m.cfg
	if err := c.Decode("apps.counter", &cfg); err != nil {
		return err
	}
	if cfg.Greeting == "unreachable" {
		return errUnreachable
	}
	return nil
}

// Poll publishes the next tick. It sets no plba.source attribute: the
// runtime's source worker does.
func (m *counter) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	n := m.n.Add(1)
	if err := pub.Publish(ctx, contracts.Task{ID: fmt.Sprintf("tick-%d", n), Kind: "tick", Payload: []byte(strconv.FormatInt(n, 10))}); err != nil {
		m.n.Add(-1)
		return 0, err
	}
	return 1, nil
}

// Commands contributes `greet`, which prints apps.counter.greeting.
func (m *counter) Commands() []contracts.Command {
	return []contracts.Command{{Name: "greet", Summary: "print the configured greeting", Run: func(ctx context.Context, env contracts.CommandEnv, args []string) int {
		fs := env.FlagSet("greet")
		shout := fs.Bool("shout", false, "upper-case")
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return contracts.ExitOK
			}
			return contracts.ExitUsage
		}
		cfg, err := env.Config(ctx)
		if err != nil {
			return env.Fail(err)
		}
		c := newCounter().cfg
		if err := cfg.Decode("apps.counter", &c); err != nil {
			return env.Fail(err)
		}
		g := c.Greeting
		if *shout {
			g += "!"
		}
		fmt.Fprintln(env.Stdout(), g)
		return contracts.ExitOK
	}}}
}

// counterApp is the test application's main, minus os.Exit.
func counterApp(signals func(chan<- os.Signal) func()) runner.App {
	return runner.App{
		Name:    "counter",
		Summary: "a test application",
		Version: "test-1",
		Modules: func(runner.ModuleEnv) []contracts.ApplicationModule {
			return []contracts.ApplicationModule{newCounter()}
		},
		Signals: signals,
	}
}
