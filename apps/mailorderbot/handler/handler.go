// Package handler is the mail order bot's routine: one task in, one stored
// outcome out.
//
// # What a run does
//
// The task payload is the raw RFC 5322 message. The routine derives the
// message key (the Message-ID, else the IMAP URL in the task's
// [contracts.AttrSourceRef]), parses the e-mail, prices it against the
// catalog, composes the reply and saves order and reply in one idempotent
// write. When SMTP is configured it then sends the reply and marks it sent.
//
// # Results for the runtime
//
//   - nil for every final outcome — accepted, rejected, ignored — and for a
//     redelivery of a message already stored (nothing new is created).
//   - an ordinary error (retry with backoff) when the store fails.
//   - [contracts.Permanent] when the message can never be processed: it has
//     no Message-ID and the task no source reference, so there is no key to
//     store it under.
//
// An unreadable or oversized message is stored as ignored, with the reason,
// so it is marked read and visible in `plba orders list`. A failed SMTP
// delivery never fails the task: the reply stays pending in the outbox for
// [reply.Flush].
package handler

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/plba/plba/apps/mailorderbot/catalog"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/mailparse"
	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
)

// DefaultMaxLines is Deps.MaxLines when unset.
const DefaultMaxLines = 50

// DefaultFrom is Deps.From when unset.
const DefaultFrom = "Mail Order Bot <orders@localhost>"

// ErrNoKey: the message has no Message-ID and the task no source reference.
var ErrNoKey = errors.New("handler: no message key (no Message-ID and no source reference)")

// Outcome is what OnOutcome hears after each run that stored or found an
// order.
type Outcome struct {
	Order domain.Order
	// Duplicate is true when the order already existed (a redelivery);
	// Order is then the stored one.
	Duplicate bool
	// ReplySent is true when a reply went out over SMTP during this run.
	ReplySent bool
}

// Deps are the handler's collaborators and settings.
type Deps struct {
	// Store is required.
	Store store.OrderStore
	// Catalog prices lines; nil means the embedded demo catalog.
	Catalog *catalog.Catalog
	// Sender sends replies; nil keeps them in the outbox.
	Sender reply.Sender
	// From is the replies' From address; default DefaultFrom.
	From string
	// MaxLines is the most order lines an e-mail may have; default 50.
	MaxLines int
	// Parse bounds the parser.
	Parse mailparse.Options
	// OnOutcome, if set, is called after every successful run, from the
	// worker's goroutine: keep it quick.
	OnOutcome func(Outcome)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger; default slog.Default().
	Logger *slog.Logger
}

// Handler is the routine. It is safe for concurrent use.
type Handler struct {
	d Deps
}

var _ contracts.Routine = (*Handler)(nil)

