// Package handler is the mail order bot's routine: one task in, one stored
// outcome out.
//
// # What a run does
//
// The task payload is the raw RFC 5322 message. The routine derives the
// message key (the Message-ID, else a digest of the message; an order an
// older version stored under the IMAP URL in [contracts.AttrSourceRef] is
// found too), parses the e-mail, decides the outcome ([Evaluate]: accepted,
// rejected, ignored or review), composes the reply and saves order and reply
// in one idempotent write. When SMTP is configured it then sends the reply
// and marks it sent. [Handler.Resolve] turns a review into an accepted or
// rejected order.
//
// # Results for the runtime
//
//   - nil for every final outcome — accepted, rejected, ignored, review —
//     and for a redelivery of a message already stored (nothing new is
//     created).
//   - an ordinary error (retry with backoff) when the store fails, and for
//     an empty payload (nothing was delivered: a source problem).
//
// A non-empty message that cannot be read (no readable header, over the
// size or HTML bound) is stored as review, with the reason, so it is marked
// read and visible in `plba orders list --status review`. A failed SMTP
// delivery never fails the task: the reply stays pending in the outbox for
// [reply.Flush].
package handler

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	// ShopAddresses are the shop's own addresses or "@domain"s besides
	// From: forwards from them are orders, mail from them is not answered.
	ShopAddresses []string
	// KeepRaw keeps the raw message of mail that goes to review in the
	// store, so a person can read it; the module purges it after the
	// configured retention.
	KeepRaw bool
	// AckReview sends an acknowledgement ("a person will look at it",
	// never a confirmation) for mail that goes to review.
	AckReview bool
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
	d       Deps
	metrics metrics
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
	return &Handler{d: d, metrics: newMetrics()}, nil
}

// Run implements [contracts.Routine].
func (h *Handler) Run(ctx context.Context, task contracts.Task) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref := task.Attr(contracts.AttrSourceRef)
	now := h.d.Now().UTC()
	req, perr := mailparse.ParseBytes(task.Payload, h.d.Parse)
	if errors.Is(perr, mailparse.ErrEmpty) {
		// Nothing was delivered: a source error, retried (the source
		// fetches the message again).
		return fmt.Errorf("handler: task %s (%s): %w", task.ID, ref, perr)
	}
	if req == nil {
		return contracts.Permanent(fmt.Errorf("handler: task %s: %w", task.ID, perr))
	}
	key := MessageKey(req.MessageID, task.Payload)
	if key == "" {
		return contracts.Permanent(fmt.Errorf("handler: task %s: %w", task.ID, ErrNoKey))
	}
	// Orders stored before the digest key existed have the source
	// reference as key; find them so an upgrade creates no second order.
	if req.MessageID == "" && ref != "" {
		if old, err := h.d.Store.Get(ctx, domain.MessageKey(ref)); err == nil {
			return h.duplicate(ctx, old)
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("handler: look up %s: %w", ref, err)
		}
	}
	order := Evaluate(req, h.d.Catalog, h.policy())
	order.Key = key
	order.CreatedAt = now
	var rep *domain.Reply
	if order.Status != domain.StatusReview || h.d.AckReview {
		r, err := reply.Compose(order, h.d.From, now)
		if err != nil {
			// The From address was checked in New; anything else is a bug in
			// composing, which must not cost the order.
			h.d.Logger.ErrorContext(ctx, "compose reply", "key", order.Key, "err", err)
		}
		rep = r
	}
	created, err := h.d.Store.Save(ctx, order, rep)
	if err != nil {
		return fmt.Errorf("handler: save %s: %w", order.Key, err)
	}
	if !created {
		existing, err := h.d.Store.Get(ctx, order.Key)
		if err != nil {
			return fmt.Errorf("handler: load existing %s: %w", order.Key, err)
		}
		return h.duplicate(ctx, existing)
	}
	if order.Status == domain.StatusReview && h.d.KeepRaw {
		if err := h.d.Store.PutRaw(ctx, order.Key, task.Payload, now); err != nil {
			// The mailbox still has the mail; the review stands.
			h.d.Logger.WarnContext(ctx, "raw message not kept for review", "key", order.Key, "err", err)
		}
	}
	out := Outcome{Order: order}
	if h.d.Sender != nil && rep != nil && rep.Pending() {
		out.ReplySent = h.send(ctx, *rep)
	}
	h.finish(ctx, out)
	return nil
}

func (h *Handler) policy() Policy {
	pol := Policy{MaxLines: h.d.MaxLines, ShopAddresses: h.d.ShopAddresses}
	if a, err := mail.ParseAddress(h.d.From); err == nil {
		pol.ShopAddresses = append(pol.ShopAddresses, a.Address)
	}
	return pol
}

