package controlcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/control/controlcli"
	"github.com/plba/plba/pkg/lambda/controlfn"
	"github.com/plba/plba/pkg/queue/memqueue"
	"github.com/plba/plba/pkg/runtime"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// jobsModule has one source (one task), one routine that always fails
// permanently, and one module action.
type jobsModule struct{}

func (jobsModule) Name() string { return "jobs" }
func (jobsModule) Register(_ context.Context, r contracts.Registry) error {
	if err := r.AddSource(contracts.SourceSpec{Source: oneShot{}, Queue: "jobs", Interval: time.Hour}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: "job", Queue: "jobs", Routine: contracts.RoutineFunc(
		func(context.Context, contracts.Task) error {
			return contracts.Permanent(errors.New("cannot ever work"))
		})})
}

func (jobsModule) Actions() []contracts.ActionSpec {
	return []contracts.ActionSpec{{Name: "jobs.echo", Summary: "echo", Handle: func(_ context.Context, p json.RawMessage) (any, error) {
		var req struct {
			Say string `json:"say"`
		}
		_ = json.Unmarshal(p, &req)
		if req.Say == "" {
			return nil, fmt.Errorf("say what? %w", contracts.ErrInvalidParams)
		}
		return map[string]string{"said": req.Say}, nil
	}}}
}

type oneShot struct{}

func (oneShot) Name() string { return "oneshot" }
func (oneShot) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	return 1, pub.Publish(ctx, contracts.Task{ID: "job-1", Kind: "job", Payload: []byte("mail body; token=abc123")})
}

type staticConfig struct{ reloads int }

func (c *staticConfig) Version() string { return "v7" }
func (c *staticConfig) Redacted() map[string]any {
	return map[string]any{"password": contracts.Redacted}
}
func (c *staticConfig) Reload(context.Context) error { c.reloads++; return nil }

const token = "equivalence-token"

// localService is a running runtime with one dead letter in queue jobs.
func localService(t *testing.T) *control.Service {
	t.Helper()
	logging, _ := runtime.NewLogging(io.Discard, runtime.LogConfig{Level: "error"})
	outcomes := control.NewOutcomes(16)
	m := runtime.NewManager(runtime.Options{Logging: logging, QueueObserver: outcomes.Observer})
	_ = m.Register(jobsModule{})
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), true) })
	q, _ := m.Queue("jobs")
	waitFor(t, func() bool { s, _ := q.Stats(context.Background()); return s.Dead == 1 && s.InFlight == 0 })
	so := control.LocalOptions(m)
	so.Config, so.Build, so.Outcomes, so.Modules = &staticConfig{}, "b1", outcomes, []contracts.ApplicationModule{jobsModule{}}
	so.Logger = slog.New(slog.DiscardHandler)
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// splitService is the control function's service over a queue with one
// dead letter.
func splitService(t *testing.T) *control.Service {
	t.Helper()
	q := memqueue.New(memqueue.Options{Name: "jobs"})
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	_ = q.Publish(ctx, contracts.Task{ID: "job-1", Kind: "job", Payload: []byte("mail body; token=abc123")})
	d, _ := q.Consume(ctx)
	_ = q.DeadLetter(ctx, d, errors.New("cannot ever work"))
	h, err := controlfn.New(controlfn.Options{
		Queues:  map[string]control.QueueHandle{"jobs": q},
		Health:  []contracts.HealthContributor{contracts.HealthFunc("store", func(context.Context) contracts.Health { return contracts.Up("ok") })},
		Modules: []contracts.ApplicationModule{jobsModule{}}, Build: "b1", ConfigVersion: "v7",
		Config: map[string]any{"password": contracts.Redacted}, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.Service()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not reached")
		}
	}
}

type step struct {
	action string
	params map[string]any
	// cli are the arguments of the dedicated command; nil uses
	// `action NAME JSON`.
	cli []string
}

