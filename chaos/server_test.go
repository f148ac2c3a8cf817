package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// Scenario 3: Dovecot (a private instance) stopped and started again while
// the source idles; a burst appended as soon as the server is back, before
// the source has reconnected, is processed in full. The figure is the time
// from the server's restart until every mail of that burst is \Seen.
func TestChaosDovecotRestart(t *testing.T) {
	n := size(t, 100, 400)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dc := dovecottest.StartPrivate(t)
	user := dovecottest.UserName(t)
	mb := seed(t, ctx, dc.Addr, user, dovecottest.Password, n)
	r := startReplies(t)
	db := filepath.Join(t.TempDir(), "orders.db")
	cfg := botConfig(t, mb, r, db, "")
	p := startPlba(t, cfg)
	if took, _, _ := mb.waitAllSeen(t, ctx, time.Minute); took == 0 {
		t.Fatalf("the first %d mails were not processed; stderr:\n%s", n, p.stderr.String())
	}
	// The source idles now. Stop the server, start it again, and append
	// a second burst as soon as it accepts connections.
	dc.Stop(t)
	time.Sleep(time.Second) // the server stays down a while: the outage is the point
	dc.Start(t)
	restarted := time.Now()
	rnd := rand.New(rand.NewPCG(7, 7))
	var more [][]byte
	for i := range n {
		s := demodata.GenerateSample(n+i+1, rnd)
		mb.want[s.MessageID] = s.Want
		more = append(more, s.Raw)
	}
	c := mb.dial(t, ctx)
	if _, err := imaptest.AppendMessages(ctx, c, "INBOX", more); err != nil {
		t.Fatal(err)
	}
	c.Close()
	mb.n += n
	took, _, _ := mb.waitAllSeen(t, ctx, 2*time.Minute)
	f := figures{name: "dovecot-restart-while-idle", bound: 30 * time.Second}
	f.recover = time.Since(restarted)
	if took == 0 {
		f.recover = 2 * time.Minute
	}
	p.kill(t, syscall.SIGTERM)
	account(t, ctx, mb, db, r, &f)
	f.extra = fmt.Sprintf("reconnects_logged=%d", lines(p.stderr.String(), "reconnecting"))
	report(t, f)
}
