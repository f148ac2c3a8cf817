package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
)

// ErrInvalidDecision: a review decision that cannot be carried out (no
// lines to accept, an unknown SKU, no reason for a rejection).
var ErrInvalidDecision = errors.New("handler: invalid review decision")

// Decision is a person's resolution of an order in review.
type Decision struct {
	// Accept turns the review into an accepted order; false rejects it.
	Accept bool
	// Lines are the lines the person confirmed (SKU and quantity; names
	// and prices come from the catalog). Nil keeps the lines read from the
	// mail. Accepting needs at least one line.
	Lines []domain.Line
	// Reason is stored with the resolution; on rejection it is what the
	// customer is told, and required.
	Reason string
}

// Resolve turns the order in review under key into an accepted or rejected
// order with the lines a person confirmed, stores it with its confirmation
// or rejection, and only then sends that reply (when a sender is
// configured; otherwise it stays in the outbox). It returns the resolved
// order; store.ErrNotReview (wrapped) when the order is not in review,
// store.ErrNotFound when there is none, ErrInvalidDecision for a decision it
// cannot carry out. The control plane and `plba orders review` call it.
func (h *Handler) Resolve(ctx context.Context, key domain.MessageKey, d Decision) (domain.Order, error) {
	o, err := h.d.Store.Get(ctx, key)
	if err != nil {
		return domain.Order{}, fmt.Errorf("handler: resolve %s: %w", key, err)
	}
	if o.Status != domain.StatusReview {
		return domain.Order{}, fmt.Errorf("handler: resolve %s: status %s: %w", key, o.Status, store.ErrNotReview)
	}
	now := h.d.Now().UTC()
	o.Resolution = &domain.Resolution{From: domain.StatusReview, Reason: strings.TrimSpace(d.Reason), At: now}
	if d.Accept {
		lines := d.Lines
		if lines == nil {
			lines = o.Lines
		}
		if len(lines) == 0 {
			return domain.Order{}, fmt.Errorf("%w: %s: no lines to accept", ErrInvalidDecision, key)
		}
		if len(lines) > h.d.MaxLines {
			return domain.Order{}, fmt.Errorf("%w: %s: %d lines, at most %d", ErrInvalidDecision, key, len(lines), h.d.MaxLines)
		}
		var total domain.Money
		priced := make([]domain.Line, 0, len(lines))
		for _, l := range lines {
			item, ok := h.d.Catalog.Lookup(l.SKU)
			if !ok {
				return domain.Order{}, fmt.Errorf("%w: %s: unknown SKU %s", ErrInvalidDecision, key, l.SKU)
			}
			if l.Qty < 1 {
				return domain.Order{}, fmt.Errorf("%w: %s: quantity %d for %s", ErrInvalidDecision, key, l.Qty, l.SKU)
			}
			lt, err := item.UnitPrice.Times(l.Qty)
			if err == nil {
				total, err = total.Add(lt)
			}
			if err != nil {
				return domain.Order{}, fmt.Errorf("%w: %s: %s: %v", ErrInvalidDecision, key, l.SKU, err)
			}
			priced = append(priced, domain.Line{SKU: item.SKU, Name: item.Name, Qty: l.Qty, UnitPrice: item.UnitPrice, Total: lt})
		}
		o.Status, o.Lines, o.Total, o.Reasons = domain.StatusAccepted, priced, total, nil
	} else {
		if o.Resolution.Reason == "" {
			return domain.Order{}, fmt.Errorf("%w: %s: a rejection needs a reason for the customer", ErrInvalidDecision, key)
		}
		o.Status, o.Reasons, o.Total = domain.StatusRejected, []string{o.Resolution.Reason}, domain.Money{}
	}
	rep, err := reply.Compose(o, h.d.From, now)
	if err != nil {
		return domain.Order{}, fmt.Errorf("handler: resolve %s: compose reply: %w", key, err)
	}
	if err := h.d.Store.Resolve(ctx, o, rep); err != nil {
		return domain.Order{}, fmt.Errorf("handler: resolve %s: %w", key, err)
	}
	if h.d.Sender != nil && rep != nil {
		h.send(ctx, *rep)
	}
	return o, nil
}
