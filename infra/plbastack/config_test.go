package plbastack_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/infra/plbastack"
)

// botDir is the mail order bot's folder, with its manifest and stage
// configs.
const botDir = "../../apps/mailorderbot"

// The bot's shipped deploy/default.yaml repeats the built-in defaults (so
// users see them) and adds placeholder mailbox settings; nothing else may
// drift.
func TestDefaultYAMLMatchesBuiltInDefaults(t *testing.T) {
	got, err := plbastack.LoadConfig(botDir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := plbastack.DefaultConfig()
	want.AssetDir = "../bin/lambda/mailorderbot"
	want.Settings = map[string]string{"imap_addr": "imap.example.com:993", "imap_tls": "implicit",
		"imap_username": "orders@example.com", "imap_mailbox": "INBOX"}
	want.App = got.App
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config/default.yaml drifted from DefaultConfig:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("shipped config is invalid: %v", err)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeApp writes a minimal application folder: a manifest with the given
// extra lines and its deploy/ folder.
func writeApp(t *testing.T, name, extra string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(filepath.Join(dir, "deploy"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "plba.app.yaml", "name: "+name+"\nfunctions:\n  poller: {main: ./p}\n  worker: {main: ./w}\n  control: {main: ./c}\n"+extra)
	return dir
}

func TestLoadConfigLayers(t *testing.T) {
	app := writeApp(t, "qaapp", `defaults:
  worker: {timeout: 25s, memory_mb: 512}
  poller: {schedule: "cron(0 * * * ? *)"}
settings:
  addr: {env: QA_ADDR, required: true}
  mode: {env: QA_MODE, default: fast}
secrets:
  Token: {env: QA_TOKEN, ssm_parameter: "/{app}/{stage}/token", functions: [worker]}
`)
	dir := filepath.Join(app, "deploy")
	writeFile(t, dir, "default.yaml", "worker:\n  timeout: 20s\n  batch_size: 5\nsettings:\n  addr: mail:993\n")
	writeFile(t, dir, "qa.yaml", "worker:\n  batch_size: 7\nsecrets:\n  Token: {secret: \"team/{stage}/token\"}\n")
	extra := writeFile(t, dir, "extra.yaml", "queue:\n  visibility_timeout: 10m\n")

	cfg, err := plbastack.LoadConfig(app, "qa", extra)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stage != "qa" || cfg.Worker.Timeout != plbastack.Duration(20*time.Second) || cfg.Worker.BatchSize != 7 ||
		cfg.Worker.MemoryMB != 512 || cfg.Poller.Schedule != "cron(0 * * * ? *)" ||
		cfg.Queue.VisibilityTimeout != plbastack.Duration(10*time.Minute) {
		t.Errorf("layers not applied: %+v", cfg)
	}
	if got := cfg.ResolvedSettings(); !reflect.DeepEqual(got, map[string]string{"QA_ADDR": "mail:993", "QA_MODE": "fast"}) {
		t.Errorf("settings %v", got)
	}
	// Keys no file sets keep the built-in default.
	if cfg.Control.MemoryMB != 256 || cfg.AssetDir != "../bin/lambda/qaapp" {
		t.Errorf("defaults lost: memory %d asset dir %q", cfg.Control.MemoryMB, cfg.AssetDir)
	}
	if got := cfg.ResolvedStackName(); got != "qaapp-qa" {
		t.Errorf("stack name %q", got)
	}
	// The stage moved the secret to Secrets Manager; who reads it stays.
	want := plbastack.SecretRef{Env: "QA_TOKEN", Secret: "team/{stage}/token", Functions: []string{"worker"}}
	if got := cfg.ResolvedSecrets()["Token"]; !reflect.DeepEqual(got, want) {
		t.Errorf("secret %+v, want %+v", got, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Error(err)
	}
}

func TestManifestErrors(t *testing.T) {
	app := writeApp(t, "badapp", `environment: {PLBA_QUEUE_URL: x}
settings:
  tls: {env: B_TLS, default: maybe, one_of: [none, implicit]}
  host: {env: B_HOST, required: true, pattern: '^[a-z]+$'}
  dup: {env: B_TLS}
table:
  name: things
  partition_key: {name: id, type: X}
  access: {worker: all}
`)
	cfg, err := plbastack.LoadConfig(app, "dev")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Settings = map[string]string{"nosuch": "1"}
	err = cfg.Validate()
	for _, want := range []string{
		"manifest: environment: PLBA_QUEUE_URL is set by the stack or by Lambda",
		"manifest: settings.tls.env: B_TLS is already set by settings.dup.env",
		`settings.tls "maybe" must be one of none, implicit`,
		"settings.host must be set",
		"settings.nosuch: application badapp declares no such setting",
		`manifest: table.partition_key.type "X" must be S, N or B`,
		`manifest: table.access.worker "all" must be read or write`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := plbastack.LoadConfig(writeApp(t, "unknown", "tabel: {}\n"), "dev"); !errors.Is(err, plbastack.ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "field tabel not found") {
		t.Errorf("unknown manifest key: %v", err)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	app := writeApp(t, "errapp", "")
	dir := filepath.Join(app, "deploy")
	cases := map[string]struct{ body, want string }{
		"unknown key":  {"worker:\n  batchsize: 5\n", "field batchsize not found"},
		"bad duration": {"worker:\n  timeout: 30\n", `duration "30"`},
		"not yaml":     {"worker: [\n", "yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(name, " ", "-")+".yaml", tc.body)
			_, err := plbastack.LoadConfig(app, "dev", p)
			if !errors.Is(err, plbastack.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), p) {
				t.Errorf("err = %v, want ErrInvalidConfig naming %s and %q", err, p, tc.want)
			}
		})
	}
	if _, err := plbastack.LoadConfig(app, "dev", filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing extra file: err = %v", err)
	}
}

// botConfig is the bot's dev configuration.
func botConfig(t *testing.T) plbastack.Config {
	t.Helper()
	cfg, err := plbastack.LoadConfig(botDir, "dev")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := botConfig(t)
	cfg.Settings = nil
	cfg.Stage = "Bad Stage"
	cfg.Worker.BatchSize = 0
	cfg.Queue.MaxReceiveCount = 0
	err := cfg.Validate()
	var ve *plbastack.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	// Bad stage (also making the SSM parameter name invalid), batch size,
	// receive count, and the mailbox address and username the manifest
	// requires.
	if len(ve.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%v", len(ve.Problems), err)
	}
	if !strings.HasPrefix(err.Error(), `plba infra: invalid configuration for stage "Bad Stage":`) {
		t.Errorf("message: %v", err)
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	cfg := botConfig(t)
	cfg.Settings = map[string]string{"imap_addr": "mail:143", "imap_username": "u", "imap_tls": "starttls"}
	cfg.Worker.BatchSize = 10000
	cfg.Worker.BatchingWindow = plbastack.Duration(300 * time.Second)
	cfg.Worker.MaxConcurrency = 1000
	cfg.Worker.Timeout = plbastack.Duration(900 * time.Second)
	cfg.Queue.VisibilityTimeout = plbastack.Duration(5700 * time.Second) // 6 × 900 s + 300 s
	cfg.Poller.Schedule = "cron(0/5 * * * ? *)"
	cfg.Logs.RetentionDays = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("limits rejected: %v", err)
	}
	cfg.Worker.MaxConcurrency = 2
	cfg.Worker.ReservedConcurrency = 2
	cfg.Poller.Schedule = "rate(5 minutes)"
	if err := cfg.Validate(); err != nil {
		t.Errorf("lower limits rejected: %v", err)
	}
}