// steps run in order on a fresh service per transport: reads first, then
// mutations whose results do not depend on timing (the pool is paused
// before the redrive, so the queue stats after it are fixed).
var steps = []step{
	{action: "actions"},
	{action: "status", cli: []string{"status"}},
	{action: "health", cli: []string{"health"}},
	{action: "workers", cli: []string{"workers"}},
	{action: "queues", cli: []string{"queues"}},
	{action: "config"},
	{action: "dlq.list", params: map[string]any{"queue": "jobs"}, cli: []string{"dlq", "list", "jobs"}},
	{action: "dlq.list", params: map[string]any{"queue": "nope"}, cli: []string{"dlq", "list", "nope"}},
	{action: "dlq.peek", params: map[string]any{"queue": "jobs", "id": "job-1", "max_bytes": 12}, cli: []string{"dlq", "peek", "jobs", "job-1", "--max-bytes", "12"}},
	{action: "dlq.peek", params: map[string]any{"queue": "jobs", "id": "nope"}, cli: []string{"dlq", "peek", "jobs", "nope"}},
	{action: "outcomes", params: map[string]any{"queue": "jobs"}, cli: []string{"outcomes", "--queue", "jobs"}},
	{action: "jobs.echo", params: map[string]any{"say": "hi"}},
	{action: "jobs.echo"},
	{action: "explode"},
	{action: "dlq.purge", params: map[string]any{"queue": "jobs"}, cli: []string{"dlq", "purge", "jobs"}},
	{action: "reload", cli: []string{"reload"}},
	{action: "pause", params: map[string]any{"name": "pool:job"}, cli: []string{"pause", "pool:job"}},
	{action: "dlq.redrive", params: map[string]any{"queue": "jobs"}, cli: []string{"dlq", "redrive", "jobs"}},
	{action: "queues", cli: []string{"queues"}},
	{action: "resume", params: map[string]any{"name": "pool:job"}, cli: []string{"resume", "pool:job"}},
	{action: "restart", params: map[string]any{"name": "source:oneshot"}, cli: []string{"restart", "source:oneshot"}},
}

// outcome is what a transport answered for a step, comparable across
// transports: the result with timing fields removed, or the typed error.
type outcome struct {
	Result any
	Code   control.Code
	Msg    string
}

// volatile fields differ between two fresh runs of the same scenario.
var volatile = map[string]bool{"checked": true, "uptime": true, "started_at": true, "at": true, "last_at": true, "duration_ns": true}

func scrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			if volatile[k] {
				delete(x, k)
			} else {
				x[k] = scrub(x[k])
			}
		}
	case []any:
		for i := range x {
			x[i] = scrub(x[i])
		}
	}
	return v
}

func fromResponse(t *testing.T, r control.Response) outcome {
	t.Helper()
	if !r.OK {
		if r.Error == nil {
			t.Fatalf("failed response without error: %+v", r)
		}
		return outcome{Code: r.Error.Code, Msg: r.Error.Message}
	}
	var v any
	if err := json.Unmarshal(r.Result, &v); err != nil {
		t.Fatal(err)
	}
	return outcome{Result: scrub(v)}
}

// transport runs one step against a service and returns the outcome.
type transport func(t *testing.T, svc *control.Service, s step) outcome

// fakeInvoker is the Lambda Invoke API in front of the control function's
// handler: the payload goes through JSON both ways, as on AWS.
type fakeInvoker struct{ h *controlfn.Handler }

func (f fakeInvoker) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	out, err := f.h.Handle(ctx, in.Payload)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(out)
	return &lambda.InvokeOutput{StatusCode: 200, Payload: b}, err
}

func urlFixture(t *testing.T) events.LambdaFunctionURLRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "lambda", "controlfn", "testdata", "function-url-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.LambdaFunctionURLRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	return req
}

func bodyOf(s step) []byte {
	if s.params == nil {
		return nil
	}
	b, _ := json.Marshal(s.params)
	return b
}

