package emulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/lambda/emulator"
)

var bootstrap string

// TestMain builds the test function once, as a real bootstrap.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "emulator-test")
	if err != nil {
		panic(err)
	}
	bootstrap = filepath.Join(dir, "bootstrap")
	gobin := "go" // from PATH, as go test itself was found
	cmd := exec.Command(gobin, "build", "-tags", "lambda.norpc", "-o", bootstrap, "./testdata/fn")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build test bootstrap: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer func() { _ = os.RemoveAll(dir) }()
		goleak.VerifyTestMain(exitCatcher{m, &code})
	}()
	os.Exit(code)
}

// exitCatcher lets TestMain clean up after goleak's os.Exit... goleak
// calls os.Exit itself, so record the code instead.
type exitCatcher struct {
	m    *testing.M
	code *int
}

func (e exitCatcher) Run() int { *e.code = e.m.Run(); return *e.code }

type fnResponse struct {
	RequestID   string            `json:"request_id"`
	FunctionARN string            `json:"function_arn"`
	DeadlineMS  int64             `json:"deadline_ms"`
	Env         map[string]string `json:"env"`
	PID         int               `json:"pid"`
	Count       int               `json:"count"`
	WriteErr    string            `json:"write_err"`
}

func start(t *testing.T, o emulator.Options) *emulator.Emulator {
	t.Helper()
	o.Bootstrap = bootstrap
	if o.Stderr == nil {
		o.Stderr, o.Stdout = io.Discard, io.Discard
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	e, err := emulator.Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

func invoke(t *testing.T, e *emulator.Emulator, event string) (fnResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := e.Invoke(ctx, []byte(event))
	if err != nil {
		return fnResponse{}, err
	}
	var r fnResponse
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("response %q: %v", out, err)
	}
	return r, nil
}

func TestResponseAndEnvironment(t *testing.T) {
	e := start(t, emulator.Options{FunctionName: "poller", MemoryMB: 256, Region: "eu-central-1", Timeout: 7 * time.Second, Env: map[string]string{"MY_VAR": "x"}})
	before := time.Now()
	r, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.RequestID) != 36 {
		t.Errorf("request id %q", r.RequestID)
	}
	if r.FunctionARN != "arn:aws:lambda:eu-central-1:123456789012:function:poller" {
		t.Errorf("function ARN %q", r.FunctionARN)
	}
	dl := time.UnixMilli(r.DeadlineMS)
	if dl.Before(before.Add(6*time.Second)) || dl.After(time.Now().Add(7*time.Second)) {
		t.Errorf("deadline %v is not about 7s after the invoke at %v", dl, before)
	}
	for k, want := range map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME": "poller", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
		"AWS_REGION": "eu-central-1", "_HANDLER": "bootstrap", "LAMBDA_TASK_ROOT": filepath.Dir(bootstrap), "MY_VAR": "x", "HOME": "",
	} {
		if got := r.Env[k]; got != want {
			t.Errorf("function env %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(r.Env["_X_AMZN_TRACE_ID"], "Root=1-") {
		t.Errorf("trace id %q", r.Env["_X_AMZN_TRACE_ID"])
	}
	// Warm: the same process serves the next invocation.
	r2, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r2.PID != r.PID || r2.Count != 2 || r2.RequestID == r.RequestID {
		t.Errorf("second invocation: pid %d count %d id %s; want warm pid %d, count 2, a new id", r2.PID, r2.Count, r2.RequestID, r.PID)
	}
}

func TestFunctionError(t *testing.T) {
	e := start(t, emulator.Options{})
	first, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = invoke(t, e, `{"do":"error"}`)
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || ferr.Type != "errorString" || ferr.Message != "it failed on purpose" {
		t.Fatalf("err = %#v, want a FunctionError errorString/it failed on purpose", err)
	}
	// An error is not a crash: the process stays warm.
	r, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil || r.PID != first.PID {
		t.Fatalf("after a function error: pid %d (was %d), %v", r.PID, first.PID, err)
	}
}

func TestPanicRestarts(t *testing.T) {
	e := start(t, emulator.Options{})
	first, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = invoke(t, e, `{"do":"panic"}`)
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || !strings.Contains(ferr.Message, "panicked on purpose") || len(ferr.StackTrace) == 0 {
		t.Fatalf("err = %v, want the panic reported with a stack trace", err)
	}
	r, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r.PID == first.PID || r.Count != 1 {
		t.Fatalf("after a panic: pid %d count %d, want a fresh process (cold start)", r.PID, r.Count)
	}
}

func TestExitDuringInvoke(t *testing.T) {
	e := start(t, emulator.Options{})
	_, err := invoke(t, e, `{"do":"exit"}`)
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || ferr.Type != "Runtime.ExitError" || !strings.Contains(ferr.Message, "exit status 3") {
		t.Fatalf("err = %v, want Runtime.ExitError with exit status 3", err)
	}
	if _, err := invoke(t, e, `{"do":"echo"}`); err != nil {
		t.Fatalf("after a crash: %v", err)
	}
}

func TestTimeoutKillsAndRestarts(t *testing.T) {
	e := start(t, emulator.Options{Timeout: 500 * time.Millisecond})
	first, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	_, err = invoke(t, e, `{"do":"sleep","ms":10000}`)
	if !errors.Is(err, emulator.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	// The advertised deadline is in whole milliseconds (rounded down, as
	// Lambda-Runtime-Deadline-Ms), and the timer fires at it: up to 1 ms
	// before began+500ms when the request reached the emulator within that
	// millisecond.
	if d := time.Since(began); d < 499*time.Millisecond || d > 5*time.Second {
		t.Errorf("timed out after %v, want about 500ms", d)
	}
	r, err := invoke(t, e, `{"do":"echo"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r.PID == first.PID {
		t.Fatal("the timed-out process was reused")
	}
}

func TestInitErrorReported(t *testing.T) {
	_, err := emulator.Start(context.Background(), emulator.Options{Bootstrap: bootstrap, Env: map[string]string{"FN_INIT": "report"}, Stderr: io.Discard, Stdout: io.Discard})
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || !ferr.Init || ferr.Type != "InitFailed" || ferr.Message != "config missing" {
		t.Fatalf("err = %#v, want the init error the function reported", err)
	}
}

func TestInitExit(t *testing.T) {
	_, err := emulator.Start(context.Background(), emulator.Options{Bootstrap: bootstrap, Env: map[string]string{"FN_INIT": "exit"}, Stderr: io.Discard, Stdout: io.Discard})
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || !ferr.Init || ferr.Type != "Runtime.InitError" || !strings.Contains(ferr.Message, "exit status 2") {
		t.Fatalf("err = %#v, want Runtime.InitError with exit status 2", err)
	}
}

func TestHTTPInvoke(t *testing.T) {
	e := start(t, emulator.Options{})
	url := e.URL() + "/2015-03-31/functions/function/invocations"
	resp, err := http.Post(url, "application/json", strings.NewReader(`{"do":"echo"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var r fnResponse
	if resp.StatusCode != 200 || json.Unmarshal(body, &r) != nil || r.RequestID == "" {
		t.Fatalf("invoke: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Post(url, "application/json", strings.NewReader(`{"do":"error"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "Unhandled" || !bytes.Contains(body, []byte(`"errorMessage":"it failed on purpose"`)) {
		t.Fatalf("error invoke: %d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestOneAtATime: concurrent invocations are served one after the other by
// the one process.
func TestOneAtATime(t *testing.T) {
	e := start(t, emulator.Options{})
	var wg sync.WaitGroup
	counts := make(chan int, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := e.Invoke(context.Background(), []byte(`{"do":"sleep","ms":50}`))
			if err != nil {
				t.Error(err)
				return
			}
			var r fnResponse
			_ = json.Unmarshal(out, &r)
			counts <- r.Count
		}()
	}
	wg.Wait()
	close(counts)
	seen := map[int]bool{}
	for c := range counts {
		seen[c] = true
	}
	if len(seen) != 4 || !seen[1] || !seen[4] {
		t.Fatalf("counts %v, want 1..4 from one process", seen)
	}
}

func TestInvokeOnce(t *testing.T) {
	out, err := emulator.InvokeOnce(context.Background(), emulator.Options{Bootstrap: bootstrap, Stderr: io.Discard, Stdout: io.Discard}, []byte(`{"do":"echo"}`))
	if err != nil || !bytes.Contains(out, []byte(`"count":1`)) {
		t.Fatalf("InvokeOnce = %s, %v", out, err)
	}
}

func TestStartValidates(t *testing.T) {
	if _, err := emulator.Start(context.Background(), emulator.Options{Bootstrap: "/nonexistent/bootstrap"}); err == nil {
		t.Fatal("Start with a missing bootstrap succeeded")
	}
}

// The 6 MB limits: an event over it is refused whole (413 over HTTP, never
// a cut event), a response over it is Lambda's ResponseSizeTooLarge error.
func TestPayloadLimits(t *testing.T) {
	e := start(t, emulator.Options{})
	big := []byte(`{"do":"echo","pad":"` + strings.Repeat("x", emulator.MaxPayload) + `"}`)
	if _, err := e.Invoke(context.Background(), big); !errors.Is(err, emulator.ErrRequestTooLarge) {
		t.Fatalf("in-process oversized event: %v", err)
	}
	resp, err := http.Post(e.URL()+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "RequestEntityTooLargeException") {
		t.Fatalf("HTTP oversized event: %d %s", resp.StatusCode, body)
	}
	// Just under the limit is served.
	if _, err := invoke(t, e, `{"do":"big","ms":6000}`); err != nil {
		t.Fatalf("a 6000 KiB response: %v", err)
	}
	_, err = invoke(t, e, `{"do":"big","ms":6200}`)
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || ferr.Type != "Function.ResponseSizeTooLarge" {
		t.Fatalf("a 6200 KiB response: %v", err)
	}
	// The process is still warm and serves the next invocation.
	if _, err := invoke(t, e, `{"do":"echo"}`); err != nil {
		t.Fatal(err)
	}
}

// The task root is read-only, /tmp is not; without the privilege for a
// mount namespace the emulator says so instead of pretending.
func TestReadOnlyTaskRoot(t *testing.T) {
	var stderr syncio.Buffer
	e := start(t, emulator.Options{Stderr: &stderr, Stdout: io.Discard})
	r, err := invoke(t, e, `{"do":"write","dir":"`+filepath.Dir(bootstrap)+`"}`)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if !strings.Contains(stderr.String(), "stays writable here") {
			t.Fatalf("not root, and no notice that the task root is writable: %s", stderr.String())
		}
		t.Skip("read-only task root needs root (CAP_SYS_ADMIN); the emulator said so")
	}
	if !strings.Contains(r.WriteErr, "read-only file system") {
		t.Fatalf("writing to the task root: %q (stderr %s)", r.WriteErr, stderr.String())
	}
	if r, err := invoke(t, e, `{"do":"write","dir":"`+t.TempDir()+`"}`); err != nil || r.WriteErr != "" {
		t.Fatalf("writing to a temporary directory: %v %q", err, r.WriteErr)
	}
	w := start(t, emulator.Options{WritableTaskRoot: true})
	if r, err := invoke(t, w, `{"do":"write","dir":"`+t.TempDir()+`"}`); err != nil || r.WriteErr != "" {
		t.Fatalf("WritableTaskRoot: %v %q", err, r.WriteErr)
	}
}

// The advertised deadline is the instant the timer fires: a function that
// answers 30 ms before it succeeds, one that answers 30 ms after it times
// out (on Lambda too), and the header is the deadline to the millisecond.
func TestDeadlineIsExact(t *testing.T) {
	e := start(t, emulator.Options{Timeout: 400 * time.Millisecond})
	before := time.Now()
	r, err := invoke(t, e, `{"do":"until","ms":30}`)
	if err != nil {
		t.Fatalf("answering 30 ms before the deadline: %v", err)
	}
	if adv := time.UnixMilli(r.DeadlineMS); adv.Sub(before) > 400*time.Millisecond+5*time.Millisecond || adv.Sub(before) < 390*time.Millisecond {
		t.Fatalf("advertised deadline %s after the invoke, want 400ms", adv.Sub(before))
	}
	if _, err := invoke(t, e, `{"do":"until","ms":-30}`); !errors.Is(err, emulator.ErrTimeout) {
		t.Fatalf("answering 30 ms after the deadline: %v, want a timeout", err)
	}
}
