package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/jsii-runtime-go"

	"github.com/plba/plba/infra/plbastack"
)

// Importing the CDK prepares a jsii runtime (a temp dir) even when this
// process never starts it; Close removes it.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// cdkCLI returns the pinned CLI, or skips (fails under CI=true) when
// `npm ci` has not been run in infra/.
func cdkCLI(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("node_modules/.bin/cdk"); err != nil {
		msg := "the pinned aws-cdk CLI is not installed: run scripts/test.sh or `cd infra && npm ci`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// synth runs `cdk synth` through the pinned CLI exactly as `make synth`
// does, with no network: module downloads are switched off and every
// HTTP(S) request would go to a closed port.
func synth(t *testing.T, outDir string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", append([]string{"--no-install", "cdk", "synth", "--quiet", "-o", outDir}, args...)...)
	cmd.Env = append(os.Environ(),
		"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
		"AWS_EC2_METADATA_DISABLED=true",
		"GOPROXY=off", "GOFLAGS=-mod=readonly",
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=",
		"http_proxy=http://127.0.0.1:9", "https_proxy=http://127.0.0.1:9", "no_proxy=",
		"CDK_DISABLE_CLI_TELEMETRY=true",
	)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func placeholderAssets(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, fn := range []string{"poller", "worker", "control"} {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("#!/bin/sh\n# "+fn+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestCLISynth runs the real CLI and app offline: a good configuration
// yields the template, a broken AWS rule fails synth with the documented
// message, and missing binaries fail with the `make lambdas` hint.
func TestCLISynth(t *testing.T) {
	cdkCLI(t)
	if testing.Short() {
		t.Skip("runs the CDK CLI (about 10 s); skipped with -short")
	}
	assets := placeholderAssets(t)

	t.Run("ok", func(t *testing.T) {
		out := t.TempDir()
		log, err := synth(t, out, "-c", "stage=ci", "-c", "assetDir="+assets)
		if err != nil {
			t.Fatalf("cdk synth: %v\n%s", err, log)
		}
		b, err := os.ReadFile(filepath.Join(out, "plba-ci.template.json"))
		if err != nil {
			t.Fatalf("%v\n%s", err, log)
		}
		var tmpl struct {
			Resources map[string]struct {
				Type       string
				Properties map[string]any
			}
		}
		if err := json.Unmarshal(b, &tmpl); err != nil {
			t.Fatal(err)
		}
		var fns, mappings int
		for _, r := range tmpl.Resources {
			switch r.Type {
			case "AWS::Lambda::Function":
				fns++
			case "AWS::Lambda::EventSourceMapping":
				mappings++
				if got, _ := json.Marshal(r.Properties["FunctionResponseTypes"]); string(got) != `["ReportBatchItemFailures"]` {
					t.Errorf("FunctionResponseTypes = %s", got)
				}
			}
		}
		if fns != 3 || mappings != 1 {
			t.Errorf("%d functions, %d mappings in the CLI's template", fns, mappings)
		}
	})

	// Every other application synthesizes from its own folder with
	// -c app=NAME: its manifest and apps/NAME/deploy, no edit here.
	t.Run("other apps", func(t *testing.T) {
		apps, err := plbastack.Apps("../apps")
		if err != nil {
			t.Fatal(err)
		}
		for _, app := range apps {
			if app == "mailorderbot" {
				continue
			}
			out := t.TempDir()
			log, err := synth(t, out, "-c", "app="+app, "-c", "stage=ci", "-c", "assetDir="+assets)
			if err != nil {
				t.Fatalf("cdk synth -c app=%s: %v\n%s", app, err, log)
			}
			cfg, err := plbastack.LoadConfig("../apps/"+app, "ci")
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(out, cfg.ResolvedStackName()+".template.json"))
			if err != nil {
				t.Fatalf("%v\n%s", err, log)
			}
			if n := strings.Count(string(b), `"Type": "AWS::Lambda::Function"`); n != 3 {
				t.Errorf("%s: %d functions in the CLI's template", app, n)
			}
			bad := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(bad, []byte("worker:\n  max_concurrency: 1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			log, err = synth(t, t.TempDir(), "-c", "app="+app, "-c", "stage=ci", "-c", "assetDir="+assets, "-c", "configFile="+bad)
			if err == nil || !strings.Contains(log, "worker.max_concurrency (1) must be between 2 and 1000") {
				t.Errorf("%s: a broken rule synthesized (err %v):\n%s", app, err, log)
			}
		}
		log, err := synth(t, t.TempDir(), "-c", "app=nosuch", "-c", "assetDir="+assets)
		if err == nil || !strings.Contains(log, `application "nosuch": no `) {
			t.Errorf("unknown app: err %v\n%s", err, log)
		}
	})

	t.Run("rule violation", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(bad, []byte("queue:\n  visibility_timeout: 60s\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		log, err := synth(t, t.TempDir(), "-c", "stage=ci", "-c", "assetDir="+assets, "-c", "configFile="+bad)
		if err == nil {
			t.Fatalf("cdk synth succeeded with a visibility timeout below 6 × worker timeout:\n%s", log)
		}
		want := "queue.visibility_timeout (1m0s) must be at least 6 × worker.timeout (30s) + worker.batching_window (0s) = 3m0s"
		if !strings.Contains(log, want) {
			t.Errorf("cdk synth output lacks %q:\n%s", want, log)
		}
	})

	t.Run("missing binaries", func(t *testing.T) {
		log, err := synth(t, t.TempDir(), "-c", "stage=ci", "-c", "assetDir="+t.TempDir())
		if err == nil || !strings.Contains(log, "run `make lambdas` at the repository root first") {
			t.Errorf("err %v, output:\n%s", err, log)
		}
	})
}