func cliArgs(s step) []string {
	if s.cli != nil {
		return append(append([]string(nil), s.cli...), "--json")
	}
	args := []string{"action", s.action}
	if s.params != nil {
		args = append(args, string(bodyOf(s)))
	}
	return args
}

// cliEnv is the runner's side of a command: output streams, the flag set
// with the configuration flags, and a configuration whose platform.control
// is ctl.
type cliEnv struct {
	out, errw bytes.Buffer
	ctl       runtime.ControlConfig
	loads     int
}

func (e *cliEnv) Stdout() io.Writer { return &e.out }
func (e *cliEnv) Stderr() io.Writer { return &e.errw }
func (e *cliEnv) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(&e.errw)
	fs.String("config", "", "")
	fs.String("set", "", "")
	return fs
}
func (e *cliEnv) Config(context.Context) (contracts.Config, error) {
	e.loads++
	return stubConfig{e.ctl}, nil
}
func (e *cliEnv) Fail(err error) int {
	fmt.Fprintln(&e.errw, err)
	return contracts.ExitUsage
}

type stubConfig struct{ ctl runtime.ControlConfig }

func (stubConfig) Declare(string, any) error { return nil }
func (s stubConfig) Decode(path string, out any) error {
	if path != "platform.control" {
		return fmt.Errorf("unexpected path %s", path)
	}
	*out.(*runtime.ControlConfig) = s.ctl
	return nil
}

func runCLIWith(t *testing.T, o controlcli.Options, ctl runtime.ControlConfig, args []string) (string, string, int) {
	t.Helper()
	for _, c := range controlcli.Commands(o) {
		if c.Name == args[0] {
			env := &cliEnv{ctl: ctl}
			code := c.Run(context.Background(), env, args[1:])
			return env.out.String(), env.errw.String(), code
		}
	}
	t.Fatalf("no command %q", args[0])
	return "", "", 0
}

func runCLI(t *testing.T, o controlcli.Options, args []string) (string, string, int) {
	t.Helper()
	return runCLIWith(t, o, runtime.DefaultPlatformConfig().Control, args)
}

func fromCLI(t *testing.T, stdout, stderr string, code int) outcome {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(stdout), &v); err != nil {
		t.Fatalf("CLI printed %q (stderr %q, exit %d): %v", stdout, stderr, code, err)
	}
	if e, ok := v["error"].(map[string]any); ok && len(v) == 1 {
		if code != controlcli.ExitFailure {
			t.Errorf("failed action exited %d", code)
		}
		return outcome{Code: control.Code(e["code"].(string)), Msg: e["message"].(string)}
	}
	if code != 0 {
		t.Errorf("exit %d, stderr %s", code, stderr)
	}
	return outcome{Result: scrub(any(v))}
}

