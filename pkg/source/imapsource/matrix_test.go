package imapsource_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/cyrustest"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// The server matrix: every test in this file runs against the in-process
// imapmemserver, Dovecot and Cyrus (scripts/services/{dovecot,cyrus}.sh).
// Each server gets a fresh, empty mailbox per test. A real server that is
// not running skips its subtest (fails under CI=true).

// imapServer is one server of the matrix.
type imapServer struct {
	name    string
	account func(t testing.TB) account
	// private starts an instance the test may stop and start; nil for
	// the in-process server.
	private func(t testing.TB) *privateServer
}

// privateServer is a restartable instance with one account.
type privateServer struct {
	acc         account
	stop, start func(t testing.TB)
	// deliver puts a message into the mailbox while the server is down
	// (Dovecot: a maildir file); nil when the server cannot take mail then.
	deliver func(t testing.TB, i int, raw []byte)
}

func servers() []imapServer {
	return []imapServer{
		{name: "memserver", account: func(t testing.TB) account { return memAccount(t) }},
		{name: "dovecot", account: dovecotAccount, private: func(t testing.TB) *privateServer {
			in := dovecottest.StartPrivate(t)
			user := dovecottest.UserName(t)
			maildir := filepath.Join(in.Dir, "mail", user)
			return &privateServer{
				acc: account{in.Addr, user, dovecottest.Password}, stop: in.Stop, start: in.Start,
				deliver: func(t testing.TB, i int, raw []byte) { deliverToMaildir(t, maildir, i, raw) },
			}
		}},
		{name: "cyrus", account: cyrusAccount, private: func(t testing.TB) *privateServer {
			in := cyrustest.StartPrivate(t)
			return &privateServer{acc: account{in.Addr, in.User(t), cyrustest.Password}, stop: in.Stop, start: in.Start}
		}},
	}
}

func cyrusAccount(t testing.TB) account {
	t.Helper()
	addr, user, pass := cyrustest.Cyrus(t)
	return account{addr, user, pass}
}

// eachServer runs f as a subtest per server of the matrix.
func eachServer(t *testing.T, f func(t *testing.T, srv imapServer)) {
	for _, srv := range servers() {
		t.Run(srv.name, func(t *testing.T) { f(t, srv) })
	}
}

// TestServersSeenOnlyAfterSuccess: poll marks in flight and never \Seen;
// success sets \Seen (also when settled twice: Cyrus answers the second
// STORE with no FETCH), dead letter flags, a failing task stays in flight.
func TestServersSeenOnlyAfterSuccess(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		acc := srv.account(t)
		acc.seed(t, "INBOX", "m", 4)
		src := newSource(t, acc.config())
		pub := newCollector()
		if n, err := src.Poll(t.Context(), pub); n != 4 || err != nil {
			t.Fatalf("Poll = %d, %v", n, err)
		}
		if h := src.Health(t.Context()); h.Details["in_flight"] != "keyword $Queued" {
			t.Errorf("the server should allow keywords: %v", h.Details)
		}
		fl := acc.flags(t, "INBOX")
		if countFlag(fl, `\Seen`) != 0 || countFlag(fl, queued) != 4 {
			t.Fatalf("after poll: %v", fl)
		}
		if n, _ := src.Poll(t.Context(), pub); n != 0 {
			t.Fatalf("in-flight messages published again: %d", n)
		}
		tasks := pub.all()
		// Task 0 and 1 succeed (0 twice, as a redelivered task would), 2 is
		// dead-lettered, 3's routine keeps failing (nacked, no settle).
		worker := newSource(t, acc.config())
		for _, task := range []contracts.Task{tasks[0], tasks[1], tasks[0]} {
			if err := worker.Settle(t.Context(), task, contracts.OutcomeSucceeded, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := worker.Settle(t.Context(), tasks[2], contracts.OutcomeDeadLettered, errors.New("bad")); err != nil {
			t.Fatal(err)
		}
		if h := worker.Health(t.Context()); h.Details["unsettled"] != "" || h.Details["settled"] != "4" {
			t.Errorf("health after settling = %v; want 4 settled, none unsettled", h.Details)
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
	})
}

// TestServersDeadLetterMove moves a dead letter to a folder that does not
// exist yet, lists it and moves it back.
func TestServersDeadLetterMove(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		acc := srv.account(t)
		acc.seed(t, "INBOX", "m", 2)
		src := newSource(t, acc.config(func(c *imapsource.Config) { c.OnDeadLetter = "move:Failed Orders" }))
		pub := newCollector()
		if _, err := src.Poll(t.Context(), pub); err != nil {
			t.Fatal(err)
		}
		if err := src.Settle(t.Context(), pub.all()[0], contracts.OutcomeDeadLettered, errors.New("x")); err != nil {
			t.Fatal(err)
		}
		moved := acc.flags(t, "Failed Orders")
		if len(moved) != 1 {
			t.Fatalf("Failed Orders holds %d messages, want 1", len(moved))
		}
		for _, fs := range moved {
			if has(fs, `\Seen`) || has(fs, queued) {
				t.Errorf("moved message flags = %v", fs)
			}
		}
		if inbox := acc.flags(t, "INBOX"); len(inbox) != 1 || inbox[2] == nil {
			t.Errorf("INBOX = %v, want only UID 2", inbox)
		}
		if n, err := src.RedriveMarked(t.Context(), nil); err != nil || n != 1 {
			t.Fatalf("RedriveMarked = %d, %v", n, err)
		}
		if n, err := src.Poll(t.Context(), pub); err != nil || n != 1 {
			t.Fatalf("Poll after redrive = %d, %v; want the redriven message", n, err)
		}
	})
}

