package handler_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/apps/mailorderbot/store"
)

const reviewMail = "From: Alice Buyer <alice@example.com>\r\nTo: orders@shop.example\r\nSubject: Order\r\n" +
	"Message-ID: <rev-1@example.com>\r\n\r\nABC-123 x 2\r\nTEA-001 - maybe three?\r\n"

func TestReviewThenAccept(t *testing.T) {
	fs := &fakeSender{}
	r := newRig(t, func(d *handler.Deps) { d.Sender = fs; d.KeepRaw = true })
	ctx := context.Background()
	if err := r.h.Run(ctx, task([]byte(reviewMail), ref)); err != nil {
		t.Fatal(err)
	}
	o := <-r.outcomes
	if o.Order.Status != domain.StatusReview || len(o.Order.Candidates) != 1 || o.ReplySent {
		t.Fatalf("outcome %+v: want review with one candidate and no reply (ack_review off)", o)
	}
	if raw, err := r.st.Raw(ctx, o.Order.Key); err != nil || string(raw) != reviewMail {
		t.Fatalf("raw kept for review: %q, %v", raw, err)
	}
	if len(fs.sent) != 0 {
		t.Fatalf("a review sent %v", fs.sent)
	}
	got, err := r.h.Resolve(ctx, o.Order.Key, handler.Decision{Accept: true,
		Lines: []domain.Line{{SKU: "ABC-123", Qty: 2}, {SKU: "TEA-001", Qty: 3}}, Reason: "confirmed by phone"})
	if err != nil {
		t.Fatalf("Resolve: %v", err)
	}
	if got.Status != domain.StatusAccepted || got.Total.Amount != 2*1250+3*450 || got.Resolution == nil {
		t.Fatalf("resolved order %+v", got)
	}
	stored, _ := r.st.Get(ctx, o.Order.Key)
	if stored.Status != domain.StatusAccepted || stored.Total != got.Total {
		t.Fatalf("stored %+v", stored)
	}
	rep, err := r.st.Reply(ctx, o.Order.Key)
	if err != nil || rep.Pending() || !strings.Contains(string(rep.Raw), "Order confirmed") || len(fs.sent) != 1 {
		t.Fatalf("confirmation: %+v %v, sent %v", rep, err, fs.sent)
	}
	if _, err := r.h.Resolve(ctx, o.Order.Key, handler.Decision{Accept: true}); !errors.Is(err, store.ErrNotReview) {
		t.Fatalf("second Resolve: %v, want ErrNotReview", err)
	}
}

func TestReviewThenReject(t *testing.T) {
	r := newRig(t, func(d *handler.Deps) { d.AckReview = true })
	ctx := context.Background()
	if err := r.h.Run(ctx, task([]byte(reviewMail), ref)); err != nil {
		t.Fatal(err)
	}
	key := (<-r.outcomes).Order.Key
	ack, err := r.st.Reply(ctx, key)
	if err != nil || !strings.Contains(string(ack.Raw), "Order received") || strings.Contains(string(ack.Raw), "confirmed") {
		t.Fatalf("acknowledgement %s, %v", ack.Raw, err)
	}
	if _, err := r.h.Resolve(ctx, key, handler.Decision{}); !errors.Is(err, handler.ErrInvalidDecision) {
		t.Fatalf("reject without reason: %v", err)
	}
	if _, err := r.h.Resolve(ctx, key, handler.Decision{Accept: true, Lines: []domain.Line{{SKU: "ZZZ-999", Qty: 1}}}); !errors.Is(err, handler.ErrInvalidDecision) {
		t.Fatalf("accept unknown SKU: %v", err)
	}
	got, err := r.h.Resolve(ctx, key, handler.Decision{Reason: "TEA-001 is out of stock"})
	if err != nil || got.Status != domain.StatusRejected {
		t.Fatalf("Resolve reject: %+v, %v", got, err)
	}
	rep, _ := r.st.Reply(ctx, key)
	if !rep.Pending() || !strings.Contains(string(rep.Raw), "out of stock") || rep.Raw == nil || string(rep.Raw) == string(ack.Raw) {
		t.Fatalf("rejection reply: %s", rep.Raw)
	}
	if _, err := r.h.Resolve(ctx, "nope@example.com", handler.Decision{Reason: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown key: %v", err)
	}
}
