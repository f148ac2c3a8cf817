package imapsource

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/pkg/contracts"
)

// Recovery of marks whose task the queue does not hold.
//
// A cycle marks its batch ($Queued) before it publishes it, so that a
// settlement is never undone by a late mark. A process killed between the
// two leaves marks with no task behind them. With the in-memory queue the
// next start clears every mark (clearOrphans); with a durable queue other
// live processes may own marks, so a mark is only taken as lost when the
// queue says it does not hold the message's task ([contracts.TaskHolder],
// by the deterministic [TaskID]) and the mark has not changed for
// RecoverAfter. The rule, and why two live processes never both run a
// message while its owner is alive:
//
//   - The owner publishes a batch within RecoverAfter/2 of starting to mark
//     it (publishWindow); what it could not publish by then it leaves
//     marked, for this recovery, instead of unmarking it.
//   - Another process takes a mark as lost only after seeing it, not held,
//     with the same MODSEQ (RFC 7162) on two looks at least RecoverAfter
//     apart; the first look came after the mark was stored, so the owner's
//     window had closed RecoverAfter/2 before the second.
//   - It then removes the mark with UNCHANGEDSINCE: if anything touched the
//     message in between (a settlement, an owner's unmark, another
//     recovering process that already re-marked it) the server refuses, and
//     the message stays as the other party left it. The normal search of
//     the same cycle then publishes what was unmarked.
//
// The recovery needs CONDSTORE (Dovecot, Cyrus, Gmail have it); without it,
// or with a queue that cannot tell (SQS), a lost mark waits for StaleAfter.
// While the mailbox holds marks, cycles run at least every RecoverAfter/2
// (a wake-up of the idle loop), so a lost mark is seen even when no mail
// arrives; each such look costs one SEARCH and one queue lookup, and one
// FETCH MODSEQ only when a mark's task is missing.

// ErrPublishWindow is the cause recorded when a cycle's publishing ran past
// the window a recovering process waits out (RecoverAfter/2 after marking):
// the rest of the batch stays marked and is recovered after RecoverAfter.
var ErrPublishWindow = errors.New("imap: publish window ended; the rest of the batch is left to the recovery of lost marks")

// beforeClaim is a test hook (export_test.go): it runs between the FETCH
// MODSEQ and the conditional STORE.
var beforeClaim func()

// recovery is the source's state for the recovery of lost marks.
type recovery struct {
	mu     sync.Mutex
	holder contracts.TaskHolder
	// condstore: the server's CONDSTORE, 0 not known yet, 1 yes, -1 no.
	condstore int8
	// active: the last cycle ran with the recovery on (a holder, keywords
	// stored on the server, CONDSTORE); that cycle's publishing follows
	// its rules (publishWindow, no unmark of failures).
	active   bool
	lastLook time.Time
	suspects map[msgKey]suspect
	timer    *time.Timer
	// wake is the events channel of the connection the source cycles on
	// now; the timer signals it when it fires, so a timer armed before a
	// reconnect wakes the new session, not the dead one.
	wake chan struct{}
	// recovered counts marks removed by this process (health, tests).
	recovered int64
}

// suspect is a mark seen without a task in the queue.
type suspect struct {
	since  time.Time
	modseq uint64
}

var _ contracts.HeldAware = (*Source)(nil)

// UseTaskHolder implements contracts.HeldAware: the deployment passes the
// durable queue the source publishes to when it tells which tasks it holds.
func (s *Source) UseTaskHolder(h contracts.TaskHolder) {
	s.recov.mu.Lock()
	defer s.recov.mu.Unlock()
	s.recov.holder = h
	if s.recov.suspects == nil {
		s.recov.suspects = map[msgKey]suspect{}
	}
}

// recovers reports whether lost marks are recovered by this source: then a
// cycle never removes a mark it set but did not settle (a recovering
// process might have re-marked and published the message meanwhile).
func (s *Source) recovers() bool {
	s.recov.mu.Lock()
	defer s.recov.mu.Unlock()
	return s.recov.active
}

// publishWindow bounds a cycle's publishing to RecoverAfter/2 from
// markStart when lost marks are recovered; otherwise it returns ctx.
func (s *Source) publishWindow(ctx context.Context, markStart time.Time) (context.Context, context.CancelFunc) {
	if !s.recovers() {
		return ctx, func() {}
	}
	return context.WithDeadlineCause(ctx, markStart.Add(s.cfg.RecoverAfter/2), ErrPublishWindow)
}