// TestServersIdle delivers by IDLE what arrives after Run started.
func TestServersIdle(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		acc := srv.account(t)
		acc.seed(t, "INBOX", "before", 1)
		src := newSource(t, acc.config(func(c *imapsource.Config) { c.Mode = imapsource.ModeIdle }))
		pub := newCollector()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, pub) }()
		if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); id != "before-0@test" {
			t.Errorf("catch-up delivered %s", id)
		}
		acc.seed(t, "INBOX", "later", 2)
		for range 2 {
			if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); !strings.HasPrefix(id, "later-") {
				t.Errorf("IDLE delivered %s", id)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestServersUIDValidityChange recreates the mailbox so that an old task's
// UID names another message.
func TestServersUIDValidityChange(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) { checkUIDValidityChange(t, srv.account(t)) })
}

// TestServersRestartWhileIdling stops a private server under an idling
// source (mail delivered while it is down where the server allows it),
// starts it again: the source reconnects and delivers everything.
func TestServersRestartWhileIdling(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		if srv.private == nil {
			t.Skip("an in-process server loses its mailbox on restart (see TestRunReconnectsAfterServerDrop)")
		}
		ps := srv.private(t)
		acc := ps.acc
		acc.seed(t, "INBOX", "before", 1)
		src := newSource(t, acc.config())
		pub := newCollector()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx, pub) }()
		want := []string{"before-0@test", "idle-0@test", "after-0@test"}
		got := map[string]bool{}
		got[pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID)] = true
		acc.seed(t, "INBOX", "idle", 1) // arrives by IDLE
		got[pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID)] = true

		ps.stop(t)
		if ps.deliver != nil {
			for i := range 2 {
				ps.deliver(t, i, imaptest.Message(fmt.Sprintf("down-%d@test", i), "while down", "x"))
				want = append(want, fmt.Sprintf("down-%d@test", i))
			}
		}
		ps.start(t)
		acc.seed(t, "INBOX", "after", 1)
		for range len(want) - 2 {
			got[pub.next(t, 15*time.Second).Attr(imapsource.AttrMessageID)] = true
		}
		for _, id := range want {
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
	})
}

// TestServersModesAreEquivalent runs the same pipeline (source -> queue
// channel -> routine -> Settle) in poll and in idle mode: same tasks, same
// final mailbox state. Only the config differs.
func TestServersModesAreEquivalent(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		for _, mode := range []string{imapsource.ModePoll, imapsource.ModeIdle} {
			t.Run(mode, func(t *testing.T) {
				acc := srv.account(t)
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
	})
}

// TestServersRoundTripsConstant counts IMAP commands per cycle: they must
// not grow with the number of messages.
func TestServersRoundTripsConstant(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		counts := map[int]int64{}
		for _, n := range []int{10, 1000} {
			acc := srv.account(t)
			mbox := fmt.Sprintf("Box%d", n)
			acc.create(t, mbox)
			counts[n] = pollCommands(t, acc, acc.config(func(c *imapsource.Config) { c.Mailbox = mbox; c.BatchSize = 1000 }), n)
		}
		if counts[10] != counts[1000] {
			t.Fatalf("commands per cycle: %d for 10 messages, %d for 1000", counts[10], counts[1000])
		}
		// SELECT, UID SEARCH, UID FETCH, UID STORE.
		if counts[10] != 4 {
			t.Errorf("commands per cycle = %d, want 4", counts[10])
		}
	})
}

