package lambda_test

import (
	"context"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

// TestWorkerDeadlineReserveUnderEmulator, with Lambda's real deadline (the
// emulator kills the function at the advertised instant): a hung record
// makes the worker return before the deadline with only that record
// listed, so the batch's nine successes are deleted instead of coming back
// with an invocation that timed out.
func TestWorkerDeadlineReserveUnderEmulator(t *testing.T) {
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{VisibilityTimeout: 30 * time.Second})
	bootstrap := buildBootstrap(t)
	out := t.TempDir()
	env := func(fn string) map[string]string {
		return map[string]string{
			"PLBA_FN": fn, "AWS_ENDPOINT_URL_SQS": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
			"PLBA_QUEUE_WORK_URL": pair.URL, "PLBA_QUEUE_WORK_DLQ_URL": pair.DeadLetterURL,
			"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "true", "E2E_TASKS": "10", "E2E_SLOW": "t-4", "E2E_OUT": out,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(fn string, timeout time.Duration) *emulator.Emulator {
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bootstrap, FunctionName: fn, Env: env(fn), Timeout: timeout, Stderr: io.Discard, Stdout: io.Discard})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	if _, err := start("poller", 20*time.Second).Invoke(ctx, []byte(`{}`)); err != nil {
		t.Fatalf("poller: %v", err)
	}
	const timeout = 3 * time.Second
	worker := start("worker", timeout)
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	began := time.Now()
	recs, err := esm.Poll(ctx, worker.Invoke)
	took := time.Since(began)
	if errors.Is(err, emulator.ErrTimeout) {
		t.Fatalf("the invocation timed out (after %s): its partial batch response is lost", took)
	}
	if err != nil {
		t.Fatal(err)
	}
	var listed, deleted []string
	for _, r := range recs {
		task, _ := sqsqueue.Decode(aws.ToString(r.Message.Body), nil)
		if r.Listed {
			listed = append(listed, task.ID)
		} else {
			deleted = append(deleted, task.ID)
		}
	}
	if len(recs) != 10 || len(listed) != 1 || listed[0] != "t-4" {
		t.Fatalf("%d records, listed %v, deleted %v: want only the hung t-4 listed", len(recs), listed, deleted)
	}
	if took >= timeout {
		t.Fatalf("the worker answered after %s, at or past its %s timeout", took, timeout)
	}
	t.Logf("worker returned after %s of its %s timeout; listed %v, %s records deleted", took.Round(time.Millisecond), timeout, listed, strconv.Itoa(len(deleted)))
}
