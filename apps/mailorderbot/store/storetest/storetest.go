// Package storetest is the contract suite every [store.OrderStore] passes.
// A backend's test calls [Run] with a constructor returning a fresh, empty
// store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
)

// NewStore returns a fresh, empty store; the suite closes it.
type NewStore func(t *testing.T) store.OrderStore

var base = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// Order builds a sample order for key; i orders creation times.
func Order(key string, status domain.Status, i int) domain.Order {
	o := domain.Order{
		Key: domain.MessageKey(key), Status: status, MessageID: key, Subject: "Order " + key,
		Customer:   domain.Customer{Name: "Алиса Buyer", Address: "alice@example.com"},
		ReplyTo:    []string{"buy@example.com"},
		ReceivedAt: base.Add(-time.Hour),
		CreatedAt:  base.Add(time.Duration(i) * time.Second),
	}
	switch status {
	case domain.StatusAccepted:
		o.Lines = []domain.Line{{SKU: "ABC-123", Name: "Blue widget", Qty: 2,
			UnitPrice: domain.Money{Amount: 1250, Currency: "EUR"}, Total: domain.Money{Amount: 2500, Currency: "EUR"}}}
		o.Total = domain.Money{Amount: 2500, Currency: "EUR"}
		o.ShipTo = []string{"Alice", "1 Main St"}
		o.Note = "ring twice"
	case domain.StatusRejected:
		o.Lines = []domain.Line{{SKU: "ZZZ-999", Qty: 1}}
		o.Reasons = []string{`unknown SKU "ZZZ-999"`}
	case domain.StatusIgnored:
		o.Reasons = []string{"no order lines"}
	case domain.StatusReview:
		o.Lines = []domain.Line{{SKU: "ABC-123", Qty: 2}}
		o.Candidates = []string{"TEA-001 - maybe three?"}
		o.Reasons = []string{"line not understood: “TEA-001 - maybe three?”"}
	}
	return o
}

// Reply builds a sample reply for o.
func Reply(o domain.Order) *domain.Reply {
	return &domain.Reply{Key: o.Key, From: "orders@shop.example", To: []string{"buy@example.com"},
		Raw: []byte("Subject: Re: " + o.Subject + "\r\n\r\nThanks\r\n"), CreatedAt: o.CreatedAt}
}