// New checks d and returns the routine.
func New(d Deps) (*Handler, error) {
	if d.Store == nil {
		return nil, errors.New("handler: a store is required")
	}
	if d.Catalog == nil {
		d.Catalog = catalog.Demo()
	}
	if d.From == "" {
		d.From = DefaultFrom
	}
	if _, err := mail.ParseAddress(d.From); err != nil {
		return nil, fmt.Errorf("handler: reply from address %q: %w", d.From, err)
	}
	if d.MaxLines <= 0 {
		d.MaxLines = DefaultMaxLines
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	return &Handler{d: d}, nil
}

// Run implements [contracts.Routine].
func (h *Handler) Run(ctx context.Context, task contracts.Task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref := task.Attr(contracts.AttrSourceRef)
	now := h.d.Now().UTC()
	req, perr := mailparse.Parse(bytes.NewReader(task.Payload), h.d.Parse)
	var order domain.Order
	if perr != nil {
		if !errors.Is(perr, mailparse.ErrMalformed) && !errors.Is(perr, mailparse.ErrTooLarge) {
			return contracts.Permanent(fmt.Errorf("handler: task %s: %w", task.ID, perr))
		}
		// The header could not be read, so there is no Message-ID; the
		// source reference still identifies the message.
		if ref == "" {
			return contracts.Permanent(fmt.Errorf("handler: task %s: %w: %w", task.ID, ErrNoKey, perr))
		}
		order = domain.Order{Key: domain.MessageKey(ref), Status: domain.StatusIgnored, Reasons: []string{perr.Error()}}
	} else {
		key := MessageKey(req.MessageID, ref)
		if key == "" {
			return contracts.Permanent(fmt.Errorf("handler: task %s: %w", task.ID, ErrNoKey))
		}
		order = Evaluate(req, h.d.Catalog, h.d.MaxLines)
		order.Key = key
	}
	order.CreatedAt = now
	rep, err := reply.Compose(order, h.d.From, now)
	if err != nil {
		// The From address was checked in New; anything else is a bug in
		// composing, which must not cost the order.
		h.d.Logger.ErrorContext(ctx, "compose reply", "key", order.Key, "err", err)
		rep = nil
	}
	created, err := h.d.Store.Save(ctx, order, rep)
	if err != nil {
		return fmt.Errorf("handler: save %s: %w", order.Key, err)
	}
	out := Outcome{Order: order, Duplicate: !created}
	if !created {
		if out.Order, err = h.d.Store.Get(ctx, order.Key); err != nil {
			return fmt.Errorf("handler: load existing %s: %w", order.Key, err)
		}
		rep = nil
		if h.d.Sender != nil {
			// A previous delivery may have stored the reply and then
			// failed to send it.
			if r, err := h.d.Store.Reply(ctx, order.Key); err == nil {
				rep = &r
			}
		}
	}
	if h.d.Sender != nil && rep != nil && rep.Pending() {
		out.ReplySent = h.send(ctx, *rep)
	}
	h.d.Logger.DebugContext(ctx, "order processed", "key", out.Order.Key, "status", out.Order.Status,
		"duplicate", out.Duplicate, "lines", len(out.Order.Lines), "total", out.Order.Total.String())
	if h.d.OnOutcome != nil {
		h.d.OnOutcome(out)
	}
	return nil
}

func (h *Handler) send(ctx context.Context, r domain.Reply) bool {
	if err := h.d.Sender.Send(ctx, r); err != nil {
		h.d.Logger.WarnContext(ctx, "reply not sent; it stays in the outbox", "key", r.Key, "err", err)
		return false
	}
	if err := h.d.Store.MarkSent(ctx, r.Key, h.d.Now()); err != nil {
		h.d.Logger.WarnContext(ctx, "reply sent but not marked; it may be sent again", "key", r.Key, "err", err)
	}
	return true
}

// MessageKey is the idempotency key for a message: its Message-ID, else the
// source reference (an IMAP URL with mailbox, UIDVALIDITY and UID). It is ""
// when both are empty.
func MessageKey(messageID, sourceRef string) domain.MessageKey {
	if id := strings.TrimSpace(messageID); id != "" {
		return domain.MessageKey(id)
	}
	return domain.MessageKey(strings.TrimSpace(sourceRef))
}

// Evaluate decides the outcome for a parsed request and prices it. The
// result has no Key or CreatedAt yet.
func Evaluate(req *mailparse.Request, cat *catalog.Catalog, maxLines int) domain.Order {
	o := domain.Order{
		Status:     domain.StatusAccepted,
		MessageID:  req.MessageID,
		Subject:    req.Subject,
		Customer:   req.From,
		ReplyTo:    req.ReplyTo,
		ShipTo:     req.ShipTo,
		Note:       req.Note,
		ReceivedAt: req.Date,
	}
	if len(req.Lines) == 0 && len(req.Problems) == 0 {
		o.Status = domain.StatusIgnored
		o.Reasons = append([]string{"no order lines"}, req.Warnings...)
		return o
	}
	reasons := append([]string(nil), req.Problems...)
	if n := len(req.Lines) + len(req.Problems); n > maxLines {
		reasons = append(reasons, fmt.Sprintf("too many order lines: %d (at most %d)", n, maxLines))
	}
	var total domain.Money
	for _, l := range req.Lines {
		line := domain.Line{SKU: l.SKU, Qty: l.Qty}
		item, ok := cat.Lookup(l.SKU)
		if !ok {
			reasons = append(reasons, fmt.Sprintf("unknown SKU %q", l.SKU))
			o.Lines = append(o.Lines, line)
			continue
		}
		line.Name, line.UnitPrice = item.Name, item.UnitPrice
		lt, err := item.UnitPrice.Times(l.Qty)
		if err == nil {
			line.Total = lt
			total, err = total.Add(lt)
		}
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("cannot total %s: %v", l.SKU, err))
		}
		o.Lines = append(o.Lines, line)
	}
	if len(reasons) > 0 {
		o.Status = domain.StatusRejected
		o.Reasons = reasons
		return o
	}
	o.Total = total
	return o
}
