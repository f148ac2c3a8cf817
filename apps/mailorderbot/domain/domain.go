// Package domain holds the mail order bot's business values: orders, their
// lines, money and outcomes. It has no I/O and no dependencies on the
// runtime; parsers, stores and the routine all speak these types.
//
// # Money
//
// Money is an integer amount of minor units (cents, kopecks) plus an ISO 4217
// currency code. Floats never appear: totals are exact sums.
//
// # Outcomes
//
// Every processed e-mail ends in exactly one [Status]: accepted, rejected,
// ignored or review. Review is final for the message (a redelivery changes
// nothing) until a person resolves it into accepted or rejected.
package domain

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Status is the final outcome for one e-mail.
type Status string

// Statuses.
const (
	// StatusAccepted: every line was valid and priced; the order is stored
	// with its lines and total.
	StatusAccepted Status = "accepted"
	// StatusRejected: the e-mail had order lines but at least one problem
	// (unknown SKU, bad quantity, too many lines); Reasons says which.
	StatusRejected Status = "rejected"
	// StatusIgnored: the e-mail is no order attempt (no order lines, or
	// automatic mail such as an auto-reply or a bounce); Reasons says why.
	StatusIgnored Status = "ignored"
	// StatusReview: the e-mail looks like an order attempt but cannot be
	// read with confidence (a line not understood, a PDF or spreadsheet
	// purchase order, a forward, an unreadable or oversized mail). It is
	// stored with every candidate line and why; a person resolves it.
	StatusReview Status = "review"
)

// Statuses lists every status, in the order lists show them.
var Statuses = []Status{StatusAccepted, StatusRejected, StatusIgnored, StatusReview}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusAccepted, StatusRejected, StatusIgnored, StatusReview:
		return true
	}
	return false
}

// ParseStatus converts a string (any case) to a Status.
func ParseStatus(s string) (Status, error) {
	st := Status(strings.ToLower(strings.TrimSpace(s)))
	if !st.Valid() {
		return "", fmt.Errorf("domain: unknown status %q (want accepted, rejected, ignored or review)", s)
	}
	return st, nil
}

// MessageKey identifies the e-mail an order came from: its Message-ID, or
// when it has none, a digest of the raw message ("sha256:…"). Orders stored
// before the digest existed have the IMAP URL (mailbox, UIDVALIDITY, UID)
// as key; the handler still finds them. Stores create at most one order per
// key.
type MessageKey string

// Money is an amount in minor units of a currency.
type Money struct {
	// Amount in minor units (e.g. cents).
	Amount int64 `json:"amount"`
	// Currency is an ISO 4217 code such as "EUR".
	Currency string `json:"currency"`
}

// ErrCurrencyMismatch is returned when adding money of different currencies.
var ErrCurrencyMismatch = errors.New("domain: currency mismatch")

// ErrOverflow is returned when an amount does not fit in int64.
var ErrOverflow = errors.New("domain: amount overflows")

// Add returns m+o. The zero Money adopts o's currency.
func (m Money) Add(o Money) (Money, error) {
	if m.Currency == "" && m.Amount == 0 {
		m.Currency = o.Currency
	}
	if o.Currency != m.Currency {
		return Money{}, fmt.Errorf("%w: %s and %s", ErrCurrencyMismatch, m.Currency, o.Currency)
	}
	if (o.Amount > 0 && m.Amount > math.MaxInt64-o.Amount) || (o.Amount < 0 && m.Amount < math.MinInt64-o.Amount) {
		return Money{}, ErrOverflow
	}
	return Money{Amount: m.Amount + o.Amount, Currency: m.Currency}, nil
}

// Times returns m*n.
func (m Money) Times(n int64) (Money, error) {
	if n != 0 && m.Amount != 0 {
		p := m.Amount * n
		if p/n != m.Amount {
			return Money{}, ErrOverflow
		}
		return Money{Amount: p, Currency: m.Currency}, nil
	}
	return Money{Amount: 0, Currency: m.Currency}, nil
}

