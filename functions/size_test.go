package functions_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/internal/appmanifest"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/lambda/emulator"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The Lambda build, as the Makefile's lambdas target runs it.
const (
	lambdaTags = appmanifest.LambdaTags
	// maxBootstrap is issue 6's target for each bootstrap (decimal MB).
	maxBootstrap = 15_000_000
)

// build builds the main package (relative to the repository root, as the
// manifests name it) with the Lambda tags for goos/goarch into a temporary
// directory; strip as the Makefile does (-s -w) or not.
func build(t *testing.T, main, goos, goarch string, strip bool) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	ldflags := "-s -w"
	if !strip {
		ldflags = ""
	}
	cmd := exec.Command("go", "build", "-tags", lambdaTags, "-trimpath", "-ldflags", ldflags, "-o", out, main)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", main, err, b)
	}
	return out
}

// TestMakefileBuildsWithTheseFlags keeps this file and the Makefile in step:
// the size test below is only worth something if it builds what
// `make lambdas` builds.
func TestMakefileBuildsWithTheseFlags(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"LAMBDA_TAGS := " + lambdaTags + "\n",
		`$(GO) run ./internal/appmanifest/list $(APP) | while read -r app fn main; do`,
		`GOOS=$(1) GOARCH=$(2) CGO_ENABLED=0 $(GO) build -tags $(LAMBDA_TAGS) -trimpath -ldflags "$(LDFLAGS)"`,
		"-o $(3)/$$app/$$fn/bootstrap $$main",
		"\t$(call lambda-build,linux,arm64,bin/lambda)\n",
		"LDFLAGS := -s -w ",
	} {
		if !bytes.Contains(mk, []byte(want)) {
			t.Errorf("Makefile has no %q: update the lambdas target or this test", want)
		}
	}
}

// TestBootstrapSize builds every application's functions as `make lambdas`
// does (from the manifests, linux/arm64, stripped) and fails when one
// exceeds 15 MB, or links a module the Lambda build leaves out.
func TestBootstrapSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds three linux/arm64 binaries per application")
	}
	apps, err := appmanifest.List("..")
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) == 0 {
		t.Fatal("no apps/*/plba.app.yaml")
	}
	// Modules no package of the Lambda build imports.
	leftOut := []string{
		"modernc.org/sqlite",                                  // SQLite store: local only
		"github.com/aws/aws-sdk-go-v2/service/ssm",            // awsconfig.Client instead
		"github.com/aws/aws-sdk-go-v2/service/secretsmanager", //
	}
	for _, app := range apps {
		for _, fn := range appmanifest.Functions {
			t.Run(app.Name+"/"+fn, func(t *testing.T) { checkBootstrap(t, app.Mains[fn], leftOut) })
		}
	}
}

// checkBootstrap builds one function and checks its size, modules and build
// tags, then, for a worker, the symbols it must not link.
func checkBootstrap(t *testing.T, main string, leftOut []string) {
	bin := build(t, main, "linux", "arm64", true)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes (%.1f MB)", main, st.Size(), float64(st.Size())/1e6)
	if st.Size() > maxBootstrap {
		t.Errorf("%s bootstrap is %d bytes, over the %d-byte target: see docs/serverless.md (Building) for what it links and how to measure",
			main, st.Size(), maxBootstrap)
	}
	info, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m %s: %v", main, err)
	}
	for _, mod := range leftOut {
		if bytes.Contains(info, []byte("\tdep\t"+mod+"\t")) || bytes.Contains(info, []byte("\t"+mod+"\n")) {
			t.Errorf("%s bootstrap links %s", main, mod)
		}
	}
	if !bytes.Contains(info, []byte("-tags="+lambdaTags)) {
		t.Errorf("%s bootstrap build info has no -tags=%s:\n%s", main, lambdaTags, info)
	}
	if !strings.HasSuffix(main, "/worker") {
		return
	}
	// Packages imported (dynamostore imports the SDK's config package) but
	// whose code must not be linked, by symbol: their package
	// initialisation stays, about 0.1 MB.
	syms, err := exec.Command("go", "tool", "nm", build(t, main, "linux", "arm64", false)).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	for _, sym := range []string{
		"github.com/emersion/go-imap/v2/imapserver.New",                                // demo IMAP server
		"github.com/aws/aws-sdk-go-v2/config.LoadDefaultConfig",                        // default chain
		"github.com/aws/aws-sdk-go-v2/service/sts.(*Client).AssumeRoleWithWebIdentity", // its providers
		"github.com/aws/aws-sdk-go-v2/service/sso.(*Client).GetRoleCredentials",
		"github.com/go-playground/validator/v10.tryCallValidateFn", // see docs/serverless.md
	} {
		if bytes.Contains(syms, []byte(" "+sym+"\n")) {
			t.Errorf("%s links %s", main, sym)
		}
	}
}

// TestLambdaBuildRefusesSQLite runs the Lambda-built worker (for this
// machine) under the Runtime API emulator with the sqlite store driver: the
// init fails with a message that says why, instead of a store that would
// lose its data with the function's sandbox.
func TestLambdaBuildRefusesSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a bootstrap")
	}
	bin := build(t, "./functions/worker", goEnv(t, "GOHOSTOS"), goEnv(t, "GOHOSTARCH"), true)
	logs := &syncio.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := emulator.Start(ctx, emulator.Options{
		Bootstrap: bin,
		Env: map[string]string{
			"PLBA_APPS__MAILORDERBOT__IMAP__ADDR":     "127.0.0.1:1",
			"PLBA_APPS__MAILORDERBOT__IMAP__TLS":      "none",
			"PLBA_APPS__MAILORDERBOT__IMAP__USERNAME": "u",
			"PLBA_APPS__MAILORDERBOT__IMAP__PASSWORD": "p",
			"PLBA_APPS__MAILORDERBOT__STORE__DRIVER":  "sqlite",
			"PLBA_APPS__MAILORDERBOT__STORE__PATH":    filepath.Join(t.TempDir(), "orders.db"),
			"PLBA_QUEUE_URL":                          "http://127.0.0.1:1/q",
			"PLBA_DLQ_URL":                            "http://127.0.0.1:1/dlq",
		},
		Timeout: 20 * time.Second,
		Stdout:  logs,
		Stderr:  logs,
	})
	if err == nil {
		// Start found the process ready; the invocation meets the failure.
		defer e.Close()
		_, err = e.Invoke(ctx, []byte(`{"Records":[]}`))
	}
	var ferr *emulator.FunctionError
	if !errors.As(err, &ferr) || !ferr.Init {
		t.Fatalf("got %v, want an init error\n%s", err, logs)
	}
	if want := "store driver sqlite is not in this build (Lambda builds use dynamodb)"; !strings.Contains(logs.String(), want) {
		t.Errorf("function output does not say %q:\n%s", want, logs)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}
