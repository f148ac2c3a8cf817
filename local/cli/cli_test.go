package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// The AWS SDK's default config may leave an idle HTTP transport.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		// modernc sqlite keeps no goroutines; go-imap's client reader exits
		// on close. Nothing else is expected.
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

func TestHelpListsEveryCommand(t *testing.T) {
	var out, errw bytes.Buffer
	if code := Main(context.Background(), []string{"--help"}, &out, &errw); code != ExitOK {
		t.Fatalf("exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.name) {
			t.Errorf("--help does not mention %q", c.name)
		}
	}
	for _, args := range [][]string{{"run", "--help"}, {"config", "--help"}, {"orders", "--help"}, {"invoke", "--help"}} {
		out.Reset()
		errw.Reset()
		if code := Main(context.Background(), args, &out, &errw); code != ExitOK {
			t.Errorf("%v: exit %d: %s", args, code, errw.String())
		}
		if !strings.Contains(out.String()+errw.String(), "Usage") {
			t.Errorf("%v: no usage text", args)
		}
	}
	if code := Main(context.Background(), []string{"frobnicate"}, &out, &errw); code != ExitUsage {
		t.Errorf("unknown command: exit %d", code)
	}
}

func TestBadConfigExitsTwoNamingKeyAndFile(t *testing.T) {
	file := writeFile(t, "bad.yaml", "platform:\n  queue:\n    capacity: -3\napps:\n  mailorderbot:\n    workers: many\n    imap:\n      addr: mail.example.com:993\n      username: u\n      colour: blue\n")
	for _, cmd := range []string{"run", "config"} {
		args := []string{cmd, "--config", file}
		if cmd == "config" {
			args = []string{"config", "check", "--config", file}
		}
		var out, errw bytes.Buffer
		code := Main(context.Background(), args, &out, &errw)
		if code != ExitUsage {
			t.Fatalf("%s: exit %d, want 2; stderr: %s", cmd, code, errw.String())
		}
		msg := errw.String()
		for _, want := range []string{
			"platform.queue.capacity", file + ":3",
			"apps.mailorderbot.workers", file + ":6",
			"apps.mailorderbot.imap.colour", "unknown key",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("%s: error output lacks %q:\n%s", cmd, want, msg)
			}
		}
	}
}

func TestMissingConfigFileExitsTwo(t *testing.T) {
	var out, errw bytes.Buffer
	code := Main(context.Background(), []string{"config", "check", "--config", "/nonexistent/plba.yaml"}, &out, &errw)
	if code != ExitUsage || !strings.Contains(errw.String(), "/nonexistent/plba.yaml") {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}

func TestConfigShowRedactsSecrets(t *testing.T) {
	const pw = "s3cr3t-imap-pw"
	t.Setenv("PLBA_TEST_IMAP_PW", pw)
	file := writeFile(t, "ok.yaml", "apps:\n  mailorderbot:\n    imap:\n      addr: mail.example.com:993\n      username: orders\n      password: ${env:PLBA_TEST_IMAP_PW}\n")
	for _, format := range []string{"yaml", "json", "text"} {
		var out, errw bytes.Buffer
		code := Main(context.Background(), []string{"config", "show", "--config", file, "--format", format}, &out, &errw)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errw.String())
		}
		if strings.Contains(out.String()+errw.String(), pw) {
			t.Fatalf("%s output leaks the password:\n%s", format, out.String())
		}
		if !strings.Contains(out.String(), "mail.example.com:993") || !strings.Contains(out.String(), "REDACTED") {
			t.Fatalf("%s output lacks values or the redaction mark:\n%s", format, out.String())
		}
	}
	var out, errw bytes.Buffer
	if code := Main(context.Background(), []string{"config", "check", "--config", file}, &out, &errw); code != ExitOK || !strings.Contains(out.String(), "valid") {
		t.Fatalf("check: exit %d %s %s", code, out.String(), errw.String())
	}
}

