package config_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// BotConfig is a typical application config: defaults in the declared
// value, rules in validate tags.
type BotConfig struct {
	Workers  int           `koanf:"workers" validate:"min=1,max=64"`
	Interval time.Duration `koanf:"interval" validate:"gte=1s"`
	Mode     string        `koanf:"mode" validate:"oneof=poll idle"`
	IMAP     IMAPConfig    `koanf:"imap"`
	Tags     []string      `koanf:"tags"`
}

type IMAPConfig struct {
	Addr     string            `koanf:"addr" validate:"required,hostname_port"`
	User     string            `koanf:"user" validate:"required"`
	Password contracts.Secret  `koanf:"password" validate:"required,min=8"`
	Token    string            `koanf:"token"`
	Folders  map[string]string `koanf:"folders"`
}

func botDefaults() *BotConfig {
	return &BotConfig{Workers: 2, Interval: 30 * time.Second, Mode: "poll",
		IMAP: IMAPConfig{Addr: "localhost:143", User: "bot"}}
}

func writeFile(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type mapProvider struct {
	name string
	mu   sync.Mutex
	data map[string]any
}

func (p *mapProvider) Name() string { return p.name }
func (p *mapProvider) Load(context.Context) (map[string]any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.data, nil
}

func TestPrecedenceEveryLayer(t *testing.T) {
	dir := t.TempDir()
	base := writeFile(t, dir, "base.yaml", `
apps:
  bot:
    workers: 3
    mode: idle
    interval: 10s
    imap:
      addr: base:143
      user: from-base
      password: base-password
`)
	over := writeFile(t, dir, "over.yaml", `
apps:
  bot:
    interval: 20s
    imap:
      addr: over:143
`)
	prov := &mapProvider{name: "db", data: map[string]any{"apps": map[string]any{"bot": map[string]any{
		"imap": map[string]any{"user": "from-db"}, "tags": []any{"x"}}}}}
	m, err := config.New(t.Context(), config.Options{
		Files: []string{base, over},
		Environ: []string{
			"PLBA_APPS__BOT__IMAP__USER=from-env", // overridden by the provider
			"PLBA_APPS__BOT__WORKERS=5",           // overridden by the flag
			"PLBA_APPS__BOT__MODE=poll",           // env wins over files
			"PLBA_CONFIG=/etc/x.yaml",             // not configuration: no double underscore
			"OTHER_APPS__BOT__WORKERS=9",          // other prefix
		},
		Providers: []contracts.ConfigProvider{prov},
		Flags:     map[string]string{"apps.bot.workers": "7"},
		Schemas:   map[string]any{"apps.bot": botDefaults()},
		Logger:    quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Get[BotConfig](m, "apps.bot")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		key, src string
		got, val any
	}{
		{"apps.bot.workers", "flag --set apps.bot.workers", cfg.Workers, 7},
		{"apps.bot.imap.user", "db", cfg.IMAP.User, "from-db"},
		{"apps.bot.mode", "env PLBA_APPS__BOT__MODE", cfg.Mode, "poll"},
		{"apps.bot.imap.addr", over + ":6", cfg.IMAP.Addr, "over:143"},
		{"apps.bot.interval", over + ":4", cfg.Interval, 20 * time.Second},
		{"apps.bot.imap.password", base + ":10", cfg.IMAP.Password.Reveal(), "base-password"},
		{"apps.bot.imap.token", "default", cfg.IMAP.Token, ""},
	}
	for _, w := range want {
		if w.got != w.val {
			t.Errorf("%s = %v, want %v", w.key, w.got, w.val)
		}
		if s := m.Source(w.key); s != w.src {
			t.Errorf("source of %s = %q, want %q", w.key, s, w.src)
		}
	}
	if len(cfg.Tags) != 1 || cfg.Tags[0] != "x" {
		t.Errorf("tags = %v", cfg.Tags)
	}
	for _, k := range m.Keys() {
		if strings.HasPrefix(k, "config") || strings.Contains(k, "other") {
			t.Errorf("unexpected key %s from a non-config variable", k)
		}
	}
}

func TestDefaultsOnly(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{Environ: []string{}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// The defaults lack the required password: Declare says so, naming
	// the defaults as the source.
	err = m.Declare("apps.bot", botDefaults())
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), `apps.bot.imap.password (from default): is required but not set (rule "required")`) {
		t.Fatalf("Declare: %v", err)
	}
	cfg, err := config.Get[BotConfig](m, "apps.bot")
	if err == nil {
		t.Fatal("want the required password reported")
	}
	if cfg.Workers != 2 || cfg.Interval != 30*time.Second || cfg.IMAP.User != "bot" {
		t.Errorf("defaults not kept: %+v", cfg)
	}
}

type withDefaults struct {
	Port int    `koanf:"port" validate:"min=1"`
	Host string `koanf:"host"`
}

func (withDefaults) Defaults() withDefaults { return withDefaults{Port: 8080, Host: "127.0.0.1"} }

type withPtrDefaults struct {
	Level string `koanf:"level" validate:"oneof=debug info warn error"`
}

func (c *withPtrDefaults) Defaults() { c.Level = "info" }

func TestTypedDecodeWithDefaults(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{
		Environ: []string{"PLBA_PLATFORM__CONTROL__HOST=0.0.0.0"},
		Logger:  quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := config.Get[withDefaults](m, "platform.control")
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Host != "0.0.0.0" {
		t.Errorf("got %+v", c)
	}
	l, err := config.Get[withPtrDefaults](m, "platform.log")
	if err != nil || l.Level != "info" {
		t.Errorf("got %+v, %v", l, err)
	}
	n, err := config.Get[int](m, "platform.missing")
	if err != nil || n != 0 {
		t.Errorf("scalar: %v %v", n, err)
	}
	// Decode keeps what is in out.
	out := withDefaults{Port: 1, Host: "keep"}
	if err := m.Decode("platform.nothing", &out); err != nil || out.Port != 1 || out.Host != "keep" {
		t.Errorf("Decode changed defaults: %+v %v", out, err)
	}
}

func TestValidationMessages(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "bad.yaml", `apps:
  bot:
    workers: 0
    mode: push
    interval: 100ms
    imap:
      addr: no-port
      password: short
`)
	cases := []struct {
		name, env, want string
	}{
		{"min", "", `apps.bot.workers (from ` + f + `:3): must be at least 1, got 0 (rule "min=1")`},
		{"oneof", "", `apps.bot.mode (from ` + f + `:4): must be one of [poll idle], got "push" (rule "oneof=poll idle")`},
		{"gte duration", "", `apps.bot.interval (from ` + f + `:5): must be at least 1s, got 100ms (rule "gte=1s")`},
		{"hostname_port", "", `apps.bot.imap.addr (from ` + f + `:7): must be host:port, got "no-port" (rule "hostname_port")`},
		{"secret min", "", `apps.bot.imap.password (from ` + f + `:8): must be at least 8 characters long, got [REDACTED] (rule "min=8")`},
		{"required", "PLBA_APPS__BOT__IMAP__USER=", `apps.bot.imap.user (from env PLBA_APPS__BOT__IMAP__USER): is required but not set (rule "required")`},
		{"type", "PLBA_APPS__BOT__WORKERS=many", `apps.bot.workers (from env PLBA_APPS__BOT__WORKERS): cannot parse value as 'int'`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := []string{}
			if c.env != "" {
				env = append(env, c.env)
			}
			_, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: env,
				Schemas: map[string]any{"apps.bot": botDefaults()}, Logger: quietLogger()})
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("want ErrInvalid, got %v", err)
			}
			var e *config.Error
			if !errors.As(err, &e) {
				t.Fatalf("want *config.Error, got %T", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("message lacks\n  %s\ngot\n  %s", c.want, err)
			}
			if strings.Contains(err.Error(), "short") {
				t.Errorf("message echoes the secret: %s", err)
			}
		})
	}
}

