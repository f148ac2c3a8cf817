package mailorderbot_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource"
)

// quietSource publishes nothing: the actions need the module's store, not
// a mailbox.
type quietSource struct{}

func (quietSource) Name() string                                           { return "imap" }
func (quietSource) Poll(context.Context, contracts.Publisher) (int, error) { return 0, nil }

// botService runs the bot (with the given review part) in a runtime and
// returns the control plane over it, as `plba run` builds it.
func botService(t *testing.T, review func(context.Context, mailorderbot.RoutineEnv, domain.MessageKey, mailorderbot.ReviewDecision) (domain.Order, error)) (*control.Service, *mailorderbot.Module) {
	t.Helper()
	ctx := context.Background()
	bot := mailorderbot.New(mailorderbot.Options{Parts: mailorderbot.Parts{Review: review,
		Source: func(contracts.Registry, imapsource.Config, ...imapsource.Option) (contracts.TaskSource, error) {
			return quietSource{}, nil
		}}})
	cfg, err := config.New(ctx, config.Options{Environ: []string{}, Flags: map[string]string{
		"apps.mailorderbot.imap.addr": "127.0.0.1:1", "apps.mailorderbot.imap.tls": "none",
		"apps.mailorderbot.imap.username": "u", "apps.mailorderbot.imap.password": "p",
		"apps.mailorderbot.imap.mode": "poll", "apps.mailorderbot.imap.poll_interval": "1h",
		"apps.mailorderbot.store.path": filepath.Join(t.TempDir(), "orders.db"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Config: cfg, Logging: logging})
	if err := m.Register(bot); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop(context.Background(), true) })
	so := control.LocalOptions(m)
	so.Modules = []contracts.ApplicationModule{bot}
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	return svc, bot
}

func call(t *testing.T, svc *control.Service, action string, params any, authenticated bool) control.Response {
	t.Helper()
	b, _ := json.Marshal(params)
	return svc.Do(context.Background(), control.Call{Action: action, Params: b, Principal: "test", Authenticated: authenticated})
}

// The bot's orders and its review queue through the control plane: the
// panels the status page renders, listing without personal data, and
// accept / reject with handler.Resolve behind them (parts.Review), with
// the typed errors every door answers.
func TestOrderActions(t *testing.T) {
	svc, bot := botService(t, parts.Review)
	ctx := context.Background()
	now := time.Now().UTC()
	for i, key := range []domain.MessageKey{"rev-1@example.com", "rev-2@example.com"} {
		o := domain.Order{Key: key, Status: domain.StatusReview, Subject: "Order", Customer: domain.Customer{Name: "Alice Baker", Address: "alice@example.com"},
			Lines: []domain.Line{{SKU: "ABC-123", Qty: 2}}, Candidates: []string{"TEA-001 - maybe three?"},
			Reasons: []string{"line not understood"}, CreatedAt: now.Add(time.Duration(i) * time.Second)}
		if _, err := bot.Store().Save(ctx, o, nil); err != nil {
			t.Fatal(err)
		}
	}

	var panels control.PanelsResult
	if err := call(t, svc, "panels", nil, false).Decode(&panels); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range panels.Panels {
		ids = append(ids, p.ID+"="+p.Action)
	}
	if !slices.Equal(ids, []string{"mailorderbot.orders=orders.list", "mailorderbot.review=orders.review", "mailorderbot.unconfirmed=orders.unconfirmed"}) {
		t.Fatalf("panels %v", ids)
	}

	var rev mailorderbot.OrdersResult
	resp := call(t, svc, "orders.review", map[string]any{"limit": 10}, false)
	if err := resp.Decode(&rev); err != nil || rev.Count != 2 || len(rev.Orders) != 2 || rev.Orders[0].Key != "rev-2@example.com" ||
		rev.Orders[0].Candidates[0] != "TEA-001 - maybe three?" {
		t.Fatalf("orders.review: %v %+v", err, rev)
	}
	if bytes.Contains(resp.Result, []byte("alice")) || bytes.Contains(resp.Result, []byte("Alice")) {
		t.Errorf("a read action shows the customer: %s", resp.Result)
	}
	if e := call(t, svc, "orders.list", map[string]any{"status": "nonsense"}, false).Error; e == nil || e.Code != control.CodeBadRequest {
		t.Errorf("bad status: %+v", e)
	}

	// Mutations need the token; a rejection needs a reason.
	if e := call(t, svc, "orders.accept", map[string]any{"key": "rev-1@example.com"}, false).Error; e == nil || e.Code != control.CodeUnauthorized {
		t.Errorf("accept without token: %+v", e)
	}
	if e := call(t, svc, "orders.reject", map[string]any{"key": "rev-1@example.com"}, true).Error; e == nil || e.Code != control.CodeBadRequest {
		t.Errorf("reject without reason: %+v", e)
	}
	if e := call(t, svc, "orders.accept", map[string]any{"key": "nope@example.com"}, true).Error; e == nil || e.Code != control.CodeNotFound {
		t.Errorf("accept unknown: %+v", e)
	}
	var row mailorderbot.OrderRow
	if err := call(t, svc, "orders.accept", map[string]any{"key": "rev-1@example.com"}, true).Decode(&row); err != nil ||
		row.Status != "accepted" || row.Total != "25.00 EUR" || row.Resolved != "accepted" {
		t.Fatalf("accept: %v %+v", err, row)
	}
	if e := call(t, svc, "orders.reject", map[string]any{"key": "rev-1@example.com", "reason": "late"}, true).Error; e == nil || e.Code != control.CodeBadRequest {
		t.Errorf("resolving twice: %+v", e)
	}
	if err := call(t, svc, "orders.reject", map[string]any{"key": "rev-2@example.com", "reason": "we do not sell tea by the sack"}, true).Decode(&row); err != nil ||
		row.Status != "rejected" {
		t.Fatalf("reject: %v %+v", err, row)
	}
	if err := call(t, svc, "orders.review", nil, false).Decode(&rev); err != nil || rev.Count != 0 || len(rev.Orders) != 0 {
		t.Fatalf("review queue after resolving: %v %+v", err, rev)
	}
	var all mailorderbot.OrdersResult
	if err := call(t, svc, "orders.list", nil, false).Decode(&all); err != nil || all.Count != 2 || all.Orders[1].Status != "accepted" {
		t.Fatalf("orders.list: %v %+v", err, all)
	}
	// The status page's panels ask for no count (a DynamoDB count reads
	// the whole status index on every poll).
	var page mailorderbot.OrdersResult
	if err := call(t, svc, "orders.list", map[string]any{"no_count": true}, false).Decode(&page); err != nil || page.Count != 0 || len(page.Orders) != 2 {
		t.Fatalf("orders.list no_count: %v %+v", err, page)
	}
}

// A binary without the review part (the Lambda control function) lists
// orders but answers accept and reject with not_supported.
func TestOrderActionsWithoutReviewPart(t *testing.T) {
	svc, _ := botService(t, nil)
	if e := call(t, svc, "orders.accept", map[string]any{"key": "x@example.com"}, true).Error; e == nil || e.Code != control.CodeNotSupported {
		t.Errorf("accept without the part: %+v", e)
	}
	if r := call(t, svc, "orders.list", nil, false); !r.OK {
		t.Errorf("orders.list without the part: %+v", r.Error)
	}
}
