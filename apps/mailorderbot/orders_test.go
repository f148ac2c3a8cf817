package mailorderbot_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

func botApp() runner.App {
	return runner.App{Name: "plba", Modules: func(env runner.ModuleEnv) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{mailorderbot.New(mailorderbot.Options{Demo: env.Demo, Parts: parts.All})}
	}}
}

// TestOrdersReviewCommand: `orders list --status review` shows a review,
// `orders review KEY --accept --line …` resolves it with the confirmed lines.
func TestOrdersReviewCommand(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "orders.db")
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := domain.Order{Key: "rev-cli@example.com", Status: domain.StatusReview, Subject: "Order",
		Customer: domain.Customer{Address: "alice@example.com"}, Lines: []domain.Line{{SKU: "ABC-123", Qty: 2}},
		Candidates: []string{"TEA-001 - maybe three?"}, Reasons: []string{"line not understood"}, CreatedAt: time.Now()}
	if _, err := st.Save(ctx, o, nil); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := runner.Run(ctx, botApp(), append(args, "--set", "apps.mailorderbot.store.path="+db), &out, &errw)
		return code, out.String(), errw.String()
	}
	if code, out, errw := run("orders", "list", "--status", "review"); code != contracts.ExitOK || !strings.Contains(out, "rev-cli@example.com") {
		t.Fatalf("list review: %d %s %s", code, out, errw)
	}
	if code, _, _ := run("orders", "review", "rev-cli@example.com", "--accept", "--reject"); code != contracts.ExitUsage {
		t.Fatalf("--accept --reject together: exit %d", code)
	}
	code, out, errw := run("orders", "review", "rev-cli@example.com", "--accept", "--line", "ABC-123:2", "--line", "tea-001:3")
	if code != contracts.ExitOK || !strings.Contains(out, "accepted (2 line(s), total 38.50 EUR)") {
		t.Fatalf("review --accept: %d %s %s", code, out, errw)
	}
	if code, _, errw := run("orders", "review", "rev-cli@example.com", "--reject", "--reason", "x"); code != contracts.ExitFailure || !strings.Contains(errw, "not in review") {
		t.Fatalf("second review: %d %s", code, errw)
	}
	if code, out, _ := run("orders", "show", "rev-cli@example.com"); code != contracts.ExitOK || !strings.Contains(out, `"resolution"`) || !strings.Contains(out, `"pending": true`) {
		t.Fatalf("show after review: %s", out)
	}
}