func TestYAMLSyntaxErrorNamesFileAndLine(t *testing.T) {
	f := writeFile(t, t.TempDir(), "broken.yaml", "apps:\n  bot:\n    workers: [1,\n")
	_, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{}, Logger: quietLogger()})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "invalid configuration: (from "+f+":3): did not find expected node content") {
		t.Fatalf("got %v", err)
	}
	_, err = config.New(t.Context(), config.Options{Files: []string{filepath.Join(t.TempDir(), "missing.yaml")}, Environ: []string{}})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestUnknownKeys(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", `apps:
  bot:
    workres: 4
    imap:
      password: long-enough
      pasword: typo
  other:
    x: 1
platform:
  log:
    level: info
`)
	_, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{"PLBA_APPS__BOT__IMAP__PORTT=1"},
		Schemas: map[string]any{"apps.bot": botDefaults()}, Logger: quietLogger()})
	for _, want := range []string{
		"apps.bot.workres (from " + f + ":3): unknown key",
		"apps.bot.imap.pasword (from " + f + ":6): unknown key",
		"apps.bot.imap.portt (from env PLBA_APPS__BOT__IMAP__PORTT): unknown key",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "apps.other") {
		t.Errorf("undeclared section reported before Check: %v", err)
	}

	// After Check, keys outside every declaration are reported too.
	f2 := writeFile(t, t.TempDir(), "c.yaml", "apps:\n  bot:\n    imap:\n      password: long-enough\n  other:\n    x: 1\n")
	m, err := config.New(t.Context(), config.Options{Files: []string{f2}, Environ: []string{},
		Schemas: map[string]any{"apps.bot": botDefaults()}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Check()
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "apps.other.x (from "+f2+":6): unknown key (no module declares it)") {
		t.Fatalf("Check: %v", err)
	}
	if err := m.Reload(t.Context()); err == nil {
		t.Fatal("reload after Check accepted an undeclared key")
	}
	if err := m.Declare("apps.other", &struct {
		X int `koanf:"x"`
	}{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsRedactedEverywhere(t *testing.T) {
	const (
		pw    = "hunter2-from-env"
		token = "tok-3141592653"
		dbpw  = "db-secret-value"
	)
	f := writeFile(t, t.TempDir(), "c.yaml", `apps:
  bot:
    imap:
      password: ${env:IMAP_PW}
      token: "Bearer ${env:TOKEN}"
      folders:
        inbox: INBOX
`)
	prov := &mapProvider{name: "vault", data: map[string]any{"apps": map[string]any{"bot": map[string]any{
		"imap": map[string]any{"folders": map[string]any{"dsn": contracts.Secret(dbpw)}}}}}}
	var logs bytes.Buffer
	m, err := config.New(t.Context(), config.Options{
		Files:     []string{f},
		Environ:   []string{"IMAP_PW=" + pw, "TOKEN=" + token},
		Providers: []contracts.ConfigProvider{prov},
		Schemas:   map[string]any{"apps.bot": botDefaults()},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Get[BotConfig](m, "apps.bot")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IMAP.Password.Reveal() != pw || cfg.IMAP.Token != "Bearer "+token || cfg.IMAP.Folders["dsn"] != dbpw {
		t.Fatalf("secrets not resolved: %#v", cfg.IMAP.Folders)
	}
	var outputs []string
	for _, format := range []string{"yaml", "json", "text"} {
		var b bytes.Buffer
		if err := m.WriteEffective(&b, format); err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, b.String())
	}
	red, _ := json.Marshal(m.Redacted())
	outputs = append(outputs, string(red))
	// A contracts.Secret field prints redacted however the struct is printed.
	if s := fmt.Sprintf("%v %+v %#v", cfg.IMAP, cfg.IMAP, cfg.IMAP); strings.Contains(s, pw) {
		t.Errorf("typed secret printed: %s", s)
	}

	// An invalid reload's error and log line must not echo them either.
	if err := os.WriteFile(f, []byte("apps:\n  bot:\n    workers: -1\n    imap:\n      password: ${env:IMAP_PW}\n      token: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = m.Reload(t.Context())
	if err == nil {
		t.Fatal("reload with workers -1 accepted")
	}
	outputs = append(outputs, err.Error(), logs.String())
	for i, out := range outputs {
		for _, s := range []string{pw, token, dbpw} {
			if strings.Contains(out, s) {
				t.Errorf("output %d leaks %q:\n%s", i, s, out)
			}
		}
	}
	if !strings.Contains(outputs[0], "password: '[REDACTED]' # "+f+":4 (secret)") {
		t.Errorf("yaml show lacks the redacted, annotated password:\n%s", outputs[0])
	}
	if !strings.Contains(outputs[2], `apps.bot.imap.folders.inbox = "INBOX"  # `+f+":7") {
		t.Errorf("text show:\n%s", outputs[2])
	}
	for _, k := range []string{"apps.bot.imap.password", "apps.bot.imap.token", "apps.bot.imap.folders.dsn"} {
		if !m.IsSecret(k) {
			t.Errorf("%s not marked secret", k)
		}
	}
	if m.IsSecret("apps.bot.imap.folders.inbox") {
		t.Error("plain value marked secret")
	}
}

