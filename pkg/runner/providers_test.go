package runner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/config/pgconfig"
)

// A value from the PostgreSQL provider, enabled by the configuration
// alone, reaches the module; a change in the table reloads it while the
// application runs (the pool is resized), and the DSN, a secret, appears
// nowhere.
func TestPostgresProviderEnabledByConfig(t *testing.T) {
	addr := testsvc.Require(t, testsvc.Postgres)
	dsn := "postgres://postgres@" + addr + "/postgres?sslmode=disable"
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	table := "runnertest_" + hex.EncodeToString(b)
	pool, err := pgxpool.New(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = pool.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %[1]s; DROP SEQUENCE IF EXISTS %[1]s_version_seq; DROP FUNCTION IF EXISTS %[1]s_touch()", table))
		pool.Close()
	})
	p := &pgconfig.Provider{Pool: pool, Table: table}
	if err := p.EnsureSchema(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := p.Set(t.Context(), "apps.counter.workers", "3", false); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PLBA_TEST_CONFIG_DSN", dsn)
	file := writeFile(t, "providers.yaml", fmt.Sprintf(`platform:
  config:
    providers:
      - type: postgres
        dsn: ${env:PLBA_TEST_CONFIG_DSN}
        table: %s
        poll_interval: 50ms
apps:
  counter:
    interval: 20ms
`, table))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	tokenFile := filepath.Join(t.TempDir(), "control.token")
	go func() {
		done <- run(ctx, []string{"run", "--config", file, "--listen", "127.0.0.1:0", "--set", "platform.control.token_file=" + tokenFile}, &out, &errw)
	}()
	waitFor(t, &errw, "control plane listening", done)
	url := regexp.MustCompile(`url=(http://[^ ]+/)`).FindStringSubmatch(errw.String())[1]
	concurrency := func() int {
		resp, err := http.Get(url + "status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st struct {
			Workers []struct {
				Name        string
				Concurrency int
			}
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		for _, w := range st.Workers {
			if strings.HasPrefix(w.Name, "pool:") {
				return w.Concurrency
			}
		}
		t.Fatalf("no pool in %s", body)
		return 0
	}
	if n := concurrency(); n != 3 {
		t.Fatalf("pool has %d workers, want 3 from the database", n)
	}
	if err := p.Set(t.Context(), "apps.counter.workers", "5", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, &errw, "pool resized", done)
	if n := concurrency(); n != 5 {
		t.Fatalf("after the change the pool has %d workers, want 5", n)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	if strings.Contains(errw.String()+out.String(), dsn) {
		t.Fatal("the DSN appears in the output")
	}

	// A provider type this binary does not have is a configuration error
	// naming the key.
	bad := writeFile(t, "bad.yaml", "platform:\n  config:\n    providers:\n      - type: etcd\n")
	var o2, e2 syncio.Buffer
	if code := run(context.Background(), []string{"config", "check", "--config", bad}, &o2, &e2); code != 2 ||
		!strings.Contains(e2.String(), "platform.config.providers[0].type") || !strings.Contains(e2.String(), "postgres") {
		t.Fatalf("unknown provider: exit %d: %s", code, e2.String())
	}
}
