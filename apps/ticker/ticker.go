// Package ticker is the smallest complete PLBA application: a source that
// emits a numbered task on every poll and a routine that logs it. It shows
// the whole flow (source → queue → pool → routine → settle) without any
// external service, and its main (cmd/ticker) is the whole runner an application needs:
// `go run ./apps/ticker/cmd/ticker run`.
package ticker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Config is apps.ticker.
type Config struct {
	// Interval between ticks.
	Interval time.Duration `koanf:"interval" validate:"gt=0"`
	// Workers in the routine's pool.
	Workers int `koanf:"workers" validate:"gte=1,lte=1024"`
	// FailEvery makes every n-th tick fail once (0: never), to show retries.
	FailEvery int `koanf:"fail_every" validate:"gte=0"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{Interval: time.Second, Workers: 2} }

// Module is the ticker application.
type Module struct {
	cfg Config
	log *slog.Logger
	src *Source
}

// New returns the module.
func New() *Module { return &Module{cfg: DefaultConfig()} }

// Name implements contracts.ApplicationModule.
func (m *Module) Name() string { return "ticker" }

// DeclareConfig declares apps.ticker.
func (m *Module) DeclareConfig(c contracts.Config) error { return c.Declare("apps.ticker", &m.cfg) }

// Register adds the source and the routine.
func (m *Module) Register(_ context.Context, r contracts.Registry) error {
	if err := r.Config().Decode("apps.ticker", &m.cfg); err != nil {
		return err
	}
	m.log = r.Logger()
	m.src = &Source{settled: map[string]contracts.Outcome{}}
	if err := r.AddSource(contracts.SourceSpec{Source: m.src, Queue: "ticks", Interval: m.cfg.Interval}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "tick", Queue: "ticks", Workers: m.cfg.Workers,
		WorkersKey: "apps.ticker.workers", Routine: contracts.RoutineFunc(m.run)})
}

func (m *Module) run(_ context.Context, t contracts.Task) error {
	n, _ := strconv.Atoi(string(t.Payload))
	if m.cfg.FailEvery > 0 && n%m.cfg.FailEvery == 0 && t.Attempt == 1 {
		return contracts.Retry(errors.New("simulated failure"), 2*time.Second)
	}
	m.log.Info("tick processed", "tick", n, "attempt", t.Attempt)
	return nil
}

// Source emits one task per poll and records outcomes.
type Source struct {
	n       atomic.Int64
	mu      sync.Mutex
	settled map[string]contracts.Outcome
}

// Name implements contracts.TaskSource.
func (s *Source) Name() string { return "ticker" }

// Poll publishes the next tick.
func (s *Source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	n := s.n.Add(1)
	// No plba.source attribute: the runtime stamps it, and Settle below
	// hears each tick's outcome through it.
	t := contracts.Task{ID: fmt.Sprintf("tick-%d", n), Kind: "tick", Payload: []byte(strconv.FormatInt(n, 10))}
	if err := pub.Publish(ctx, t); err != nil {
		s.n.Add(-1) // not published: the same tick comes next time
		return 0, err
	}
	return 1, nil
}

// Settle records the outcome.
func (s *Source) Settle(_ context.Context, t contracts.Task, o contracts.Outcome, _ error) error {
	s.mu.Lock()
	s.settled[t.ID] = o
	s.mu.Unlock()
	return nil
}

// Settled returns how many ticks reached each outcome.
func (s *Source) Settled() map[contracts.Outcome]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[contracts.Outcome]int{}
	for _, o := range s.settled {
		out[o]++
	}
	return out
}
