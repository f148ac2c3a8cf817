package runtime_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runtime"
)

// greeter is a whole application: a source of three names and a routine
// that greets each.
type greeter struct{ done chan struct{} }

func (g *greeter) Name() string { return "greeter" }

func (g *greeter) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: names{}, Queue: "names"}); err != nil {
		return err
	}
	seen := 0
	return r.AddRoutine(contracts.RoutineSpec{Kind: "greet", Queue: "names", Workers: 1,
		Routine: contracts.RoutineFunc(func(_ context.Context, t contracts.Task) error {
			fmt.Printf("hello, %s\n", t.Payload)
			if seen++; seen == 3 {
				close(g.done)
			}
			return nil
		})})
}

type names struct{}

func (names) Name() string { return "names" }
func (names) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	for _, n := range []string{"Ada", "Grace", "Linus"} {
		if err := pub.Publish(ctx, contracts.Task{ID: n, Kind: "greet", Payload: []byte(n)}); err != nil {
			return 0, err
		}
	}
	return 3, nil
}

// A module registers a source and a routine; the Manager runs them with an
// in-memory queue and a consumer pool, and stops them in order.
func ExampleManager() {
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Logging: logging})
	app := &greeter{done: make(chan struct{})}
	if err := m.Register(app); err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := m.Start(ctx); err != nil {
		panic(err)
	}
	<-app.done
	snap := m.Snapshot(ctx)
	var workers []string
	for _, w := range snap.Workers {
		workers = append(workers, w.Name)
	}
	fmt.Println("workers:", strings.Join(workers, ", "))
	if err := m.Stop(ctx, false); err != nil {
		panic(err)
	}
	fmt.Println("state:", m.State())
	// Output:
	// hello, Ada
	// hello, Grace
	// hello, Linus
	// workers: pool:greet, source:names
	// state: stopped
}