func httpServer(t *testing.T, svc *control.Service) string {
	t.Helper()
	srv := httptest.NewServer(control.NewHTTPHandler(control.HTTPOptions{Service: svc, Token: token, Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	return srv.URL
}

var transports = map[string]func(t *testing.T, svc *control.Service) transport{
	"http": func(t *testing.T, svc *control.Service) transport {
		c := &controlcli.HTTPClient{URL: httpServer(t, svc), Token: token}
		return func(t *testing.T, _ *control.Service, s step) outcome {
			r, err := c.Do(context.Background(), s.action, s.params)
			if err != nil {
				t.Fatal(err)
			}
			return fromResponse(t, r)
		}
	},
	"lambda direct": func(t *testing.T, svc *control.Service) transport {
		c := &controlcli.LambdaClient{Function: "plba-control", API: fakeInvoker{controlfn.Wrap(svc)}}
		return func(t *testing.T, _ *control.Service, s step) outcome {
			r, err := c.Do(context.Background(), s.action, s.params)
			if err != nil {
				t.Fatal(err)
			}
			return fromResponse(t, r)
		}
	},
	"function url": func(t *testing.T, svc *control.Service) transport {
		h := controlfn.Wrap(svc)
		return func(t *testing.T, _ *control.Service, s step) outcome {
			ev := urlFixture(t)
			ev.RawPath = control.APIPrefix + s.action
			ev.RequestContext.HTTP.Path = ev.RawPath
			ev.Body = string(bodyOf(s))
			raw, _ := json.Marshal(ev)
			out, err := h.Handle(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			res := out.(events.LambdaFunctionURLResponse)
			var r control.Response
			if err := json.Unmarshal([]byte(res.Body), &r); err != nil {
				t.Fatal(err)
			}
			want := 200
			if r.Error != nil {
				want = r.Error.Code.HTTPStatus()
			}
			if res.StatusCode != want {
				t.Errorf("%s: status %d, want %d", s.action, res.StatusCode, want)
			}
			return fromResponse(t, r)
		}
	},
	"cli --url": func(t *testing.T, svc *control.Service) transport {
		url := httpServer(t, svc)
		o := controlcli.Options{Getenv: func(k string) string {
			return map[string]string{"PLBA_CONTROL_URL": url, "PLBA_CONTROL_TOKEN": token}[k]
		}}
		return func(t *testing.T, _ *control.Service, s step) outcome {
			stdout, stderr, code := runCLI(t, o, cliArgs(s))
			return fromCLI(t, stdout, stderr, code)
		}
	},
	"cli --lambda": func(t *testing.T, svc *control.Service) transport {
		inv := fakeInvoker{controlfn.Wrap(svc)}
		o := controlcli.Options{Getenv: func(string) string { return "" },
			NewInvoker: func(context.Context, string) (controlcli.Invoker, error) { return inv, nil }}
		return func(t *testing.T, _ *control.Service, s step) outcome {
			stdout, stderr, code := runCLI(t, o, append(cliArgs(s), "--lambda", "plba-control"))
			return fromCLI(t, stdout, stderr, code)
		}
	},
}

// Every action gives the same typed result, or the same typed error, over
// the service itself, HTTP, the Lambda handler (direct invoke and Function
// URL event) and the CLI (against HTTP and against Lambda), both in a local
// and in a split deployment.
func TestEveryTransportAnswersTheSame(t *testing.T) {
	for _, dep := range []struct {
		name string
		svc  func(t *testing.T) *control.Service
		// what the deployment must answer not_supported
		unsupported []string
	}{
		{"local", localService, []string{"dlq.purge"}},
		{"split", splitService, []string{"workers", "outcomes", "dlq.purge", "reload", "pause", "resume", "restart"}},
	} {
		t.Run(dep.name, func(t *testing.T) {
			ref := dep.svc(t)
			var want []outcome
			for _, s := range steps {
				want = append(want, fromResponse(t, ref.Do(context.Background(), control.Call{Action: s.action, Params: bodyOf(s), Authenticated: true})))
			}
			for i, s := range steps {
				isUnsupported := false
				for _, u := range dep.unsupported {
					isUnsupported = isUnsupported || u == s.action
				}
				if isUnsupported != (want[i].Code == control.CodeNotSupported) {
					t.Errorf("%s: %+v, not_supported expected: %t", s.action, want[i], isUnsupported)
				}
			}
			for name, mk := range transports {
				t.Run(name, func(t *testing.T) {
					svc := dep.svc(t)
					tr := mk(t, svc)
					for i, s := range steps {
						got := tr(t, svc, s)
						g, _ := json.Marshal(got)
						w, _ := json.Marshal(want[i])
						if string(g) != string(w) {
							t.Errorf("step %d %s:\n got  %s\n want %s", i, s.action, g, w)
						}
					}
				})
			}
		})
	}
}

// The CLI prints the same text whether it talks to the local HTTP API or to
// the control function.
func TestCLITextSameOverHTTPAndLambda(t *testing.T) {
	svc := splitService(t)
	url := httpServer(t, svc)
	inv := fakeInvoker{controlfn.Wrap(svc)}
	viaURL := controlcli.Options{Getenv: func(k string) string { return map[string]string{"PLBA_CONTROL_TOKEN": token}[k] }}
	viaLambda := controlcli.Options{Getenv: func(string) string { return "" },
		NewInvoker: func(context.Context, string) (controlcli.Invoker, error) { return inv, nil }}
	for _, args := range [][]string{{"queues"}, {"dlq", "list", "jobs"}, {"dlq", "peek", "jobs", "job-1"}, {"workers"}} {
		a, aerr, acode := runCLI(t, viaURL, append(append([]string(nil), args...), "--url", url))
		b, berr, bcode := runCLI(t, viaLambda, append(append([]string(nil), args...), "--lambda", "fn"))
		if a != b || acode != bcode || strings.ReplaceAll(aerr, "--url", "") != strings.ReplaceAll(berr, "--lambda", "") {
			t.Errorf("%v differs:\n--url (%d):\n%s%s\n--lambda (%d):\n%s%s", args, acode, a, aerr, bcode, b, berr)
		}
	}
	out, _, _ := runCLI(t, viaURL, []string{"dlq", "list", "jobs", "--url", url})
	if !strings.Contains(out, "job-1") || !strings.Contains(out, "cannot ever work") || !strings.Contains(out, "1 dead letter(s) in jobs") {
		t.Errorf("dlq list text:\n%s", out)
	}
	out, _, _ = runCLI(t, viaURL, []string{"dlq", "peek", "jobs", "job-1", "--url", url})
	if strings.Contains(out, "abc123") || !strings.Contains(out, "token="+contracts.Redacted) {
		t.Errorf("peek shows the secret:\n%s", out)
	}
	_, errw, code := runCLI(t, viaURL, []string{"workers", "--url", url})
	if code != controlcli.ExitFailure || !strings.Contains(errw, "not supported in this deployment") {
		t.Errorf("workers in split: exit %d %s", code, errw)
	}
}

// The CLI reads the token the runner wrote, and says where to find it when
// the server refuses.
func TestCLITokenFile(t *testing.T) {
	svc := localService(t)
	url := httpServer(t, svc)
	file := filepath.Join(t.TempDir(), "control.token")
	none := controlcli.Options{Getenv: func(string) string { return "" }}
	_, errw, code := runCLI(t, none, []string{"pause", "pool:job", "--url", url, "--token-file", file})
	if code != controlcli.ExitFailure || !strings.Contains(errw, "unauthorized") || !strings.Contains(errw, "token_file") {
		t.Fatalf("without a token: exit %d %s", code, errw)
	}
	if err := control.WriteTokenFile(file, token); err != nil {
		t.Fatal(err)
	}
	out, errw, code := runCLI(t, none, []string{"pause", "pool:job", "--url", url, "--token-file", file})
	if code != 0 || out != "pool:job: paused\n" {
		t.Fatalf("with the token file: exit %d %q %s", code, out, errw)
	}
	// platform.control from the runner's configuration supplies the URL
	// and the token file.
	ctl := runtime.DefaultPlatformConfig().Control
	ctl.Listen, ctl.TokenFile = strings.TrimPrefix(url, "http://"), file
	out, errw, code = runCLIWith(t, none, ctl, []string{"resume", "pool:job"})
	if code != 0 || out != "pool:job: running\n" {
		t.Fatalf("from config: exit %d %q %s", code, out, errw)
	}
	if _, _, code := runCLI(t, none, []string{"dlq", "list"}); code != controlcli.ExitUsage {
		t.Fatalf("dlq list without a queue: exit %d", code)
	}
	if _, _, code := runCLI(t, none, []string{"dlq", "frobnicate"}); code != controlcli.ExitUsage {
		t.Fatalf("unknown subcommand: exit %d", code)
	}
}
