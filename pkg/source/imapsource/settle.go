package imapsource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
)

// ErrNotSourceTask is returned by Settle for a task without the IMAP
// attributes this source sets (a wiring bug, not a mail problem).
var ErrNotSourceTask = errors.New("imap: task has no IMAP source attributes")

// Settle acts on a task's final outcome. It needs nothing but the task's
// attributes, so a different process than the one that polled may call it
// (the Lambda worker settles what the Lambda poller published):
//
//   - OutcomeSucceeded: set \Seen and clear the in-flight keywords.
//   - OutcomeDeadLettered with OnDeadLetter "flag": leave the message unseen,
//     set \Flagged and DeadLetterKeyword (so it is not polled again), clear
//     the in-flight keywords; with "move:<folder>": clear the in-flight
//     keywords and move it there (the folder is created when missing).
//
// Before touching a UID it compares the task's UIDVALIDITY with the
// mailbox's. When they differ the UID may now name another message, so the
// message is looked up by its Message-ID instead. A message that cannot be
// found (deleted, moved away, or no Message-ID after a UIDVALIDITY change)
// is logged with [ErrMessageNotFound], counted in Health as unsettled, and
// Settle returns nil: retrying the task could not find it either.
func (s *Source) Settle(ctx context.Context, task contracts.Task, outcome contracts.Outcome, cause error) error {
	mailbox := task.Attr(AttrMailbox)
	uv, err1 := strconv.ParseUint(task.Attr(AttrUIDValidity), 10, 32)
	uid, err2 := strconv.ParseUint(task.Attr(AttrUID), 10, 32)
	if mailbox == "" || err1 != nil || err2 != nil || uid == 0 {
		return fmt.Errorf("imap: settle task %q: %w", task.ID, ErrNotSourceTask)
	}
	switch outcome {
	case contracts.OutcomeSucceeded, contracts.OutcomeDeadLettered:
	default:
		return fmt.Errorf("imap: settle task %q: unknown outcome %d", task.ID, int(outcome))
	}
	if outcome == contracts.OutcomeDeadLettered {
		s.log.Warn("imap: task dead-lettered", "task", task.ID, "cause", cause, "action", s.cfg.OnDeadLetter)
	} else {
		// Successes are coalesced: one UID STORE for every settlement
		// that arrives while another one is on the wire.
		return s.settleBatched(ctx, &settleReq{task: task, mailbox: mailbox, uv: uint32(uv), uid: imap.UID(uid)})
	}
	_, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
		return 0, false, s.settleOn(ctx, cn, task, mailbox, uint32(uv), imap.UID(uid), outcome)
	})
	if err != nil {
		return fmt.Errorf("imap: settle task %q (%s): %w", task.ID, outcome, err)
	}
	s.settled(mailbox, uint32(uv), imap.UID(uid))
	return nil
}

func (s *Source) settleOn(ctx context.Context, cn *conn, task contracts.Task, mailbox string, uv uint32, uid imap.UID, outcome contracts.Outcome) error {
	// Within one session the server keeps UIDVALIDITY stable for the
	// selected mailbox, so a selection made by an earlier call is reused.
	// But a message that arrived after it is not yet part of this session's
	// view (Dovecot ignores its UID), so when the UID is not found the
	// mailbox is selected afresh and the settlement tried once more.
	fresh := cn.selected != mailbox
	for {
		if fresh {
			if _, err := cn.selectMailbox(ctx, mailbox, s.keywordFlags()); err != nil {
				return err
			}
		}
		found, err := s.settleSelected(ctx, cn, task, uv, uid, outcome, fresh)
		if err != nil || found || fresh {
			return err
		}
		fresh = true
	}
}

// settleSelected settles on the selected mailbox. It reports found=false
// only when the message was not found and a fresh SELECT might help (the
// caller retries); after a fresh SELECT it reports the loss itself.
func (s *Source) settleSelected(ctx context.Context, cn *conn, task contracts.Task, uv uint32, uid imap.UID, outcome contracts.Outcome, fresh bool) (found bool, err error) {
	mailbox := cn.selected
	notFound := func(why string) (bool, error) {
		if !fresh {
			return false, nil
		}
		s.notFound(task, why)
		return true, nil
	}
	uids := []imap.UID{uid}
	if cn.uidValidity != uv {
		msgID := task.Attr(AttrMessageID)
		s.log.Warn("imap: UIDVALIDITY changed since the task was published; looking the message up by Message-ID",
			"err", ErrUIDValidityChanged, "task", task.ID, "task_uidvalidity", uv, "uidvalidity", cn.uidValidity,
			"message_id", msgID)
		if msgID == "" {
			return notFound("no Message-ID to look it up by")
		}
		var hits []imap.UID
		if err := cn.do(ctx, "search by Message-ID", func() error {
			data, err := cn.c.UIDSearch(&imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}},
			}, nil).Wait()
			if err == nil {
				hits = data.AllUIDs()
			}
			return err
		}); err != nil {
			return false, err
		}
		if len(hits) == 0 {
			return notFound("no message with its Message-ID")
		}
		uids = hits
	}

	var n int
	if outcome == contracts.OutcomeSucceeded {
		n, err = s.storeSettled(ctx, cn, uids, []imap.Flag{imap.FlagSeen})
	} else {
		n, err = s.deadLetter(ctx, cn, uids)
	}
	if err != nil {
		return false, err
	}
	if n == 0 {
		return notFound("the UID no longer exists")
	}
	s.mu.Lock()
	s.health.settled++
	for _, u := range uids {
		delete(s.inflight, msgKey{mailbox, cn.uidValidity, uint32(u)})
	}
	s.mu.Unlock()
	return true, nil
}

