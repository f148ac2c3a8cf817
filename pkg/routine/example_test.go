package routine_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/routine"
)

// The executor turns a routine's result into what happens to the task.
func ExampleExecutor() {
	results := []error{
		nil,
		contracts.Retry(errors.New("rate limited"), 30*time.Second),
		contracts.Permanent(errors.New("malformed input")),
	}
	for _, res := range results {
		e := &routine.Executor{Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return res })}
		r := e.Execute(context.Background(), contracts.Task{ID: "t", Attempt: 1})
		fmt.Println(r.Decision, r.Delay)
	}
	// Output:
	// ack 0s
	// retry 30s
	// dead-letter 0s
}
