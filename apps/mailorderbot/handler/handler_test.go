package handler_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/plba/plba/apps/mailorderbot"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot/catalog"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/apps/mailorderbot/mailparse"
	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/pkg/contracts"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "mailparse", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rig struct {
	h        *handler.Handler
	st       *sqlitestore.Store
	outcomes chan handler.Outcome
}

func newRig(t *testing.T, mod func(*handler.Deps)) *rig {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "orders.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, outcomes: make(chan handler.Outcome, 100)}
	d := handler.Deps{
		Store: st, From: "Shop <orders@shop.example>",
		Now:       func() time.Time { return time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC) },
		OnOutcome: func(o handler.Outcome) { r.outcomes <- o },
		Logger:    slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&d)
	}
	r.h, err = handler.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func task(payload []byte, ref string) contracts.Task {
	t := contracts.Task{ID: "t1", Kind: mailorderbot.TaskKind, Payload: payload, Attempt: 1}
	if ref != "" {
		t = t.WithAttr(contracts.AttrSourceRef, ref)
	}
	return t
}

const ref = "imap://bot@127.0.0.1/INBOX;UIDVALIDITY=7/;UID=42"

func TestOutcomes(t *testing.T) {
	cases := []struct {
		file    string
		key     domain.MessageKey
		status  domain.Status
		total   int64
		reason  string // substring of some reason
		replyTo string // "" = no reply expected
	}{
		{"plain_all_forms.eml", "plain-1@example.com", domain.StatusAccepted, 27112, "", "buy@corp.example"},
		{"html_table_only.eml", "html1@example.com", domain.StatusAccepted, 2*1250 + 4*450, "", "alice@example.com"},
		{"csv_attachment_comma.eml", "csv2@example.com", domain.StatusAccepted, 300 + 3*49900 + 650, "", "alice@example.com"},
		{"windows1251_base64.eml", "cp1251@example.ru", domain.StatusAccepted, 2*1250 + 3*450 + 2*899, "", "ivan@example.ru"},
		{"koi8r_qp.eml", "koi8@example.ru", domain.StatusAccepted, 4*450 + 390, "", "olga@example.ru"},
		{"bad_sku.eml", "badsku@example.com", domain.StatusRejected, 0, `unknown SKU ZZZ-999`, "alice@example.com"},
		{"bad_quantity.eml", "badqty@example.com", domain.StatusRejected, 0, `quantity “0”`, "alice@example.com"},
		{"csv_attachment_semicolon.eml", "csv1@example.com", domain.StatusRejected, 0, `quantity “x”`, "alice@example.com"},
		{"no_order_lines.eml", "noorder@example.com", domain.StatusIgnored, 0, "no order lines", ""},
		{"multipart_no_boundary.eml", "noboundary@example.com", domain.StatusAccepted, 1250, "", "alice@example.com"},
		{"no_message_id.eml", handler.MessageKey("", fixture(t, "no_message_id.eml")), domain.StatusAccepted, 49900, "", "carol@example.org"},
		{"garbage.eml", handler.MessageKey("", fixture(t, "garbage.eml")), domain.StatusReview, 0, "cannot be read", ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			r := newRig(t, nil)
			ctx := context.Background()
			if err := r.h.Run(ctx, task(fixture(t, c.file), ref)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			got, err := r.st.Get(ctx, c.key)
			if err != nil {
				t.Fatalf("Get(%s): %v", c.key, err)
			}
			if got.Status != c.status || got.Total.Amount != c.total {
				t.Fatalf("order = %s total %d reasons %q; want %s total %d", got.Status, got.Total.Amount, got.Reasons, c.status, c.total)
			}
			if c.reason != "" && !strings.Contains(strings.Join(got.Reasons, "\n"), c.reason) {
				t.Fatalf("reasons %q lack %q", got.Reasons, c.reason)
			}
			rep, err := r.st.Reply(ctx, c.key)
			switch {
			case c.status == domain.StatusIgnored && !errors.Is(err, store.ErrNotFound):
				t.Fatalf("ignored message got a reply: %v %v", rep, err)
			case c.replyTo != "" && (err != nil || rep.To[0] != c.replyTo || !rep.Pending()):
				t.Fatalf("reply = %+v, %v; want pending to %s", rep, err, c.replyTo)
			}
			o := <-r.outcomes
			if o.Order.Key != c.key || o.Duplicate {
				t.Fatalf("outcome = %+v", o)
			}
		})
	}
}

