package mailorderbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
)

// Unconfirmed replies: a process killed while it sent a reply leaves the
// reply attempted and never confirmed (domain.Reply.Unconfirmed). Nothing
// sends it again by itself — the customer may already have it — so a person
// must decide. They are counted in the bot's health (and so in `plba status`),
// warned about by `plba orders list`, listed by `plba orders unconfirmed`
// (action orders.unconfirmed) and put back in the outbox by
// `plba orders resend KEY` (action orders.resend).

// unconfirmedCap bounds the count a health check or a listing reads.
const unconfirmedCap = 100

// countUnconfirmed returns how many replies are unconfirmed, at most
// unconfirmedCap (more reports whether there are more).
func countUnconfirmed(ctx context.Context, st store.OrderStore) (n int, more bool, err error) {
	res, err := listUnconfirmed(ctx, st)
	return len(res.Replies), res.More, err
}

func countText(n int, more bool) string {
	if more {
		return strconv.Itoa(n) + "+"
	}
	return strconv.Itoa(n)
}

// outboxHealth is the bot's health contributor for its outbox: degraded
// while replies are unconfirmed (the deployment stays ready; a person must
// look). The count is read from the store at most every outboxHealthTTL.
type outboxHealth struct {
	st  store.OrderStore
	now func() time.Time

	mu   sync.Mutex
	at   time.Time
	last contracts.Health
}

// outboxHealthTTL bounds how often a health check reads the store (health
// is polled; the count changes only on a crash or a person's action).
const outboxHealthTTL = 15 * time.Second

// OutboxHealthName is the name of the bot's outbox health component.
const OutboxHealthName = "mailorderbot-outbox"

func newOutboxHealth(st store.OrderStore) *outboxHealth {
	return &outboxHealth{st: st, now: time.Now}
}

// Name implements contracts.HealthContributor.
func (h *outboxHealth) Name() string { return OutboxHealthName }

// Health implements contracts.HealthContributor.
func (h *outboxHealth) Health(ctx context.Context) contracts.Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	if !h.at.IsZero() && now.Sub(h.at) < outboxHealthTTL {
		return h.last
	}
	n, more, err := countUnconfirmed(ctx, h.st)
	var out contracts.Health
	switch {
	case err != nil:
		out = contracts.Degraded("cannot count unconfirmed replies")
		out.Details = map[string]string{"error": err.Error()}
	case n > 0:
		out = contracts.Degraded(fmt.Sprintf("%s reply(ies) unconfirmed: a send was interrupted and is not repeated by itself; "+
			"see `plba orders unconfirmed`, resend with `plba orders resend KEY`", countText(n, more)))
		out.Details = map[string]string{"unconfirmed_replies": countText(n, more)}
	default:
		out = contracts.Up("ok")
		out.Details = map[string]string{"unconfirmed_replies": "0"}
	}
	out.Checked = now
	h.at, h.last = now, out
	return out
}

// UnconfirmedReply is one entry of `orders unconfirmed` (no addresses or
// bodies: the action is not sensitive).
type UnconfirmedReply struct {
	Key         domain.MessageKey `json:"key"`
	AttemptedAt time.Time         `json:"attempted_at"`
	CreatedAt   time.Time         `json:"created_at"`
}

// UnconfirmedResult answers orders.unconfirmed.
type UnconfirmedResult struct {
	Replies []UnconfirmedReply `json:"replies"`
	// More: there are more than the listing shows.
	More bool `json:"more,omitempty"`
}

func listUnconfirmed(ctx context.Context, st store.OrderStore) (UnconfirmedResult, error) {
	rs, err := st.UnconfirmedReplies(ctx, unconfirmedCap+1)
	if err != nil {
		return UnconfirmedResult{}, err
	}
	res := UnconfirmedResult{Replies: []UnconfirmedReply{}}
	if len(rs) > unconfirmedCap {
		rs, res.More = rs[:unconfirmedCap], true
	}
	for _, r := range rs {
		res.Replies = append(res.Replies, UnconfirmedReply{Key: r.Key, AttemptedAt: r.AttemptedAt, CreatedAt: r.CreatedAt})
	}
	return res, nil
}

// ErrNotUnconfirmed is returned by a resend of a reply that is not
// unconfirmed (sent, waiting in the outbox, or none).
var ErrNotUnconfirmed = errors.New("reply is not unconfirmed")

// resend puts an unconfirmed reply back in the outbox: the running bot's
// outbox sends it (every outboxEvery; at its next start when none runs). Only a
// person calls it, after deciding the customer has not got the reply.
func resend(ctx context.Context, st store.OrderStore, key domain.MessageKey) error {
	r, err := st.Reply(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("resend %s: no reply: %w", key, contracts.ErrNoSuchItem)
	}
	if err != nil {
		return fmt.Errorf("resend %s: %w", key, err)
	}
	if !r.Unconfirmed() {
		return fmt.Errorf("resend %s: %w (sent: %v)", key, ErrNotUnconfirmed, !r.SentAt.IsZero())
	}
	if err := st.ClearAttempt(ctx, key); err != nil {
		return fmt.Errorf("resend %s: %w", key, err)
	}
	return nil
}

// replyActions are the actions on unconfirmed replies: orders.unconfirmed
// (read) and orders.resend (mutating, audited); Actions lists them.
func (m *Module) replyActions() []contracts.ActionSpec {
	return []contracts.ActionSpec{
		{
			Name:    "orders.unconfirmed",
			Summary: "replies whose send a crash interrupted (never repeated by themselves)",
			Handle: func(ctx context.Context, _ json.RawMessage) (any, error) {
				if m.store == nil {
					return nil, fmt.Errorf("orders.unconfirmed: %w: the bot has no store", contracts.ErrNotSupported)
				}
				return listUnconfirmed(ctx, m.store)
			},
		},
		{
			Name:     "orders.resend",
			Summary:  "put an unconfirmed reply back in the outbox (params: key)",
			Mutating: true,
			Handle: func(ctx context.Context, raw json.RawMessage) (any, error) {
				var p struct {
					Key string `json:"key"`
				}
				if err := json.Unmarshal(raw, &p); err != nil || p.Key == "" {
					return nil, fmt.Errorf("orders.resend: give the reply's key: %w", contracts.ErrInvalidParams)
				}
				if m.store == nil {
					return nil, fmt.Errorf("orders.resend: %w: the bot has no store", contracts.ErrNotSupported)
				}
				if err := resend(ctx, m.store, domain.MessageKey(p.Key)); err != nil {
					if errors.Is(err, ErrNotUnconfirmed) {
						return nil, fmt.Errorf("%w: %w", err, contracts.ErrInvalidParams)
					}
					return nil, err
				}
				return map[string]any{"key": p.Key, "queued": true}, nil
			},
		},
	}
}
