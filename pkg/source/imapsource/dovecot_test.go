package imapsource_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

func dovecotAccount(t testing.TB) account {
	t.Helper()
	addr, user, pass := dovecottest.Dovecot(t)
	return account{addr, user, pass}
}

func TestDovecotSeenOnlyAfterSuccess(t *testing.T) {
	acc := dovecotAccount(t)
	acc.seed(t, "INBOX", "m", 4)
	src := newSource(t, acc.config())
	pub := newCollector()
	if n, err := src.Poll(t.Context(), pub); n != 4 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if h := src.Health(t.Context()); h.Details["in_flight"] != "keyword $Queued" {
		t.Errorf("Dovecot should allow keywords: %v", h.Details)
	}
	fl := acc.flags(t, "INBOX")
	if countFlag(fl, `\Seen`) != 0 || countFlag(fl, queued) != 4 {
		t.Fatalf("after poll: %v", fl)
	}
	if n, _ := src.Poll(t.Context(), pub); n != 0 {
		t.Fatalf("in-flight messages published again: %d", n)
	}
	tasks := pub.all()
	// Task 0 and 1 succeed, 2 is dead-lettered, 3's routine keeps failing
	// (nacked, no settle).
	worker := newSource(t, acc.config())
	for _, task := range tasks[:2] {
		if err := worker.Settle(t.Context(), task, contracts.OutcomeSucceeded, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := worker.Settle(t.Context(), tasks[2], contracts.OutcomeDeadLettered, errors.New("bad")); err != nil {
		t.Fatal(err)
	}
	fl = acc.flags(t, "INBOX")
	for uid, want := range map[imap.UID][]string{
		1: {`\Seen`}, 2: {`\Seen`}, 3: {`\Flagged`, "$DeadLetter"}, 4: {queued},
	} {
		for _, f := range want {
			if !has(fl[uid], f) {
				t.Errorf("uid %d flags %v lack %s", uid, fl[uid], f)
			}
		}
		if uid > 2 && has(fl[uid], `\Seen`) {
			t.Errorf("uid %d is \\Seen without a successful task", uid)
		}
		if uid < 4 && has(fl[uid], queued) {
			t.Errorf("uid %d still in flight after settle", uid)
		}
	}
}

func TestDovecotTLS(t *testing.T) {
	acc := dovecotAccount(t)
	tlsAddr, ca := dovecottest.TLS(t)
	acc.seed(t, "INBOX", "m", 1)
	for name, mutate := range map[string]func(*imapsource.Config){
		"implicit": func(c *imapsource.Config) { c.TLS = imapsource.TLSImplicit; c.Addr = tlsAddr; c.CAFile = ca },
		"starttls": func(c *imapsource.Config) { c.TLS = imapsource.TLSStartTLS; c.CAFile = ca },
	} {
		t.Run(name, func(t *testing.T) {
			src := newSource(t, acc.config(mutate, func(c *imapsource.Config) { c.InFlightKeyword = "$Q" + name }))
			if n, err := src.Poll(t.Context(), newCollector()); n != 1 || err != nil {
				t.Fatalf("Poll = %d, %v", n, err)
			}
		})
	}
	// The same through WithTLSConfig.
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	viaOpt := newSource(t, acc.config(func(c *imapsource.Config) {
		c.TLS = imapsource.TLSImplicit
		c.Addr = tlsAddr
		c.InFlightKeyword = "$Qopt"
	}),
		imapsource.WithTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	if n, err := viaOpt.Poll(t.Context(), newCollector()); n != 1 || err != nil {
		t.Fatalf("Poll with WithTLSConfig = %d, %v", n, err)
	}
	// Without the private CA the certificate is refused.
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.TLS = imapsource.TLSImplicit; c.Addr = tlsAddr }))
	if _, err := src.Poll(t.Context(), newCollector()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Poll without CA = %v; want a certificate error", err)
	}
}

func TestDovecotUIDValidityChange(t *testing.T) { checkUIDValidityChange(t, dovecotAccount(t)) }

func TestDovecotRoundTripsConstant(t *testing.T) {
	counts := map[int]int64{}
	for _, n := range []int{10, 1000} {
		acc := dovecotAccount(t)
		counts[n] = pollCommands(t, acc, acc.config(func(c *imapsource.Config) { c.BatchSize = 1000 }), n)
	}
	if counts[10] != counts[1000] {
		t.Fatalf("commands per cycle: %d for 10 messages, %d for 1000", counts[10], counts[1000])
	}
	// SELECT, UID SEARCH, UID FETCH, UID STORE.
	if counts[10] != 4 {
		t.Errorf("commands per cycle = %d, want 4", counts[10])
	}
	t.Logf("commands per cycle: %d (10 and 1000 messages)", counts[10])
}