// recoverLost runs at the start of a cycle on the selected mailbox, at most
// every RecoverAfter/2: it removes the marks found lost (see above), so that
// the cycle's search publishes those messages again.
func (s *Source) recoverLost(ctx context.Context, cn *conn, mailbox string, uv uint32) error {
	r := &s.recov
	r.mu.Lock()
	holder, condstore := r.holder, r.condstore
	r.active = false
	r.wake = cn.events
	r.mu.Unlock()
	if holder == nil || !cn.keywords {
		return nil // no queue to ask, or marks kept in process (no keywords)
	}
	has, err := s.condStore(ctx, cn)
	if err != nil {
		return err
	}
	if condstore == 0 && !has {
		s.log.Warn("imap: server lacks CONDSTORE; marks lost by a killed process wait for stale_after",
			"stale_after", s.cfg.StaleAfter)
	}
	interval := s.cfg.RecoverAfter / 2
	r.mu.Lock()
	r.active = has
	// A look woken by the timer comes a little before the interval is
	// over by the clock of this check; a tenth of slack keeps it.
	due := time.Since(r.lastLook) >= interval-interval/10
	if !r.active || !due {
		r.mu.Unlock()
		return nil
	}
	r.lastLook = time.Now()
	r.mu.Unlock()

	marked, err := s.searchMarks(ctx, cn, "search in-flight marks")
	if err != nil {
		return err
	}
	s.wakeAfter(cn, len(marked) > 0, interval)
	if len(marked) == 0 {
		r.mu.Lock()
		clear(r.suspects)
		r.mu.Unlock()
		return nil
	}

	ids := make([]string, len(marked))
	for i, u := range marked {
		ids[i] = TaskID(s.name, mailbox, uv, uint32(u))
	}
	held, err := holder.HeldTasks(ctx, ids)
	if err != nil {
		// Not the connection's fault: keep the cycle going; marks wait.
		s.log.Warn("imap: cannot ask the queue which tasks it holds; lost marks wait", "err", err)
		return nil
	}
	var missing []imap.UID
	for i, u := range marked {
		if !held[i] {
			missing = append(missing, u)
		}
	}
	live := make(map[msgKey]bool, len(missing))
	for _, u := range missing {
		live[msgKey{mailbox, uv, uint32(u)}] = true
	}
	r.mu.Lock()
	for k := range r.suspects {
		if !live[k] {
			delete(r.suspects, k) // held, settled or gone
		}
	}
	r.mu.Unlock()
	if len(missing) == 0 {
		return nil
	}

	var msgs []*imapclient.FetchMessageBuffer
	if err := cn.do(ctx, "fetch modseq", func() error {
		var err error
		msgs, err = cn.c.Fetch(imap.UIDSetNum(missing...), &imap.FetchOptions{UID: true, ModSeq: true}).Collect()
		return err
	}); err != nil {
		return err
	}
	now := time.Now()
	var lost []imap.UID
	var top uint64
	r.mu.Lock()
	for _, m := range msgs {
		k := msgKey{mailbox, uv, uint32(m.UID)}
		sp, ok := r.suspects[k]
		if ok && sp.modseq == m.ModSeq && now.Sub(sp.since) >= s.cfg.RecoverAfter {
			lost = append(lost, m.UID)
			top = max(top, m.ModSeq)
			delete(r.suspects, k)
			continue
		}
		if !ok || sp.modseq != m.ModSeq {
			r.suspects[k] = suspect{since: now, modseq: m.ModSeq}
		}
	}
	r.mu.Unlock()
	if len(lost) == 0 || top == 0 {
		return nil
	}
	if beforeClaim != nil {
		beforeClaim()
	}
	// Every message in lost has a MODSEQ <= top now; one touched after our
	// FETCH gets a higher one and the server leaves it alone.
	if err := cn.do(ctx, "clear lost in-flight marks", func() error {
		return cn.c.Store(imap.UIDSetNum(lost...), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: s.inFlightFlags()},
			&imap.StoreOptions{UnchangedSince: top}).Close()
	}); err != nil {
		return fmt.Errorf("imap: clear %d lost in-flight marks: %w", len(lost), err)
	}
	r.mu.Lock()
	r.recovered += int64(len(lost))
	r.mu.Unlock()
	s.log.Warn("imap: publishing again messages whose in-flight mark has no task in the queue (its publisher stopped between marking and publishing)",
		"count", len(lost), "mailbox", mailbox, "recover_after", s.cfg.RecoverAfter)
	return nil
}

// wakeAfter keeps cycles coming while the mailbox holds marks: the idle
// loop (and a server without IDLE) waits on cn.events, which the timer
// signals after interval. With no marks left the timer is stopped.
func (s *Source) wakeAfter(cn *conn, marks bool, interval time.Duration) {
	r := &s.recov
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if !marks {
		return
	}
	r.wake = cn.events
	r.timer = time.AfterFunc(interval, func() {
		r.mu.Lock()
		events := r.wake
		r.mu.Unlock()
		select {
		case events <- struct{}{}:
		default:
		}
	})
}

// wakeForRecovery arms the wake-up of the recovery (if it is on), so that
// marks another process set since the last look are looked at.
func (s *Source) wakeForRecovery(cn *conn) {
	if s.recovers() {
		s.wakeAfter(cn, true, s.cfg.RecoverAfter/2)
	}
}

// recoveredMarks is how many lost marks this source removed.
func (s *Source) recoveredMarks() int64 {
	s.recov.mu.Lock()
	defer s.recov.mu.Unlock()
	return s.recov.recovered
}

// stopRecovery stops the wake-up timer (at Close).
func (s *Source) stopRecovery() {
	s.recov.mu.Lock()
	defer s.recov.mu.Unlock()
	if s.recov.timer != nil {
		s.recov.timer.Stop()
		s.recov.timer = nil
	}
}