// Run runs the contract suite.
func Run(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	open := func(t *testing.T) store.OrderStore {
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}

	t.Run("SaveGetRoundTrip", func(t *testing.T) {
		s := open(t)
		o := Order("rt-1@example.com", domain.StatusAccepted, 1)
		created, err := s.Save(ctx, o, Reply(o))
		if err != nil || !created {
			t.Fatalf("Save = %v, %v; want true, nil", created, err)
		}
		got, err := s.Get(ctx, o.Key)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if !equalOrder(got, o) {
			t.Fatalf("Get = %+v\nwant  %+v", got, o)
		}
		r, err := s.Reply(ctx, o.Key)
		if err != nil {
			t.Fatalf("Reply: %v", err)
		}
		if want := Reply(o); string(r.Raw) != string(want.Raw) || !reflect.DeepEqual(r.To, want.To) || r.From != want.From || !r.Pending() {
			t.Fatalf("Reply = %+v, want %+v (pending)", r, want)
		}
	})

	t.Run("SecondSaveCreatesNothing", func(t *testing.T) {
		s := open(t)
		o := Order("dup@example.com", domain.StatusRejected, 1)
		if created, err := s.Save(ctx, o, Reply(o)); err != nil || !created {
			t.Fatalf("first Save = %v, %v", created, err)
		}
		o2 := Order("dup@example.com", domain.StatusAccepted, 2)
		created, err := s.Save(ctx, o2, nil)
		if err != nil || created {
			t.Fatalf("second Save = %v, %v; want false, nil", created, err)
		}
		got, _ := s.Get(ctx, o.Key)
		if got.Status != domain.StatusRejected {
			t.Fatalf("second Save overwrote the order: status %s", got.Status)
		}
		if _, err := s.Reply(ctx, o.Key); err != nil {
			t.Fatalf("the first reply must survive: %v", err)
		}
	})

	t.Run("ConcurrentSameKeyCreatesOnce", func(t *testing.T) {
		s := open(t)
		const n = 16
		var created atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				o := Order("race@example.com", domain.StatusAccepted, i)
				ok, err := s.Save(ctx, o, Reply(o))
				if err != nil {
					errs <- err
					return
				}
				if ok {
					created.Add(1)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Save: %v", err)
		}
		if got := created.Load(); got != 1 {
			t.Fatalf("%d goroutines saved the same key: %d created, want exactly 1", n, got)
		}
		list, err := s.List(ctx, store.Filter{})
		if err != nil || len(list) != 1 {
			t.Fatalf("List = %d orders, %v; want 1", len(list), err)
		}
		pending, err := s.PendingReplies(ctx, 0)
		if err != nil || len(pending) != 1 {
			t.Fatalf("PendingReplies = %d, %v; want 1", len(pending), err)
		}
	})

	t.Run("ConcurrentDistinctKeys", func(t *testing.T) {
		s := open(t)
		const n = 32
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o := Order(fmt.Sprintf("many-%02d@example.com", i), domain.StatusAccepted, i)
				if ok, err := s.Save(ctx, o, Reply(o)); err != nil || !ok {
					t.Errorf("Save %d = %v, %v", i, ok, err)
				}
			}()
		}
		wg.Wait()
		list, err := s.List(ctx, store.Filter{Limit: 1000})
		if err != nil || len(list) != n {
			t.Fatalf("List = %d, %v; want %d", len(list), err, n)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get unknown: %v, want ErrNotFound", err)
		}
		if _, err := s.Reply(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Reply unknown: %v, want ErrNotFound", err)
		}
		if err := s.MarkSent(ctx, "nope", base); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkSent unknown: %v, want ErrNotFound", err)
		}
		o := Order("ignored@example.com", domain.StatusIgnored, 1)
		if _, err := s.Save(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Reply(ctx, o.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Reply of an order saved without one: %v, want ErrNotFound", err)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s := open(t)
		if _, err := s.Save(ctx, domain.Order{Status: domain.StatusAccepted}, nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("empty key: %v", err)
		}
		if _, err := s.Save(ctx, domain.Order{Key: "k", Status: "maybe"}, nil); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("bad status: %v", err)
		}
		o := Order("k", domain.StatusAccepted, 0)
		r := Reply(o)
		r.Key = "other"
		if _, err := s.Save(ctx, o, r); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("reply key mismatch: %v", err)
		}
	})

	t.Run("ListFilterOrderLimit", func(t *testing.T) {
		s := open(t)
		statuses := []domain.Status{domain.StatusAccepted, domain.StatusRejected, domain.StatusIgnored}
		for i := range 9 {
			o := Order(fmt.Sprintf("list-%d", i), statuses[i%3], i)
			if _, err := s.Save(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
		}
		all, err := s.List(ctx, store.Filter{})
		if err != nil || len(all) != 9 {
			t.Fatalf("List all = %d, %v", len(all), err)
		}
		for i, o := range all {
			if want := domain.MessageKey(fmt.Sprintf("list-%d", 8-i)); o.Key != want {
				t.Fatalf("List[%d] = %s, want %s (newest first)", i, o.Key, want)
			}
		}
		acc, err := s.List(ctx, store.Filter{Status: domain.StatusAccepted, Limit: 2})
		if err != nil || len(acc) != 2 || acc[0].Key != "list-6" || acc[1].Key != "list-3" {
			t.Fatalf("List accepted limit 2 = %v, %v; want list-6, list-3", keys(acc), err)
		}
		rej, err := s.List(ctx, store.Filter{Status: domain.StatusRejected})
		if err != nil || len(rej) != 3 {
			t.Fatalf("List rejected = %v, %v", keys(rej), err)
		}
		for _, o := range rej {
			if o.Status != domain.StatusRejected {
				t.Fatalf("filter leaked %s", o.Status)
			}
		}
		few, err := s.List(ctx, store.Filter{Limit: 4})
		if err != nil || len(few) != 4 || few[0].Key != "list-8" {
			t.Fatalf("List limit 4 = %v, %v", keys(few), err)
		}
		if n, err := s.Count(ctx, store.Filter{Limit: 2}); err != nil || n != 9 {
			t.Fatalf("Count all = %d, %v; want 9 (Limit ignored)", n, err)
		}
		if n, err := s.Count(ctx, store.Filter{Status: domain.StatusRejected}); err != nil || n != 3 {
			t.Fatalf("Count rejected = %d, %v; want 3", n, err)
		}
	})

	// A send attempt takes a reply out of the outbox (a crash during the
	// send must not send it again); a failed send's ClearAttempt puts it
	// back; a sent reply cannot be attempted.
	t.Run("SendAttempts", func(t *testing.T) {
		s := open(t)
		for i := range 2 {
			o := Order(fmt.Sprintf("try-%d", i), domain.StatusAccepted, i)
			if _, err := s.Save(ctx, o, Reply(o)); err != nil {
				t.Fatal(err)
			}
		}
		at := base.Add(time.Minute)
		if err := s.MarkAttempt(ctx, "try-0", at); err != nil {
			t.Fatal(err)
		}
		r, err := s.Reply(ctx, "try-0")
		if err != nil || !r.Unconfirmed() || r.Sendable() || !r.AttemptedAt.Equal(at) {
			t.Fatalf("after MarkAttempt: %+v, %v; want unconfirmed, attempted at %v", r, err, at)
		}
		if p, err := s.PendingReplies(ctx, 0); err != nil || len(p) != 1 || p[0].Key != "try-1" {
			t.Fatalf("PendingReplies = %v, %v; want only try-1 (try-0 is unconfirmed)", replyKeys(p), err)
		}
		// MarkAttempt is a claim: a second sender gets ErrAttempted.
		if err := s.MarkAttempt(ctx, "try-0", at); !errors.Is(err, store.ErrAttempted) {
			t.Fatalf("second MarkAttempt: %v, want ErrAttempted", err)
		}
		if u, err := s.UnconfirmedReplies(ctx, 0); err != nil || len(u) != 1 || u[0].Key != "try-0" || !u[0].Unconfirmed() {
			t.Fatalf("UnconfirmedReplies = %v, %v; want try-0", replyKeys(u), err)
		}
		if err := s.ClearAttempt(ctx, "try-0"); err != nil {
			t.Fatal(err)
		}
		if u, err := s.UnconfirmedReplies(ctx, 0); err != nil || len(u) != 0 {
			t.Fatalf("UnconfirmedReplies after ClearAttempt = %v, %v; want none", replyKeys(u), err)
		}
		if r, err := s.Reply(ctx, "try-0"); err != nil || !r.Sendable() {
			t.Fatalf("after ClearAttempt: %+v, %v; want sendable", r, err)
		}
		if p, err := s.PendingReplies(ctx, 0); err != nil || len(p) != 2 {
			t.Fatalf("PendingReplies after ClearAttempt = %v, %v; want both", replyKeys(p), err)
		}
		// The normal send: attempt, then sent — neither pending nor
		// unconfirmed afterwards.
		if err := s.MarkAttempt(ctx, "try-1", at); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, "try-1", at); err != nil {
			t.Fatal(err)
		}
		if u, err := s.UnconfirmedReplies(ctx, 0); err != nil || len(u) != 0 {
			t.Fatalf("UnconfirmedReplies after a confirmed send = %v, %v; want none", replyKeys(u), err)
		}
		if err := s.MarkAttempt(ctx, "try-1", at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkAttempt of a sent reply: %v, want ErrNotFound", err)
		}
		if err := s.MarkAttempt(ctx, "nosuch", at); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("MarkAttempt of no reply: %v, want ErrNotFound", err)
		}
	})

	t.Run("Outbox", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			o := Order(fmt.Sprintf("out-%d", i), domain.StatusAccepted, i)
			if _, err := s.Save(ctx, o, Reply(o)); err != nil {
				t.Fatal(err)
			}
		}
		pending, err := s.PendingReplies(ctx, 0)
		if err != nil || len(pending) != 5 || pending[0].Key != "out-0" {
			t.Fatalf("PendingReplies = %v, %v; want 5 oldest first", replyKeys(pending), err)
		}
		sentAt := base.Add(time.Hour)
		if err := s.MarkSent(ctx, "out-1", sentAt); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkSent(ctx, "out-1", sentAt.Add(time.Hour)); err != nil {
			t.Fatalf("MarkSent twice: %v", err)
		}
		r, err := s.Reply(ctx, "out-1")
		if err != nil || r.Pending() || !r.SentAt.Equal(sentAt) {
			t.Fatalf("Reply after MarkSent = %+v, %v; want sent at %v", r, err, sentAt)
		}
		pending, err = s.PendingReplies(ctx, 2)
		if err != nil || len(pending) != 2 || pending[0].Key != "out-0" || pending[1].Key != "out-2" {
			t.Fatalf("PendingReplies(2) = %v, %v; want out-0, out-2", replyKeys(pending), err)
		}
	})

	t.Run("ReviewResolve", func(t *testing.T) {
		s := open(t)
		o := Order("rev@example.com", domain.StatusReview, 1)
		ack := Reply(o)
		if ok, err := s.Save(ctx, o, ack); err != nil || !ok {
			t.Fatalf("Save review = %v, %v", ok, err)
		}
		if err := s.MarkSent(ctx, o.Key, base); err != nil {
			t.Fatal(err)
		}
		got, err := s.List(ctx, store.Filter{Status: domain.StatusReview})
		if err != nil || len(got) != 1 || !equalOrder(got[0], o) {
			t.Fatalf("List review = %+v, %v", got, err)
		}
		// A redelivery changes nothing: review is final for the message.
		if ok, err := s.Save(ctx, Order("rev@example.com", domain.StatusAccepted, 2), nil); err != nil || ok {
			t.Fatalf("Save over a review = %v, %v; want false", ok, err)
		}
		res := o
		res.Status = domain.StatusAccepted
		res.Lines = []domain.Line{{SKU: "ABC-123", Name: "Blue widget", Qty: 2, UnitPrice: domain.Money{Amount: 1250, Currency: "EUR"},
			Total: domain.Money{Amount: 2500, Currency: "EUR"}}}
		res.Total = domain.Money{Amount: 2500, Currency: "EUR"}
		res.Resolution = &domain.Resolution{From: domain.StatusReview, Reason: "checked by phone", At: base.Add(time.Hour)}
		conf := &domain.Reply{Key: o.Key, From: "orders@shop.example", To: []string{"buy@example.com"},
			Raw: []byte("Subject: Order confirmed\r\n\r\nok\r\n"), CreatedAt: base.Add(time.Hour)}
		if err := s.Resolve(ctx, res, conf); err != nil {
			t.Fatalf("Resolve: %v", err)
		}
		after, err := s.Get(ctx, o.Key)
		if err != nil || !equalOrder(after, res) {
			t.Fatalf("Get after Resolve = %+v, %v\nwant %+v", after, err, res)
		}
		r, err := s.Reply(ctx, o.Key)
		if err != nil || string(r.Raw) != string(conf.Raw) || !r.Pending() {
			t.Fatalf("reply after Resolve = %+v, %v; want the pending confirmation", r, err)
		}
		if acc, _ := s.List(ctx, store.Filter{Status: domain.StatusAccepted}); len(acc) != 1 {
			t.Fatalf("List accepted after Resolve = %d", len(acc))
		}
		if err := s.Resolve(ctx, res, nil); !errors.Is(err, store.ErrNotReview) {
			t.Fatalf("second Resolve = %v, want ErrNotReview", err)
		}
		if err := s.Resolve(ctx, Order("none", domain.StatusAccepted, 1), nil); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Resolve unknown = %v, want ErrNotFound", err)
		}
	})

	t.Run("RawRetention", func(t *testing.T) {
		s := open(t)
		old := Order("raw-old", domain.StatusReview, 1)
		young := Order("raw-young", domain.StatusReview, 2)
		for _, o := range []domain.Order{old, young} {
			if _, err := s.Save(ctx, o, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.PutRaw(ctx, old.Key, []byte("old raw"), base); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRaw(ctx, young.Key, []byte("young raw"), base.Add(48*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutRaw(ctx, young.Key, []byte("again"), base.Add(49*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if b, err := s.Raw(ctx, young.Key); err != nil || string(b) != "young raw" {
			t.Fatalf("Raw = %q, %v; want the first", b, err)
		}
		n, err := s.PurgeRaw(ctx, base.Add(24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("PurgeRaw = %d, %v; want 1", n, err)
		}
		if _, err := s.Raw(ctx, old.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("purged raw still there: %v", err)
		}
		if _, err := s.Raw(ctx, young.Key); err != nil {
			t.Fatalf("young raw purged: %v", err)
		}
		if _, err := s.Get(ctx, old.Key); err != nil {
			t.Fatalf("purging the raw message lost the order: %v", err)
		}
	})

	t.Run("CanceledContext", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		o := Order("canceled", domain.StatusAccepted, 0)
		if _, err := s.Save(cctx, o, nil); err == nil {
			t.Fatal("Save with a canceled context succeeded")
		}
		if _, err := s.Get(ctx, "canceled"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("canceled Save left an order behind: %v", err)
		}
	})
}

func keys(os []domain.Order) []domain.MessageKey {
	var k []domain.MessageKey
	for _, o := range os {
		k = append(k, o.Key)
	}
	return k
}

func replyKeys(rs []domain.Reply) []domain.MessageKey {
	var k []domain.MessageKey
	for _, r := range rs {
		k = append(k, r.Key)
	}
	return k
}

// equalOrder compares orders, times by instant.
func equalOrder(a, b domain.Order) bool {
	if !a.CreatedAt.Equal(b.CreatedAt) || !a.ReceivedAt.Equal(b.ReceivedAt) {
		return false
	}
	a.CreatedAt, b.CreatedAt, a.ReceivedAt, b.ReceivedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}