func TestNoMessageIDUsesDigest(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	raw := fixture(t, "no_message_id.eml")
	if err := r.h.Run(ctx, task(raw, ref)); err != nil {
		t.Fatal(err)
	}
	key := handler.MessageKey("", raw)
	if !strings.HasPrefix(string(key), "sha256:") {
		t.Fatalf("key %q, want a sha256 digest", key)
	}
	got, err := r.st.Get(ctx, key)
	if err != nil || got.Customer.Address != "carol@example.org" {
		t.Fatalf("Get(digest) = %+v, %v", got, err)
	}
	// The same message moved to another mailbox (another UID), with an
	// extra Received line: the same order.
	moved := append([]byte("Received: from mx2 by mx3; Mon, 2 Mar 2026 11:00:00 +0000\r\n"), raw...)
	if err := r.h.Run(ctx, task(moved, "imap://bot@127.0.0.1/Archive;UIDVALIDITY=9/;UID=3")); err != nil {
		t.Fatal(err)
	}
	<-r.outcomes
	if o := <-r.outcomes; !o.Duplicate {
		t.Fatalf("moved message created a second order: %+v", o)
	}
}

// TestLegacySourceRefKeyStillFound: an order stored by an older version
// under the IMAP URL is found after the upgrade; no second order.
func TestLegacySourceRefKeyStillFound(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	old := domain.Order{Key: ref, Status: domain.StatusAccepted, Customer: domain.Customer{Address: "carol@example.org"},
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := r.st.Save(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.h.Run(ctx, task(fixture(t, "no_message_id.eml"), ref)); err != nil {
		t.Fatal(err)
	}
	if o := <-r.outcomes; !o.Duplicate || o.Order.Key != ref {
		t.Fatalf("outcome %+v, want the legacy order as a duplicate", o)
	}
	list, _ := r.st.List(ctx, store.Filter{})
	if len(list) != 1 {
		t.Fatalf("%d orders, want 1", len(list))
	}
}

func TestEmptyPayloadIsRetried(t *testing.T) {
	r := newRig(t, nil)
	err := r.h.Run(context.Background(), task(nil, ref))
	if err == nil || contracts.IsPermanent(err) || !errors.Is(err, mailparse.ErrEmpty) {
		t.Fatalf("empty payload: err = %v, want a retryable ErrEmpty", err)
	}
}

func TestTooLargeIsReview(t *testing.T) {
	r := newRig(t, func(d *handler.Deps) { d.Parse = mailparse.Options{MaxBytes: 300}; d.AckReview = true })
	raw := fixture(t, "plain_all_forms.eml")
	if err := r.h.Run(context.Background(), task(raw, ref)); err != nil {
		t.Fatal(err)
	}
	got, err := r.st.Get(context.Background(), "plain-1@example.com")
	if err != nil || got.Status != domain.StatusReview || !strings.Contains(got.Reasons[0], "too large") {
		t.Fatalf("oversized message: %+v, %v", got, err)
	}
	rep, err := r.st.Reply(context.Background(), got.Key)
	if err != nil || !strings.Contains(string(rep.Raw), "Order received") || strings.Contains(string(rep.Raw), "confirmed") {
		t.Fatalf("acknowledgement = %s, %v", rep.Raw, err)
	}
}

func TestRedeliveryCreatesNothing(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	msg := fixture(t, "plain_all_forms.eml")
	for i := range 3 {
		if err := r.h.Run(ctx, task(msg, ref)); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
		o := <-r.outcomes
		if o.Duplicate != (i > 0) || o.Order.Status != domain.StatusAccepted {
			t.Fatalf("delivery %d outcome: duplicate %v status %s", i+1, o.Duplicate, o.Order.Status)
		}
	}
	list, _ := r.st.List(ctx, store.Filter{})
	pending, _ := r.st.PendingReplies(ctx, 0)
	if len(list) != 1 || len(pending) != 1 {
		t.Fatalf("after 3 deliveries: %d orders, %d replies; want 1, 1", len(list), len(pending))
	}
}

func TestConcurrentDeliveries(t *testing.T) {
	r := newRig(t, func(d *handler.Deps) { d.OnOutcome = nil })
	ctx := context.Background()
	files := []string{"plain_all_forms.eml", "bad_sku.eml", "no_order_lines.eml", "koi8r_qp.eml"}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.h.Run(ctx, task(fixture(t, files[i%len(files)]), "")); err != nil {
				t.Error(err)
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	list, err := r.st.List(ctx, store.Filter{})
	if err != nil || len(list) != len(files) {
		t.Fatalf("%d concurrent deliveries of %d messages stored %d orders (%v)", 32, len(files), len(list), err)
	}
}

type fakeSender struct {
	mu   sync.Mutex
	sent []domain.MessageKey
	fail bool
	// before, when set, runs at the start of every Send.
	before func()
}

func (f *fakeSender) Send(_ context.Context, r domain.Reply) error {
	if f.before != nil {
		f.before()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail {
		return errors.New("smtp down")
	}
	f.sent = append(f.sent, r.Key)
	return nil
}

func TestSendAndRetrySend(t *testing.T) {
	fs := &fakeSender{fail: true}
	r := newRig(t, func(d *handler.Deps) { d.Sender = fs })
	ctx := context.Background()
	msg := fixture(t, "bad_sku.eml")
	if err := r.h.Run(ctx, task(msg, "")); err != nil {
		t.Fatalf("a failed send must not fail the task: %v", err)
	}
	if o := <-r.outcomes; o.ReplySent {
		t.Fatal("ReplySent with a failing sender")
	}
	if p, _ := r.st.PendingReplies(ctx, 0); len(p) != 1 {
		t.Fatalf("reply must stay pending: %d", len(p))
	}
	fs.fail = false
	if err := r.h.Run(ctx, task(msg, "")); err != nil {
		t.Fatal(err)
	}
	if o := <-r.outcomes; !o.ReplySent || !o.Duplicate {
		t.Fatalf("redelivery must send the pending reply: %+v", o)
	}
	if p, _ := r.st.PendingReplies(ctx, 0); len(p) != 0 {
		t.Fatalf("reply still pending after send")
	}
	if err := r.h.Run(ctx, task(msg, "")); err != nil {
		t.Fatal(err)
	}
	<-r.outcomes
	if !slices.Equal(fs.sent, []domain.MessageKey{"badsku@example.com"}) {
		t.Fatalf("sent = %v; want exactly one reply", fs.sent)
	}
}

// A process killed during a send (simulated: the attempt recorded, never
// marked sent) leaves the reply unconfirmed; the redelivery of its mail
// finds the order and does not send the confirmation a second time, and
// neither does the outbox.
func TestCrashDuringSendNeverSendsTwice(t *testing.T) {
	fs := &fakeSender{fail: true}
	r := newRig(t, func(d *handler.Deps) { d.Sender = fs })
	ctx := context.Background()
	msg := fixture(t, "bad_sku.eml")
	if err := r.h.Run(ctx, task(msg, "")); err != nil {
		t.Fatal(err)
	}
	<-r.outcomes
	// The crash: the attempt is on record, the send's end is not.
	if err := r.st.MarkAttempt(ctx, "badsku@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	fs.fail = false
	if err := r.h.Run(ctx, task(msg, "")); err != nil {
		t.Fatal(err)
	}
	if o := <-r.outcomes; o.ReplySent || !o.Duplicate {
		t.Fatalf("redelivery after a crash during the send: %+v, want a duplicate with no reply sent", o)
	}
	if n, err := reply.Flush(ctx, r.st, fs, 10); err != nil || n != 0 {
		t.Fatalf("outbox flush sent %d (%v); want 0", n, err)
	}
	if len(fs.sent) != 0 {
		t.Fatalf("sent %v; an unconfirmed reply must not be sent again by itself", fs.sent)
	}
	if rep, err := r.st.Reply(ctx, "badsku@example.com"); err != nil || !rep.Unconfirmed() {
		t.Fatalf("reply %+v, %v; want unconfirmed", rep, err)
	}
}

func TestStoreFailureIsRetried(t *testing.T) {
	r := newRig(t, nil)
	r.st.Close()
	err := r.h.Run(context.Background(), task(fixture(t, "plain_all_forms.eml"), ""))
	if err == nil || contracts.IsPermanent(err) {
		t.Fatalf("closed store: err = %v, want a retryable error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := newRig(t, nil).h.Run(ctx, task(fixture(t, "plain_all_forms.eml"), "")); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled ctx: %v", err)
	}
}

func TestMaxLines(t *testing.T) {
	r := newRig(t, func(d *handler.Deps) { d.MaxLines = 3 })
	if err := r.h.Run(context.Background(), task(fixture(t, "plain_all_forms.eml"), "")); err != nil {
		t.Fatal(err)
	}
	o := <-r.outcomes
	if o.Order.Status != domain.StatusRejected || !strings.Contains(strings.Join(o.Order.Reasons, ";"), "too many order lines: 8 (at most 3)") {
		t.Fatalf("max lines: %s %q", o.Order.Status, o.Order.Reasons)
	}
}

func TestCurrencyMismatch(t *testing.T) {
	cat, err := catalog.ParseCSV(strings.NewReader("sku,name,unit_price,currency\nABC-123,a,100,EUR\nTEA-001,b,100,USD\n"))
	if err != nil {
		t.Fatal(err)
	}
	req := &mailparse.Request{Lines: []mailparse.Line{{SKU: "ABC-123", Qty: 1}, {SKU: "TEA-001", Qty: 1}}}
	o := handler.Evaluate(req, cat, handler.Policy{MaxLines: 50})
	if o.Status != domain.StatusRejected || !strings.Contains(o.Reasons[0], "currency mismatch") {
		t.Fatalf("mixed currencies: %s %q", o.Status, o.Reasons)
	}
}

func TestNewChecks(t *testing.T) {
	if _, err := handler.New(handler.Deps{}); err == nil {
		t.Fatal("New without store succeeded")
	}
	st, _ := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "o.db"), sqlitestore.Options{})
	defer st.Close()
	if _, err := handler.New(handler.Deps{Store: st, From: "not an address"}); err == nil {
		t.Fatal("New with a bad From succeeded")
	}
}

func BenchmarkRun(b *testing.B) {
	st, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "orders.db"), sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	h, _ := handler.New(handler.Deps{Store: st})
	msg := string(fixture(b, "plain_all_forms.eml"))
	i := 0
	for b.Loop() {
		i++
		m := strings.Replace(msg, "plain-1@example.com", fmt.Sprintf("bench-%d@example.com", i), 1)
		if err := h.Run(context.Background(), task([]byte(m), "")); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleNew() {
	dir, _ := os.MkdirTemp("", "handler-example")
	defer os.RemoveAll(dir)
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "orders.db"), sqlitestore.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h, err := handler.New(handler.Deps{
		Store: st,
		OnOutcome: func(o handler.Outcome) {
			fmt.Println(o.Order.Status, o.Order.Customer.Address, o.Order.Total, o.Duplicate)
		},
	})
	if err != nil {
		panic(err)
	}
	msg := "From: Alice <alice@example.com>\r\nMessage-ID: <7@example.com>\r\nSubject: order\r\n\r\nABC-123 x 2\r\n"
	task := contracts.Task{Kind: mailorderbot.TaskKind, Payload: []byte(msg)}
	_ = h.Run(context.Background(), task)
	_ = h.Run(context.Background(), task) // a redelivery creates nothing
	// Output:
	// accepted alice@example.com 25.00 EUR false
	// accepted alice@example.com 25.00 EUR true
}

// TestGenerated200 runs 200 generated e-mails through 8 concurrent workers
// twice (a restart that redelivers everything) and checks every message has
// exactly one stored outcome, the expected one.
func TestGenerated200(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "orders.db")
	rnd := rand.New(rand.NewPCG(5, 5))
	samples := make([]demodata.Sample, 200)
	for i := range samples {
		samples[i] = demodata.GenerateSample(i, rnd)
	}
	var created atomic.Int32
	for round := range 2 {
		st, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		h, _ := handler.New(handler.Deps{Store: st, Logger: slog.New(slog.DiscardHandler), OnOutcome: func(o handler.Outcome) {
			if !o.Duplicate {
				created.Add(1)
			}
		}})
		work := make(chan demodata.Sample)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for s := range work {
					if err := h.Run(ctx, task(s.Raw, "")); err != nil {
						t.Errorf("round %d %s: %v", round, s.Name, err)
					}
				}
			}()
		}
		for _, s := range samples {
			work <- s
		}
		close(work)
		wg.Wait()
		list, err := st.List(ctx, store.Filter{Limit: 1000})
		if err != nil || len(list) != 200 {
			t.Fatalf("round %d: %d orders stored (%v), want 200", round, len(list), err)
		}
		for _, s := range samples {
			o, err := st.Get(ctx, domain.MessageKey(s.MessageID))
			if err != nil || o.Status != s.Want {
				t.Fatalf("round %d %s: %s %v, want %s", round, s.Name, o.Status, err, s.Want)
			}
		}
		st.Close()
	}
	if created.Load() != 200 {
		t.Fatalf("%d orders created over two rounds, want 200", created.Load())
	}
}

