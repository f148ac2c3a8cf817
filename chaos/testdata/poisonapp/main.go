// Command poisonapp is the chaos scenarios' test application on the runner
// library: a source publishes POISON_TASKS numbered tasks once; the routine
// writes one file per completed task into POISON_OUT, and always fails on
// the task named by POISON_ID (a poison message). Settlement writes
// "settled-<id>-<outcome>".
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

type module struct{ src *source }

func (module) Name() string { return "poison" }

func (m module) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: m.src, Queue: "work", Interval: 50 * time.Millisecond}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "n", Queue: "work", Workers: 4, Routine: contracts.RoutineFunc(run)})
}

type source struct {
	mu   sync.Mutex
	done bool
}

func (s *source) Name() string { return "numbers" }

func (s *source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done {
		return 0, nil
	}
	n, _ := strconv.Atoi(os.Getenv("POISON_TASKS"))
	for i := range n {
		if err := pub.Publish(ctx, contracts.Task{ID: fmt.Sprintf("t-%d", i), Kind: "n"}); err != nil {
			return i, err
		}
	}
	s.done = true
	return n, nil
}

func (s *source) Settle(_ context.Context, t contracts.Task, o contracts.Outcome, _ error) error {
	return touch(fmt.Sprintf("settled-%s-%s", t.ID, o))
}

func run(_ context.Context, t contracts.Task) error {
	if t.ID == os.Getenv("POISON_ID") {
		_ = touch(fmt.Sprintf("attempt-%s-%d", t.ID, t.Attempt))
		return errors.New("poison: this task always fails")
	}
	return touch("done-" + t.ID)
}

func touch(name string) error {
	return os.WriteFile(filepath.Join(os.Getenv("POISON_OUT"), name), nil, 0o644)
}

func main() {
	runner.Main(runner.App{Name: "poisonapp", Modules: func(runner.ModuleEnv) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{module{src: &source{}}}
	}})
}
