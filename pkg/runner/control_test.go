package runner_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/runner"
)

// A control plane on a non-loopback address without a token does not
// start: exit 2, naming the key, before any module runs.
func TestRunRefusesNonLoopbackControlWithoutToken(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		var out, errw bytes.Buffer
		code := run(context.Background(), []string{"run", "--listen", listen, "--set", "apps.counter.interval=5ms"}, &out, &errw)
		if code != runner.ExitUsage || !strings.Contains(errw.String(), "platform.control.token") {
			t.Errorf("listen %s: exit %d: %s", listen, code, errw.String())
		}
		if strings.Contains(errw.String(), "tick=") || strings.Contains(errw.String(), "runtime started") {
			t.Errorf("listen %s: the application ran:\n%s", listen, errw.String())
		}
	}
}

// On loopback without a token the runner generates one, writes it 0600 to
// platform.control.token_file and prints the path; the CLI reads it from
// the same configuration; the file is removed at shutdown.
func TestRunGeneratesControlToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "control.token")
	set := "platform.control.token_file=" + file
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--listen", "127.0.0.1:0", "--set", "apps.counter.interval=5ms", "--set", set}, &out, &errw)
	}()
	waitFor(t, &errw, "control plane listening", done)
	m := regexp.MustCompile(`url=(http://[^ ]+)/ token_file=(\S+)`).FindStringSubmatch(errw.String())
	if m == nil || m[2] != file {
		t.Fatalf("no URL and token file in the log:\n%s", errw.String())
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	cli := func(args ...string) (int, string, string) {
		var o, e bytes.Buffer
		code := run(context.Background(), args, &o, &e)
		return code, o.String(), e.String()
	}
	if code, o, e := cli("reload", "--url", m[1], "--set", set); code != runner.ExitOK || !strings.Contains(o, "configuration reloaded") {
		t.Fatalf("reload with the token file from the config: exit %d %s %s", code, o, e)
	}
	if code, _, e := cli("reload", "--url", m[1], "--token-file", filepath.Join(t.TempDir(), "none")); code != runner.ExitFailure || !strings.Contains(e, "unauthorized") {
		t.Fatalf("reload without a token: exit %d %s", code, e)
	}
	if code, o, e := cli("workers", "--url", m[1]); code != runner.ExitOK || !strings.Contains(o, "source:") {
		t.Fatalf("workers: exit %d %s %s", code, o, e)
	}
	cancel()
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("token file left after shutdown: %v", err)
	}
}