func (s *Source) notFound(task contracts.Task, why string) {
	s.log.Warn("imap: cannot settle task; message not found", "err", ErrMessageNotFound,
		"task", task.ID, "ref", task.Attr(contracts.AttrSourceRef), "why", why)
	s.mu.Lock()
	s.health.unsettledCount++
	s.mu.Unlock()
}

// storeSettled adds flags (answering with FETCH, which tells us the
// messages exist) and, pipelined, removes the in-flight keywords. It
// returns how many of uids exist.
func (s *Source) storeSettled(ctx context.Context, cn *conn, uids []imap.UID, add []imap.Flag) (int, error) {
	found, err := s.storeSettledUIDs(ctx, cn, uids, add)
	return len(found), err
}

// storeSettledUIDs is storeSettled reporting which of uids exist. Only
// FETCH replies naming a UID asked for count. A server may send no FETCH
// at all for a STORE that changed nothing (Cyrus, when \Seen was already
// set): the UIDs without a reply are looked up, and one that exists with
// every flag asked for counts as settled.
func (s *Source) storeSettledUIDs(ctx context.Context, cn *conn, uids []imap.UID, add []imap.Flag) (map[imap.UID]bool, error) {
	set := imap.UIDSetNum(uids...)
	found := map[imap.UID]bool{}
	err := cn.do(ctx, "store settled flags", func() error {
		// One after the other, not pipelined: Cyrus answers pipelined
		// commands in separate small writes, and Nagle on its side plus
		// our delayed ACK stall the second answer 40 ms (measured: 44 ms
		// per settlement pipelined, under 1 ms in turn).
		msgs, err := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: add}, nil).Collect()
		for _, m := range msgs {
			found[m.UID] = true
		}
		if err != nil || !cn.keywords {
			return err
		}
		return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: s.inFlightFlags()}, nil).Close()
	})
	if err != nil {
		return nil, err
	}
	return s.confirmFlags(ctx, cn, uids, found, add)
}

