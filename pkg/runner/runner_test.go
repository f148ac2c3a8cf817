package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/runner"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The AWS SDK's default config and the OTLP exporters may leave
		// an idle HTTP transport (blocked in its read loop's poll).
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noSignals(chan<- os.Signal) func() { return func() {} }

// run runs the test application's command line in-process.
func run(ctx context.Context, args []string, out, errw io.Writer) int {
	return runner.Run(ctx, counterApp(noSignals), args, out, errw)
}

func TestHelpListsEveryCommandIncludingContributed(t *testing.T) {
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errw); code != runner.ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, c := range []string{"run", "config", "invoke", "version", "greet", "print the configured greeting", "test-1", "counter <command>"} {
		if !strings.Contains(out.String(), c) {
			t.Errorf("--help does not mention %q:\n%s", c, out.String())
		}
	}
	for _, args := range [][]string{{"run", "--help"}, {"config", "--help"}, {"invoke", "--help"}} {
		out.Reset()
		errw.Reset()
		if code := run(context.Background(), args, &out, &errw); code != runner.ExitOK {
			t.Errorf("%v: exit %d: %s", args, code, errw.String())
		}
		if !strings.Contains(out.String()+errw.String(), "Usage") {
			t.Errorf("%v: no usage text", args)
		}
	}
	if code := run(context.Background(), []string{"frobnicate"}, &out, &errw); code != runner.ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
	out.Reset()
	if code := run(context.Background(), []string{"version"}, &out, &errw); code != runner.ExitOK || out.String() != "counter test-1\n" {
		t.Errorf("version: exit %d, %q", code, out.String())
	}
}

// A module's contributed command gets the runner's configuration flags and
// the same validated configuration `run` would use.
func TestContributedCommandReadsConfiguration(t *testing.T) {
	file := writeFile(t, "c.yaml", "apps:\n  counter:\n    greeting: hej\n")
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"greet", "--config", file, "--shout"}, &out, &errw); code != runner.ExitOK || out.String() != "hej!\n" {
		t.Fatalf("greet: exit %d, out %q, err %s", code, out.String(), errw.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"greet", "--set", "apps.counter.greeting=moin"}, &out, &errw); code != runner.ExitOK || out.String() != "moin\n" {
		t.Fatalf("greet --set: exit %d, out %q, err %s", code, out.String(), errw.String())
	}
	bad := writeFile(t, "bad.yaml", "apps:\n  counter:\n    workers: 0\n")
	errw.Reset()
	if code := run(context.Background(), []string{"greet", "--config", bad}, &out, &errw); code != runner.ExitUsage ||
		!strings.Contains(errw.String(), "apps.counter.workers") || !strings.Contains(errw.String(), bad+":3") {
		t.Fatalf("greet with a bad file: exit %d: %s", code, errw.String())
	}
}

func TestBadConfigExitsTwoNamingKeyAndFile(t *testing.T) {
	file := writeFile(t, "bad.yaml", "platform:\n  queue:\n    capacity: -3\napps:\n  counter:\n    workers: many\n  other:\n    colour: blue\n")
	for _, args := range [][]string{{"run", "--config", file}, {"config", "check", "--config", file}} {
		var out, errw bytes.Buffer
		code := run(context.Background(), args, &out, &errw)
		if code != runner.ExitUsage {
			t.Fatalf("%v: exit %d, want 2; stderr: %s", args, code, errw.String())
		}
		msg := errw.String()
		for _, want := range []string{
			"platform.queue.capacity", file + ":3",
			"apps.counter.workers", file + ":6",
			"apps.other.colour", file + ":8", "unknown key",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%v: error output lacks %q:\n%s", args, want, msg)
			}
		}
	}
}

