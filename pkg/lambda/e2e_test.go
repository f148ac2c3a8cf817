package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awslambdaapi "github.com/aws/aws-sdk-go-v2/service/lambda"
	"go.uber.org/goleak"

	plbacontrol "github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/control/controlcli"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// buildBootstrap builds testdata/e2efn like a real function, with the tags
// of `make lambdas` (so the AWS configuration comes from the environment
// only, as in Lambda).
func buildBootstrap(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc,plba_lambda,validator_novalidatefn", "-trimpath", "-o", out, "./testdata/e2efn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build bootstrap: %v\n%s", err, b)
	}
	return out
}

// countingProxy forwards to the SQS server and counts API calls by action,
// the HTTP middleware the poller's calls-per-task are measured at.
func countingProxy(t *testing.T, endpoint string) (*httptest.Server, *sqstest.Counter) {
	u, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &sqstest.Counter{}
	p := httputil.NewSingleHostReverseProxy(u)
	p.Transport = c
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv, c
}

// TestEndToEnd runs the split deployment over real processes: the poller
// bootstrap under the emulator publishes to the SQS server; the test, acting
// as the event source mapping, receives batches and invokes the worker
// bootstrap with them, deleting what the worker does not list; a failing
// record comes back after its visibility timeout and lands in the
// dead-letter queue on the last receive; the control bootstrap reports it
// and redrives it.
func TestEndToEnd(t *testing.T) {
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 2, VisibilityTimeout: 2 * time.Second})
	bootstrap := buildBootstrap(t)
	proxy, calls := countingProxy(t, endpoint)
	out := t.TempDir()
	const tasks = 20
	env := func(fn string) map[string]string {
		return map[string]string{
			"PLBA_FN":                         fn,
			"AWS_ENDPOINT_URL_SQS":            proxy.URL,
			"AWS_ACCESS_KEY_ID":               "test",
			"AWS_SECRET_ACCESS_KEY":           "test",
			"AWS_EC2_METADATA_DISABLED":       "true",
			"PLBA_QUEUE_WORK_URL":             pair.URL,
			"PLBA_QUEUE_WORK_DLQ_URL":         pair.DeadLetterURL,
			"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "true",
			"PLBA_MAX_RECEIVE_COUNT":          "2",
			"PLBA_BUILD":                      "e2e-build",
			"E2E_TASKS":                       strconv.Itoa(tasks),
			"E2E_FAIL":                        "t-3",
			"E2E_RETRY":                       "t-5",
			"E2E_OUT":                         out,
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(fn string) *emulator.Emulator {
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bootstrap, FunctionName: fn, Env: env(fn), Timeout: 20 * time.Second, Stderr: io.Discard, Stdout: io.Discard})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}

	// Poller: one scheduled invocation publishes every task.
	poller := start("poller")
	calls.Reset()
	raw, err := poller.Invoke(ctx, []byte(`{"source":"aws.events","detail-type":"Scheduled Event","detail":{}}`))
	if err != nil {
		t.Fatalf("poller: %v", err)
	}
	var sum pollerfn.Summary
	if err := json.Unmarshal(raw, &sum); err != nil || sum.Published["numbers"] != tasks || len(sum.Errors) != 0 {
		t.Fatalf("poller summary %s (%v)", raw, err)
	}
	if n, all := calls.Count("SendMessageBatch"), calls.Count(""); n != tasks/10 || all != n {
		t.Errorf("poller made %d SendMessageBatch and %d calls in all for %d tasks, want %d and no others", n, all, tasks, tasks/10)
	}
	t.Logf("poller: %d SQS API calls for %d tasks = %.3f calls/task", calls.Count(""), tasks, float64(calls.Count(""))/tasks)

	// Worker, fed by an event source mapping played by the test.
	worker := start("worker")
	type seen struct {
		at     time.Time
		count  int
		listed bool
	}
	history := map[string][]seen{}
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	deadline := time.Now().Add(40 * time.Second)
	for {
		if done(t, out, tasks) && len(history["t-3"]) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not done in time; history %v", history)
		}
		recs, err := esm.Poll(ctx, worker.Invoke)
		if err != nil {
			t.Fatalf("worker invocation failed (a record must never fail the batch): %v", err)
		}
		for _, r := range recs {
			task, _ := sqsqueue.Decode(aws.ToString(r.Message.Body), nil)
			n, _ := strconv.Atoi(r.Message.Attributes["ApproximateReceiveCount"])
			history[task.ID] = append(history[task.ID], seen{at: time.Now(), count: n, listed: r.Listed})
		}
	}

	// The failing record: listed on the first receive, back after the 2s
	// visibility timeout, dead-lettered (not listed) on the last receive.
	h3 := history["t-3"]
	if len(h3) != 2 || !h3[0].listed || h3[1].listed || h3[1].count != 2 {
		t.Fatalf("t-3 history %+v: want listed once, then dead-lettered on receive 2", h3)
	}
	if gap := h3[1].at.Sub(h3[0].at); gap < 2*time.Second {
		t.Errorf("t-3 came back after %v, before its 2s visibility timeout", gap)
	}
	// The Retry(2s) record: listed, back after ≥ 2s, then done.
	h5 := history["t-5"]
	if len(h5) != 2 || !h5[0].listed || h5[1].listed {
		t.Fatalf("t-5 history %+v", h5)
	}
	if gap := h5[1].at.Sub(h5[0].at); gap < 2*time.Second {
		t.Errorf("t-5 came back after %v, before its Retry delay of 2s", gap)
	}
	for _, f := range []string{"settled-t-0-succeeded", "settled-t-3-dead-lettered", "done-t-5-attempt2"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}

	// Control: the dead letter shows, and is redriven.
	control := start("control")
	var st plbacontrol.Response
	invokeJSON(t, ctx, control, `{"action":"status"}`, &st)
	var status plbacontrol.StatusResult
	if err := st.Decode(&status); err != nil || len(status.Queues) != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	if q := status.Queues[0]; q.Name != "work" || q.Dead != 1 || q.Ready != 0 {
		t.Errorf("queue stats %+v, want work with one dead letter and nothing ready", q)
	}
	if status.Build != "e2e-build" || status.ConfigVersion != "e2e-1" || len(status.Health.Components) != 1 || status.Health.Components[0].Name != "e2e-source" {
		t.Errorf("status %+v", status)
	}
	// The CLI's Lambda client through the real bootstrap: the dead letter,
	// and the typed not_supported for what the split deployment cannot do.
	cl := &controlcli.LambdaClient{Function: "control", API: emulatorInvoker{control}}
	resp, err := cl.Do(ctx, "dlq.list", plbacontrol.QueueRequest{Queue: "work"})
	var dl plbacontrol.DeadLettersResult
	if err != nil || resp.Decode(&dl) != nil || len(dl.DeadLetters) != 1 || dl.DeadLetters[0].ID != "t-3" {
		t.Fatalf("dlq.list through the CLI client: %+v %v", resp, err)
	}
	if resp, err := cl.Do(ctx, "workers", nil); err != nil || resp.Error == nil || resp.Error.Code != plbacontrol.CodeNotSupported {
		t.Fatalf("workers in split mode: %+v %v", resp, err)
	}
	// A Function URL event (the golden fixture's shape) through the real
	// bootstrap.
	fixture, err := os.ReadFile(filepath.Join("controlfn", "testdata", "function-url-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal(fixture, &ev); err != nil {
		t.Fatal(err)
	}
	ev.RawPath, ev.Body = "/api/v1/queues", ""
	ev.RequestContext.HTTP.Method = "GET"
	urlEvent, _ := json.Marshal(ev)
	var urlResp events.LambdaFunctionURLResponse
	invokeJSON(t, ctx, control, string(urlEvent), &urlResp)
	if urlResp.StatusCode != 200 || !strings.Contains(urlResp.Body, `"name":"work"`) {
		t.Fatalf("Function URL queues: %+v", urlResp)
	}
	var rd plbacontrol.Response
	invokeJSON(t, ctx, control, `{"action":"dlq.redrive","queue":"work","limit":10}`, &rd)
	var rr plbacontrol.RedriveResult
	if err := rd.Decode(&rr); err != nil || rr.Redriven != 1 {
		t.Fatalf("redrive %+v %v", rd, err)
	}
	var bad plbacontrol.Response
	invokeJSON(t, ctx, control, `{"action":"explode"}`, &bad)
	if bad.OK || bad.Error == nil || bad.Error.Code != plbacontrol.CodeUnknownAction {
		t.Fatalf("unknown action answered %+v", bad)
	}
}

// emulatorInvoker is the Lambda Invoke API in front of the emulator.
type emulatorInvoker struct{ e *emulator.Emulator }

func (i emulatorInvoker) Invoke(ctx context.Context, in *awslambdaapi.InvokeInput, _ ...func(*awslambdaapi.Options)) (*awslambdaapi.InvokeOutput, error) {
	out, err := i.e.Invoke(ctx, in.Payload)
	if err != nil {
		return nil, err
	}
	return &awslambdaapi.InvokeOutput{StatusCode: 200, Payload: out}, nil
}

func invokeJSON(t *testing.T, ctx context.Context, e *emulator.Emulator, req string, out any) {
	t.Helper()
	raw, err := e.Invoke(ctx, []byte(req))
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: response %s: %v", req, raw, err)
	}
}

// done reports whether every task but the failing one finished.
func done(t *testing.T, dir string, n int) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		var id, rest string
		if _, err := fmt.Sscanf(e.Name(), "done-%s", &rest); err == nil {
			id = rest
			ids = append(ids, id)
		}
	}
	return len(ids) == n-1 && !slices.ContainsFunc(ids, func(s string) bool { return s == "t-3-attempt1" || s == "t-3-attempt2" })
}
