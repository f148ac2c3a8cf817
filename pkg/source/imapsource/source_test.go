package imapsource_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

const queued = "$Queued"

func TestPollPublishesUnseenWithoutMarkingSeen(t *testing.T) {
	acc := memAccount(t)
	raw := acc.seed(t, "INBOX", "new", 3)
	acc.seed(t, "INBOX", "old", 1, imap.FlagSeen)
	src := newSource(t, acc.config(), imapsource.WithName("orders"), imapsource.WithKind("order.mail"))
	pub := newCollector()

	n, err := src.Poll(t.Context(), pub)
	if err != nil || n != 3 {
		t.Fatalf("Poll = %d, %v; want 3", n, err)
	}
	tasks := pub.all()
	for i, task := range tasks {
		if !bytes.Equal(task.Payload, raw[i]) {
			t.Errorf("task %d payload differs from the appended message", i)
		}
		if task.Kind != "order.mail" || task.Attr(contracts.AttrSource) != "orders" {
			t.Errorf("task %d kind/source = %q/%q", i, task.Kind, task.Attr(contracts.AttrSource))
		}
		uid := fmt.Sprint(i + 1)
		if task.Attr(imapsource.AttrUID) != uid || task.Attr(imapsource.AttrMailbox) != "INBOX" {
			t.Errorf("task %d attrs = %v", i, task.Attributes)
		}
		if want := fmt.Sprintf("new-%d@test", i); task.Attr(imapsource.AttrMessageID) != want {
			t.Errorf("message id = %q, want %q", task.Attr(imapsource.AttrMessageID), want)
		}
		uv := task.Attr(imapsource.AttrUIDValidity)
		wantRef := "imap://alice@" + acc.addr + "/INBOX;UIDVALIDITY=" + uv + "/;UID=" + uid
		if task.Attr(contracts.AttrSourceRef) != wantRef {
			t.Errorf("ref = %q, want %q", task.Attr(contracts.AttrSourceRef), wantRef)
		}
		if task.ID != imapsource.TaskID("orders", "INBOX", parseU32(t, uv), uint32(i+1)) {
			t.Errorf("id = %q", task.ID)
		}
		if strings.Contains(fmt.Sprint(task.Attributes), "secret-pw") {
			t.Errorf("password leaked into attributes")
		}
	}
	fl := acc.flags(t, "INBOX")
	if got := countFlag(fl, string(imap.FlagSeen)); got != 1 {
		t.Errorf("%d messages \\Seen after poll, want only the one seeded seen", got)
	}
	if got := countFlag(fl, queued); got != 3 {
		t.Errorf("%d messages in flight, want 3", got)
	}

	// In flight: a second cycle publishes nothing.
	if n, err := src.Poll(t.Context(), pub); err != nil || n != 0 {
		t.Fatalf("second Poll = %d, %v; want 0 (messages in flight)", n, err)
	}
	// Neither does another process's source (the mark is on the server).
	other := newSource(t, acc.config(), imapsource.WithName("orders"))
	if n, err := other.Poll(t.Context(), pub); err != nil || n != 0 {
		t.Fatalf("other source Poll = %d, %v; want 0", n, err)
	}
}