func TestMissingConfigFileExitsTwo(t *testing.T) {
	var out, errw bytes.Buffer
	code := run(context.Background(), []string{"config", "check", "--config", "/nonexistent/plba.yaml"}, &out, &errw)
	if code != runner.ExitUsage || !strings.Contains(errw.String(), "/nonexistent/plba.yaml") {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	const pw = "s3cr3t-pw"
	t.Setenv("PLBA_TEST_COUNTER_PW", pw)
	file := writeFile(t, "ok.yaml", "apps:\n  counter:\n    greeting: hi-there\n    password: ${env:PLBA_TEST_COUNTER_PW}\n")
	for _, format := range []string{"yaml", "json", "text"} {
		var out, errw bytes.Buffer
		code := run(context.Background(), []string{"config", "show", "--config", file, "--format", format}, &out, &errw)
		if code != runner.ExitOK {
			t.Fatalf("exit %d: %s", code, errw.String())
		}
		if strings.Contains(out.String()+errw.String(), pw) {
			t.Fatalf("%s output leaks the password:\n%s", format, out.String())
		}
		if !strings.Contains(out.String(), "hi-there") || !strings.Contains(out.String(), "REDACTED") {
			t.Fatalf("%s output lacks values or the redaction mark:\n%s", format, out.String())
		}
	}
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", file}, &out, &errw); code != runner.ExitOK || !strings.Contains(out.String(), "valid") {
		t.Fatalf("check: exit %d %s %s", code, out.String(), errw.String())
	}
}

