package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// buildPlba builds the real binary once per test run.
func buildPlba(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "plba")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = filepath.Join(testsvc.Root(t), "local")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// plbaProcess is a running `plba run`.
type plbaProcess struct {
	cmd      *exec.Cmd
	progress chan string
	stderr   *bytes.Buffer
	done     chan error
}

func startPlba(t *testing.T, bin string, args ...string) *plbaProcess {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &plbaProcess{cmd: cmd, progress: make(chan string, 1000), stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.progress <- sc.Text()
		}
		close(p.progress)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return p
}

// waitLines waits for n progress lines (one per outcome) and returns them.
func (p *plbaProcess) waitLines(t *testing.T, n int, timeout time.Duration) []string {
	t.Helper()
	var lines []string
	deadline := time.After(timeout)
	for len(lines) < n {
		select {
		case l, ok := <-p.progress:
			if !ok {
				t.Fatalf("plba exited after %d of %d outcomes; stderr:\n%s", len(lines), n, p.stderr.String())
			}
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		case <-deadline:
			t.Fatalf("only %d of %d outcomes after %v; stderr:\n%s", len(lines), n, timeout, p.stderr.String())
		}
	}
	return lines
}

// stop sends SIGTERM and returns the rest of stdout (the summary).
func (p *plbaProcess) stop(t *testing.T) string {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range p.progress {
		rest = append(rest, l)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("plba exited with %v; stderr:\n%s", err, p.stderr.String())
	}
	return strings.Join(rest, "\n")
}

func unseen(t *testing.T, c *imapclient.Client) []imap.UID {
	t.Helper()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return data.AllUIDs()
}

// TestMailOrderBotEndToEnd: 200 order e-mails in a real Dovecot, the real
// plba binary processes them in parallel; every message ends \Seen with
// exactly one stored outcome. Then some messages lose \Seen (as if the
// process had died between storing and marking) and a restarted plba
// processes them again without creating anything twice.
func TestMailOrderBotEndToEnd(t *testing.T) {
	addr, user, pass := dovecottest.Dovecot(t)
	bin := buildPlba(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const n = 200
	rnd := rand.New(rand.NewPCG(42, 7))
	want := map[string]domain.Status{}
	var msgs [][]byte
	for i := range n {
		s := demodata.GenerateSample(i+1, rnd)
		want[s.MessageID] = s.Want
		msgs = append(msgs, s.Raw)
	}
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := imaptest.AppendMessages(ctx, c, "INBOX", msgs); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	db := filepath.Join(dir, "orders.db")
	cfgFile := filepath.Join(dir, "plba.yaml")
	cfg := fmt.Sprintf(`platform:
  control: { listen: "off" }
  log: { level: warn }
apps:
  mailorderbot:
    imap: { addr: %q, tls: none, username: %q, password: "${env:E2E_IMAP_PASSWORD}", mailbox: INBOX, mode: idle }
    workers: 8
    store: { driver: sqlite, path: %q }
`, addr, user, db)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Setenv("E2E_IMAP_PASSWORD", pass)
	defer os.Unsetenv("E2E_IMAP_PASSWORD")

	// First run: every message gets its outcome.
	p := startPlba(t, bin, "--config", cfgFile)
	lines := p.waitLines(t, n, 2*time.Minute)
	summary := p.stop(t)
	if !strings.Contains(summary, "summary:") {
		t.Fatalf("no summary at stop: %q", summary)
	}
	for _, l := range lines {
		if strings.Contains(l, "already stored") {
			t.Fatalf("duplicate in the first run: %s", l)
		}
	}
	if u := unseen(t, c); len(u) != 0 {
		t.Fatalf("%d messages still unseen after processing", len(u))
	}
	checkStore(t, ctx, db, want)

	// Simulate a crash between storing and marking: 20 messages lose \Seen.
	uids := imap.UIDSetNum()
	for uid := imap.UID(1); uid <= 20; uid++ {
		uids.AddNum(uid)
	}
	if err := c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	p2 := startPlba(t, bin, "--config", cfgFile)
	again := p2.waitLines(t, 20, time.Minute)
	p2.stop(t)
	for _, l := range again {
		if !strings.Contains(l, "already stored") {
			t.Fatalf("restart created a new outcome instead of finding the stored one: %s", l)
		}
	}
	if u := unseen(t, c); len(u) != 0 {
		t.Fatalf("%d messages unseen after the restart", len(u))
	}
	checkStore(t, ctx, db, want)
}

func checkStore(t *testing.T, ctx context.Context, db string, want map[string]domain.Status) {
	t.Helper()
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	orders, err := st.List(ctx, store.Filter{Limit: 10 * len(want)})
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != len(want) {
		t.Fatalf("%d stored outcomes, want exactly %d", len(orders), len(want))
	}
	for _, o := range orders {
		w, ok := want[o.MessageID]
		if !ok {
			t.Fatalf("stored outcome for unknown message %q", o.MessageID)
		}
		if o.Status != w {
			t.Errorf("%s: stored %s, want %s (reasons %v)", o.MessageID, o.Status, w, o.Reasons)
		}
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
