package workerfn_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/workerfn"
)

// benchEvent is a 10-record batch as the Lambda runtime delivers it: JSON.
func benchEvent(b *testing.B) []byte {
	ev := events.SQSEvent{}
	for i := range 10 {
		ev.Records = append(ev.Records, record(b, stdARN, task(fmt.Sprint(i), "ok"), 1))
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

var sink int

func noop(_ context.Context, t contracts.Task) error { sink += len(t.Payload); return nil }

// BenchmarkWorkerHandler compares the worker with a bare aws-lambda-go SQS
// handler on the same 10-record batch, both through lambda.NewHandler's
// Invoke (event JSON decoding and response encoding included, as in every
// real invocation). The bare handler decodes each body into a task and
// calls the same routine, sequentially, without executor, envelope
// attributes or trace handling. Overhead = worker/bare - 1. The io-1ms
// variants show what the parallel records buy when routines wait on I/O.
func BenchmarkWorkerHandler(b *testing.B) {
	raw := benchEvent(b)
	ctx := context.Background()
	for _, rt := range []struct {
		name string
		run  func(context.Context, contracts.Task) error
	}{
		{"noop", noop},
		{"io-1ms", sleepy},
	} {
		b.Run("bare/"+rt.name, func(b *testing.B) {
			h := lambda.NewHandler(func(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
				var resp events.SQSEventResponse
				for _, r := range ev.Records {
					var body struct {
						ID      string `json:"id"`
						Kind    string `json:"kind"`
						Payload []byte `json:"payload"`
					}
					if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
						resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
						continue
					}
					if err := rt.run(ctx, contracts.Task{ID: body.ID, Kind: body.Kind, Payload: body.Payload}); err != nil {
						resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
					}
				}
				return resp, nil
			})
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Invoke(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		for _, conc := range []int{1, 10} {
			b.Run(fmt.Sprintf("worker/%s/concurrency=%d", rt.name, conc), func(b *testing.B) {
				f := newHandler(b, module{run: rt.run}, workerfn.Options{Concurrency: conc})
				h := lambda.NewHandler(f.h.Handle)
				b.ReportAllocs()
				for b.Loop() {
					if _, err := h.Invoke(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// sleepy stands for a routine that waits 1ms on I/O.
func sleepy(ctx context.Context, t contracts.Task) error {
	select {
	case <-time.After(time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}
