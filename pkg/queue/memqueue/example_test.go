package memqueue_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/memqueue"
)

func Example() {
	q := memqueue.New(memqueue.Options{Capacity: 16, MaxAttempts: 2})
	defer q.Close()
	ctx := context.Background()
	_ = q.Publish(ctx, contracts.Task{ID: "t1", Kind: "demo"})

	d, _ := q.Consume(ctx)
	fmt.Println("got", d.Task.ID, "attempt", d.Task.Attempt)
	_ = q.Nack(ctx, d, 10*time.Millisecond) // back after 10 ms, not before

	d, _ = q.Consume(ctx)
	fmt.Println("got", d.Task.ID, "attempt", d.Task.Attempt)
	_ = q.Nack(ctx, d, 0) // the second attempt was the last: dead-lettered

	dead, _ := q.DeadLetters(ctx, 0)
	fmt.Println("dead:", dead[0].Task.ID, "-", dead[0].Reason)
	fmt.Println(errors.Is(q.Ack(ctx, d), contracts.ErrNotInFlight))
	// Output:
	// got t1 attempt 1
	// got t1 attempt 2
	// dead: t1 - max attempts (2) reached
	// true
}