// String formats m with two decimal places, e.g. "12.50 EUR". Every
// currency the bot prices in has two minor-unit digits.
func (m Money) String() string {
	sign := ""
	a := m.Amount
	if a < 0 {
		sign = "-"
	}
	u := uint64(a)
	if a < 0 {
		u = uint64(-(a + 1)) + 1
	}
	return fmt.Sprintf("%s%d.%02d %s", sign, u/100, u%100, m.Currency)
}

// Customer is who sent the order.
type Customer struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// String formats the customer like an address header value.
func (c Customer) String() string {
	if c.Name == "" {
		return c.Address
	}
	return fmt.Sprintf("%s <%s>", c.Name, c.Address)
}

// Line is one priced order line.
type Line struct {
	// SKU is upper-case, e.g. "ABC-1234".
	SKU string `json:"sku"`
	// Name comes from the catalog; empty for unknown SKUs.
	Name string `json:"name,omitempty"`
	// Qty is a positive count.
	Qty int64 `json:"qty"`
	// UnitPrice and Total are zero for unknown SKUs.
	UnitPrice Money `json:"unit_price"`
	Total     Money `json:"total"`
}

// Order is the stored outcome for one e-mail, whatever the status.
type Order struct {
	Key    MessageKey `json:"key"`
	Status Status     `json:"status"`
	// MessageID is the Message-ID header without angle brackets, if any.
	MessageID string   `json:"message_id,omitempty"`
	Subject   string   `json:"subject,omitempty"`
	Customer  Customer `json:"customer"`
	// ReplyTo holds the Reply-To addresses, if the e-mail set any; replies
	// go there, else to the customer.
	ReplyTo []string `json:"reply_to,omitempty"`
	// ShipTo holds the lines of the optional "Ship to:" block.
	ShipTo []string `json:"ship_to,omitempty"`
	// Note is the optional "Note:" line.
	Note  string `json:"note,omitempty"`
	Lines []Line `json:"lines,omitempty"`
	// Total is the sum of line totals for accepted orders.
	Total Money `json:"total"`
	// Reasons explain a rejection, a review or why a message was ignored.
	Reasons []string `json:"reasons,omitempty"`
	// Candidates are the lines that looked like order lines but were not
	// understood (review and rejected orders), as written.
	Candidates []string `json:"candidates,omitempty"`
	// Resolution is set when a person resolved a review.
	Resolution *Resolution `json:"resolution,omitempty"`
	// ReceivedAt is the e-mail's Date header (zero when missing).
	ReceivedAt time.Time `json:"received_at,omitzero"`
	// CreatedAt is when the outcome was stored.
	CreatedAt time.Time `json:"created_at"`
}

// Reply is a composed confirmation or rejection e-mail waiting in (or sent
// from) the outbox. It is stored atomically with its order.
type Reply struct {
	// Key is the order's message key; one reply per order.
	Key MessageKey `json:"key"`
	// From and To are bare addresses for the SMTP envelope.
	From string   `json:"from"`
	To   []string `json:"to"`
	// Raw is the complete RFC 5322 message.
	Raw       []byte    `json:"raw"`
	CreatedAt time.Time `json:"created_at"`
	// SentAt is zero while the reply is pending.
	SentAt time.Time `json:"sent_at,omitzero"`
	// AttemptedAt is set just before a send and cleared when the send
	// failed. Set without SentAt, a process died during the send: the
	// server may or may not have taken the mail, so it is not sent again
	// by itself (a person decides; see Unconfirmed).
	AttemptedAt time.Time `json:"attempted_at,omitzero"`
}

// Pending reports whether the reply has not been sent yet.
func (r Reply) Pending() bool { return r.SentAt.IsZero() }

// Unconfirmed reports a reply whose send was interrupted by a crash: it
// may have reached the customer. It is never sent again automatically, so
// a crash never confirms an order twice.
func (r Reply) Unconfirmed() bool { return r.SentAt.IsZero() && !r.AttemptedAt.IsZero() }

// Sendable reports a reply the outbox sends: pending and not unconfirmed.
func (r Reply) Sendable() bool { return r.SentAt.IsZero() && r.AttemptedAt.IsZero() }

// Resolution records how a person resolved a review.
type Resolution struct {
	// From is the status before (always review).
	From Status `json:"from"`
	// Reason is the person's reason (shown to the customer on rejection).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}