// duplicate handles a redelivery of a stored message: nothing new is
// created; a reply stored but not sent yet is sent now.
func (h *Handler) duplicate(ctx context.Context, existing domain.Order) error {
	out := Outcome{Order: existing, Duplicate: true}
	if h.d.Sender != nil {
		if r, err := h.d.Store.Reply(ctx, existing.Key); err == nil {
			switch {
			case r.Sendable():
				out.ReplySent = h.send(ctx, r)
			case r.Unconfirmed():
				h.d.Logger.WarnContext(ctx, "reply interrupted by a crash during its send; it may have reached the customer and is not sent again (see plba orders show)",
					"key", existing.Key, "attempted_at", r.AttemptedAt)
			}
		}
	}
	h.finish(ctx, out)
	return nil
}

func (h *Handler) finish(ctx context.Context, out Outcome) {
	h.d.Logger.DebugContext(ctx, "order processed", "key", out.Order.Key, "status", out.Order.Status,
		"duplicate", out.Duplicate, "lines", len(out.Order.Lines), "total", out.Order.Total.String())
	h.metrics.outcome(ctx, out)
	if h.d.OnOutcome != nil {
		h.d.OnOutcome(out)
	}
}

func (h *Handler) send(ctx context.Context, r domain.Reply) bool {
	err := reply.Deliver(ctx, h.d.Store, h.d.Sender, r, h.d.Now())
	switch {
	case errors.Is(err, store.ErrAttempted):
		// A second run of the same message (two cycles published it) or
		// the outbox claimed the send first: it sends, we do not.
		h.d.Logger.DebugContext(ctx, "reply claimed by another sender", "key", r.Key)
		return false
	case errors.Is(err, reply.ErrNotMarked):
		h.d.Logger.WarnContext(ctx, "reply sent but not marked sent; it stays unconfirmed and is not sent again", "key", r.Key, "err", err)
		return true
	case err != nil:
		h.d.Logger.WarnContext(ctx, "reply not sent; it stays in the outbox", "key", r.Key, "err", err)
		return false
	}
	return true
}

// MessageKey is the idempotency key for a message: its Message-ID, else a
// digest of the raw message ("sha256:" and 64 hex digits). The digest is the
// same wherever the message is stored (moving it or rebuilding the mailbox
// changes its IMAP UID, not its bytes). It is "" when both are empty.
func MessageKey(messageID string, raw []byte) domain.MessageKey {
	if id := strings.TrimSpace(messageID); id != "" {
		return domain.MessageKey(id)
	}
	if len(raw) == 0 {
		return ""
	}
	sum := sha256.Sum256(digestInput(raw))
	return domain.MessageKey("sha256:" + hex.EncodeToString(sum[:]))
}

// digestInput is what identifies a message without a Message-ID: the
// header fields its sender wrote (not the trace fields servers add on the
// way: Received, Return-Path, Delivered-To, X-*) and the body.
func digestInput(raw []byte) []byte {
	var keep bytes.Buffer
	rest := raw
	skipping := false
	for len(rest) > 0 {
		line, tail, _ := bytes.Cut(rest, []byte("\n"))
		rest = tail
		l := bytes.TrimRight(line, "\r")
		if len(l) == 0 {
			keep.WriteString("\n")
			keep.Write(bytes.ReplaceAll(rest, []byte("\r\n"), []byte("\n")))
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			if !skipping {
				keep.Write(l)
				keep.WriteByte('\n')
			}
			continue
		}
		name, _, _ := bytes.Cut(l, []byte(":"))
		n := strings.ToLower(string(bytes.TrimSpace(name)))
		skipping = n == "received" || n == "return-path" || n == "delivered-to" || strings.HasPrefix(n, "x-") ||
			n == "authentication-results" || n == "dkim-signature" || n == "arc-seal" || n == "arc-message-signature" ||
			n == "arc-authentication-results" || n == "received-spf"
		if !skipping {
			keep.Write(l)
			keep.WriteByte('\n')
		}
	}
	return keep.Bytes()
}

// Policy is what Evaluate needs besides the request and the catalog.
type Policy struct {
	// MaxLines is the most order lines an e-mail may have; default 50.
	MaxLines int
	// ShopAddresses are the shop's own addresses ("sales@shop.example") or
	// domains ("@shop.example"). A forward from one of them is an order of
	// the forwarded sender; mail from them is never answered.
	ShopAddresses []string
}

// IsShop reports whether addr is one of the shop's own addresses.
func (p Policy) IsShop(addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return false
	}
	for _, a := range p.ShopAddresses {
		a = strings.ToLower(strings.TrimSpace(a))
		if a == addr || (strings.HasPrefix(a, "@") && strings.HasSuffix(addr, a)) {
			return true
		}
	}
	return false
}

