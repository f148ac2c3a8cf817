package runner_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
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

// invokeModule is a module of its own, like an application's repository:
// apps/demo/plba.app.yaml names ./fn (the emulator's test function) as
// every function's main package.
func invokeModule(t *testing.T) string {
	t.Helper()
	root := testsvc.Root(t)
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(root, "pkg/lambda/emulator/testdata/fn/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	ver, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod":                  "module invoketest\n\ngo 1.26\n\nrequire github.com/aws/aws-lambda-go " + strings.TrimSpace(string(ver)) + "\n",
		"go.sum":                  string(sum),
		"fn/main.go":              string(src),
		"apps/demo/plba.app.yaml": "name: demo\nfunctions:\n  poller: {main: ./fn}\n  worker: {main: ./fn}\n  control: {main: ./fn}\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestInvokeBuildsForThisMachine: without --bootstrap, invoke builds the
// function the manifest names for this machine and runs it; a bootstrap for
// another architecture is refused with the command that builds the right
// one, not exec's "exec format error".
func TestInvokeBuildsForThisMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two bootstraps in a module of its own")
	}
	dir := invokeModule(t)
	t.Chdir(dir)
	t.Setenv("GOFLAGS", "-mod=mod")
	var out, errw bytes.Buffer
	code := runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "worker", "--app", "demo"}, &out, &errw)
	if code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if !strings.Contains(errw.String(), "building bin/lambda-host/demo/worker/bootstrap from ./fn for "+goruntime.GOOS+"/"+goruntime.GOARCH) ||
		!strings.Contains(out.String(), `"AWS_LAMBDA_FUNCTION_NAME": "worker"`) {
		t.Errorf("stdout:\n%s\nstderr:\n%s", out.String(), errw.String())
	}

	other := "arm64"
	if goruntime.GOARCH == "arm64" {
		other = "amd64"
	}
	foreign := filepath.Join(t.TempDir(), "bootstrap")
	build := exec.Command("go", "build", "-o", foreign, "./fn")
	build.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+other, "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	errw.Reset()
	code = runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "worker", "--bootstrap", foreign}, &out, &errw)
	if code != runner.ExitUsage || !strings.Contains(errw.String(), "build a host bootstrap with make lambdas-host") ||
		strings.Contains(errw.String(), "exec format error") {
		t.Errorf("foreign bootstrap: exit %d: %s", code, errw.String())
	}

	errw.Reset()
	code = runner.Run(context.Background(), counterApp(noSignals), []string{"invoke", "worker", "--app", "nosuch"}, &out, &errw)
	if code != runner.ExitUsage || !strings.Contains(errw.String(), "give --app") {
		t.Errorf("unknown app: exit %d: %s", code, errw.String())
	}
}
