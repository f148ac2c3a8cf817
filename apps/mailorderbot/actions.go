package mailorderbot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
)

// ErrInvalidReview is wrapped by Parts.Review for a decision that cannot be
// carried out (no lines to accept, an unknown SKU, no reason for a
// rejection): the control plane answers it with bad_request.
var ErrInvalidReview = errors.New("mailorderbot: invalid review decision")

// Bounds of the orders.list action.
const (
	defaultActionLimit = 20
	maxActionLimit     = 100
)

// OrderRow is one stored order as the control plane lists it. It carries
// no customer name, address or subject: read actions need no token, so
// they show what the bot decided, not who wrote. `plba orders show KEY`
// (which reads the store directly) has the rest.
type OrderRow struct {
	Key    string `json:"key"`
	Status string `json:"status"`
	// Lines is the number of order lines; Total is set for accepted
	// orders ("12.50 EUR").
	Lines   int      `json:"lines"`
	Total   string   `json:"total,omitempty"`
	Reasons []string `json:"reasons,omitempty"`
	// Candidates are the lines not understood, as written (review).
	Candidates []string  `json:"candidates,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	// Resolved says a person resolved a review ("accepted", "rejected").
	Resolved string `json:"resolved,omitempty"`
}

// OrdersResult answers orders.list and orders.review.
type OrdersResult struct {
	Orders []OrderRow `json:"orders"`
	// Count is how many orders the status selects in all; 0 when the
	// request said no_count.
	Count int `json:"count"`
}

// OrdersRequest selects orders: Status "" lists every status.
type OrdersRequest struct {
	Status string `json:"status,omitempty"`
	Limit  int    `json:"limit,omitempty"`
	// NoCount skips the count of every matching order: the status page
	// polls its panels every few seconds and shows none, and on DynamoDB a
	// count reads the whole status index.
	NoCount bool `json:"no_count,omitempty"`
}

// ResolveRequest resolves one order in review.
type ResolveRequest struct {
	Key    string `json:"key"`
	Reason string `json:"reason,omitempty"`
}

// Actions implements contracts.ActionProvider: the bot's orders and its
// review queue through every control door (the local API and its status
// page, the Lambda control function, `plba action`).
func (m *Module) Actions() []contracts.ActionSpec {
	return append([]contracts.ActionSpec{
		{Name: "orders.list", Summary: "latest stored orders (status, lines, total, reasons); status=, limit=",
			Handle: typed(func(ctx context.Context, r OrdersRequest) (OrdersResult, error) { return m.listOrders(ctx, r) })},
		{Name: "orders.review", Summary: "orders waiting for a person's review, newest first; limit=",
			Handle: typed(func(ctx context.Context, r OrdersRequest) (OrdersResult, error) {
				r.Status = string(domain.StatusReview)
				return m.listOrders(ctx, r)
			})},
		{Name: "orders.accept", Summary: "accept an order in review with the lines read from the mail; key=, reason=", Mutating: true,
			Handle: typed(func(ctx context.Context, r ResolveRequest) (OrderRow, error) { return m.resolve(ctx, r, true) })},
		{Name: "orders.reject", Summary: "reject an order in review; key=, reason= (told to the customer)", Mutating: true,
			Handle: typed(func(ctx context.Context, r ResolveRequest) (OrderRow, error) { return m.resolve(ctx, r, false) })},
	}, m.replyActions()...)
}

// Panels implements contracts.PanelProvider: the status page shows the
// latest orders and the review queue with accept and reject.
func (m *Module) Panels() []contracts.Panel {
	return []contracts.Panel{
		{
			ID: "mailorderbot.orders", Title: "Latest orders", Description: "The newest stored outcomes of order e-mails.",
			Action: "orders.list", Params: map[string]any{"limit": defaultActionLimit, "no_count": true}, Rows: "orders", Key: "key",
			Columns: []contracts.PanelColumn{
				{Field: "created_at", Label: "Stored", Format: contracts.PanelTime},
				{Field: "key", Label: "Message"},
				{Field: "status", Label: "Status", Format: contracts.PanelState, Tones: statusTones},
				{Field: "lines", Label: "Lines", Format: contracts.PanelNumber},
				{Field: "total", Label: "Total", Format: contracts.PanelNumber},
				{Field: "reasons", Label: "Reasons", Format: contracts.PanelList},
			},
			Empty: "No orders stored yet.",
		},
		{
			ID: "mailorderbot.review", Title: "Review queue", Description: "Orders the bot could not decide; accepting keeps the lines read from the mail.",
			Action: "orders.review", Params: map[string]any{"limit": defaultActionLimit, "no_count": true}, Rows: "orders", Key: "key",
			Columns: []contracts.PanelColumn{
				{Field: "created_at", Label: "Stored", Format: contracts.PanelTime},
				{Field: "key", Label: "Message"},
				{Field: "lines", Label: "Lines", Format: contracts.PanelNumber},
				{Field: "reasons", Label: "Reasons", Format: contracts.PanelList},
				{Field: "candidates", Label: "Not understood", Format: contracts.PanelList},
			},
			RowActions: []contracts.PanelRowAction{
				{Label: "Accept", Action: "orders.accept", FromRow: map[string]string{"key": "key"}},
				{Label: "Reject", Action: "orders.reject", FromRow: map[string]string{"key": "key"},
					Input: &contracts.PanelInput{Param: "reason", Label: "Reason (told to the customer)", Required: true}},
			},
			Empty: "Nothing to review.",
		},
		{
			ID: "mailorderbot.unconfirmed", Title: "Unconfirmed replies",
			Description: "Replies whose send a crash interrupted; never repeated by themselves. Resend only after checking the customer has not got one.",
			Action:      "orders.unconfirmed", Rows: "replies", Key: "key",
			Columns: []contracts.PanelColumn{
				{Field: "attempted_at", Label: "Attempted", Format: contracts.PanelTime},
				{Field: "key", Label: "Message"},
			},
			RowActions: []contracts.PanelRowAction{
				{Label: "Resend", Action: "orders.resend", FromRow: map[string]string{"key": "key"}},
			},
			Empty: "No unconfirmed replies.",
		},
	}
}

// statusTones colour the order statuses on the status page.
var statusTones = map[string]string{
	string(domain.StatusAccepted): "good", string(domain.StatusReview): "warn",
	string(domain.StatusRejected): "bad", string(domain.StatusIgnored): "muted",
}

// typed decodes an action's request object into Req.
func typed[Req, Resp any](fn func(context.Context, Req) (Resp, error)) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, params json.RawMessage) (any, error) {
		var req Req
		if len(params) > 0 {
			if err := json.Unmarshal(params, &req); err != nil {
				return nil, fmt.Errorf("%w: %v", contracts.ErrInvalidParams, err)
			}
		}
		return fn(ctx, req)
	}
}

func (m *Module) storeOrErr() (store.OrderStore, error) {
	if m.store == nil {
		return nil, fmt.Errorf("orders: %w: the module has no store (not registered)", contracts.ErrNotSupported)
	}
	return m.store, nil
}

func (m *Module) listOrders(ctx context.Context, r OrdersRequest) (OrdersResult, error) {
	st, err := m.storeOrErr()
	if err != nil {
		return OrdersResult{}, err
	}
	var status domain.Status
	if r.Status != "" {
		if status, err = domain.ParseStatus(r.Status); err != nil {
			return OrdersResult{}, fmt.Errorf("%w: status: %v", contracts.ErrInvalidParams, err)
		}
	}
	limit := r.Limit
	if limit <= 0 {
		limit = defaultActionLimit
	}
	limit = min(limit, maxActionLimit)
	orders, err := st.List(ctx, store.Filter{Status: status, Limit: limit})
	if err != nil {
		return OrdersResult{}, fmt.Errorf("orders: list: %w", err)
	}
	res := OrdersResult{Orders: make([]OrderRow, 0, len(orders))}
	if !r.NoCount {
		if res.Count, err = st.Count(ctx, store.Filter{Status: status}); err != nil {
			return OrdersResult{}, fmt.Errorf("orders: count: %w", err)
		}
	}
	for _, o := range orders {
		res.Orders = append(res.Orders, row(o))
	}
	return res, nil
}

func row(o domain.Order) OrderRow {
	r := OrderRow{Key: string(o.Key), Status: string(o.Status), Lines: len(o.Lines), Reasons: o.Reasons,
		Candidates: o.Candidates, CreatedAt: o.CreatedAt}
	if o.Status == domain.StatusAccepted {
		r.Total = o.Total.String()
	}
	if o.Resolution != nil {
		r.Resolved = string(o.Status)
	}
	return r
}

func (m *Module) resolve(ctx context.Context, r ResolveRequest, accept bool) (OrderRow, error) {
	st, err := m.storeOrErr()
	if err != nil {
		return OrderRow{}, err
	}
	key := strings.TrimSpace(r.Key)
	if key == "" {
		return OrderRow{}, fmt.Errorf("%w: name the order (\"key\"); orders.review lists them", contracts.ErrInvalidParams)
	}
	reason := strings.TrimSpace(r.Reason)
	if !accept && reason == "" {
		return OrderRow{}, fmt.Errorf("%w: a rejection needs a reason (\"reason\"): the customer is told it", contracts.ErrInvalidParams)
	}
	if m.opts.Parts.Review == nil {
		return OrderRow{}, fmt.Errorf("orders: review: %w (%v)", contracts.ErrNotSupported, ErrPartNotLinked)
	}
	o, err := m.opts.Parts.Review(ctx, RoutineEnv{Config: m.cfg, Store: st, Logger: m.log}, domain.MessageKey(key),
		ReviewDecision{Accept: accept, Reason: reason})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return OrderRow{}, fmt.Errorf("%w: no order %q", contracts.ErrNoSuchItem, key)
	case errors.Is(err, store.ErrNotReview), errors.Is(err, ErrInvalidReview):
		return OrderRow{}, fmt.Errorf("%w: %v", contracts.ErrInvalidParams, err)
	case err != nil:
		return OrderRow{}, err
	}
	return row(o), nil
}