// meetingStore makes the first two MarkAttempt calls meet before either
// runs, so two senders of one reply race for real.
type meetingStore struct {
	store.OrderStore
	mu      sync.Mutex
	n       int
	arrived chan struct{} // closed when the second caller arrived
}

func (m *meetingStore) MarkAttempt(ctx context.Context, key domain.MessageKey, at time.Time) error {
	m.mu.Lock()
	m.n++
	if m.n == 2 {
		close(m.arrived)
	}
	m.mu.Unlock()
	select {
	case <-m.arrived:
	case <-time.After(5 * time.Second): // bounded, in case no second sender comes
	}
	return m.OrderStore.MarkAttempt(ctx, key, at)
}

// Two runs of one message at once (two cycles published it): the one that
// stored the order and the duplicate both find the reply sendable and both
// try to send; the attempt is a claim, so exactly one reply goes out.
func TestTwoRunsSendOneReply(t *testing.T) {
	fs := &fakeSender{}
	// A send waits (up to 500 ms) for a second one, so that a second sender
	// that got past its attempt would send before the first marks it sent.
	var mu sync.Mutex
	calls, both := 0, make(chan struct{})
	fs.before = func() {
		mu.Lock()
		if calls++; calls == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
		case <-time.After(500 * time.Millisecond):
		}
	}
	var ms *meetingStore
	r := newRig(t, func(d *handler.Deps) {
		d.Sender = fs
		ms = &meetingStore{OrderStore: d.Store, arrived: make(chan struct{})}
		d.Store = ms
	})
	ctx := context.Background()
	msg := fixture(t, "bad_sku.eml")
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := r.h.Run(ctx, task(msg, "")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	sent := 0
	for range 2 {
		if (<-r.outcomes).ReplySent {
			sent++
		}
	}
	if len(fs.sent) != 1 || sent != 1 {
		t.Fatalf("sent %v (ReplySent %d times); want exactly one reply", fs.sent, sent)
	}
}
