package lambda_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/workers"
)

// buildModule registers a source, a routine and the given custom workers.
type buildModule struct{ workers []contracts.Worker }

func (buildModule) Name() string { return "build" }
func (m buildModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: nopSource{}, Queue: "work"}); err != nil {
		return err
	}
	if err := r.AddRoutine(contracts.RoutineSpec{Kind: "k", Queue: "work", Routine: contracts.RoutineFunc(func(context.Context, contracts.Task) error { return nil })}); err != nil {
		return err
	}
	for _, w := range m.workers {
		if err := r.AddWorker(w); err != nil {
			return err
		}
	}
	return nil
}

type nopSource struct{}

func (nopSource) Name() string                                           { return "nop" }
func (nopSource) Poll(context.Context, contracts.Publisher) (int, error) { return 0, nil }

func build(t *testing.T, fn lambda.Function, environ []string, mod contracts.ApplicationModule) (*lambda.Built, error) {
	t.Helper()
	ctx := context.Background()
	cfg, err := lambda.LoadConfig(ctx, environ, nil, mod)
	if err != nil {
		return nil, err
	}
	b, err := lambda.Build(ctx, fn, lambda.Options{Config: cfg, Environ: environ, Client: sqs.New(sqs.Options{Region: "us-east-1"}),
		Assemble: assembleDeclared()}, mod)
	if b != nil {
		t.Cleanup(func() { _ = b.Close(context.Background()) })
	}
	return b, err
}

// The functions read queue settings from the validated configuration: the
// configuration's own names and the names earlier stacks set both land
// there, and a bad value is a configuration error naming the key.
func TestQueueSettingsComeFromConfiguration(t *testing.T) {
	for name, environ := range map[string][]string{
		"config keys": {"PLBA_PLATFORM__QUEUE__SQS__URLS__WORK=http://127.0.0.1:1/000000000000/work",
			"PLBA_PLATFORM__QUEUE__SQS__DLQ_URLS__WORK=http://127.0.0.1:1/000000000000/dlq", "PLBA_PLATFORM__QUEUE__MAX_ATTEMPTS=7"},
		"legacy names": {"PLBA_QUEUE_WORK_URL=http://127.0.0.1:1/000000000000/work",
			"PLBA_QUEUE_WORK_DLQ_URL=http://127.0.0.1:1/000000000000/dlq", "PLBA_MAX_RECEIVE_COUNT=7"},
		"one queue for all": {"PLBA_QUEUE_URL=http://127.0.0.1:1/000000000000/work",
			"PLBA_DLQ_URL=http://127.0.0.1:1/000000000000/dlq", "PLBA_PLATFORM__QUEUE__MAX_ATTEMPTS=7"},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := build(t, lambda.Worker, environ, buildModule{})
			if err != nil {
				t.Fatal(err)
			}
			q := b.Queues["work"]
			if q == nil || q.MaxAttempts() != 7 {
				t.Fatalf("queue %+v", b.Queues)
			}
		})
	}
	_, err := build(t, lambda.Worker, []string{"PLBA_QUEUE_URL=http://127.0.0.1:1/0/q", "PLBA_DLQ_URL=http://127.0.0.1:1/0/d",
		"PLBA_PLATFORM__QUEUE__MAX_ATTEMPTS=0"}, buildModule{})
	if err == nil || !strings.Contains(err.Error(), "platform.queue.max_attempts") {
		t.Fatalf("max_attempts 0: %v", err)
	}
	_, err = build(t, lambda.Worker, []string{"PLBA_DLQ_URL=http://127.0.0.1:1/0/d"}, buildModule{})
	if err == nil || !strings.Contains(err.Error(), "platform.queue.sqs.urls.work") {
		t.Fatalf("no URL: %v", err)
	}
}

var queueEnv = []string{"PLBA_QUEUE_URL=http://127.0.0.1:1/000000000000/work", "PLBA_DLQ_URL=http://127.0.0.1:1/000000000000/dlq"}

// A custom worker never vanishes in Lambda: a Step runs once per poller
// invocation, anything else makes every function fail to build, naming it.
func TestCustomWorkersOnLambda(t *testing.T) {
	var rounds atomic.Int64
	step := workers.Every("flush", time.Hour, func(context.Context) error { rounds.Add(1); return errors.New("smtp down") }, nil)
	b, err := build(t, lambda.Poller, queueEnv, buildModule{workers: []contracts.Worker{step}})
	if err != nil {
		t.Fatal(err)
	}
	h := b.Handler.(func(context.Context, json.RawMessage) (pollerfn.Summary, error))
	for i := 1; i <= 2; i++ {
		sum, err := h(context.Background(), json.RawMessage(`{}`))
		if err != nil || rounds.Load() != int64(i) || sum.StepErrors["flush"] != "smtp down" {
			t.Fatalf("invocation %d: %v, %d rounds, %+v", i, err, rounds.Load(), sum)
		}
	}
	loop := workers.Func("loop", func(ctx context.Context) error { <-ctx.Done(); return nil })
	for _, fn := range []lambda.Function{lambda.Poller, lambda.Worker, lambda.Control} {
		_, err := build(t, fn, queueEnv, buildModule{workers: []contracts.Worker{loop}})
		if !errors.Is(err, lambda.ErrWorkerNotSupported) || !strings.Contains(err.Error(), `"loop"`) {
			t.Fatalf("%s with a plain worker: %v", fn, err)
		}
	}
}

func assembleDeclared() runtime.AssembleOptions { return runtime.AssembleOptions{ConfigDeclared: true} }
