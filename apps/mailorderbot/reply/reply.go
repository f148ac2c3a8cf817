// Package reply composes the confirmation and rejection e-mails the mail
// order bot answers with, and sends them over SMTP.
//
// # Outbox first
//
// A reply is composed before the order is saved and stored with it in the
// same atomic write (the outbox). Sending comes after, and only marks the
// reply sent once the SMTP server accepted it. So a crash or an SMTP outage
// never loses a reply and never blocks the order: whatever is still pending
// is sent later by [Flush]. Without SMTP configured, replies simply stay in
// the outbox, where `plba orders` and operators can see them.
//
// # Libraries
//
// Messages are written with github.com/emersion/go-message/mail (RFC 5322
// headers, RFC 2047 encoded names, quoted-printable UTF-8 bodies) and sent
// with the github.com/emersion/go-smtp client (STARTTLS, implicit TLS,
// AUTH PLAIN).
package reply

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// Compose writes the reply for an accepted or rejected order, or the
// acknowledgement for one in review (receipt only, never a confirmation),
// from the given address to the order's ReplyTo (else its customer). It
// returns nil for ignored orders and orders with nobody to answer.
func Compose(order domain.Order, from string, now time.Time) (*domain.Reply, error) {
	if order.Status == domain.StatusIgnored {
		return nil, nil
	}
	to := order.ReplyTo
	if len(to) == 0 && order.Customer.Address != "" {
		to = []string{order.Customer.Address}
	}
	if len(to) == 0 {
		return nil, nil
	}
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("reply: from address %q: %w", from, err)
	}
	var h mail.Header
	h.SetDate(now)
	h.SetAddressList("From", []*mail.Address{fromAddr})
	rcpts := make([]*mail.Address, len(to))
	for i, a := range to {
		rcpts[i] = &mail.Address{Address: a}
		if i == 0 && len(order.ReplyTo) == 0 {
			rcpts[i].Name = order.Customer.Name
		}
	}
	h.SetAddressList("To", rcpts)
	subject := order.Subject
	if subject == "" {
		subject = "your order"
	}
	switch order.Status {
	case domain.StatusAccepted:
		h.SetSubject("Order confirmed: " + subject)
	case domain.StatusReview:
		h.SetSubject("Order received: " + subject)
	default:
		h.SetSubject("Order not accepted: " + subject)
	}
	// A Message-ID derived from the order key: composing twice yields the
	// same id, so a receiving server can drop a duplicate.
	// A resolution's reply is a second message for the same key.
	idSeed := string(order.Key)
	if order.Resolution != nil {
		idSeed += "\x00" + string(order.Status)
	}
	sum := sha256.Sum256([]byte(idSeed))
	domainPart := fromAddr.Address[strings.LastIndexByte(fromAddr.Address, '@')+1:]
	h.SetMessageID("reply-" + hex.EncodeToString(sum[:12]) + "@" + domainPart)
	if order.MessageID != "" {
		h.SetMsgIDList("In-Reply-To", []string{order.MessageID})
		h.SetMsgIDList("References", []string{order.MessageID})
	}
	h.Set("Auto-Submitted", "auto-replied")
	h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")

	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("reply: write header: %w", err)
	}
	if _, err := io.WriteString(w, Body(order)); err != nil {
		return nil, fmt.Errorf("reply: write body: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("reply: close: %w", err)
	}
	return &domain.Reply{Key: order.Key, From: fromAddr.Address, To: to, Raw: buf.Bytes(), CreatedAt: now}, nil
}

// Body is the plain-text body of the reply for order.
func Body(order domain.Order) string {
	var b strings.Builder
	greet := "Hello"
	if order.Customer.Name != "" {
		greet += " " + order.Customer.Name
	}
	b.WriteString(greet + ",\n\n")
	switch order.Status {
	case domain.StatusAccepted:
		b.WriteString("thank you, we have accepted your order:\n\n")
		for _, l := range order.Lines {
			fmt.Fprintf(&b, "  %-10s %-28s %6d x %14s = %14s\n", l.SKU, l.Name, l.Qty, l.UnitPrice, l.Total)
		}
		fmt.Fprintf(&b, "\n  Total: %s\n", order.Total)
		if len(order.ShipTo) > 0 {
			b.WriteString("\nShipping to:\n")
			for _, l := range order.ShipTo {
				b.WriteString("  " + l + "\n")
			}
		}
		if order.Note != "" {
			b.WriteString("\nYour note: " + order.Note + "\n")
		}
	case domain.StatusReview:
		b.WriteString("we have received your order. A person will look at it and answer you;\n")
		b.WriteString("this is not yet a confirmation.\n")
	default:
		b.WriteString("we could not accept your order:\n\n")
		for _, r := range order.Reasons {
			b.WriteString("  - " + r + "\n")
		}
		b.WriteString("\nPlease send a corrected order. Order lines look like \"ABC-123 x 2\".\n")
	}
	b.WriteString("\nReference: " + string(order.Key) + "\n")
	return b.String()
}