func parseU32(t testing.TB, s string) uint32 {
	t.Helper()
	var v uint32
	if _, err := fmt.Sscan(s, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSettleSuccessFromAnotherProcessMarksSeen(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 3)
	poller := newSource(t, acc.config())
	pub := newCollector()
	if _, err := poller.Poll(t.Context(), pub); err != nil {
		t.Fatal(err)
	}
	tasks := pub.all()
	// The worker is another Source with the same config, as in Lambda.
	worker := newSource(t, acc.config())
	if err := worker.Settle(t.Context(), tasks[1], contracts.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	fl := acc.flags(t, "INBOX")
	if !has(fl[2], `\Seen`) || has(fl[2], queued) {
		t.Errorf("settled message flags = %v, want \\Seen and no %s", fl[2], queued)
	}
	for _, uid := range []imap.UID{1, 3} {
		if has(fl[uid], `\Seen`) {
			t.Errorf("message %d is \\Seen but its task did not succeed", uid)
		}
	}
	if h := worker.Health(t.Context()); h.Details["settled"] != "1" {
		t.Errorf("health settled = %q", h.Details["settled"])
	}
}

func TestFailedRoutineLeavesMessageUnseen(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 2)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.StaleAfter = time.Minute }),
		imapsource.WithClock(clock.now))
	pub := newCollector()
	if _, err := src.Poll(t.Context(), pub); err != nil {
		t.Fatal(err)
	}
	// The routine failed: the task is nacked, Settle is not called. Then it
	// is dead-lettered.
	tasks := pub.all()
	if got := countFlag(acc.flags(t, "INBOX"), `\Seen`); got != 0 {
		t.Fatalf("%d messages \\Seen after failed routines", got)
	}
	if err := src.Settle(t.Context(), tasks[0], contracts.OutcomeDeadLettered, errors.New("bad order")); err != nil {
		t.Fatal(err)
	}
	fl := acc.flags(t, "INBOX")
	if has(fl[1], `\Seen`) || !has(fl[1], `\Flagged`) || !has(fl[1], "$DeadLetter") || has(fl[1], queued) {
		t.Errorf("dead-lettered flags = %v; want unseen, \\Flagged, $DeadLetter, not queued", fl[1])
	}
	// Once the in-flight marks are stale, the dead letter stays out while
	// the other (lost) task's message is recovered.
	clock.add(2 * time.Minute)
	pub2 := newCollector()
	if n, err := src.Poll(t.Context(), pub2); err != nil || n != 1 || pub2.all()[0].ID != tasks[1].ID {
		t.Fatalf("Poll after stale = %d, %v, %v; want only the second message", n, err, pub2.all())
	}
}

func TestPublishFailureLosesNothing(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 3)
	src := newSource(t, acc.config())
	pub := newCollector()
	queueDown := errors.New("queue unavailable")
	pub.fail = func(task contracts.Task) error {
		if task.Attr(imapsource.AttrUID) == "2" {
			return queueDown
		}
		return nil
	}
	n, err := src.Poll(t.Context(), pub)
	if n != 2 || !errors.Is(err, queueDown) {
		t.Fatalf("Poll = %d, %v; want 2 and the publish error", n, err)
	}
	fl := acc.flags(t, "INBOX")
	if has(fl[2], queued) || has(fl[2], `\Seen`) {
		t.Errorf("unpublished message flags = %v; want neither queued nor seen", fl[2])
	}
	if h := src.Health(t.Context()); h.State != contracts.HealthDegraded {
		t.Errorf("health after publish failure = %v", h.State)
	}
	pub.fail = nil
	n, err = src.Poll(t.Context(), pub)
	if err != nil || n != 1 || pub.all()[2].Attr(imapsource.AttrUID) != "2" {
		t.Fatalf("retry Poll = %d, %v; want exactly message 2", n, err)
	}
	if h := src.Health(t.Context()); h.State != contracts.HealthUp {
		t.Errorf("health after recovery = %v %s", h.State, h.Message)
	}
}

func TestTooLargeMessageIsDeadLettered(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 2)
	src := newSource(t, acc.config())
	pub := newCollector()
	pub.fail = func(task contracts.Task) error {
		if task.Attr(imapsource.AttrUID) == "1" {
			return fmt.Errorf("sqs: %w", contracts.ErrTooLarge)
		}
		return nil
	}
	if n, err := src.Poll(t.Context(), pub); err != nil || n != 1 {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if fl := acc.flags(t, "INBOX"); !has(fl[1], "$DeadLetter") || has(fl[1], `\Seen`) {
		t.Errorf("too-large message flags = %v", fl[1])
	}
}