// The demo runs end to end in-process: embedded IMAP server, pool, store;
// a signal stops it gracefully and the summary is printed.
func TestRunDemoUntilSignal(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "orders.db")
	var prog syncio.Buffer
	progressOut = &prog
	sig := make(chan chan<- os.Signal, 1)
	notifySignals = func(c chan<- os.Signal) func() { sig <- c; return func() {} }
	t.Cleanup(func() { progressOut = os.Stdout })

	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"run", "--demo", "--listen", "off",
			"--set", "apps.mailorderbot.store.path=" + db, "--set", "platform.log.level=warn"}, &out, &errw)
	}()
	sigc := <-sig
	deadline := time.After(30 * time.Second)
	for strings.Count(prog.String(), "demo-") < 10 {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d: %s", code, errw.String())
		case <-deadline:
			t.Fatalf("demo samples not all processed:\n%s\n%s", prog.String(), errw.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	sigc <- syscall.SIGTERM
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	p := prog.String()
	for _, want := range []string{"accepted", "rejected", "ignored", "summary:"} {
		if !strings.Contains(p, want) {
			t.Errorf("progress lacks %q:\n%s", want, p)
		}
	}
	// The stored outcomes are visible through `plba orders`.
	var lo, le bytes.Buffer
	if code := Main(context.Background(), []string{"orders", "list", "--json", "--status", "rejected",
		"--set", "apps.mailorderbot.store.path=" + db}, &lo, &le); code != ExitOK {
		t.Fatalf("orders list: exit %d: %s", code, le.String())
	}
	lines := strings.Split(strings.TrimSpace(lo.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the 2 rejected samples, got:\n%s", lo.String())
	}
	var o struct {
		Key     string   `json:"key"`
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &o); err != nil || o.Status != "rejected" || len(o.Reasons) == 0 {
		t.Fatalf("order line %q: %v %+v", lines[0], err, o)
	}
	var so, se bytes.Buffer
	if code := Main(context.Background(), []string{"orders", "show", "demo-01@demo.plba.local",
		"--set", "apps.mailorderbot.store.path=" + db}, &so, &se); code != ExitOK || !strings.Contains(so.String(), `"accepted"`) {
		t.Fatalf("orders show: exit %d: %s %s", code, so.String(), se.String())
	}
	if code := Main(context.Background(), []string{"orders", "show", "nope@x",
		"--set", "apps.mailorderbot.store.path=" + db}, &so, &se); code != ExitFailure {
		t.Fatalf("orders show of a missing key: exit %d", code)
	}
}

func TestRunTickerStopsOnContext(t *testing.T) { runTicker(t) }

// runTicker runs `plba run --app ticker` with extra args until its log shows
// the third tick, then cancels it and checks the exit code. It returns the
// standard output.
func runTicker(t *testing.T, extra ...string) string {
	t.Helper()
	notifySignals = func(chan<- os.Signal) func() { return func() {} }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	args := append([]string{"run", "--app", "ticker", "--listen", "off", "--set", "apps.ticker.interval=5ms"}, extra...)
	go func() { done <- Main(ctx, args, &out, &errw) }()
	deadline := time.After(20 * time.Second)
	for !strings.Contains(errw.String(), "tick=3") {
		select {
		case code := <-done:
			t.Fatalf("exit %d: %s", code, errw.String())
		case <-deadline:
			t.Fatalf("no ticks: %s", errw.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	return out.String()
}

// With the stdout exporter, a tick's publish span and routine span share
// one trace: source → queue → worker → routine.
func TestTracingOneTracePerTask(t *testing.T) {
	out := runTicker(t, "--set", "platform.tracing.exporter=stdout")
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
func TestRunTickerOnRedis(t *testing.T) {
	addr := testsvc.Require(t, testsvc.Redis)
	prefix := fmt.Sprintf("plba-cli-test-%d", time.Now().UnixNano())
	runTicker(t, "--queue", "redis", "--set", "platform.queue.redis.addr="+addr, "--set", "platform.queue.redis.prefix="+prefix)
}

// SIGHUP reloads the configuration; an invalid file is rejected and the
// running configuration kept.
func TestSighupReloads(t *testing.T) {
	file := writeFile(t, "ticker.yaml", "apps:\n  ticker:\n    interval: 5ms\n    workers: 2\n")
	sig := make(chan chan<- os.Signal, 1)
	notifySignals = func(c chan<- os.Signal) func() { sig <- c; return func() {} }
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"run", "--app", "ticker", "--listen", "off", "--config", file}, &out, &errw)
	}()
	sigc := <-sig
	waitLog := func(want string) {
		t.Helper()
		deadline := time.After(20 * time.Second)
		for !strings.Contains(errw.String(), want) {
			select {
			case code := <-done:
				t.Fatalf("exit %d before %q: %s", code, want, errw.String())
			case <-deadline:
				t.Fatalf("log never showed %q:\n%s", want, errw.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	waitLog("tick=2")
	if err := os.WriteFile(file, []byte("apps:\n  ticker:\n    interval: 5ms\n    workers: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigc <- syscall.SIGHUP
	waitLog("configuration reload rejected")
	if err := os.WriteFile(file, []byte("apps:\n  ticker:\n    interval: 5ms\n    workers: 4\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigc <- syscall.SIGHUP
	waitLog("pool resized")
	sigc <- syscall.SIGTERM
	if code := <-done; code != ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
}
