package runner_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/runner"
)

func TestInvokeRunsBootstrapOverRuntimeAPI(t *testing.T) {
	root := testsvc.Root(t)
	bin := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bin, "./pkg/lambda/emulator/testdata/fn")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ev := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(ev, []byte(`{"do":"echo"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errw bytes.Buffer
	code := runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "control", "--bootstrap", bin, "--event", ev, "--env", "MY_VAR=hello"}, &out, &errw)
	if code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	for _, want := range []string{`"MY_VAR": "hello"`, `"AWS_LAMBDA_FUNCTION_NAME": "control"`, `"request_id"`} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("response lacks %s:\n%s", want, out.String())
		}
	}
	out.Reset()
	errw.Reset()
	if err := os.WriteFile(ev, []byte(`{"do":"error"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "control", "--bootstrap", bin, "--event", ev}, &out, &errw); code != runner.ExitFailure ||
		!strings.Contains(errw.String(), "it failed on purpose") {
		t.Fatalf("function error: exit %d: %s", code, errw.String())
	}
	if code := runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "nosuch"}, &out, &errw); code != runner.ExitUsage {
		t.Fatalf("unknown function: exit %d", code)
	}
	if code := runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "worker", "--bootstrap", "/nonexistent"}, &out, &errw); code != runner.ExitUsage ||
		!strings.Contains(errw.String(), "make lambdas") {
		t.Fatalf("missing bootstrap: exit %d: %s", code, errw.String())
	}
}
