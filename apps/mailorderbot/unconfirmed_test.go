package mailorderbot_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
)

// TestUnconfirmedRepliesCommands: a reply whose send was interrupted (an
// attempt recorded, no confirmation) makes `orders list` warn, is listed
// by `orders unconfirmed`, and `orders resend KEY` puts it back in the
// outbox — once.
func TestUnconfirmedRepliesCommands(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "orders.db")
	st, err := sqlitestore.Open(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []domain.MessageKey{"cut@example.com", "fine@example.com"} {
		o := domain.Order{Key: k, Status: domain.StatusAccepted, Subject: "Order", Customer: domain.Customer{Address: "a@example.com"}, CreatedAt: time.Now()}
		r := &domain.Reply{Key: k, From: "shop@example.com", To: []string{"a@example.com"}, Raw: []byte("Subject: x\r\n\r\nx"), CreatedAt: time.Now()}
		if _, err := st.Save(ctx, o, r); err != nil {
			t.Fatal(err)
		}
	}
	// The send of cut@ was interrupted by a kill.
	if err := st.MarkAttempt(ctx, "cut@example.com", time.Now()); err != nil {
		t.Fatal(err)
	}
	st.Close()
	run := func(args ...string) (int, string, string) {
		var out, errw bytes.Buffer
		code := runner.Run(ctx, botApp(), append(args, "--set", "apps.mailorderbot.store.path="+db), &out, &errw)
		return code, out.String(), errw.String()
	}
	if code, out, errw := run("orders", "list"); code != contracts.ExitOK || !strings.Contains(errw, "warning: 1 reply(ies) unconfirmed") || !strings.Contains(out, "2 order(s)") {
		t.Fatalf("list: %d\n%s\n%s", code, out, errw)
	}
	if code, out, errw := run("orders", "unconfirmed"); code != contracts.ExitOK || !strings.Contains(out, "cut@example.com") || strings.Contains(out, "fine@example.com") || !strings.Contains(out, "1 unconfirmed reply(ies)") {
		t.Fatalf("unconfirmed: %d\n%s\n%s", code, out, errw)
	}
	if code, out, errw := run("orders", "resend", "cut@example.com"); code != contracts.ExitOK || !strings.Contains(out, "back in the outbox") {
		t.Fatalf("resend: %d\n%s\n%s", code, out, errw)
	}
	if code, _, errw := run("orders", "resend", "cut@example.com"); code != contracts.ExitFailure || !strings.Contains(errw, "not unconfirmed") {
		t.Fatalf("second resend: %d %s", code, errw)
	}
	if code, out, errw := run("orders", "list"); code != contracts.ExitOK || strings.Contains(errw, "warning") {
		t.Fatalf("list after resend: %d\n%s\n%s", code, out, errw)
	}
	if code, out, _ := run("orders", "show", "cut@example.com"); code != contracts.ExitOK || !strings.Contains(out, `"pending": true`) || !strings.Contains(out, `"unconfirmed": false`) {
		t.Fatalf("show after resend: %s", out)
	}
}
