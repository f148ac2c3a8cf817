package lambda_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/lambda"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
	"github.com/plba/plba/pkg/telemetry/emf"
	"github.com/plba/plba/pkg/telemetry/schema"
)

// TestEMFFromInvocations runs the poller and the worker bootstraps under
// the emulator against the SQS server and reads their stdout: every line
// is a valid Embedded Metric Format document (the _aws block, CloudWatch
// units, dimensions that are members), flushed per invocation, with the
// metric names of the `metrics` action and /metrics (plba.tasks,
// plba.routine.duration) and counts that match what ran.
func TestEMFFromInvocations(t *testing.T) {
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 2, VisibilityTimeout: 2 * time.Second})
	bootstrap := buildBootstrap(t)
	const tasks = 12
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(fn string, stdout, stderr io.Writer) *emulator.Emulator {
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bootstrap, FunctionName: "plba-" + fn, Timeout: 20 * time.Second,
			Stdout: stdout, Stderr: stderr, Env: map[string]string{
				"PLBA_FN":                   fn,
				"AWS_ENDPOINT_URL_SQS":      endpoint,
				"AWS_ACCESS_KEY_ID":         "test",
				"AWS_SECRET_ACCESS_KEY":     "test",
				"AWS_EC2_METADATA_DISABLED": "true",
				"PLBA_QUEUE_WORK_URL":       pair.URL,
				"PLBA_QUEUE_WORK_DLQ_URL":   pair.DeadLetterURL,
				"PLBA_MAX_RECEIVE_COUNT":    "2",
				"E2E_TASKS":                 strconv.Itoa(tasks),
				"E2E_FAIL":                  "t-3",
				"E2E_OUT":                   t.TempDir(),
			}})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}

	var pollerOut, workerOut, workerErr syncio.Buffer
	poller := start("poller", &pollerOut, io.Discard)
	if _, err := poller.Invoke(ctx, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`)); err != nil {
		t.Fatalf("poller: %v", err)
	}
	// The emulator copies the function's stdout on its own goroutine: the
	// lines may arrive just after the invocation returned.
	waitOutput(t, &pollerOut, func(out string) bool { return strings.Contains(out, `"plba.lambda.poller.published"`) })
	pdocs := emfLines(t, pollerOut.String())
	if v := sum(pdocs, lambda.MetricPollerPublished, map[string]string{"source": "numbers"}); v != tasks {
		t.Errorf("poller published %v, want %d", v, tasks)
	}

	worker := start("worker", &workerOut, &workerErr)
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	received, invocations := 0, 0
	for received < tasks {
		recs, err := esm.Poll(ctx, worker.Invoke)
		if err != nil {
			t.Fatalf("worker: %v", err)
		}
		if len(recs) > 0 {
			invocations++
		}
		received += len(recs)
	}
	waitOutput(t, &workerOut, func(out string) bool {
		return strings.Count(out, `"Name":"plba.lambda.batch.records"`) >= invocations
	})
	waitOutput(t, &workerErr, func(out string) bool { return strings.Count(out, `"e2e routine"`) >= tasks })
	docs := emfLines(t, workerOut.String())
	q := map[string]string{"queue": "work", "kind": "e2e.num"}
	with := func(outcome string) map[string]string {
		m := map[string]string{"outcome": outcome}
		for k, v := range q {
			m[k] = v
		}
		return m
	}
	if v := sum(docs, schema.MetricTasks, with(schema.OutcomeSucceeded)); v != tasks-1 {
		t.Errorf("%s succeeded = %v, want %d", schema.MetricTasks, v, tasks-1)
	}
	if v := sum(docs, schema.MetricTasks, with(schema.OutcomeRetried)); v != 1 {
		t.Errorf("%s retried = %v, want 1 (t-3 fails on its first receive)", schema.MetricTasks, v)
	}
	if v := sum(docs, lambda.MetricBatchRecords, map[string]string{"queue": "work"}); v != float64(received) {
		t.Errorf("%s = %v, want %d", lambda.MetricBatchRecords, v, received)
	}
	if v := sum(docs, lambda.MetricBatchFailures, map[string]string{"queue": "work"}); v != 1 {
		t.Errorf("%s = %v, want 1", lambda.MetricBatchFailures, v)
	}
	n, unit := 0, ""
	for _, d := range docs {
		for _, m := range d.Metrics {
			if m.Name == schema.MetricRoutineDuration && match(d, q) {
				n += len(m.Values)
				unit = m.Unit
			}
		}
	}
	if n != tasks || unit != "Seconds" {
		t.Errorf("%s: %d samples in %q, want %d in Seconds", schema.MetricRoutineDuration, n, unit, tasks)
	}
	checkTaskLogLines(t, workerErr.String(), tasks)

	// Flushed per invocation: every worker invocation wrote its batch
	// counter in its own document.
	batches := 0
	for _, d := range docs {
		for _, m := range d.Metrics {
			if m.Name == lambda.MetricBatchRecords {
				batches++
			}
		}
	}
	if batches != invocations {
		t.Errorf("%d documents with %s for %d invocations", batches, lambda.MetricBatchRecords, invocations)
	}
}

// emfLines parses every stdout line as an EMF document: the functions log
// to stderr, so stdout holds only metrics.
func emfLines(t *testing.T, out string) []emf.Document {
	t.Helper()
	var docs []emf.Document
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		d, err := emf.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		if d.Namespace != emf.DefaultNamespace {
			t.Errorf("namespace %q", d.Namespace)
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		t.Fatal("no EMF document on stdout")
	}
	return docs
}

func match(d emf.Document, want map[string]string) bool {
	for k, v := range want {
		if d.DimensionValues[k] != v {
			return false
		}
	}
	return true
}

// sum adds the values of metric name in the documents whose dimensions
// include want.
func sum(docs []emf.Document, name string, want map[string]string) float64 {
	var total float64
	for _, d := range docs {
		if !match(d, want) {
			continue
		}
		for _, m := range d.Metrics {
			if m.Name == name {
				for _, v := range m.Values {
					total += v
				}
			}
		}
	}
	return total
}

// checkTaskLogLines: the worker logs JSON, and every line the routine
// logged with its context carries the task (task_id, queue, kind), its
// trace (trace_id, span_id from the record's traceparent), the request id
// and the function version.
func checkTaskLogLines(t *testing.T, stderr string, tasks int) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.Contains(line, `"e2e routine"`) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("worker log line is not JSON: %s", line)
		}
		for _, k := range []string{"task_id", "queue", "kind", "trace_id", "span_id", "aws_request_id", "function_version", "component"} {
			if v, _ := rec[k].(string); v == "" {
				t.Errorf("log line without %s: %s", k, line)
			}
		}
		if rec["queue"] != "work" || rec["kind"] != "e2e.num" || len(rec["trace_id"].(string)) != 32 {
			t.Errorf("log line fields: %s", line)
		}
		n++
	}
	if n < tasks {
		t.Errorf("%d routine log lines for %d tasks:\n%s", n, tasks, stderr)
	}
}

// waitOutput waits until done(out) holds for what the function wrote so
// far (at most 10 s).
func waitOutput(t *testing.T, b *syncio.Buffer, done func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !done(b.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("output never complete:\n%s", b.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
