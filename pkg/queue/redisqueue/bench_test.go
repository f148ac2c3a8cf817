package redisqueue_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/redisqueue"
)

// BenchmarkRedisPipeline measures one task end to end through a real Redis:
// publish → consume → ack, with one publisher and N consumers, so ns/op is
// the time per task at that concurrency. BenchmarkRedisRaw is the same
// traffic as a bare go-redis XADD + XREADGROUP + XACK loop on the same
// server; run both in one invocation to compare:
//
//	go test -run '^$' -bench 'BenchmarkRedis(Pipeline|Raw)' ./pkg/queue/redisqueue/
func BenchmarkRedisPipeline(b *testing.B) {
	for _, consumers := range []int{1, 4, 16} {
		b.Run("consumers="+strconv.Itoa(consumers), func(b *testing.B) {
			benchPipeline(b, consumers)
		})
	}
}

// BenchmarkRedisRaw is the baseline: one publisher XADDs, N consumers
// XREADGROUP (COUNT 1, BLOCK) and XACK each entry.
func BenchmarkRedisRaw(b *testing.B) {
	for _, consumers := range []int{1, 4, 16} {
		b.Run("consumers="+strconv.Itoa(consumers), func(b *testing.B) {
			benchRaw(b, consumers)
		})
	}
}

var benchPayload = []byte(`{"order":"4711","lines":3}`)

func benchPipeline(b *testing.B, consumers int) {
	c := client(b)
	q := open(b, c, redisqueue.Options{Capacity: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
		if err := q.Publish(ctx, contracts.Task{ID: strconv.Itoa(i), Kind: "bench", Payload: benchPayload}); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	cancel()
	wg.Wait()
}

func benchRaw(b *testing.B, consumers int) {
	c := client(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := "bench-raw-" + uniqueName()
	defer c.Del(context.Background(), stream)
	if err := c.XGroupCreateMkStream(ctx, stream, "g", "$").Err(); err != nil {
		b.Fatal(err)
	}
	var acked atomic.Int64
	done := make(chan struct{})
	n := int64(b.N)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for ci := range consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "c" + strconv.Itoa(ci)
			for ctx.Err() == nil {
				res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: name, Streams: []string{stream, ">"}, Count: 1, Block: time.Second}).Result()
				if err != nil {
					continue
				}
				for _, s := range res {
					for _, m := range s.Messages {
						if err := c.XAck(ctx, stream, "g", m.ID).Err(); err != nil {
							return
						}
						if acked.Add(1) == n {
							close(done)
						}
					}
				}
			}
		}()
	}
	for i := range b.N {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"id", strconv.Itoa(i), "kind", "bench", "payload", benchPayload}}).Err(); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	cancel()
	wg.Wait()
}