func TestSecretRefErrors(t *testing.T) {
	_, err := config.New(t.Context(), config.Options{
		Environ: []string{"PLBA_APPS__BOT__IMAP__PASSWORD=${env:NOPE}", "PLBA_APPS__BOT__IMAP__TOKEN=${ssm:/x/y}"},
		Logger:  quietLogger(),
	})
	for _, want := range []string{
		`apps.bot.imap.password (from env PLBA_APPS__BOT__IMAP__PASSWORD): cannot resolve ${env:NOPE}: env NOPE: secret not found`,
		`apps.bot.imap.token (from env PLBA_APPS__BOT__IMAP__TOKEN): cannot resolve ${ssm:/x/y}: no resolver for "ssm" configured`,
	} {
		if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	// An unknown scheme is literal text.
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_A__B=${foo:bar}"}})
	if err != nil || m.Raw("a.b") != nil && fmt.Sprint(m.Raw("a.b")) != "map[]" && m.IsSecret("a.b") {
		t.Fatalf("%v", err)
	}
	v, _ := config.Get[string](m, "a.b")
	if v != "${foo:bar}" {
		t.Errorf("a.b = %q", v)
	}
}

func TestReloadAcceptedAndSubscribersOncePerChange(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 2\n    imap:\n      password: long-enough\n  other:\n    x: 1\n")
	m, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{},
		Schemas: map[string]any{"apps.bot": botDefaults()}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	type change struct{ old, new int }
	var typed []change
	var raw []any
	cancel := config.OnChange(m, "apps.bot", func(old, new BotConfig) { typed = append(typed, change{old.Workers, new.Workers}) })
	defer cancel()
	cancelRaw := m.Subscribe("apps.bot.workers", func(old, new any) { raw = append(raw, new) })
	var otherCalls int
	cancelOther := m.Subscribe("apps.other", func(old, new any) { otherCalls++ })
	defer cancelOther()

	v1 := m.Version()
	if err := m.Reload(t.Context()); err != nil { // nothing changed
		t.Fatal(err)
	}
	if m.Version() != v1 || len(typed) != 0 {
		t.Fatalf("unchanged reload notified: %v", typed)
	}
	writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 8\n    imap:\n      password: long-enough\n  other:\n    x: 1\n")
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(t.Context()); err != nil { // same again: no second call
		t.Fatal(err)
	}
	if len(typed) != 1 || typed[0] != (change{2, 8}) {
		t.Fatalf("typed subscriber calls = %v, want one 2→8", typed)
	}
	if len(raw) != 1 || fmt.Sprint(raw[0]) != "8" {
		t.Fatalf("raw subscriber calls = %v", raw)
	}
	if otherCalls != 0 {
		t.Fatalf("subscriber of an unchanged subtree called %d times", otherCalls)
	}
	if m.Version() == v1 {
		t.Fatal("version did not change")
	}
	cancelRaw()
	writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 9\n    imap:\n      password: long-enough\n  other:\n    x: 1\n")
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || len(typed) != 2 {
		t.Fatalf("after cancel: raw %v typed %v", raw, typed)
	}
}

func TestReloadRejectedKeepsOld(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 4\n    imap:\n      password: long-enough\n")
	var logs bytes.Buffer
	m, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{},
		Schemas: map[string]any{"apps.bot": botDefaults()}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	defer m.Subscribe("", func(_, _ any) { calls++ })()
	v := m.Version()
	for _, bad := range []string{
		"apps:\n  bot:\n    workers: 100\n    imap:\n      password: long-enough\n", // rule
		"apps:\n  bot:\n    workers: 5\n    wrkers: 5\n",                            // unknown key (half-valid)
		"apps: [\n", // syntax
	} {
		writeFile(t, dir, "c.yaml", bad)
		err := m.Reload(t.Context())
		if !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("reload of %q: %v", bad, err)
		}
		if m.Version() != v || calls != 0 {
			t.Fatalf("rejected reload changed the config (calls %d)", calls)
		}
		if c, err := config.Get[BotConfig](m, "apps.bot"); err != nil || c.Workers != 4 {
			t.Fatalf("old config not kept: %+v %v", c, err)
		}
	}
	if !strings.Contains(logs.String(), "reload rejected") || !strings.Contains(logs.String(), "apps.bot.workers") {
		t.Errorf("rejection not logged: %s", logs.String())
	}
}

