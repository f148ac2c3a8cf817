package redisqueue_test

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/redisqueue"
)

func Example() {
	ctx := context.Background()
	// In an application: redis.NewClient(&redis.Options{Addr: "redis:6379"}).
	rdb := redis.NewClient(&redis.Options{Addr: testsvc.Redis.Addr()})
	defer rdb.Close()

	q, err := redisqueue.New(redisqueue.Options{
		Client:      rdb,
		Name:        "example-orders",
		Capacity:    1000,             // Publish blocks while 1000 tasks are held
		MaxAttempts: 5,                // the 5th failed delivery goes to the dead list
		Lease:       30 * time.Second, // extend it while a routine runs longer
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	purge := q.Driver().(*redisqueue.Driver).Purge
	_ = purge(ctx) // start clean: the example reruns on the same server
	defer func() {
		_ = q.Close()
		_ = purge(ctx)
	}()

	err = q.Publish(ctx, contracts.Task{ID: "order-4711", Kind: "order.created", Payload: []byte(`{"order":4711}`)})
	if err != nil {
		fmt.Println(err)
		return
	}
	d, err := q.Consume(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s %s attempt %d: %s\n", d.Task.Kind, d.Task.ID, d.Task.Attempt, d.Task.Payload)

	// The routine failed: retry in 50ms (the task waits in the delayed set).
	if err := q.Nack(ctx, d, 50*time.Millisecond); err != nil {
		fmt.Println(err)
		return
	}
	d, err = q.Consume(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s attempt %d\n", d.Task.ID, d.Task.Attempt)
	if err := q.Ack(ctx, d); err != nil {
		fmt.Println(err)
		return
	}
	s, err := q.Stats(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("held %d, published %d, nacked %d, acked %d\n", s.Held(), s.Published, s.Nacked, s.Acked)
	// Output:
	// order.created order-4711 attempt 1: {"order":4711}
	// order-4711 attempt 2
	// held 0, published 1, nacked 1, acked 1
}
