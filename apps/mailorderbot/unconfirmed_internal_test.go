package mailorderbot

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/pkg/contracts"
)

// The outbox health is degraded with the count while a reply is
// unconfirmed, and the actions list and resend it.
func TestOutboxHealthAndActions(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "o.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	o := domain.Order{Key: "k@example.com", Status: domain.StatusAccepted, CreatedAt: time.Now()}
	r := &domain.Reply{Key: o.Key, From: "s@example.com", To: []string{"a@example.com"}, Raw: []byte("x"), CreatedAt: time.Now()}
	if _, err := st.Save(ctx, o, r); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	h := newOutboxHealth(st)
	h.now = func() time.Time { return now }
	if got := h.Health(ctx); got.State != contracts.HealthUp || got.Details["unconfirmed_replies"] != "0" {
		t.Fatalf("no unconfirmed: %+v", got)
	}
	if err := st.MarkAttempt(ctx, o.Key, now); err != nil {
		t.Fatal(err)
	}
	if got := h.Health(ctx); got.State != contracts.HealthUp {
		t.Fatalf("within the TTL the cached answer stands: %+v", got)
	}
	now = now.Add(outboxHealthTTL)
	if got := h.Health(ctx); got.State != contracts.HealthDegraded || got.Details["unconfirmed_replies"] != "1" {
		t.Fatalf("one unconfirmed: %+v", got)
	}

	m := &Module{store: st}
	acts := map[string]contracts.ActionSpec{}
	for _, a := range m.Actions() {
		acts[a.Name] = a
	}
	res, err := acts["orders.unconfirmed"].Handle(ctx, json.RawMessage(`{}`))
	if err != nil || len(res.(UnconfirmedResult).Replies) != 1 || acts["orders.unconfirmed"].Mutating {
		t.Fatalf("orders.unconfirmed = %+v, %v", res, err)
	}
	if !acts["orders.resend"].Mutating {
		t.Fatal("orders.resend must be mutating (token, audit)")
	}
	if _, err := acts["orders.resend"].Handle(ctx, json.RawMessage(`{}`)); !errors.Is(err, contracts.ErrInvalidParams) {
		t.Fatalf("resend without key: %v", err)
	}
	if _, err := acts["orders.resend"].Handle(ctx, json.RawMessage(`{"key":"nosuch"}`)); !errors.Is(err, contracts.ErrNoSuchItem) {
		t.Fatalf("resend of no reply: %v", err)
	}
	if _, err := acts["orders.resend"].Handle(ctx, json.RawMessage(`{"key":"k@example.com"}`)); err != nil {
		t.Fatalf("resend: %v", err)
	}
	if _, err := acts["orders.resend"].Handle(ctx, json.RawMessage(`{"key":"k@example.com"}`)); !errors.Is(err, contracts.ErrInvalidParams) {
		t.Fatalf("second resend: %v", err)
	}
	now = now.Add(outboxHealthTTL)
	if got := h.Health(ctx); got.State != contracts.HealthUp {
		t.Fatalf("after resend: %+v", got)
	}
}
