package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// Scenario 5: the bot split over SQS — its real poller and worker
// bootstraps under the Runtime API emulator, a DynamoDB store, replies to
// the capturing SMTP server — with the worker process killed in the middle
// of its first batch (the emulator kills the child when the invocation is
// abandoned). The batch's messages come back after the visibility timeout
// and are processed again: every mail ends \Seen with one outcome, records
// that had finished are found "already stored", and no confirmation goes
// out twice.
func TestChaosWorkerKilledMidBatch(t *testing.T) {
	n := size(t, 60, 300)
	sqsEndpoint := sqstest.Endpoint(t)
	dynamo := testsvc.Require(t, testsvc.DynamoDB)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	addr, user, pass := dovecottest.Dovecot(t)
	mb := seed(t, ctx, addr, user, pass, n)
	r := startReplies(t)
	client := sqstest.NewClient(sqsEndpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 5, VisibilityTimeout: 3 * time.Second})
	table := fmt.Sprintf("chaos-worker-%d", time.Now().UnixNano())
	env := map[string]string{
		"PLBA_APPS__MAILORDERBOT__IMAP__ADDR": addr, "PLBA_APPS__MAILORDERBOT__IMAP__TLS": "none",
		"PLBA_APPS__MAILORDERBOT__IMAP__USERNAME": user, "PLBA_APPS__MAILORDERBOT__IMAP__PASSWORD": pass,
		"PLBA_APPS__MAILORDERBOT__IMAP__MODE": "poll", "PLBA_APPS__MAILORDERBOT__IMAP__BATCH_SIZE": strconv.Itoa(n),
		"PLBA_APPS__MAILORDERBOT__STORE__DRIVER": "dynamodb", "PLBA_APPS__MAILORDERBOT__STORE__TABLE": table,
		"PLBA_APPS__MAILORDERBOT__STORE__ENDPOINT": "http://" + dynamo,
		"PLBA_APPS__MAILORDERBOT__SMTP__ADDR":      r.addr, "PLBA_APPS__MAILORDERBOT__SMTP__TLS": "none",
		"AWS_ENDPOINT_URL_SQS": sqsEndpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
		"PLBA_QUEUE_ORDERS_URL": pair.URL, "PLBA_QUEUE_ORDERS_DLQ_URL": pair.DeadLetterURL,
		"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "true", "PLBA_MAX_RECEIVE_COUNT": "5",
		"PLBA_PLATFORM__LAMBDA__WORKER__CONCURRENCY": "2",
	}
	start := func(fn string) *emulator.Emulator {
		bin := buildMain(t, "./functions/"+fn, "lambda.norpc", "plba_lambda", "validator_novalidatefn")
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bin, FunctionName: fn, Env: env, Timeout: 60 * time.Second, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	poller, worker := start("poller"), start("worker")
	out, err := poller.Invoke(ctx, []byte(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
	var sum pollerfn.Summary
	if err != nil || json.Unmarshal(out, &sum) != nil || sum.Published["imap"] != n {
		t.Fatalf("poller: %s %v", out, err)
	}
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	// The first batch: its invocation is abandoned as soon as its first
	// confirmation reached the SMTP server, so the emulator kills the
	// worker process in the middle of the batch.
	kctx, kcancel := context.WithCancel(ctx)
	go func() {
		for kctx.Err() == nil {
			if _, total := r.duplicates(); total > 0 {
				kcancel()
				return
			}
			time.Sleep(time.Millisecond) // watching another process's effects: no event to await
		}
	}()
	_, kerr := esm.Poll(kctx, worker.Invoke)
	kcancel()
	killed := time.Now()
	_, before := r.duplicates()
	if kerr == nil {
		t.Fatal("the first batch finished before it could be killed")
	}
	for time.Since(killed) < 2*time.Minute {
		if seen, _ := mb.flags(t, ctx); seen == n {
			break
		}
		if _, err := esm.Poll(ctx, worker.Invoke); err != nil {
			t.Fatalf("worker: %v", err)
		}
	}
	f := figures{name: "worker-killed-mid-batch", tasks: n, recover: time.Since(killed), bound: 60 * time.Second}
	seen, _ := mb.flags(t, ctx)
	f.stranded = n - seen
	st, err := mailorderbot.OpenStore(ctx, mailorderbot.StoreConfig{Driver: "dynamodb", Table: table, Endpoint: "http://" + dynamo, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.Count(ctx, store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if seen == n {
		f.lost = n - stored
	}
	var total int
	f.duplicated, total = r.duplicates()
	f.extra = fmt.Sprintf("stored=%d replies=%d replies_before_kill=%d", stored, total, before)
	report(t, f)
}