// confirmFlags completes found (the UIDs a STORE answered for, possibly
// including others the server volunteered) for uids: every UID without a
// reply is fetched, and it counts when it exists and carries all of want.
// One that exists without them was not part of the session's view when
// the STORE ran (Dovecot ignores UIDs of messages that arrived after the
// session last synced; this FETCH syncs it): it does not count, so the
// caller selects afresh and stores again.
func (s *Source) confirmFlags(ctx context.Context, cn *conn, uids []imap.UID, found map[imap.UID]bool, want []imap.Flag) (map[imap.UID]bool, error) {
	out := make(map[imap.UID]bool, len(uids))
	var missing []imap.UID
	for _, u := range uids {
		if found[u] {
			out[u] = true
		} else {
			missing = append(missing, u)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	err := cn.do(ctx, "fetch flags", func() error {
		msgs, err := cn.c.Fetch(imap.UIDSetNum(missing...), &imap.FetchOptions{UID: true, Flags: true}).Collect()
		for _, m := range msgs {
			ok := slices.Contains(missing, m.UID)
			for _, f := range want {
				ok = ok && hasFlag(m.Flags, f)
			}
			if ok {
				out[m.UID] = true
			}
		}
		return err
	})
	return out, err
}

// settleReq is one successful settlement waiting for its batch.
type settleReq struct {
	task    contracts.Task
	mailbox string
	uv      uint32
	uid     imap.UID
	done    chan error // buffered 1
}

// answer reports r's result once; later answers (a round retried on a
// redialled connection, an error after success) are dropped.
func (r *settleReq) answer(err error) {
	select {
	case r.done <- err:
	default:
	}
}

// settleBatcher coalesces successful settlements (group commit): the first
// caller becomes the leader and settles every request queued meanwhile
// with one pipelined pair of UID STOREs per mailbox; callers that arrive
// while it works queue up for the next round. Nothing waits for a timer,
// so a lone settlement costs what it did before, and \Seen is still set
// only in Settle, after the routine's outcome was stored.
type settleBatcher struct {
	mu      sync.Mutex
	pending []*settleReq
	running bool
}

func (s *Source) settleBatched(ctx context.Context, r *settleReq) error {
	r.done = make(chan error, 1)
	b := &s.batcher
	b.mu.Lock()
	b.pending = append(b.pending, r)
	if b.running {
		b.mu.Unlock()
		select {
		case err := <-r.done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("imap: settle task %q: %w", r.task.ID, ctx.Err())
		}
	}
	b.running = true
	for {
		batch := b.pending
		b.pending = nil
		b.mu.Unlock()
		// The batch is others' work too: not bound to this caller's ctx.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*s.cfg.CommandTimeout)
		s.settleRound(bctx, batch)
		cancel()
		b.mu.Lock()
		if len(b.pending) == 0 {
			b.running = false
			b.mu.Unlock()
			return <-r.done
		}
	}
}

// settleRound settles a batch of successes, one group per mailbox and
// UIDVALIDITY; a request the batch STORE finds nothing for takes the
// single path (fresh SELECT, Message-ID lookup, not-found accounting).
func (s *Source) settleRound(ctx context.Context, batch []*settleReq) {
	type group struct {
		mailbox string
		uv      uint32
	}
	groups := map[group][]*settleReq{}
	var order []group
	for _, r := range batch {
		g := group{r.mailbox, r.uv}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], r)
	}
	for _, g := range order {
		reqs := groups[g]
		_, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
			if cn.selected != g.mailbox {
				if _, err := cn.selectMailbox(ctx, g.mailbox, s.keywordFlags()); err != nil {
					return 0, false, err
				}
			}
			var single []*settleReq
			if cn.uidValidity == g.uv {
				uids := make([]imap.UID, len(reqs))
				for i, r := range reqs {
					uids[i] = r.uid
				}
				found, err := s.storeSettledUIDs(ctx, cn, uids, []imap.Flag{imap.FlagSeen})
				if err != nil {
					return 0, false, err
				}
				for _, r := range reqs {
					if !found[r.uid] {
						single = append(single, r)
						continue
					}
					s.mu.Lock()
					s.health.settled++
					delete(s.inflight, msgKey{g.mailbox, g.uv, uint32(r.uid)})
					s.mu.Unlock()
					s.settled(g.mailbox, g.uv, r.uid)
					r.answer(nil)
				}
			} else {
				single = reqs
			}
			for _, r := range single {
				err := s.settleOn(ctx, cn, r.task, r.mailbox, r.uv, r.uid, contracts.OutcomeSucceeded)
				if err == nil {
					s.settled(r.mailbox, r.uv, r.uid)
				} else {
					err = fmt.Errorf("imap: settle task %q (%s): %w", r.task.ID, contracts.OutcomeSucceeded, err)
				}
				r.answer(err)
			}
			return 0, false, nil
		})
		if err != nil {
			for _, r := range reqs {
				r.answer(fmt.Errorf("imap: settle task %q (%s): %w", r.task.ID, contracts.OutcomeSucceeded, err))
			}
		}
	}
}

// deadLetter applies OnDeadLetter to uids and returns how many exist.
func (s *Source) deadLetter(ctx context.Context, cn *conn, uids []imap.UID) (int, error) {
	folder := s.cfg.moveFolder()
	markFlags := []imap.Flag{imap.FlagFlagged}
	if cn.keywords {
		markFlags = append(markFlags, imap.Flag(s.cfg.DeadLetterKeyword))
	}
	if folder == "" {
		return s.storeSettled(ctx, cn, uids, markFlags)
	}
	folder, err := s.folderName(ctx, cn, folder)
	if err != nil {
		return 0, err
	}
	// Clear the marks first so the moved copy is clean; the non-silent
	// store also tells whether the messages still exist.
	set := imap.UIDSetNum(uids...)
	var flags []imap.Flag // without keywords: an empty STORE, just to learn existence
	if cn.keywords {
		flags = s.inFlightFlags()
	}
	found := map[imap.UID]bool{}
	if err := cn.do(ctx, "clear in-flight mark", func() error {
		msgs, err := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: flags}, nil).Collect()
		for _, m := range msgs {
			found[m.UID] = true
		}
		return err
	}); err != nil {
		return 0, err
	}
	// A STORE that changed nothing may have no reply: ask for the rest.
	exist, err := s.confirmFlags(ctx, cn, uids, found, nil)
	if err != nil {
		return 0, err
	}
	var live []imap.UID
	for _, u := range uids {
		if exist[u] {
			live = append(live, u)
		}
	}
	if len(live) == 0 {
		return 0, nil
	}
	expunged, err := s.moveUIDs(ctx, cn, live, folder)
	if err != nil || expunged {
		return len(live), err
	}
	// Copied, but the server cannot expunge just these (no UIDPLUS): the
	// original stays, marked like a dead letter in flag mode, so it is
	// not polled again (see criteria) and a person sees why.
	_, err = s.storeSettled(ctx, cn, live, markFlags)
	return len(live), err
}

// deadLetterUIDs is deadLetter for the cycle's own use (messages the queue
// refused as too large).
func (s *Source) deadLetterUIDs(ctx context.Context, cn *conn, uids []imap.UID) error {
	_, err := s.deadLetter(ctx, cn, uids)
	return err
}
