package redisqueue_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/redisqueue"
)

// BenchmarkRedisPipeline measures one task end to end through a real Redis:
// publish → consume → ack, with one publisher and 4 consumers, so ns/op is
// the time per task at that concurrency.
func BenchmarkRedisPipeline(b *testing.B) {
	for _, consumers := range []int{1, 4, 16} {
		b.Run("consumers="+strconv.Itoa(consumers), func(b *testing.B) {
			benchPipeline(b, consumers)
		})
	}
}

func benchPipeline(b *testing.B, consumers int) {
	c := client(b)
	q := open(b, c, redisqueue.Options{Capacity: 1024})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	payload := []byte(`{"order":"4711","lines":3}`)
	var acked atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				d, err := q.Consume(ctx)
				if err != nil {
					return
				}
				if err := q.Ack(ctx, d); err != nil {
					b.Error(err)
					return
				}
				if acked.Add(1) == n {
					close(done)
				}
			}
		}()
	}
	for i := range b.N {
		if err := q.Publish(ctx, contracts.Task{ID: strconv.Itoa(i), Kind: "bench", Payload: payload}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	cancel()
	wg.Wait()
}
