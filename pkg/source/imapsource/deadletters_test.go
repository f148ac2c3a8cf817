package imapsource_test

import (
	"errors"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// A package-level assertion in the source would make every binary that
// names the type link the dead-letter methods (and the IMAP client); the
// test asserts it instead.
var _ contracts.DeadLetterSource = (*imapsource.Source)(nil)

// The source lists, redrives and purges the dead letters it marked, in
// every dead-letter mode, on the in-process server and on Dovecot.
func TestSourceDeadLetters(t *testing.T) {
	for _, c := range []struct {
		name   string
		acc    func(t *testing.T) account
		mutate func(*imapsource.Config)
		box    string // where the dead letters are
		reason string
	}{
		{"flag/mem", func(t *testing.T) account { return memAccount(t) }, nil, "INBOX", "marked $DeadLetter in INBOX"},
		{"flag/mem without keywords", func(t *testing.T) account { return memAccount(t, imaptest.WithoutKeywords()) }, nil, "INBOX", `marked \Flagged in INBOX`},
		{"flag/dovecot", func(t *testing.T) account { return dovecotAccount(t) }, nil, "INBOX", "marked $DeadLetter in INBOX"},
		{"move/dovecot", func(t *testing.T) account { return dovecotAccount(t) },
			func(c *imapsource.Config) { c.OnDeadLetter = "move:Failed" }, "Failed", "moved to Failed"},
	} {
		t.Run(c.name, func(t *testing.T) {
			acc := c.acc(t)
			acc.seed(t, "INBOX", "dl", 4)
			var mut []func(*imapsource.Config)
			if c.mutate != nil {
				mut = append(mut, c.mutate)
			}
			src := newSource(t, acc.config(mut...))
			ctx := t.Context()
			if dl, err := src.MarkedDeadLetters(ctx, 0); err != nil || len(dl) != 0 {
				t.Fatalf("before any dead letter: %v %v", dl, err)
			}
			pub := newCollector()
			if n, err := src.Poll(ctx, pub); n != 4 || err != nil {
				t.Fatalf("Poll = %d, %v", n, err)
			}
			tasks := pub.all()
			// Three are dead-lettered, one succeeds.
			for _, task := range tasks[:3] {
				if err := src.Settle(ctx, task, contracts.OutcomeDeadLettered, errors.New("bad")); err != nil {
					t.Fatal(err)
				}
			}
			if err := src.Settle(ctx, tasks[3], contracts.OutcomeSucceeded, nil); err != nil {
				t.Fatal(err)
			}
			dl, err := src.MarkedDeadLetters(ctx, 2)
			if err != nil || len(dl) != 2 {
				t.Fatalf("MarkedDeadLetters(2) = %d, %v", len(dl), err)
			}
			if dl[0].Reason != c.reason || dl[0].At.IsZero() || len(dl[0].Task.Payload) == 0 ||
				dl[0].Task.Attr(imapsource.AttrMailbox) != c.box || dl[0].Task.Attr(imapsource.AttrMessageID) != "dl-0@test" {
				t.Fatalf("dead letter %+v %v", dl[0], dl[0].Task.Attributes)
			}
			if c.box == "INBOX" && dl[0].Task.ID != tasks[0].ID {
				t.Fatalf("listed id %s, the task was %s", dl[0].Task.ID, tasks[0].ID)
			}
			// Dead letters are not polled.
			if n, _ := src.Poll(ctx, pub); n != 0 {
				t.Fatalf("dead letters polled: %d", n)
			}
			// Redrive the first by id: it is polled again, the others stay.
			if n, err := src.RedriveMarked(ctx, []string{dl[0].Task.ID, "imap:nope:1:1"}); n != 1 || err != nil {
				t.Fatalf("RedriveMarked = %d, %v", n, err)
			}
			again := newCollector()
			if n, err := src.Poll(ctx, again); n != 1 || err != nil {
				t.Fatalf("Poll after redrive = %d, %v", n, err)
			}
			if mid := again.all()[0].Attr(imapsource.AttrMessageID); mid != "dl-0@test" {
				t.Fatalf("redriven message %s", mid)
			}
			rest, _ := src.MarkedDeadLetters(ctx, 0)
			if len(rest) != 2 {
				t.Fatalf("left %d dead letters, want 2", len(rest))
			}
			// Purge settles the rest as seen: neither listed nor polled.
			if n, err := src.PurgeMarked(ctx); n != 2 || err != nil {
				t.Fatalf("PurgeMarked = %d, %v", n, err)
			}
			if rest, _ := src.MarkedDeadLetters(ctx, 0); len(rest) != 0 {
				t.Fatalf("after purge: %d dead letters", len(rest))
			}
			if n, _ := src.Poll(ctx, pub); n != 0 {
				t.Fatalf("purged dead letters polled: %d", n)
			}
			fl := acc.flags(t, c.box)
			if countFlag(fl, string(imap.FlagSeen)) < 2 {
				t.Fatalf("purged messages not seen: %v", fl)
			}
			// Redrive of all (nil) with nothing left.
			if n, err := src.RedriveMarked(ctx, nil); n != 0 || err != nil {
				t.Fatalf("RedriveMarked(nil) = %d, %v", n, err)
			}
		})
	}
}
