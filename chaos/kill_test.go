package chaos_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// Scenarios 1 and 2: plba (idle mode, in-memory queue) on a burst of order
// mails in Dovecot, stopped three times at random points of the burst —
// SIGKILL or SIGTERM — and started again each time. Afterwards every mail
// is \Seen with exactly one stored outcome and at most one reply; the run
// after the last restart finishes within the bound.
func TestChaosKill9(t *testing.T)   { killAndRestart(t, "kill9-restart", syscall.SIGKILL) }
func TestChaosSigterm(t *testing.T) { killAndRestart(t, "sigterm-restart", syscall.SIGTERM) }

func killAndRestart(t *testing.T, name string, sig syscall.Signal) {
	n := size(t, 600, 2000)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	addr, user, pass := dovecottest.Dovecot(t)
	mb := seed(t, ctx, addr, user, pass, n)
	r := startReplies(t)
	db := filepath.Join(t.TempDir(), "orders.db")
	cfg := botConfig(t, mb, r, db, "")
	rnd := rand.New(rand.NewPCG(uint64(sig), 99))
	var markedAtKill []int
	for range 3 {
		p := startPlba(t, cfg)
		// A random point of the burst: 150-650 ms after the start.
		time.Sleep(time.Duration(150+rnd.IntN(500)) * time.Millisecond) // the fault's timing is the point, not an event
		p.kill(t, sig)
		_, marked := mb.flags(t, ctx)
		markedAtKill = append(markedAtKill, marked)
	}
	start := time.Now()
	p := startPlba(t, cfg)
	took, _, _ := mb.waitAllSeen(t, ctx, 2*time.Minute)
	f := figures{name: name, bound: boundFor(n)}
	if took == 0 {
		f.recover = time.Since(start)
	} else {
		f.recover = took
	}
	p.kill(t, syscall.SIGTERM)
	account(t, ctx, mb, db, r, &f)
	_, total := r.duplicates()
	_, markedAfter := mb.flags(t, ctx)
	unconf := unconfirmed(t, db)
	// An operator sees them without `orders show`: `orders list` warns.
	warned := 0
	out, err := exec.Command(plbaBinary(t), "orders", "list", "--config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("plba orders list: %v\n%s", err, out)
	}
	if i := strings.Index(string(out), "warning: "); i >= 0 {
		_, _ = fmt.Sscanf(string(out[i:]), "warning: %d", &warned)
	}
	if warned != unconf {
		t.Errorf("plba orders list warns of %d unconfirmed replies, the outbox holds %d:\n%s", warned, unconf, out)
	}
	f.extra = fmt.Sprintf("marked_at_kills=%v marks_left=%d replies=%d unconfirmed_replies=%d orders_list_warns=%d", markedAtKill, markedAfter, total, unconf, warned)
	f.marksLeft = markedAfter
	report(t, f)
}

// boundFor is the recovery bound for n mails after the last restart:
// 10 s to publish everything stranded again, plus the time 4 workers need
// for the rest at a conservative 50 mails/s under -race.
func boundFor(n int) time.Duration { return 10*time.Second + time.Duration(n/50)*time.Second }