// TestServers2000Messages: 2,000 unseen messages through the pipeline in
// idle mode with batches of 500, ten of them dead-lettered: 1,990 end
// \Seen, 10 flagged, none left in flight, none processed twice.
func TestServers2000Messages(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 messages per server")
	}
	eachServer(t, func(t *testing.T, srv imapServer) {
		const n, dead = 2000, 10
		acc := srv.account(t)
		acc.seed(t, "INBOX", "bulk", n)
		src := newSource(t, acc.config(func(c *imapsource.Config) { c.BatchSize = 500 }))
		queue := make(chan contracts.Task, n)
		pub := contracts.PublisherFunc(func(ctx context.Context, task contracts.Task) error {
			queue <- task
			return nil
		})
		ctx, cancel := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		wg.Go(func() { _ = src.Run(ctx, pub) })
		defer func() { cancel(); wg.Wait() }()
		seen := map[string]bool{}
		timeout := time.After(60 * time.Second)
		for len(seen) < n {
			select {
			case task := <-queue:
				if seen[task.ID] {
					t.Fatalf("task %s published twice", task.ID)
				}
				seen[task.ID] = true
				outcome := contracts.OutcomeSucceeded
				if len(seen) <= dead {
					outcome = contracts.OutcomeDeadLettered
				}
				if err := src.Settle(ctx, task, outcome, nil); err != nil {
					t.Fatal(err)
				}
			case <-timeout:
				t.Fatalf("only %d of %d messages processed", len(seen), n)
			}
		}
		fl := acc.flags(t, "INBOX")
		if got := countFlag(fl, `\Seen`); got != n-dead {
			t.Errorf("%d messages \\Seen, want %d", got, n-dead)
		}
		if got := countFlag(fl, "$DeadLetter"); got != dead {
			t.Errorf("%d dead letters, want %d", got, dead)
		}
		if got := countFlag(fl, queued); got != 0 {
			t.Errorf("%d messages still in flight", got)
		}
	})
}

// TestServersClearErrors: a missing mailbox, a refused login and a TLS
// failure are each a distinct sentinel in the error, the health details
// and the check `plba config check --connect` runs.
func TestServersClearErrors(t *testing.T) {
	eachServer(t, func(t *testing.T, srv imapServer) {
		acc := srv.account(t)
		for _, tc := range []struct {
			name   string
			mutate func(*imapsource.Config)
			want   error
			kind   string
		}{
			{"missing mailbox", func(c *imapsource.Config) { c.Mailbox = "No Such Box" }, imapsource.ErrMailboxNotFound, "mailbox_not_found"},
			{"login refused", func(c *imapsource.Config) { c.Password = "wrong" }, imapsource.ErrLoginRefused, "login_refused"},
			{"TLS on a plain port", func(c *imapsource.Config) { c.TLS = imapsource.TLSImplicit }, imapsource.ErrTLS, "tls"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				// Dovecot answers a failed login after a growing delay (2 s, then more).
				src := newSource(t, acc.config(tc.mutate, func(c *imapsource.Config) { c.DialTimeout = 30 * time.Second }))
				if err := src.Check(t.Context()); !errors.Is(err, tc.want) {
					t.Fatalf("Check = %v, want %v", err, tc.want)
				}
				if _, err := src.Poll(t.Context(), newCollector()); !errors.Is(err, tc.want) {
					t.Fatalf("Poll = %v, want %v", err, tc.want)
				}
				h := src.Health(t.Context())
				if h.Details["last_error_kind"] != tc.kind || !strings.Contains(h.Message, strings.ReplaceAll(tc.kind, "_", " ")) {
					t.Errorf("health = %q %v, want kind %s", h.Message, h.Details, tc.kind)
				}
				if strings.Contains(fmt.Sprint(h.Details), acc.pass) && acc.pass != "" && tc.name == "login refused" {
					t.Errorf("health shows a password")
				}
			})
		}
		if err := newSource(t, acc.config()).Check(t.Context()); err != nil {
			t.Errorf("Check of a good config = %v", err)
		}
	})
}

// TestCyrusWithoutIdledIsBoundedByIdleCheck: Debian's Cyrus without idled
// tells an idling client of new mail only every 60 s; with idle_check the
// mail is delivered within about idle_check.
func TestCyrusWithoutIdledIsBoundedByIdleCheck(t *testing.T) {
	in := cyrustest.StartPrivateWithoutIdled(t)
	acc := account{in.Addr, in.User(t), cyrustest.Password}
	acc.seed(t, "INBOX", "before", 1)
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.IdleCheck = 500 * time.Millisecond }))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	pub.next(t, 10*time.Second) // the catch-up; what follows comes while idling
	acc.seed(t, "INBOX", "later", 1)
	// Well under Cyrus's own 60 s.
	if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); id != "later-0@test" {
		t.Errorf("delivered %s", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