// waitFor polls a log buffer for want: the runner's log is the event here
// (the process under test reports progress only through it).
func waitFor(t *testing.T, buf *syncio.Buffer, want string, done <-chan int) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(buf.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("exit %d before %q: %s", code, want, buf.String())
		case <-deadline:
			t.Fatalf("log never showed %q:\n%s", want, buf.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// runCounter runs `counter run` with extra args until its log shows the
// third tick, then cancels it and checks the exit code. It returns the
// standard output.
func runCounter(t *testing.T, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	args := append([]string{"run", "--listen", "off", "--set", "apps.counter.interval=5ms"}, extra...)
	go func() { done <- run(ctx, args, &out, &errw) }()
	waitFor(t, &errw, "tick=3", done)
	cancel()
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	return out.String()
}

func TestRunStopsOnContext(t *testing.T) { runCounter(t) }

// The application's main, built on the runner from outside local/, serves
// the control plane: health, status with the module's pool and source, and
// the configuration with secrets redacted.
func TestRunServesControlPlane(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--listen", "127.0.0.1:0", "--set", "apps.counter.interval=5ms",
			"--set", "platform.control.token_file=" + filepath.Join(t.TempDir(), "control.token"),
			"--set", "apps.counter.password=hunter2-secret"}, &out, &errw)
	}()
	waitFor(t, &errw, "control plane listening", done)
	m := regexp.MustCompile(`url=(http://[^ ]+/)`).FindStringSubmatch(errw.String())
	if m == nil {
		t.Fatalf("no control URL in the log:\n%s", errw.String())
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(m[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	waitFor(t, &errw, "tick=2", done)
	if code, _ := get("healthz"); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	code, body := get("status")
	var st struct {
		Modules []string
		Workers []struct{ Name string }
		Build   string
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 {
		t.Fatalf("status %d: %v: %s", code, err, body)
	}
	if fmt.Sprint(st.Modules) != "[counter]" || st.Build != "test-1" || len(st.Workers) != 2 {
		t.Errorf("status: %+v", st)
	}
	if _, cfg := get("config"); strings.Contains(cfg, "hunter2-secret") || !strings.Contains(cfg, "REDACTED") {
		t.Errorf("config leaks or lacks the redaction: %s", cfg)
	}
	cancel()
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}

// With the stdout exporter, a tick's publish span and routine span share
// one trace: source → queue → worker → routine.
func TestTracingOneTracePerTask(t *testing.T) {
	out := runCounter(t, "--set", "platform.tracing.exporter=stdout")
	type span struct {
		Name        string
		SpanContext struct{ TraceID, SpanID string }
		Parent      struct{ TraceID, SpanID string }
	}
	byTrace := map[string][]span{}
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var s span
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("span output: %v\n%s", err, out)
		}
		byTrace[s.SpanContext.TraceID] = append(byTrace[s.SpanContext.TraceID], s)
	}
	joined := 0
	for _, spans := range byTrace {
		if len(spans) == 2 {
			var pub, run span
			for _, s := range spans {
				if s.Name == "plba.routine" {
					run = s
				} else {
					pub = s
				}
			}
			if run.Parent.SpanID == pub.SpanContext.SpanID && pub.Name == "publish tick" {
				joined++
			}
		}
	}
	if joined < 3 {
		t.Fatalf("want ≥3 traces joining publish and routine spans, got %d of %d traces", joined, len(byTrace))
	}
}

// The same module runs on Redis instead of memory by configuration alone.
func TestRunOnRedis(t *testing.T) {
	addr := testsvc.Require(t, testsvc.Redis)
	prefix := fmt.Sprintf("plba-runner-test-%d", time.Now().UnixNano())
	runCounter(t, "--queue", "redis", "--set", "platform.queue.redis.addr="+addr, "--set", "platform.queue.redis.prefix="+prefix)
}

// SIGHUP reloads the configuration; an invalid file is rejected and the
// running configuration kept.
func TestSighupReloads(t *testing.T) {
	file := writeFile(t, "counter.yaml", "apps:\n  counter:\n    interval: 5ms\n    workers: 2\n")
	sig := make(chan chan<- os.Signal, 1)
	app := counterApp(func(c chan<- os.Signal) func() { sig <- c; return func() {} })
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runner.Run(context.Background(), app, []string{"run", "--listen", "off", "--config", file}, &out, &errw)
	}()
	sigc := <-sig
	waitFor(t, &errw, "tick=2", done)
	if err := os.WriteFile(file, []byte("apps:\n  counter:\n    interval: 5ms\n    workers: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigc <- syscall.SIGHUP
	waitFor(t, &errw, "configuration reload rejected", done)
	if err := os.WriteFile(file, []byte("apps:\n  counter:\n    interval: 5ms\n    workers: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigc <- syscall.SIGHUP
	waitFor(t, &errw, "pool resized", done)
	sigc <- syscall.SIGTERM
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}

// Any registered backend is picked by name; an unregistered one, and a bad
// key in a backend's own section, exit 2 naming the key.
func TestQueueBackendByRegistry(t *testing.T) {
	file := writeFile(t, "queue.yaml", "platform:\n  queue:\n    backend: redis\n    redis:\n      adr: 127.0.0.1:6379\n")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run", "--listen", "off", "--queue", "nosuch"}, []string{"platform.queue.backend", `"nosuch"`, "memory", "redis", "sqs"}},
		{[]string{"run", "--listen", "off", "--config", file}, []string{"platform.queue.redis.adr", file + ":5", "unknown key"}},
		{[]string{"run", "--listen", "off", "--queue", "redis"}, []string{"platform.queue.redis.addr", "required"}},
	} {
		var out, errw syncio.Buffer
		code := run(context.Background(), tc.args, &out, &errw)
		if code != runner.ExitUsage {
			t.Fatalf("%v: exit %d, want 2; stderr: %s", tc.args, code, errw.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(errw.String(), w) {
				t.Errorf("%v: error output lacks %q:\n%s", tc.args, w, errw.String())
			}
		}
	}
}

// TestConfigCheckConnect: --connect runs the modules' connection checks;
// a failing one exits 2 with its reason, without --connect nothing connects.
func TestConfigCheckConnect(t *testing.T) {
	bad := writeFile(t, "unreachable.yaml", "apps:\n  counter:\n    greeting: unreachable\n")
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", bad}, &out, &errw); code != runner.ExitOK {
		t.Fatalf("check without --connect: exit %d %s", code, errw.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"config", "check", "--connect", "--config", bad}, &out, &errw); code != runner.ExitUsage ||
		!strings.Contains(errw.String(), errUnreachable.Error()) {
		t.Fatalf("check --connect of an unreachable target: exit %d\n%s", code, errw.String())
	}
	good := writeFile(t, "good.yaml", "apps:\n  counter:\n    greeting: hi\n")
	out.Reset()
	if code := run(context.Background(), []string{"config", "check", "--connect", "--config", good}, &out, &errw); code != runner.ExitOK ||
		!strings.Contains(out.String(), "connections of module counter: ok") {
		t.Fatalf("check --connect: exit %d %s", code, out.String())
	}
}
