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

// The shipped default.yaml repeats the built-in defaults (so users see
// them) and adds placeholder mailbox settings; nothing else may drift.
func TestDefaultYAMLMatchesBuiltInDefaults(t *testing.T) {
	got, err := plbastack.LoadConfig("../config", "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := plbastack.DefaultConfig()
	want.Mailbox.Addr = "imap.example.com:993"
	want.Mailbox.Username = "orders@example.com"
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

func TestLoadConfigLayers(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "default.yaml", "worker:\n  timeout: 20s\n  batch_size: 5\nmailbox:\n  addr: mail:993\n")
	writeFile(t, dir, "qa.yaml", "worker:\n  batch_size: 7\n")
	extra := writeFile(t, dir, "extra.yaml", "queue:\n  visibility_timeout: 10m\n")

	cfg, err := plbastack.LoadConfig(dir, "qa", extra)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Stage != "qa" || cfg.Worker.Timeout != plbastack.Duration(20*time.Second) || cfg.Worker.BatchSize != 7 ||
		cfg.Mailbox.Addr != "mail:993" || cfg.Queue.VisibilityTimeout != plbastack.Duration(10*time.Minute) {
		t.Errorf("layers not applied: %+v", cfg)
	}
	// Keys no file sets keep the built-in default.
	if cfg.Worker.MemoryMB != 256 || cfg.Mailbox.Mailbox != "INBOX" || cfg.PasswordSSMParameterName() != "/plba/qa/imap-password" {
		t.Errorf("defaults lost: memory %d mailbox %q parameter %q", cfg.Worker.MemoryMB, cfg.Mailbox.Mailbox, cfg.PasswordSSMParameterName())
	}
	if got := cfg.ResolvedStackName(); got != "plba-qa" {
		t.Errorf("stack name %q", got)
	}
	if got := cfg.PasswordReference(); got != "${ssm:/plba/qa/imap-password}" {
		t.Errorf("password reference %q", got)
	}
	cfg.Mailbox.PasswordSecret = "team/{stage}/imap"
	if got := cfg.PasswordReference(); got != "${secretsmanager:team/qa/imap}" || cfg.PasswordSSMParameterName() != "" {
		t.Errorf("secret reference %q, parameter %q", got, cfg.PasswordSSMParameterName())
	}
}

func TestLoadConfigErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]struct{ body, want string }{
		"unknown key":  {"worker:\n  batchsize: 5\n", "field batchsize not found"},
		"bad duration": {"worker:\n  timeout: 30\n", `duration "30"`},
		"not yaml":     {"worker: [\n", "yaml"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := writeFile(t, dir, strings.ReplaceAll(name, " ", "-")+".yaml", tc.body)
			_, err := plbastack.LoadConfig(dir, "dev", p)
			if !errors.Is(err, plbastack.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), p) {
				t.Errorf("err = %v, want ErrInvalidConfig naming %s and %q", err, p, tc.want)
			}
		})
	}
	if _, err := plbastack.LoadConfig(dir, "dev", filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing extra file: err = %v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := plbastack.DefaultConfig()
	cfg.Stage = "Bad Stage"
	cfg.Worker.BatchSize = 0
	cfg.Queue.MaxReceiveCount = 0
	err := cfg.Validate()
	var ve *plbastack.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	// Bad stage (also making the SSM parameter name invalid), batch size,
	// receive count, and the empty mailbox address and username of the
	// bare defaults.
	if len(ve.Problems) != 6 {
		t.Errorf("%d problems, want 6:\n%v", len(ve.Problems), err)
	}
	if !strings.HasPrefix(err.Error(), `plba infra: invalid configuration for stage "Bad Stage":`) {
		t.Errorf("message: %v", err)
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	cfg := plbastack.DefaultConfig()
	cfg.Mailbox.Addr, cfg.Mailbox.Username = "mail:143", "u"
	cfg.Mailbox.TLS = "starttls"
	cfg.Worker.BatchSize = 10000
	cfg.Worker.BatchingWindow = plbastack.Duration(300 * time.Second)
	cfg.Worker.MaxConcurrency = 1000
	cfg.Worker.Timeout = plbastack.Duration(900 * time.Second)
	cfg.Queue.VisibilityTimeout = plbastack.Duration(5400 * time.Second)
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