func TestStaleInFlightMarkIsRecovered(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 1)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	cfg := acc.config(func(c *imapsource.Config) { c.StaleAfter = 10 * time.Minute })
	src := newSource(t, cfg, imapsource.WithClock(clock.now))
	pub := newCollector()
	if n, _ := src.Poll(t.Context(), pub); n != 1 {
		t.Fatalf("first Poll published %d", n)
	}
	// Within StaleAfter (and up to the next generation) it stays in flight,
	// even for a fresh process.
	clock.add(10 * time.Minute)
	fresh := newSource(t, cfg, imapsource.WithClock(clock.now))
	if n, err := fresh.Poll(t.Context(), pub); n != 0 || err != nil {
		t.Fatalf("Poll at +StaleAfter = %d, %v; want 0", n, err)
	}
	// At 2*StaleAfter the mark is stale: the task was lost, publish again.
	clock.add(10 * time.Minute)
	if n, err := fresh.Poll(t.Context(), pub); n != 1 || err != nil {
		t.Fatalf("Poll at +2*StaleAfter = %d, %v; want 1", n, err)
	}
	tasks := pub.all()
	if tasks[0].ID != tasks[1].ID {
		t.Errorf("republished task id %q != %q", tasks[1].ID, tasks[0].ID)
	}
	gens := 0
	for _, f := range acc.flags(t, "INBOX")[1] {
		if strings.HasPrefix(f, "$queuedg") {
			gens++
		}
	}
	if gens != 1 {
		t.Errorf("recovered message carries %d generation keywords, want 1", gens)
	}
	// The fresh mark protects it again, and settling works as usual.
	if n, _ := fresh.Poll(t.Context(), pub); n != 0 {
		t.Fatalf("Poll after recovery published %d", n)
	}
	if err := src.Settle(t.Context(), tasks[1], contracts.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	fl := acc.flags(t, "INBOX")[1]
	if !has(fl, `\Seen`) {
		t.Errorf("flags = %v", fl)
	}
	for _, f := range fl {
		if strings.HasPrefix(f, "$queued") {
			t.Errorf("in-flight keyword %s left after settle", f)
		}
	}
}

func TestPermanentFlagsWithoutWildcardFallsBack(t *testing.T) {
	acc := memAccount(t, imaptest.WithoutKeywords())
	acc.seed(t, "INBOX", "m", 2)
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	cfg := acc.config(func(c *imapsource.Config) { c.StaleAfter = time.Minute })
	src := newSource(t, cfg, imapsource.WithClock(clock.now))
	pub := newCollector()
	if n, err := src.Poll(t.Context(), pub); n != 2 || err != nil {
		t.Fatalf("Poll = %d, %v", n, err)
	}
	if got := countFlag(acc.flags(t, "INBOX"), queued); got != 0 {
		t.Fatalf("%d messages carry %s although PERMANENTFLAGS forbids keywords", got, queued)
	}
	if h := src.Health(t.Context()); !strings.Contains(h.Details["in_flight"], "in-process") {
		t.Errorf("health in_flight = %q", h.Details["in_flight"])
	}
	// In-process record: not published twice while in flight.
	if n, _ := src.Poll(t.Context(), pub); n != 0 {
		t.Fatalf("second Poll published %d", n)
	}
	tasks := pub.all()
	if err := src.Settle(t.Context(), tasks[0], contracts.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	if err := src.Settle(t.Context(), tasks[1], contracts.OutcomeDeadLettered, errors.New("x")); err != nil {
		t.Fatal(err)
	}
	fl := acc.flags(t, "INBOX")
	if !has(fl[1], `\Seen`) || has(fl[2], `\Seen`) || !has(fl[2], `\Flagged`) {
		t.Fatalf("flags after settle = %v", fl)
	}
	// Stale expiry still applies; the dead letter (\Flagged) stays out.
	acc.seed(t, "INBOX", "late", 1)
	if n, _ := src.Poll(t.Context(), pub); n != 1 {
		t.Fatalf("Poll of a new message published %d", n)
	}
	clock.add(2 * time.Minute)
	if n, _ := src.Poll(t.Context(), pub); n != 1 {
		t.Fatalf("Poll after StaleAfter published %d, want the stale one again", n)
	}
}

// checkUIDValidityChange recreates the mailbox so that the old task's UID
// now names another message: Settle must find the right one by Message-ID
// (TestServersUIDValidityChange).
func checkUIDValidityChange(t *testing.T, acc account) {
	t.Helper()
	acc.create(t, "Orders")
	raw := acc.seed(t, "Orders", "orig", 1)
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.Mailbox = "Orders" }))
	pub := newCollector()
	if _, err := src.Poll(t.Context(), pub); err != nil {
		t.Fatal(err)
	}
	old := pub.all()[0]

	c := acc.client(t)
	if err := c.Delete("Orders").Wait(); err != nil {
		t.Fatal(err)
	}
	acc.create(t, "Orders")
	acc.seed(t, "Orders", "other", 1) // takes UID 1 in the new mailbox
	if _, err := imaptest.AppendMessages(t.Context(), c, "Orders", raw); err != nil {
		t.Fatal(err)
	}

	worker := newSource(t, acc.config(func(c *imapsource.Config) { c.Mailbox = "Orders" }))
	if err := worker.Settle(t.Context(), old, contracts.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	fl := acc.flags(t, "Orders")
	if has(fl[1], `\Seen`) {
		t.Fatalf("Settle marked UID 1 (another message after the UIDVALIDITY change)")
	}
	if !has(fl[2], `\Seen`) {
		t.Fatalf("Settle did not mark the original message (now UID 2): %v", fl)
	}

	// The poller notices the change and publishes the unseen message under
	// its new identity.
	n, err := src.Poll(t.Context(), pub)
	if err != nil || n != 1 {
		t.Fatalf("Poll after change = %d, %v", n, err)
	}
	got := pub.all()[1]
	if got.Attr(imapsource.AttrUIDValidity) == old.Attr(imapsource.AttrUIDValidity) || got.Attr(imapsource.AttrMessageID) != "other-0@test" {
		t.Errorf("task after change = %v", got.Attributes)
	}

	// A task whose message vanished is reported, not applied elsewhere.
	gone := old.WithAttr(imapsource.AttrMessageID, "")
	if err := worker.Settle(t.Context(), gone, contracts.OutcomeSucceeded, nil); err != nil {
		t.Fatal(err)
	}
	if h := worker.Health(t.Context()); h.Details["unsettled"] != "1" {
		t.Errorf("unsettled = %q", h.Details["unsettled"])
	}
	if fl := acc.flags(t, "Orders"); has(fl[1], `\Seen`) {
		t.Errorf("a task without Message-ID marked a message after the change")
	}
}

