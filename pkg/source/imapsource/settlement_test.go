package imapsource_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// TestDeadLetterMoveByServerCaps moves a dead letter on servers with and
// without MOVE and UIDPLUS: the message is never lost, and a message a
// person marked \Deleted in the same mailbox is never expunged by us.
func TestDeadLetterMoveByServerCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []imaptest.MemOption
		// originalStays: without UIDPLUS the original is copied and
		// marked, not expunged.
		originalStays bool
		folder        string
	}{
		{name: "MOVE", folder: "Failed"},
		{name: "UIDPLUS without MOVE (Courier)", opts: []imaptest.MemOption{imaptest.WithCaps(imap.CapUIDPlus)}, folder: "Failed"},
		{name: "neither (Mailutils)", opts: []imaptest.MemOption{imaptest.WithCaps()}, originalStays: true, folder: "Failed"},
		{name: "namespace prefix", opts: []imaptest.MemOption{imaptest.WithCaps(imap.CapUIDPlus), imaptest.WithNamespacePrefix("INBOX/")}, folder: "INBOX/Failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acc := memAccount(t, tc.opts...)
			acc.seed(t, "INBOX", "m", 2)
			// A person's \Deleted message, not yet expunged by them.
			acc.seed(t, "INBOX", "theirs", 1, imap.FlagDeleted, imap.FlagSeen)
			src := newSource(t, acc.config(func(c *imapsource.Config) { c.OnDeadLetter = "move:Failed" }))
			pub := newCollector()
			if n, err := src.Poll(t.Context(), pub); err != nil || n != 2 {
				t.Fatalf("Poll = %d, %v", n, err)
			}
			if err := src.Settle(t.Context(), pub.all()[0], contracts.OutcomeDeadLettered, errors.New("bad order")); err != nil {
				t.Fatal(err)
			}
			if moved := acc.flags(t, tc.folder); len(moved) != 1 {
				t.Fatalf("%s holds %d messages, want 1", tc.folder, len(moved))
			}
			inbox := acc.flags(t, "INBOX")
			if inbox[3] == nil {
				t.Errorf("the person's \\Deleted message was expunged: INBOX = %v", inbox)
			}
			if tc.originalStays {
				if !has(inbox[1], `\Flagged`) || !has(inbox[1], "$DeadLetter") || has(inbox[1], `\Seen`) {
					t.Errorf("original without UIDPLUS: flags %v, want \\Flagged $DeadLetter, unseen", inbox[1])
				}
			} else if inbox[1] != nil {
				t.Errorf("original still in INBOX: %v", inbox)
			}
			// Not polled again, in any case; the dead letter is listed once.
			pub2 := newCollector()
			if n, err := newSource(t, src.Config()).Poll(t.Context(), pub2); err != nil || n != 0 {
				t.Errorf("Poll after dead letter = %d, %v; want 0 (message 2 in flight, 1 dead)", n, err)
			}
			dl, err := src.MarkedDeadLetters(t.Context(), 0)
			if err != nil || len(dl) != 1 {
				t.Fatalf("MarkedDeadLetters = %v, %v; want 1", dl, err)
			}
		})
	}
}

// TestDeadLetterCopyFailureKeepsMessage: a COPY the server refuses (here
// NO [OVERQUOTA]) fails the settlement, and the message stays where it was.
func TestDeadLetterCopyFailureKeepsMessage(t *testing.T) {
	acc := memAccount(t, imaptest.WithCaps(imap.CapUIDPlus), imaptest.WithCopyError(&imap.Error{
		Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeOverQuota, Text: "quota exceeded",
	}))
	acc.seed(t, "INBOX", "m", 1)
	acc.create(t, "Failed")
	src := newSource(t, acc.config(func(c *imapsource.Config) { c.OnDeadLetter = "move:Failed" }))
	pub := newCollector()
	if _, err := src.Poll(t.Context(), pub); err != nil {
		t.Fatal(err)
	}
	err := src.Settle(t.Context(), pub.all()[0], contracts.OutcomeDeadLettered, errors.New("bad order"))
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeOverQuota {
		t.Fatalf("Settle = %v, want the server's OVERQUOTA", err)
	}
	inbox := acc.flags(t, "INBOX")
	if len(inbox) != 1 || has(inbox[1], `\Deleted`) {
		t.Errorf("INBOX after a failed copy = %v, want the message, not \\Deleted", inbox)
	}
}

// TestEmptyBodyIsRetriedNotPublished: a FETCH answered with an empty
// BODY[] yields no task and no mark; the next cycle publishes the message.
func TestEmptyBodyIsRetriedNotPublished(t *testing.T) {
	acc := memAccount(t)
	acc.seed(t, "INBOX", "m", 3)
	var blank atomic.Int32
	blank.Store(2) // the first two bodies the server sends arrive empty
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newBlankingConn(c, &blank), nil
	}
	src := newSource(t, acc.config(), imapsource.WithDialContext(dial))
	pub := newCollector()
	n, err := src.Poll(t.Context(), pub)
	if !errors.Is(err, imapsource.ErrNoBody) || n != 1 {
		t.Fatalf("Poll = %d, %v; want 1 and ErrNoBody", n, err)
	}
	if h := src.Health(t.Context()); h.Details["last_error"] == "" {
		t.Errorf("health does not show the fetch error: %v", h.Details)
	}
	fl := acc.flags(t, "INBOX")
	if countFlag(fl, queued) != 1 || countFlag(fl, `\Seen`) != 0 {
		t.Errorf("flags after poll = %v; want only the published one in flight", fl)
	}
	n, err = src.Poll(t.Context(), pub)
	if err != nil || n != 2 {
		t.Fatalf("second Poll = %d, %v; want the 2 retried", n, err)
	}
	for _, task := range pub.all() {
		if len(task.Payload) == 0 {
			t.Errorf("task %s published without a body", task.ID)
		}
	}
}

// blankingConn rewrites the server's "BODY[] {n}" literals to "BODY[] """
// while its counter is positive, as a server under concurrent sessions
// may answer.
type blankingConn struct {
	net.Conn
	left *atomic.Int32
	mu   sync.Mutex
	r    *bufio.Reader
	out  []byte
}

var bodyLiteral = regexp.MustCompile(`BODY\[\] \{(\d+)\}\r\n$`)

func newBlankingConn(c net.Conn, left *atomic.Int32) *blankingConn {
	return &blankingConn{Conn: c, left: left, r: bufio.NewReader(c)}
}

func (b *blankingConn) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.out) == 0 {
		line, err := b.r.ReadBytes('\n')
		if m := bodyLiteral.FindSubmatchIndex(line); m != nil && b.left.Load() > 0 {
			b.left.Add(-1)
			size, _ := strconv.Atoi(string(line[m[2]:m[3]]))
			if _, derr := b.r.Discard(size); derr != nil {
				return 0, derr
			}
			line = append(line[:m[0]], `BODY[] ""`...)
		}
		b.out = append(b.out, line...)
		if err != nil && len(b.out) == 0 {
			return 0, err
		}
		if err != nil {
			break
		}
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}