// Evaluate decides the outcome for a parsed request and prices it. The
// result has no Key or CreatedAt yet. In order:
//
//   - automatic mail (auto-replies, bounces, lists) and mail from the shop
//     itself is ignored, whatever it quotes;
//   - an unreadable or oversized mail is review;
//   - a forward is the forwarded sender's order when a shop address
//     forwarded it, else review (or ignored when it holds no order);
//   - a mail that is no order attempt — no order-like subject and no line
//     with a catalog SKU — is ignored, never rejected;
//   - a line not understood, or an attachment that may hold the order, is
//     review: an order is accepted only when every candidate line was read;
//   - bad quantities, unknown SKUs and too many lines are a rejection;
//   - otherwise the order is accepted.
func Evaluate(req *mailparse.Request, cat *catalog.Catalog, pol Policy) domain.Order {
	if pol.MaxLines <= 0 {
		pol.MaxLines = DefaultMaxLines
	}
	o := domain.Order{
		Status:     domain.StatusAccepted,
		MessageID:  req.MessageID,
		Subject:    req.Subject,
		Customer:   req.From,
		ReplyTo:    req.ReplyTo,
		ShipTo:     req.ShipTo,
		Note:       req.Note,
		ReceivedAt: req.Date,
		Candidates: req.Unparsed,
	}
	for _, p := range req.Problems {
		o.Candidates = append(o.Candidates, p.Text)
	}
	for _, l := range req.Lines {
		o.Lines = append(o.Lines, domain.Line{SKU: l.SKU, Qty: l.Qty})
	}
	final := func(st domain.Status, reasons ...string) domain.Order {
		o.Status = st
		o.Reasons = append(o.Reasons, reasons...)
		if st == domain.StatusIgnored {
			o.Lines, o.Candidates = nil, nil
		}
		return o
	}
	switch {
	case req.Automatic != "":
		return final(domain.StatusIgnored, req.Automatic)
	case pol.IsShop(req.From.Address) && req.Forward == nil:
		return final(domain.StatusIgnored, "mail from the shop's own address "+req.From.Address)
	case req.Unreadable != "":
		return final(domain.StatusReview, "message cannot be read with confidence: "+req.Unreadable)
	}
	hasContent := len(req.Lines)+len(req.Problems)+len(req.Unparsed) > 0
	if req.Forward != nil {
		if !hasContent && len(req.Attachments) == 0 {
			return final(domain.StatusIgnored, "forwarded mail without order lines")
		}
		if !pol.IsShop(req.From.Address) || req.Forward.From.Address == "" {
			return final(domain.StatusReview, fmt.Sprintf("forwarded by %s, which is not a shop address: whose order it is needs a person", req.From.Address))
		}
		o.Customer = req.Forward.From
		o.ReplyTo = nil
	}
	known := false
	for _, l := range req.Lines {
		if _, ok := cat.Lookup(l.SKU); ok {
			known = true
		}
	}
	for _, p := range req.Problems {
		if _, ok := cat.Lookup(p.SKU); ok {
			known = true
		}
	}
	attempt := req.OrderSubject || known || req.Forward != nil
	if !hasContent {
		switch {
		case attempt && len(req.Attachments) > 0:
			return final(domain.StatusReview, attachmentReasons(req)...)
		case req.QuotedCandidates > 0:
			return final(domain.StatusIgnored, "order lines only in quoted text")
		}
		return final(domain.StatusIgnored, append([]string{"no order lines"}, req.Warnings...)...)
	}
	if !attempt {
		return final(domain.StatusIgnored, "no order attempt: no order subject and no line with a catalog SKU")
	}
	var review []string
	for _, u := range req.Unparsed {
		review = append(review, "line not understood: \u201c"+u+"\u201d")
	}
	for _, a := range req.Attachments {
		// An image beside readable order lines is a logo or a photo of
		// the shelf; a PDF or spreadsheet may hold more of the order.
		if !strings.HasPrefix(a.ContentType, "image/") {
			review = append(review, attachmentReasons(&mailparse.Request{Attachments: []mailparse.Attachment{a}})...)
		}
	}
	if len(review) > 0 {
		return final(domain.StatusReview, review...)
	}
	var reasons []string
	for _, p := range req.Problems {
		reasons = append(reasons, p.Reason)
	}
	if n := len(req.Lines) + len(req.Problems); n > pol.MaxLines {
		reasons = append(reasons, fmt.Sprintf("too many order lines: %d (at most %d)", n, pol.MaxLines))
	}
	var total domain.Money
	for i, l := range req.Lines {
		item, ok := cat.Lookup(l.SKU)
		if !ok {
			reasons = append(reasons, fmt.Sprintf("unknown SKU %s in \u201c%s\u201d", l.SKU, l.Text))
			continue
		}
		line := &o.Lines[i]
		line.Name, line.UnitPrice = item.Name, item.UnitPrice
		lt, err := item.UnitPrice.Times(l.Qty)
		if err == nil {
			line.Total = lt
			total, err = total.Add(lt)
		}
		if err != nil {
			reasons = append(reasons, fmt.Sprintf("cannot total %s: %v", l.SKU, err))
		}
	}
	if len(reasons) > 0 {
		return final(domain.StatusRejected, reasons...)
	}
	o.Candidates = nil
	o.Total = total
	return o
}

func attachmentReasons(req *mailparse.Request) []string {
	var out []string
	for _, a := range req.Attachments {
		name := a.Name
		if name == "" {
			name = a.ContentType
		}
		out = append(out, fmt.Sprintf("attachment %s (%s) may hold the order and is not read", name, a.ContentType))
	}
	return out
}