// pollCommands connects a source (greeting and login are not part of a
// cycle), seeds n messages, runs one poll cycle and returns how many
// commands that cycle sent.
func pollCommands(t testing.TB, acc account, cfg imapsource.Config, n int) int64 {
	t.Helper()
	var cnt counter
	src := newSource(t, cfg, imapsource.WithDialContext(cnt.dial))
	if got, err := src.Poll(t.Context(), newCollector()); err != nil || got != 0 {
		t.Fatalf("warm-up Poll = %d, %v", got, err)
	}
	acc.seed(t, cfg.Mailbox, "rt", n)
	before := cnt.cmds.Load()
	got, err := src.Poll(t.Context(), newCollector())
	if err != nil || got != n {
		t.Fatalf("Poll = %d, %v; want %d", got, err, n)
	}
	return cnt.cmds.Load() - before
}

// TestIdleCheckBoundsLatency: a server that never reports new mail during
// IDLE (Mailutils; Cyrus without idled) still gets it delivered within
// idle_check, long before the idle_restart watchdog.
func TestIdleCheckBoundsLatency(t *testing.T) {
	acc := memAccount(t, imaptest.WithoutIdleNotify())
	acc.seed(t, "INBOX", "before", 1)
	src := newSource(t, acc.config(func(c *imapsource.Config) {
		c.IdleRestart = time.Hour
		c.IdleCheck = 100 * time.Millisecond
	}))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	// Once the catch-up published this, its search is done: what comes
	// next can only arrive through the check (the watchdog is an hour).
	pub.next(t, 10*time.Second)
	acc.seed(t, "INBOX", "late", 1)
	if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); id != "late-0@test" {
		t.Errorf("delivered %s", id)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRunIdleDeliversAndStops(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "before", 2)
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.Mode = imapsource.ModeIdle }))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	// Catch-up delivers what was there before Run.
	got := map[string]bool{}
	for range 2 {
		got[pub.next(t, 5*time.Second).Attr(imapsource.AttrMessageID)] = true
	}
	// IDLE delivers what arrives later.
	acc.seed(t, "INBOX", "later", 3)
	for range 3 {
		got[pub.next(t, 5*time.Second).Attr(imapsource.AttrMessageID)] = true
	}
	if len(got) != 5 {
		t.Fatalf("delivered %v", got)
	}
	if h := src.Health(t.Context()); h.Details["connected"] != "true" || h.State != contracts.HealthUp {
		t.Errorf("health while idling = %v %v", h.State, h.Details)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestRunReconnectsAfterServerDrop(t *testing.T) {
	srv, err := imaptest.StartMemServer(t.Context(), "", "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	addr := srv.Addr
	acc := account{addr, "alice", "pw"}
	logs := &logBuffer{}
	src := newSource(t, acc.config(), imapsource.WithLogger(logs.logger()))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	acc.seed(t, "INBOX", "a", 1)
	pub.next(t, 5*time.Second)
	_ = srv.Close()
	// A new server on the same address (a restarted mail server with a new
	// mailbox that already holds mail).
	srv2, err := imaptest.StartMemServer(t.Context(), addr, "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	acc.seed(t, "INBOX", "b", 2)
	for range 2 {
		if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); !strings.HasPrefix(id, "b-") {
			t.Errorf("unexpected task %s", id)
		}
	}
	// Recovered: the error is gone from health, the recovery logged once.
	// The tasks are published inside the cycle, before it records its
	// success in health; there is no event for that from outside, so health
	// is read again until the cycle has recorded it, within a bound.
	recovered := func(h contracts.Health) bool {
		return h.Details["reconnects"] != "0" && h.Details["last_error"] == "" && h.State == contracts.HealthUp
	}
	h := src.Health(t.Context())
	for deadline := time.Now().Add(5 * time.Second); !recovered(h) && time.Now().Before(deadline); h = src.Health(t.Context()) {
		time.Sleep(5 * time.Millisecond)
	}
	if !recovered(h) {
		t.Errorf("health after reconnect = %v %v", h.State, h.Details)
	}
	if n := strings.Count(logs.String(), "recovered after failures"); n != 1 {
		t.Errorf("recovery logged %d times:\n%s", n, logs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCloseStopsRun(t *testing.T) {
	acc := memAccount(t)
	src, err := imapsource.New(acc.config())
	if err != nil {
		t.Fatal(err)
	}
	acc.seed(t, "INBOX", "m", 1)
	pub := newCollector()
	done := make(chan error, 1)
	go func() { done <- src.Run(t.Context(), pub) }()
	// A published task means Run is connected and past its catch-up.
	pub.next(t, 5*time.Second)
	_ = src.Close()
	if err := <-done; !errors.Is(err, imapsource.ErrClosed) {
		t.Fatalf("Run after Close = %v", err)
	}
	if _, err := src.Poll(t.Context(), newCollector()); !errors.Is(err, imapsource.ErrClosed) {
		t.Fatalf("Poll after Close = %v", err)
	}
}

// runPipeline wires source -> channel -> routine -> Settle the way the
// runtime does, choosing Poll-on-interval or Run from the config only. The
// routine fails the first attempt of every task (nack, redelivered) to show
// that nothing is marked before success. It returns processed Message-IDs
// once want distinct messages succeeded.
func runPipeline(t *testing.T, cfg imapsource.Config, more func(), want int) map[string]int {
	t.Helper()
	src := newSource(t, cfg)
	queue := make(chan contracts.Task, 100)
	pub := contracts.PublisherFunc(func(ctx context.Context, task contracts.Task) error {
		select {
		case queue <- task:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Go(func() {
		if cfg.SourceMode() == contracts.SourcePush {
			_ = src.Run(ctx, pub)
			return
		}
		tick := time.NewTicker(cfg.PollInterval)
		defer tick.Stop()
		for {
			_, _ = src.Poll(ctx, pub)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	attempts := map[string]int{}
	done := map[string]int{}
	timeout := time.After(10 * time.Second)
	moreSent := false
	for len(done) < want {
		select {
		case task := <-queue:
			id := task.Attr(imapsource.AttrMessageID)
			attempts[task.ID]++
			if attempts[task.ID] == 1 {
				// Routine failed: nack = redeliver; nothing settled.
				queue <- task
				continue
			}
			if err := src.Settle(ctx, task, contracts.OutcomeSucceeded, nil); err != nil {
				t.Errorf("Settle: %v", err)
			}
			done[id]++
			if !moreSent && len(done) == 3 {
				moreSent = true
				more()
			}
		case <-timeout:
			t.Fatalf("pipeline processed only %v", done)
		}
	}
	cancel()
	wg.Wait()
	for id, n := range done {
		if n != 1 {
			t.Errorf("message %s processed %d times", id, n)
		}
	}
	return done
}

func TestHealthAndSecrets(t *testing.T) {
	acc := memAccount(t)
	bad := acc
	bad.pass = "wrong-secret-pw"
	src := newSource(t, bad.config())
	_, err := src.Poll(t.Context(), newCollector())
	if err == nil {
		t.Fatal("Poll with a wrong password succeeded")
	}
	if strings.Contains(err.Error(), "wrong-secret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
	h := src.Health(t.Context())
	if h.State != contracts.HealthDegraded || h.Details["last_error"] == "" || h.Details["connected"] != "false" {
		t.Errorf("health = %v %v", h.State, h.Details)
	}
	if strings.Contains(fmt.Sprint(h), "wrong-secret-pw") || strings.Contains(fmt.Sprintf("%+v", src.Config()), "wrong-secret-pw") {
		t.Errorf("health or config leaks the password")
	}
	for range 4 {
		_, _ = src.Poll(t.Context(), newCollector())
	}
	if h := src.Health(t.Context()); h.State != contracts.HealthDown {
		t.Errorf("health after 5 failures = %v", h.State)
	}

	good := newSource(t, acc.config())
	acc.seed(t, "INBOX", "m", 3)
	if _, err := good.Poll(t.Context(), newCollector()); err != nil {
		t.Fatal(err)
	}
	h = good.Health(t.Context())
	if h.State != contracts.HealthUp || h.Details["connected"] != "true" || h.Details["last_poll"] == "" || h.Details["backlog"] != "0" {
		t.Errorf("health = %v %v", h.State, h.Details)
	}
}

func TestBatchSizeLimitsCycle(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 5)
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.BatchSize = 2 }))
	pub := newCollector()
	var got []int
	for range 4 {
		n, err := src.Poll(t.Context(), pub)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
	}
	if fmt.Sprint(got) != "[2 2 1 0]" {
		t.Errorf("published per cycle = %v", got)
	}
	if h := newSource(t, acc.config()).Health(t.Context()); h.State != contracts.HealthUp {
		t.Errorf("fresh source health = %v", h.State)
	}
}

func TestConfigValidate(t *testing.T) {
	base := imapsource.DefaultConfig()
	base.Addr = "mail.example.com:993"
	base.Username = "u"
	if err := base.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for name, mutate := range map[string]func(*imapsource.Config){
		"addr":          func(c *imapsource.Config) { c.Addr = "no-port" },
		"tls":           func(c *imapsource.Config) { c.TLS = "ssl" },
		"mode":          func(c *imapsource.Config) { c.Mode = "push" },
		"username":      func(c *imapsource.Config) { c.Username = "" },
		"dead letter":   func(c *imapsource.Config) { c.OnDeadLetter = "move:" },
		"keyword":       func(c *imapsource.Config) { c.InFlightKeyword = "$Que ued" },
		"backoff":       func(c *imapsource.Config) { c.BackoffMax = time.Millisecond },
		"negative":      func(c *imapsource.Config) { c.StaleAfter = -time.Second },
		"negative size": func(c *imapsource.Config) { c.BatchSize = -1 },
		"idle check":    func(c *imapsource.Config) { c.IdleCheck = -time.Second },
	} {
		c := base
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, imapsource.ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		if _, err := imapsource.New(c); err == nil {
			t.Errorf("%s: New accepted an invalid config", name)
		}
	}
	if base.IdleCheck <= 0 || base.IdleCheck > 30*time.Second {
		t.Errorf("default idle_check = %s, want at most 30s", base.IdleCheck)
	}
	// Unset, it follows a shorter idle_restart.
	short, err := imapsource.New(imapsource.Config{Addr: "h:1", Username: "u", IdleRestart: 5 * time.Second})
	if err != nil || short.Config().IdleCheck != 5*time.Second {
		t.Errorf("idle_check with idle_restart 5s = %v, %v", short.Config().IdleCheck, err)
	}
	if (imapsource.Config{Mode: "poll"}).SourceMode() != contracts.SourcePoll ||
		(imapsource.Config{}).SourceMode() != contracts.SourcePush {
		t.Error("SourceMode mapping")
	}
	if _, err := imapsource.New(imapsource.Config{Addr: "h:1", Username: "u", CAFile: "/nonexistent"}); !errors.Is(err, imapsource.ErrInvalidConfig) {
		t.Errorf("missing CA file: %v", err)
	}
}

func TestSettleRejectsForeignTask(t *testing.T) {
	acc := memAccount(t)
	src := newSource(t, acc.config())
	err := src.Settle(t.Context(), contracts.Task{ID: "x"}, contracts.OutcomeSucceeded, nil)
	if !errors.Is(err, imapsource.ErrNotSourceTask) {
		t.Fatalf("Settle = %v", err)
	}
}

// TestSettleWhilePollBlocksInPublish: a Poll waiting for a full queue must
// not hold up the Settle calls of the workers that would drain it.
func TestSettleWhilePollBlocksInPublish(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "a", 1)
	src := newSource(t, acc.config())
	first := newCollector()
	if _, err := src.Poll(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	acc.seed(t, "INBOX", "b", 1)
	entered, release := make(chan struct{}), make(chan struct{})
	blocked := contracts.PublisherFunc(func(ctx context.Context, task contracts.Task) error {
		close(entered)
		<-release
		return nil
	})
	polled := make(chan error, 1)
	go func() {
		_, err := src.Poll(t.Context(), blocked)
		polled <- err
	}()
	<-entered
	settled := make(chan error, 1)
	go func() { settled <- src.Settle(t.Context(), first.all()[0], contracts.OutcomeSucceeded, nil) }()
	select {
	case err := <-settled:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Settle blocked behind a Poll that waits in Publish")
	}
	close(release)
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
}

// TestIdleWatchdogDetectsSilentlyDeadConnection: the connection stops
// carrying data without being closed (a NAT dropped it). The watchdog ends
// IDLE, the round trip times out, the source reconnects and catches up.
func TestIdleWatchdogDetectsSilentlyDeadConnection(t *testing.T) {
	acc := memAccount(t)
	var bh blackholes
	logs := &logBuffer{}
	src := newSource(t, acc.config(func(c *imapsource.Config) {
		c.IdleRestart = 200 * time.Millisecond
		c.CommandTimeout = 300 * time.Millisecond
	}), imapsource.WithDialContext(bh.dial), imapsource.WithLogger(logs.logger()))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	acc.seed(t, "INBOX", "a", 1)
	pub.next(t, 5*time.Second)

	bh.killAll()
	acc.seed(t, "INBOX", "b", 1)
	if id := pub.next(t, 10*time.Second).Attr(imapsource.AttrMessageID); id != "b-0@test" {
		t.Fatalf("got %s", id)
	}
	h := src.Health(t.Context())
	if h.Details["reconnects"] == "0" || !strings.Contains(logs.String(), "timed out") {
		t.Errorf("health = %v, logs:\n%s", h.Details, logs)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// blackholes dials connections that can be made silently dead: reads
// never return data again and writes vanish, until closed.
type blackholes struct {
	mu    sync.Mutex
	conns []*blackholeConn
}

func (b *blackholes) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	bc := &blackholeConn{Conn: c, closed: make(chan struct{})}
	b.mu.Lock()
	b.conns = append(b.conns, bc)
	b.mu.Unlock()
	return bc, nil
}

func (b *blackholes) killAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.conns {
		c.dead.Store(true)
	}
}

type blackholeConn struct {
	net.Conn
	dead      atomic.Bool
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *blackholeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.dead.Load() {
		<-c.closed
		return 0, net.ErrClosed
	}
	return n, err
}

func (c *blackholeConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *blackholeConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestRunMissingMailboxSaysSo: Run against a mailbox that does not exist
// logs that (not "connection lost"), shows it in health, and once the
// mailbox is created reads it and logs the recovery once.
func TestRunMissingMailboxSaysSo(t *testing.T) {
	acc := memAccount(t)
	logs := &logBuffer{}
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.Mailbox = "Orders" }), imapsource.WithLogger(logs.logger()))
	pub := newCollector()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	logs.waitFor(t, "kind=mailbox_not_found", 5*time.Second)
	if h := src.Health(t.Context()); h.Details["last_error_kind"] != "mailbox_not_found" {
		t.Errorf("health = %v", h.Details)
	}
	if strings.Contains(logs.String(), "connection lost") {
		t.Errorf("a missing mailbox logged as a lost connection:\n%s", logs)
	}
	acc.create(t, "Orders")
	acc.seed(t, "Orders", "m", 1)
	pub.next(t, 10*time.Second)
	logs.waitFor(t, "recovered after failures", 5*time.Second)
	if h := src.Health(t.Context()); h.Details["last_error"] != "" || h.State != contracts.HealthUp {
		t.Errorf("health after recovery = %v %v", h.State, h.Details)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestStartTLSUnsupported: STARTTLS configured against a server that does
// not offer it is ErrUnsupported, not a TLS or connection error.
func TestStartTLSUnsupported(t *testing.T) {
	acc := memAccount(t)
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.TLS = imapsource.TLSStartTLS }))
	if err := src.Check(t.Context()); !errors.Is(err, imapsource.ErrUnsupported) {
		t.Fatalf("Check = %v, want ErrUnsupported", err)
	}
}
