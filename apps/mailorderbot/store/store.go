// Package store defines the OrderStore contract: where the mail order bot
// keeps one outcome per e-mail and the replies waiting to be sent.
//
// # Idempotency
//
// Delivery is at-least-once, so [OrderStore.Save] creates an order at most
// once per [domain.MessageKey]: the first call stores the order (and its
// reply, atomically) and reports created=true; every later call with the same
// key changes nothing and reports false, however many workers race.
//
// # Outbox
//
// A reply is stored with its order and stays pending until
// [OrderStore.MarkSent]. Whoever sends mail (the routine when SMTP is
// configured, or an operator) reads pending replies with
// [OrderStore.PendingReplies]; a crash between storing and sending loses
// nothing.
//
// # Reviews
//
// An order in review is final for its message: Save never replaces it. A
// person resolves it with [OrderStore.Resolve], which turns it into an
// accepted or rejected order and replaces the outbox entry with the
// confirmation or rejection, in one atomic write, only while it is still in
// review (two people resolving at once: one wins, the other gets
// ErrNotReview).
//
// # Retention
//
// The store keeps the outcome (header fields, lines, candidate lines,
// reasons, ship-to, note) and the reply. The raw message is kept only for
// orders in review, so a person can read what the bot could not (a PDF
// purchase order, a garbled mail), via [OrderStore.PutRaw]; [OrderStore.PurgeRaw]
// deletes raw messages older than the configured retention (the module runs
// it hourly). The mailbox keeps the original mail either way.
//
// # Implementations
//
// sqlitestore (a local file, the default) and dynamostore (AWS) both pass the
// contract suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
)

// ErrNotFound is returned by Get and Reply for unknown keys, and by MarkSent
// when there is no reply for the key.
var ErrNotFound = errors.New("store: not found")

// ErrAttempted is returned by MarkAttempt when a send of the reply is
// already recorded as attempted and not confirmed: another sender (a second
// run of the same message, the outbox) holds it, or a crash interrupted it.
// The caller does not send.
var ErrAttempted = errors.New("store: reply send already attempted")

// ErrInvalid is returned for orders a store refuses (empty key, unknown status).
var ErrInvalid = errors.New("store: invalid order")

// Filter selects orders for List.
type Filter struct {
	// Status restricts to one status; "" lists all.
	Status domain.Status
	// Limit caps the result; 0 means 100.
	Limit int
}

// DefaultLimit is the List limit when Filter.Limit is 0.
const DefaultLimit = 100

// OrderStore stores orders and their replies. Implementations are safe for
// concurrent use.
type OrderStore interface {
	// Save stores order, and reply if non-nil, in one atomic write, unless
	// an order with the same key exists; created reports whether this call
	// stored it. reply.Key must equal order.Key.
	Save(ctx context.Context, order domain.Order, reply *domain.Reply) (created bool, err error)
	// Get returns the order for key, or ErrNotFound.
	Get(ctx context.Context, key domain.MessageKey) (domain.Order, error)
	// List returns orders, newest first.
	List(ctx context.Context, f Filter) ([]domain.Order, error)
	// Count returns how many orders f's status selects (f.Limit is
	// ignored), so a listing can say "100 of N".
	Count(ctx context.Context, f Filter) (int, error)
	// Reply returns the reply stored for key, or ErrNotFound.
	Reply(ctx context.Context, key domain.MessageKey) (domain.Reply, error)
	// PendingReplies returns up to limit replies to send (unsent and not
	// attempted: see domain.Reply.Unconfirmed), oldest first (limit 0
	// means 100).
	PendingReplies(ctx context.Context, limit int) ([]domain.Reply, error)
	// UnconfirmedReplies returns up to limit replies whose send a crash
	// interrupted (attempted, never marked sent: domain.Reply.Unconfirmed),
	// oldest first (limit 0 means 100). Nothing sends them by itself; a
	// person looks, and ClearAttempt puts one back in the outbox.
	UnconfirmedReplies(ctx context.Context, limit int) ([]domain.Reply, error)
	// MarkSent records that the reply for key was sent at the given time.
	// Marking a sent reply again keeps the first time.
	MarkSent(ctx context.Context, key domain.MessageKey, at time.Time) error
	// MarkAttempt records, before a send, that the reply for key is being
	// sent (a crash leaves it unconfirmed); ClearAttempt undoes it after a
	// send that failed, so the outbox tries again. MarkAttempt is a claim:
	// it fails with ErrAttempted when an attempt is recorded already (two
	// senders never both send), with ErrNotFound when there is no unsent
	// reply.
	MarkAttempt(ctx context.Context, key domain.MessageKey, at time.Time) error
	ClearAttempt(ctx context.Context, key domain.MessageKey) error
	// Resolve replaces the order stored under order.Key, which must be in
	// review (else ErrNotReview; ErrNotFound when there is none), by order,
	// and the outbox entry by reply if non-nil (pending), atomically.
	Resolve(ctx context.Context, order domain.Order, reply *domain.Reply) error
	// PutRaw keeps the raw message of a stored order (for review);
	// at is when it was stored, for PurgeRaw. Putting again keeps the first.
	PutRaw(ctx context.Context, key domain.MessageKey, raw []byte, at time.Time) error
	// Raw returns the raw message kept for key, or ErrNotFound.
	Raw(ctx context.Context, key domain.MessageKey) ([]byte, error)
	// PurgeRaw deletes raw messages stored before the given time and
	// reports how many.
	PurgeRaw(ctx context.Context, before time.Time) (int, error)
	// Close releases the store's resources.
	Close() error
}

// ErrNotReview is returned by Resolve when the order is not in review
// (already resolved, or never was).
var ErrNotReview = errors.New("store: order is not in review")

// Check validates what Save is given; implementations call it first.
func Check(order domain.Order, reply *domain.Reply) error {
	switch {
	case order.Key == "":
		return errors.Join(ErrInvalid, errors.New("empty message key"))
	case !order.Status.Valid():
		return errors.Join(ErrInvalid, errors.New("unknown status "+string(order.Status)))
	case reply != nil && reply.Key != order.Key:
		return errors.Join(ErrInvalid, errors.New("reply key differs from order key"))
	}
	return nil
}

// Limit returns n, or DefaultLimit when n <= 0.
func Limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return n
}