func TestWatchReloadsOnFileChange(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 1\n")
	m, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{},
		WatchInterval: 10 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan any, 4)
	defer m.Subscribe("apps.bot.workers", func(_, n any) { got <- n })()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx) }()
	writeFile(t, dir, "c.yaml", "apps:\n  bot:\n    workers: 6\n")
	select {
	case n := <-got:
		if fmt.Sprint(n) != "6" {
			t.Errorf("got %v", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no reload after the file changed")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestDeclareErrors(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_APPS__X__N=0"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Declare("apps.x", struct{}{}); err == nil {
		t.Error("non-pointer accepted")
	}
	type X struct {
		N int `koanf:"n" validate:"min=1"`
	}
	err = m.Declare("apps.x", &X{N: 3})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "apps.x.n (from env PLBA_APPS__X__N)") {
		t.Fatalf("got %v", err)
	}
	if err := m.Declare("apps.x", &X{}); err == nil {
		t.Error("second declaration accepted")
	}
}

func TestSquashedStructPaths(t *testing.T) {
	type Base struct {
		Workers int `koanf:"workers" validate:"min=1"`
	}
	type App struct {
		Base `koanf:",squash"`
		Name string `koanf:"name" validate:"required"`
	}
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_APPS__X__WORKERS=0"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Declare("apps.x", &App{Base: Base{Workers: 1}, Name: "n"})
	if err == nil || !strings.Contains(err.Error(), "apps.x.workers (from env PLBA_APPS__X__WORKERS): must be at least 1") {
		t.Fatalf("got %v", err)
	}
	if got := m.Keys(); strings.Join(got, ",") != "apps.x.name,apps.x.workers" {
		t.Fatalf("keys %v", got)
	}
}

func TestEnvName(t *testing.T) {
	if got := config.EnvName("", "apps.mailorderbot.max_attempts"); got != "PLBA_APPS__MAILORDERBOT__MAX_ATTEMPTS" {
		t.Fatal(got)
	}
}

func TestSecretsInListsAndSecretMaps(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", `apps:
  x:
    tokens: ["${env:T1}", plain]
    keys:
      a: key-a-value
      b: key-b-value
`)
	m, err := config.New(t.Context(), config.Options{Files: []string{f}, Environ: []string{"T1=list-secret-1"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	type X struct {
		Tokens []string                    `koanf:"tokens"`
		Keys   map[string]contracts.Secret `koanf:"keys"`
	}
	if err := m.Declare("apps.x", &X{}); err != nil {
		t.Fatal(err)
	}
	x, err := config.Get[X](m, "apps.x")
	if err != nil || x.Tokens[0] != "list-secret-1" || x.Keys["b"].Reveal() != "key-b-value" {
		t.Fatalf("%+v %v", x, err)
	}
	var b bytes.Buffer
	_ = m.WriteEffective(&b, "yaml")
	red, _ := json.Marshal(m.Redacted())
	for _, out := range []string{b.String(), string(red)} {
		for _, s := range []string{"list-secret-1", "key-a-value", "key-b-value"} {
			if strings.Contains(out, s) {
				t.Errorf("leaks %s:\n%s", s, out)
			}
		}
	}
}

// TestSecretsInMapsOfStructs: a Secret field of map[string]Struct entries
// (named mailboxes, each with a password) is redacted under every name.
func TestSecretsInMapsOfStructs(t *testing.T) {
	f := writeFile(t, t.TempDir(), "c.yaml", `apps:
  x:
    boxes:
      de: {user: anna, password: pw-de-value}
      fr: {user: bob, password: pw-fr-value}
`)
	m, err := config.New(t.Context(), config.Options{Files: []string{f}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	type box struct {
		User     string           `koanf:"user"`
		Password contracts.Secret `koanf:"password"`
	}
	type X struct {
		Boxes map[string]box `koanf:"boxes"`
	}
	if err := m.Declare("apps.x", &X{}); err != nil {
		t.Fatal(err)
	}
	x, err := config.Get[X](m, "apps.x")
	if err != nil || x.Boxes["fr"].Password.Reveal() != "pw-fr-value" || x.Boxes["de"].User != "anna" {
		t.Fatalf("%+v %v", x, err)
	}
	var b bytes.Buffer
	_ = m.WriteEffective(&b, "yaml")
	red, _ := json.Marshal(m.Redacted())
	for _, out := range []string{b.String(), string(red)} {
		if strings.Contains(out, "pw-de-value") || strings.Contains(out, "pw-fr-value") || !strings.Contains(out, "anna") {
			t.Errorf("leaks a password or lost the user:\n%s", out)
		}
	}
}

// countingResolver counts lookups and serves a value that can rotate.
type countingResolver struct {
	mu    sync.Mutex
	calls int
	val   string
}

func (r *countingResolver) Resolve(_ context.Context, ref string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	return r.val, nil
}

func TestVersionHidesSecretsButRotationReachesSubscribers(t *testing.T) {
	r := &countingResolver{val: "first-secret"}
	m, err := config.New(t.Context(), config.Options{
		Environ:   []string{"PLBA_APPS__X__PW=${ssm:/x/pw}"},
		Resolvers: map[string]config.Resolver{"ssm": r},
		Logger:    quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	type X struct {
		PW contracts.Secret `koanf:"pw"`
	}
	if err := m.Declare("apps.x", &X{}); err != nil {
		t.Fatal(err)
	}
	_ = m.Check()
	if r.calls != 1 {
		t.Fatalf("Declare/Check resolved again: %d lookups", r.calls)
	}
	var got []string
	defer config.OnChange(m, "apps.x", func(_, n X) { got = append(got, n.PW.Reveal()) })()
	v := m.Version()
	r.mu.Lock()
	r.val = "rotated-secret"
	r.mu.Unlock()
	if err := m.Reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "rotated-secret" {
		t.Fatalf("subscriber got %v", got)
	}
	if m.Version() != v {
		t.Error("version depends on the secret value")
	}
	// Another process with the same configuration shows the same version.
	m2, err := config.New(t.Context(), config.Options{
		Environ:   []string{"PLBA_APPS__X__PW=${ssm:/x/pw}"},
		Resolvers: map[string]config.Resolver{"ssm": &countingResolver{val: "other"}},
		Schemas:   map[string]any{"apps.x": &X{}},
	})
	if err != nil || m2.Version() != v {
		t.Errorf("version differs across processes: %v", err)
	}
}

func TestParseSets(t *testing.T) {
	got, err := config.ParseSets([]string{"apps.x.n=1", "apps.x.s=a=b", "apps.x.n=2"})
	if err != nil || got["apps.x.n"] != "2" || got["apps.x.s"] != "a=b" {
		t.Fatalf("%v %v", got, err)
	}
	// The value is never echoed: it could be a password typed on the command line.
	for _, bad := range []string{"novalue", "=x", "a..b=1", ".a=1"} {
		if _, err := config.ParseSets([]string{bad}); !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}

type ranged struct {
	Min int `koanf:"min"`
	Max int `koanf:"max"`
}

func (r ranged) Validate() error {
	if r.Min > r.Max {
		return fmt.Errorf("min (%d) must not exceed max (%d)", r.Min, r.Max)
	}
	return nil
}

func TestValidateMethodMessage(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_APPS__R__MIN=5", "PLBA_APPS__R__MAX=2"}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.Get[ranged](m, "apps.r")
	if want := `apps.r (from env PLBA_APPS__R__MAX): min (5) must not exceed max (2)`; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("want %q, got %v", want, err)
	}
	var e *config.Error
	if !errors.As(err, &e) || e.Problems[0].Rule != "validate" {
		t.Fatalf("%#v", err)
	}
}
