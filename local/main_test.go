package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/apps/mailorderbot/store/storetest"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/runner"
)

// The demo runs end to end in-process: embedded IMAP server, pool, store;
// a signal stops it gracefully and the summary is printed.
func TestRunDemoUntilSignal(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "orders.db")
	sig := make(chan chan<- os.Signal, 1)
	a := app()
	a.Signals = func(c chan<- os.Signal) func() { sig <- c; return func() {} }
	Main := func(ctx context.Context, args []string, out, errw io.Writer) int {
		return runner.Run(ctx, a, args, out, errw)
	}

	var prog, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Main(context.Background(), []string{"run", "--demo", "--listen", "off",
			"--set", "apps.mailorderbot.store.path=" + db, "--set", "platform.log.level=warn"}, &prog, &errw)
	}()
	sigc := <-sig
	deadline := time.After(30 * time.Second)
	for strings.Count(prog.String(), "demo-") < 10 {
		select {
		case code := <-done:
			t.Fatalf("run exited early with %d: %s", code, errw.String())
		case <-deadline:
			t.Fatalf("demo samples not all processed:\n%s\n%s", prog.String(), errw.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	sigc <- syscall.SIGTERM
	if code := <-done; code != runner.ExitOK {
		t.Fatalf("exit %d: %s", code, errw.String())
	}
	p := prog.String()
	for _, want := range []string{"accepted", "rejected", "ignored", "summary:"} {
		if !strings.Contains(p, want) {
			t.Errorf("progress lacks %q:\n%s", want, p)
		}
	}
	// The stored outcomes are visible through `plba orders`.
	var lo, le bytes.Buffer
	if code := Main(context.Background(), []string{"orders", "list", "--json", "--status", "rejected",
		"--set", "apps.mailorderbot.store.path=" + db}, &lo, &le); code != runner.ExitOK {
		t.Fatalf("orders list: exit %d: %s", code, le.String())
	}
	lines := strings.Split(strings.TrimSpace(lo.String()), "\n")
	if len(lines) < 2 {
		t.Fatalf("want the 2 rejected samples, got:\n%s", lo.String())
	}
	var o struct {
		Key     string   `json:"key"`
		Status  string   `json:"status"`
		Reasons []string `json:"reasons"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &o); err != nil || o.Status != "rejected" || len(o.Reasons) == 0 {
		t.Fatalf("order line %q: %v %+v", lines[0], err, o)
	}
	var so, se bytes.Buffer
	if code := Main(context.Background(), []string{"orders", "show", "demo-01@demo.plba.local",
		"--set", "apps.mailorderbot.store.path=" + db}, &so, &se); code != runner.ExitOK || !strings.Contains(so.String(), `"accepted"`) {
		t.Fatalf("orders show: exit %d: %s %s", code, so.String(), se.String())
	}
	if code := Main(context.Background(), []string{"orders", "show", "nope@x",
		"--set", "apps.mailorderbot.store.path=" + db}, &so, &se); code != runner.ExitFailure {
		t.Fatalf("orders show of a missing key: exit %d", code)
	}
}

// `plba orders list` says how many there are and pages through them
// instead of stopping silently at the store's default of 100.
func TestOrdersListPages(t *testing.T) {
	db := filepath.Join(t.TempDir(), "orders.db")
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := st.Save(ctx, storetest.Order(fmt.Sprintf("page-%d", i), domain.StatusAccepted, i), nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.Close()
	list := func(args ...string) string {
		t.Helper()
		var out, errw bytes.Buffer
		args = append([]string{"orders", "list", "--set", "apps.mailorderbot.store.path=" + db}, args...)
		if code := runner.Run(ctx, app(), args, &out, &errw); code != runner.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errw.String())
		}
		return out.String()
	}
	if out := list("--limit", "2"); !strings.Contains(out, "1-2 of 5 order(s) shown, newest first; next: --page 2") || !strings.Contains(out, "page-4") {
		t.Fatalf("first page:\n%s", out)
	}
	if out := list("--limit", "2", "--page", "3"); !strings.Contains(out, "5-5 of 5 order(s) shown") || !strings.Contains(out, "page-0") || strings.Contains(out, "next:") {
		t.Fatalf("last page:\n%s", out)
	}
	if out := list(); !strings.Contains(out, "5 order(s)\n") {
		t.Fatalf("everything:\n%s", out)
	}
}
