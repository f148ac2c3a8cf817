package pgconfig_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/pgconfig"
	"github.com/plba/plba/pkg/contracts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newProvider connects to the test PostgreSQL and creates a table of the
// test's own, dropped afterwards.
func newProvider(t *testing.T) *pgconfig.Provider {
	t.Helper()
	addr := testsvc.Require(t, testsvc.Postgres)
	pool, err := pgxpool.New(t.Context(), "postgres://postgres@"+addr+"/postgres?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	table := "cfgtest_" + hex.EncodeToString(b)
	p := &pgconfig.Provider{Pool: pool, Table: table, PollInterval: 50 * time.Millisecond}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %[1]s; DROP SEQUENCE IF EXISTS %[1]s_version_seq; DROP FUNCTION IF EXISTS %[1]s_touch()", table))
		pool.Close()
	})
	if err := p.EnsureSchema(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureSchema(t.Context()); err != nil { // idempotent
		t.Fatal(err)
	}
	return p
}

type Bot struct {
	Workers  int              `koanf:"workers" validate:"min=1"`
	Password contracts.Secret `koanf:"password"`
	Mode     string           `koanf:"mode"`
}

func TestProviderLayered(t *testing.T) {
	p := newProvider(t)
	ctx := t.Context()
	for _, kv := range [][3]string{{"apps.bot.workers", "4", ""}, {"apps.bot.password", "pg-secret-pw", "s"}, {"apps.bot.mode", "idle", ""}} {
		if err := p.Set(ctx, kv[0], kv[1], kv[2] == "s"); err != nil {
			t.Fatal(err)
		}
	}
	m, err := config.New(ctx, config.Options{
		Environ:   []string{"PLBA_APPS__BOT__WORKERS=2"},
		Flags:     map[string]string{"apps.bot.mode": "poll"},
		Providers: []contracts.ConfigProvider{p},
		Schemas:   map[string]any{"apps.bot": &Bot{Workers: 1}},
		Logger:    slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Get[Bot](m, "apps.bot")
	if err != nil {
		t.Fatal(err)
	}
	if b.Workers != 4 || b.Password.Reveal() != "pg-secret-pw" || b.Mode != "poll" {
		t.Fatalf("got %+v", b)
	}
	if s := m.Source("apps.bot.workers"); s != "postgres "+p.Table {
		t.Errorf("source %q", s)
	}
	if !m.IsSecret("apps.bot.password") {
		t.Error("secret row not redacted")
	}
	var sb strings.Builder
	_ = m.WriteEffective(&sb, "text")
	if strings.Contains(sb.String(), "pg-secret-pw") {
		t.Errorf("show leaks:\n%s", sb.String())
	}

	// An invalid row is rejected on reload; the old value stays.
	if err := p.Set(ctx, "apps.bot.workers", "0", false); err != nil {
		t.Fatal(err)
	}
	err = m.Reload(ctx)
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "apps.bot.workers (from postgres "+p.Table+")") {
		t.Fatalf("reload: %v", err)
	}
	if b, _ := config.Get[Bot](m, "apps.bot"); b.Workers != 4 {
		t.Fatalf("old value not kept: %+v", b)
	}
}

type step struct {
	change func(ctx context.Context) error
	want   string
}

// watchFor runs the manager's Watch; after each step's change a
// subscriber must see its value at apps.bot.workers.
func watchFor(t *testing.T, p *pgconfig.Provider, steps ...step) {
	t.Helper()
	m, err := config.New(t.Context(), config.Options{Environ: []string{}, Providers: []contracts.ConfigProvider{p},
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 8)
	defer m.Subscribe("apps.bot.workers", func(_, n any) { got <- fmt.Sprint(n) })()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Watch(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	for i, s := range steps {
		if err := s.change(t.Context()); err != nil {
			t.Fatal(err)
		}
		select {
		case v := <-got:
			if v != s.want {
				t.Fatalf("step %d: got %s, want %s", i, v, s.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("step %d: change not detected", i)
		}
	}
}

func set(p *pgconfig.Provider, v string) func(ctx context.Context) error {
	return func(ctx context.Context) error { return p.Set(ctx, "apps.bot.workers", v, false) }
}

func TestWatchListenNotify(t *testing.T) {
	p := newProvider(t)
	p.PollInterval = time.Hour // only NOTIFY can deliver the change in time
	if err := p.Set(t.Context(), "apps.bot.workers", "1", false); err != nil {
		t.Fatal(err)
	}
	// Whether the first write lands before or after LISTEN took effect,
	// the listener reports it (catch-up check right after LISTEN, or the
	// NOTIFY). By then LISTEN is active, so the later ones can only arrive
	// as notifications.
	watchFor(t, p, step{set(p, "3"), "3"}, step{set(p, "4"), "4"},
		step{func(ctx context.Context) error { return p.Delete(ctx, "apps.bot.workers") }, "<nil>"})
}

func TestWatchVersionPolling(t *testing.T) {
	p := newProvider(t)
	p.NoListen = true
	if err := p.Set(t.Context(), "apps.bot.workers", "1", false); err != nil {
		t.Fatal(err)
	}
	// A delete changes the count, which polling sees too.
	watchFor(t, p, step{set(p, "5"), "5"},
		step{func(ctx context.Context) error { return p.Delete(ctx, "apps.bot.workers") }, "<nil>"})
}