// TestDovecotRestartWhileIdling stops a private Dovecot under an idling
// source, delivers mail into the maildir while it is down, starts it again:
// the source reconnects and delivers everything.
func TestDovecotRestartWhileIdling(t *testing.T) {
	in := dovecottest.StartPrivate(t)
	user := dovecottest.UserName(t)
	acc := account{in.Addr, user, dovecottest.Password}
	acc.seed(t, "INBOX", "before", 1)
	src := newSource(t, acc.config())
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	got := map[string]bool{}
	got[pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID)] = true
	acc.seed(t, "INBOX", "idle", 1) // arrives by IDLE
	got[pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID)] = true

	in.Stop(t)
	maildir := filepath.Join(in.Dir, "mail", user)
	for i := range 2 {
		deliverToMaildir(t, maildir, i, imaptest.Message(fmt.Sprintf("down-%d@test", i), "while down", "x"))
	}
	in.Start(t)
	acc.seed(t, "INBOX", "after", 1)
	for range 3 {
		got[pub.next(t, 15*time.Second).Attr(imapsource.AttrMessageID)] = true
	}
	for _, id := range []string{"before-0@test", "idle-0@test", "down-0@test", "down-1@test", "after-0@test"} {
		if !got[id] {
			t.Errorf("message %s not delivered (got %v)", id, got)
		}
	}
	if h := src.Health(t.Context()); h.Details["reconnects"] == "0" {
		t.Errorf("no reconnect recorded: %v", h.Details)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// deliverToMaildir writes a message the way a local delivery agent does:
// into tmp/, then renamed into new/, owned like the maildir.
func deliverToMaildir(t *testing.T, maildir string, i int, raw []byte) {
	t.Helper()
	st, err := os.Stat(maildir)
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%d.P%dQ%d.plbatest", time.Now().Unix(), os.Getpid(), i)
	tmp := filepath.Join(maildir, "tmp", name)
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if err := os.Chown(tmp, int(sys.Uid), int(sys.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(maildir, "new", name)); err != nil {
		t.Fatal(err)
	}
}

func TestDovecotModesAreEquivalent(t *testing.T) {
	for _, mode := range []string{imapsource.ModePoll, imapsource.ModeIdle} {
		t.Run(mode, func(t *testing.T) {
			acc := dovecotAccount(t)
			acc.seed(t, "INBOX", "early", 3)
			cfg := acc.config(func(c *imapsource.Config) {
				c.Mode = mode
				c.PollInterval = 50 * time.Millisecond
			})
			if ids := runPipeline(t, cfg, func() { acc.seed(t, "INBOX", "late", 3) }, 6); len(ids) != 6 {
				t.Fatalf("processed %v", ids)
			}
			fl := acc.flags(t, "INBOX")
			if countFlag(fl, `\Seen`) != 6 || countFlag(fl, queued) != 0 {
				t.Errorf("final flags: %v", fl)
			}
		})
	}
}

// Settlements that arrive together are coalesced into shared UID STOREs
// (group commit): 200 concurrent successes on Dovecot take far fewer
// commands than one STORE pair each, every message ends \Seen without its
// in-flight mark, and one settlement of a message that no longer exists
// among them is answered on its own, without failing the others.
func TestDovecotSettlementsCoalesce(t *testing.T) {
	acc := dovecotAccount(t)
	const n = 200
	acc.seed(t, "INBOX", "co", n)
	src := newSource(t, acc.config())
	pub := newCollector()
	if got, err := src.Poll(t.Context(), pub); got != n || err != nil {
		t.Fatalf("Poll = %d, %v", got, err)
	}
	tasks := pub.all()
	var cnt counter
	worker := newSource(t, acc.config(), imapsource.WithDialContext(cnt.dial))
	gone := tasks[0].WithAttr(imapsource.AttrUID, "999999")
	var wg sync.WaitGroup
	errs := make(chan error, n+1)
	for _, task := range append(tasks, gone) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- worker.Settle(t.Context(), task, contracts.OutcomeSucceeded, nil)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	fl := acc.flags(t, "INBOX")
	if countFlag(fl, `\Seen`) != n || countFlag(fl, queued) != 0 {
		t.Fatalf("after settling: %d seen, %d marked; want %d and 0", countFlag(fl, `\Seen`), countFlag(fl, queued), n)
	}
	// One pair per message would be 2*n+; coalesced rounds take a few.
	if c := cnt.cmds.Load(); c > n/2 {
		t.Fatalf("%d IMAP commands for %d settlements: not coalesced", c, n)
	} else {
		t.Logf("%d IMAP commands for %d concurrent settlements", c, n+1)
	}
	if h := worker.Health(t.Context()); h.Details["unsettled"] != "1" {
		t.Errorf("the missing message was not counted as unsettled: %v", h.Details)
	}
}
