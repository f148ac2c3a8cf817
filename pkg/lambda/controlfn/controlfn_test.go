package controlfn_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"go.uber.org/goleak"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/lambda/controlfn"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/memqueue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite golden files")

type cfg struct {
	User     string           `json:"user"`
	Password contracts.Secret `json:"password"`
}

func fixture(t *testing.T, logw *syncio.Buffer) (*controlfn.Handler, *queue.Queue) {
	t.Helper()
	q := memqueue.New(memqueue.Options{Name: "orders"})
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := q.Publish(ctx, contracts.Task{ID: id, Kind: "k", Payload: []byte("password=hunter2 rest")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		d, err := q.Consume(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.DeadLetter(ctx, d, errors.New("bad")); err != nil {
			t.Fatal(err)
		}
	}
	var lw = &bytes.Buffer{}
	logger := slog.New(slog.NewJSONHandler(lw, nil))
	if logw != nil {
		logger = slog.New(slog.NewJSONHandler(logw, nil))
	}
	h, err := controlfn.New(controlfn.Options{
		Queues: map[string]control.QueueHandle{"orders": q},
		Health: []contracts.HealthContributor{
			contracts.HealthFunc("imap", func(context.Context) contracts.Health { return contracts.Up("connected") }),
			contracts.HealthFunc("store", func(context.Context) contracts.Health { return contracts.Degraded("slow") }),
			contracts.HealthFunc("panics", func(context.Context) contracts.Health { panic("oops") }),
			contracts.HealthFunc("hangs", func(ctx context.Context) contracts.Health { <-ctx.Done(); return contracts.Up("late") }),
		},
		Build:         "v1.2.3",
		ConfigVersion: "cfg-42",
		Config:        cfg{User: "bot", Password: "hunter2"},
		HealthTimeout: 100 * time.Millisecond,
		Logger:        logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	return h, q
}

func direct(t *testing.T, h *controlfn.Handler, req string) (control.Response, string) {
	t.Helper()
	out, err := h.Handle(context.Background(), json.RawMessage(req))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	var resp control.Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestDirectInvoke(t *testing.T) {
	h, q := fixture(t, nil)
	resp, raw := direct(t, h, `{"action":"status"}`)
	var st control.StatusResult
	if err := resp.Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Deployment != control.Split || st.Build != "v1.2.3" || st.ConfigVersion != "cfg-42" {
		t.Fatalf("status %s", raw)
	}
	if len(st.Queues) != 1 || st.Queues[0].Name != "orders" || st.Queues[0].Dead != 2 || st.Queues[0].Ready != 1 {
		t.Fatalf("queues %+v", st.Queues)
	}
	states := map[string]contracts.HealthState{}
	for _, c := range st.Health.Components {
		states[c.Name] = c.State
	}
	want := map[string]contracts.HealthState{"imap": contracts.HealthUp, "store": contracts.HealthDegraded, "panics": contracts.HealthDown, "hangs": contracts.HealthDown}
	for n, s := range want {
		if states[n] != s {
			t.Errorf("%s: %v, want %v", n, states[n], s)
		}
	}
	if st.Health.Status != contracts.HealthDown || st.Health.Ready {
		t.Errorf("health %+v", st.Health)
	}
	resp, raw = direct(t, h, `{"action":"config"}`)
	if !resp.OK || strings.Contains(raw, "hunter2") || !strings.Contains(raw, contracts.Redacted) {
		t.Fatalf("config leaks or lacks the redaction: %s", raw)
	}
	// Split semantics: no shared memory with the worker.
	for _, a := range []string{"workers", "outcomes", "reload", "pause", "restart"} {
		resp, raw := direct(t, h, `{"action":"`+a+`","name":"pool:x"}`)
		if resp.OK || resp.Error.Code != control.CodeNotSupported || !errors.Is(resp.Error, contracts.ErrNotSupported) {
			t.Errorf("%s: %s, want not_supported", a, raw)
		}
	}
	resp, _ = direct(t, h, `{"action":"dlq.redrive","queue":"orders","limit":1}`)
	var rr control.RedriveResult
	if err := resp.Decode(&rr); err != nil || rr.Redriven != 1 {
		t.Fatalf("redrive %+v %v", rr, err)
	}
	if s, _ := q.Stats(context.Background()); s.Dead != 1 || s.Ready != 2 {
		t.Fatalf("after redrive %+v", s)
	}
	resp, raw = direct(t, h, `{"action":"explode"}`)
	if resp.OK || resp.Error.Code != control.CodeUnknownAction || !strings.Contains(raw, "dlq.redrive") {
		t.Fatalf("unknown action: %s", raw)
	}
	resp, _ = direct(t, h, `{"action":"dlq.list","queue":"nope"}`)
	if resp.Error == nil || resp.Error.Code != control.CodeNotFound {
		t.Fatalf("unknown queue: %+v", resp)
	}
	out, err := h.Handle(context.Background(), json.RawMessage(`not json`))
	if err != nil || out.(control.Response).Error.Code != control.CodeBadRequest {
		t.Fatalf("malformed: %+v %v", out, err)
	}
}

func loadURLFixture(t *testing.T) (json.RawMessage, events.LambdaFunctionURLRequest) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "function-url-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	return raw, req
}

// The golden Function URL request (the shape of aws-lambda-go's
// events/testdata/lambda-urls-request.json, as the stack's AWS_IAM URL
// delivers it) answers with the golden response.
func TestFunctionURLGolden(t *testing.T) {
	h, _ := fixture(t, nil)
	raw, _ := loadURLFixture(t)
	out, err := h.Handle(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := out.(events.LambdaFunctionURLResponse)
	if !ok {
		t.Fatalf("Function URL event answered with %T", out)
	}
	got, _ := json.MarshalIndent(resp, "", "  ")
	golden := filepath.Join("testdata", "function-url-response.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once)", err)
	}
	if string(bytes.TrimSpace(want)) != string(got) {
		t.Fatalf("response differs from %s:\n%s", golden, got)
	}
}

func urlEvent(t *testing.T, method, path, query, body string, mutate func(*events.LambdaFunctionURLRequest)) events.LambdaFunctionURLRequest {
	t.Helper()
	_, req := loadURLFixture(t)
	req.RawPath, req.RequestContext.HTTP.Path, req.RequestContext.HTTP.Method = path, path, method
	req.RawQueryString, req.Body = query, body
	if mutate != nil {
		mutate(&req)
	}
	return req
}

func decodeURL(t *testing.T, r events.LambdaFunctionURLResponse) control.Response {
	t.Helper()
	var resp control.Response
	if err := json.Unmarshal([]byte(r.Body), &resp); err != nil {
		t.Fatalf("body %q: %v", r.Body, err)
	}
	return resp
}

func TestFunctionURLMapping(t *testing.T) {
	var logs syncio.Buffer
	h, q := fixture(t, &logs)
	ctx := context.Background()

	// GET with the action in the path and parameters in the query.
	r := h.HandleURL(ctx, urlEvent(t, "GET", "/api/v1/dlq.list", "queue=orders&limit=1", "", nil))
	var dl control.DeadLettersResult
	if err := decodeURL(t, r).Decode(&dl); err != nil || r.StatusCode != 200 || len(dl.DeadLetters) != 1 || dl.DeadLetters[0].ID != "a" {
		t.Fatalf("GET dlq.list: %d %s %v", r.StatusCode, r.Body, err)
	}
	// A base64 body (as Function URLs deliver binary content types).
	b64 := base64.StdEncoding.EncodeToString([]byte(`{"queue":"orders","id":"b","max_bytes":9}`))
	r = h.HandleURL(ctx, urlEvent(t, "POST", "/dlq.peek", "", b64, func(e *events.LambdaFunctionURLRequest) { e.IsBase64Encoded = true }))
	var pk control.PeekResult
	if err := decodeURL(t, r).Decode(&pk); err != nil || pk.ID != "b" || !pk.Truncated || pk.Payload != "password=" {
		t.Fatalf("peek: %d %s %v", r.StatusCode, r.Body, err)
	}
	// Unknown action: 404 with the typed error, not 200.
	r = h.HandleURL(ctx, urlEvent(t, "POST", "/", "", `{"action":""}`, nil))
	if r.StatusCode != http.StatusNotFound || decodeURL(t, r).Error.Code != control.CodeUnknownAction {
		t.Fatalf("empty action: %d %s", r.StatusCode, r.Body)
	}
	// Not supported: 501 on the URL, like HTTP.
	r = h.HandleURL(ctx, urlEvent(t, "GET", "/api/v1/workers", "", "", nil))
	if r.StatusCode != http.StatusNotImplemented || decodeURL(t, r).Error.Code != control.CodeNotSupported {
		t.Fatalf("workers: %d %s", r.StatusCode, r.Body)
	}
	// Mutations are refused over GET, with a form body, and without an IAM
	// authorizer (a URL with auth type NONE); none of them moves anything.
	refused := []struct {
		name string
		ev   events.LambdaFunctionURLRequest
		code int
	}{
		{"GET", urlEvent(t, "GET", "/api/v1/dlq.redrive", "queue=orders", "", nil), http.StatusBadRequest},
		{"form", urlEvent(t, "POST", "/api/v1/dlq.redrive", "", `{"queue":"orders"}`, func(e *events.LambdaFunctionURLRequest) {
			e.Headers["content-type"] = "application/x-www-form-urlencoded"
		}), http.StatusForbidden},
		{"no IAM", urlEvent(t, "POST", "/api/v1/dlq.redrive", "", `{"queue":"orders"}`, func(e *events.LambdaFunctionURLRequest) {
			e.RequestContext.Authorizer = nil
		}), http.StatusUnauthorized},
		{"path and body disagree", urlEvent(t, "POST", "/api/v1/dlq.list", "", `{"action":"dlq.redrive","queue":"orders"}`, nil), http.StatusBadRequest},
	}
	for _, c := range refused {
		r := h.HandleURL(ctx, c.ev)
		if r.StatusCode != c.code {
			t.Errorf("%s: %d %s, want %d", c.name, r.StatusCode, r.Body, c.code)
		}
		if s, _ := q.Stats(ctx); s.Dead != 2 {
			t.Fatalf("%s changed the queue: %+v", c.name, s)
		}
	}
	// With IAM, POST redrive works and is audited with the caller's ARN.
	r = h.HandleURL(ctx, urlEvent(t, "POST", "/api/v1/dlq.redrive", "", `{"queue":"orders"}`, nil))
	var rr control.RedriveResult
	if err := decodeURL(t, r).Decode(&rr); err != nil || rr.Redriven != 2 {
		t.Fatalf("redrive: %d %s", r.StatusCode, r.Body)
	}
	if !strings.Contains(logs.String(), `"who":"function url arn:aws:iam::123456789012:user/operator","action":"dlq.redrive","access":"mutate","result":"ok"`) {
		t.Errorf("audit line missing:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("payload in logs:\n%s", logs.String())
	}
}
