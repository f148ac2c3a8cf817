package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// TestPrometheusScrapesTaskCounter: a real Prometheus (Debian's, started by
// scripts/services/prometheus.sh on 127.0.0.1:19090) scrapes the real plba
// binary's /metrics while it processes order e-mails from Dovecot, and its
// HTTP API answers the task counter with the number of processed mails.
func TestPrometheusScrapesTaskCounter(t *testing.T) {
	prom := testsvc.Require(t, testsvc.Prometheus)
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	addr, user, pass := dovecottest.Dovecot(t)
	bin := buildPlba(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 40
	rnd := rand.New(rand.NewPCG(18, 1))
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, demodata.GenerateSample(i+1, rnd).Raw)
	}
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := imaptest.AppendMessages(ctx, c, "INBOX", msgs); err != nil {
		t.Fatal(err)
	}

	// The control plane's port: picked free here, because Prometheus must
	// be told the target before plba logs anything.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	_ = l.Close()

	// Prometheus discovers the target from a file of this test's own,
	// labelled so that the query sees this run only.
	run := fmt.Sprintf("t%d-%d", os.Getpid(), time.Now().UnixNano())
	targets := os.Getenv("PLBA_TEST_PROMETHEUS_TARGETS")
	if targets == "" {
		targets = filepath.Join(testsvc.Root(t), "var", "services", "prometheus", "targets")
	}
	target := filepath.Join(targets, "plba-"+run+".json")
	sd, _ := json.Marshal([]map[string]any{{"targets": []string{listen}, "labels": map[string]string{"plba_test": run}}})
	if err := os.WriteFile(target+".tmp", sd, 0o644); err != nil {
		t.Fatalf("write the scrape target (is %s Prometheus's target directory?): %v", targets, err)
	}
	// Renamed into place, so Prometheus never reads half a file.
	if err := os.Rename(target+".tmp", target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(target) })

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "plba.yaml")
	cfg := fmt.Sprintf(`platform:
  control: { listen: %q, token_file: %q }
  log: { level: warn }
apps:
  mailorderbot:
    imap: { addr: %q, tls: none, username: %q, password: "${env:E2E_IMAP_PASSWORD}", mailbox: INBOX, mode: idle }
    workers: 4
    store: { driver: sqlite, path: %q }
`, listen, filepath.Join(dir, "control.token"), addr, user, filepath.Join(dir, "orders.db"))
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("E2E_IMAP_PASSWORD", pass)

	p := startPlba(t, bin, "--config", cfgFile)
	p.waitLines(t, n, 2*time.Minute)

	// Every mail has one final outcome; retries would be counted apart.
	query := fmt.Sprintf(`sum(plba_tasks_total{plba_test=%q,outcome=~"succeeded|dead_lettered"})`, run)
	var got float64
	deadline := time.Now().Add(time.Minute)
	for {
		got, err = promQuery(ctx, prom, query)
		if err == nil && got == n {
			break
		}
		if time.Now().After(deadline) {
			up, _ := promQuery(ctx, prom, fmt.Sprintf(`up{plba_test=%q}`, run))
			t.Fatalf("Prometheus answers %v (err %v) for %s, want %d (up=%v)", got, err, query, n, up)
		}
		// Prometheus scrapes every second; there is no event to wait for
		// in another process's store but its answer.
		time.Sleep(250 * time.Millisecond)
	}
	if d, err := promQuery(ctx, prom, fmt.Sprintf(`sum(plba_routine_duration_seconds_count{plba_test=%q})`, run)); err != nil || d < n {
		t.Errorf("routine duration count %v (%v), want ≥ %d", d, err, n)
	}
	p.stop(t)
}

// promQuery runs an instant query and returns its one value.
func promQuery(ctx context.Context, addr, q string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %s: %w", q, err)
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("query %s: %s", q, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, fmt.Errorf("query %s: no series yet", q)
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}
