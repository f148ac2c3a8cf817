package imapsource

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/pkg/contracts"
)

// generations is how many generation keywords mark when a message was put
// in flight. Four keep the set of keywords per mailbox small (Dovecot's
// maildir stores at most 26) while leaving room to tell "fresh" (current or
// previous generation) from "stale".
const generations = 4

// generation returns the in-flight generation at t.
func (s *Source) generation(t time.Time) int {
	return int((t.UnixNano() / int64(s.cfg.StaleAfter)) % generations)
}

func (s *Source) genKeyword(g int) imap.Flag {
	return imap.Flag(s.cfg.InFlightKeyword + "G" + strconv.Itoa((g+generations)%generations))
}

// inFlightFlags are the in-flight keyword and every generation keyword.
func (s *Source) inFlightFlags() []imap.Flag {
	f := []imap.Flag{imap.Flag(s.cfg.InFlightKeyword)}
	for g := range generations {
		f = append(f, s.genKeyword(g))
	}
	return f
}

// keywordFlags are every keyword the source stores; all must be permanent
// for the keyword mode.
func (s *Source) keywordFlags() []imap.Flag {
	return append(s.inFlightFlags(), imap.Flag(s.cfg.DeadLetterKeyword))
}

// criteria selects messages to publish: unseen, not dead-lettered, and not
// in flight, where "in flight" means $Queued with the current or the
// previous generation keyword. A $Queued message with an older generation is
// stale and selected again.
func (s *Source) criteria(cn *conn, g int) *imap.SearchCriteria {
	c := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
	if !cn.keywords {
		if s.cfg.moveFolder() == "" || !cn.canExpunge() {
			// Dead letters are only \Flagged in this mode (so are the
			// originals a move without UIDPLUS leaves behind).
			c.NotFlag = append(c.NotFlag, imap.FlagFlagged)
		}
		return c
	}
	c.NotFlag = append(c.NotFlag, imap.Flag(s.cfg.DeadLetterKeyword))
	c.Or = [][2]imap.SearchCriteria{{
		{NotFlag: []imap.Flag{imap.Flag(s.cfg.InFlightKeyword)}},
		{NotFlag: []imap.Flag{s.genKeyword(g), s.genKeyword(g - 1)}},
	}}
	return c
}

// continueWithin: a cycle this soon after one that left messages continues
// its catch-up without a fresh SELECT.
const continueWithin = time.Second

// cycleResult is what one cycle did. imapErr means the connection is
// suspect; pubErr means some messages were not published — the queue
// refused tasks, or the server sent a message without its body — and stay
// available for the next cycle.
type cycleResult struct {
	published int
	more      bool
	// capped: the publisher's read-ahead bound (contracts.Backpressure)
	// cut the cycle short; more may be waiting.
	capped bool
	pubErr error
}

// cycle is one poll cycle on cn. Round trips: SELECT, UID SEARCH, UID FETCH
// (only if something matched), one pipelined pair of UID STORE (mark in
// flight), and only on publish failures one more UID STORE (unmark). None
// of them grows with the number of messages.
func (s *Source) cycle(ctx context.Context, cn *conn, pub contracts.Publisher) (int, bool, error) {
	r, err := s.cycleResult(ctx, cn, pub)
	if err != nil {
		return r.published, r.more, err
	}
	return r.published, r.more, r.pubErr
}

func (s *Source) cycleResult(ctx context.Context, cn *conn, pub contracts.Publisher) (cycleResult, error) {
	var res cycleResult
	mailbox := s.cfg.Mailbox
	prev := cn.uidValidity
	s.mu.Lock()
	if prev == 0 {
		prev = s.health.uidValidity
	}
	s.mu.Unlock()
	// A cycle that continues a catch-up (the previous one on this
	// connection left messages, moments ago) reuses the selection: the
	// server cannot change UIDVALIDITY under a selected mailbox, the view
	// already has every mark this connection stored, and what other
	// sessions changed meanwhile shows up after this cycle's commands, in
	// time for the next cycle (IDLE, entered when a cycle finds nothing,
	// reports new mail too). Dovecot spends 5–30 ms re-reading a busy
	// maildir on SELECT.
	continuing := cn.selected == mailbox && time.Now().Before(cn.continueUntil)
	cn.continueUntil = time.Time{}
	if !continuing {
		if _, err := cn.selectMailbox(ctx, mailbox, s.keywordFlags()); err != nil {
			return res, err
		}
	}
	defer func() {
		if res.more || res.capped {
			cn.continueUntil = time.Now().Add(continueWithin)
		}
	}()
	uv := cn.uidValidity
	if prev != 0 && prev != uv {
		// Every UID we knew is void. Tasks already queued keep their old
		// UIDVALIDITY; Settle finds their messages by Message-ID.
		s.log.Warn("imap: UIDVALIDITY changed; messages are published again under new UIDs",
			"err", ErrUIDValidityChanged, "old", prev, "new", uv)
		s.forgetInflight(mailbox, prev)
	}

	// New-mail signals that came before this search are answered by it;
	// one that arrives from here on triggers the next cycle.
	select {
	case <-cn.events:
	default:
	}
	if err := s.clearOrphans(ctx, cn, mailbox, uv); err != nil {
		return res, err
	}
	if err := s.recoverLost(ctx, cn, mailbox, uv); err != nil {
		return res, err
	}
	limit := s.cfg.BatchSize
	if bp, ok := pub.(contracts.Backpressure); ok {
		room := bp.Room()
		if room <= 0 {
			res.capped = true
			return res, nil
		}
		if room < limit {
			limit, res.capped = room, true
		}
	}
	now := s.now()
	g := s.generation(now)
	var uids []imap.UID
	if err := cn.do(ctx, "search unseen", func() error {
		data, err := cn.c.UIDSearch(s.criteria(cn, g), nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	}); err != nil {
		return res, err
	}
	slices.Sort(uids)
	if !cn.keywords {
		uids = s.filterInflight(mailbox, uv, uids, now)
	}
	batch := uids
	if len(batch) > limit {
		batch = batch[:limit]
		res.more = true
	} else {
		res.capped = false // everything fitted
	}
	if len(batch) == 0 {
		s.recordCycle(0, 0, uv, cn.keywords)
		return res, nil
	}

	claim, err := s.canClaim(ctx, cn)
	if err != nil {
		return res, err
	}
	set := imap.UIDSetNum(batch...)
	body := &imap.FetchItemBodySection{Peek: true}
	var msgs []*imapclient.FetchMessageBuffer
	if err := cn.do(ctx, "fetch", func() error {
		var err error
		msgs, err = cn.c.Fetch(set, &imap.FetchOptions{
			UID: true, Flags: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{body},
			ModSeq: claim, // the conditional mark's UNCHANGEDSINCE (claim.go)
		}).Collect()
		return err
	}); err != nil {
		return res, err
	}
	// Messages expunged between SEARCH and FETCH are simply absent. A
	// message without its body (a server under concurrent sessions may
	// send an empty or no BODY[]) is neither marked nor published: it is a
	// fetch error, retried by the next cycle, never a task that would
	// settle an order nobody saw.
	var noBody []imap.UID
	othersMarked := false
	msgs = slices.DeleteFunc(msgs, func(m *imapclient.FetchMessageBuffer) bool {
		if _, asked := slices.BinarySearch(batch, m.UID); !asked {
			return true
		}
		if claim && !s.stillCandidate(m.Flags, g) {
			othersMarked = true
			return true // another process marked or settled it since our SEARCH
		}
		if len(m.FindBodySection(body)) == 0 {
			noBody = append(noBody, m.UID)
			return true
		}
		return false
	})
	if othersMarked {
		// Another process marked messages this cycle saw unmarked, after
		// our last look for lost marks: if it dies before publishing them
		// and no mail arrives, only the recovery's wake-up brings a cycle.
		s.wakeForRecovery(cn)
	}
	var fetchErr error
	if len(noBody) > 0 {
		fetchErr = fmt.Errorf("imap: fetch: %w: uids %v (retried next cycle)", ErrNoBody, noBody)
		s.log.Warn("imap: server returned messages without their body; they stay for the next cycle", "err", fetchErr)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	fetched := make([]imap.UID, 0, len(msgs))
	for _, m := range msgs {
		fetched = append(fetched, m.UID)
	}
	if len(fetched) == 0 {
		s.recordCycle(len(uids)-len(batch)+len(noBody), 0, uv, cn.keywords)
		res.pubErr = fetchErr
		return res, nil
	}
	s.metrics.fetched(msgs)

	// Mark before publishing: once a task is in the queue a consumer may
	// settle it at any moment, and a mark stored after that would undo the
	// settlement's unmark.
	markStart := time.Now()
	fetchedN := len(msgs)
	msgs, err = s.markInflight(ctx, cn, mailbox, uv, msgs, g, now, claim)
	if err != nil {
		return res, err
	}
	if len(msgs) < fetchedN {
		// The server refused some marks: usually another process marked
		// them, but a person's flag change in between refuses too, and no
		// new mail would wake us for those; look again soon, and let the
		// recovery look at the other process's marks (as for othersMarked).
		res.more = true
		s.wakeForRecovery(cn)
	}
	// With the recovery of lost marks, publishing must end within a window
	// that another process waits out before it takes a mark as lost.
	pctx, endWindow := s.publishWindow(ctx, markStart)
	defer endWindow()

	var failed, tooLarge []imap.UID
	var pubErrs []error
	for i, m := range msgs {
		if pctx.Err() != nil {
			for _, r := range msgs[i:] {
				failed = append(failed, r.UID)
			}
			pubErrs = append(pubErrs, context.Cause(pctx))
			break
		}
		task := s.task(mailbox, uv, m, body)
		if err := pub.Publish(pctx, task); err != nil {
			if errors.Is(err, contracts.ErrTooLarge) {
				s.log.Error("imap: message too large for the queue; dead-lettering it",
					"uid", m.UID, "size", len(task.Payload), "err", err)
				tooLarge = append(tooLarge, m.UID)
				continue
			}
			failed = append(failed, m.UID)
			pubErrs = append(pubErrs, fmt.Errorf("uid %d: %w", m.UID, err))
			continue
		}
		res.published++
	}

	// The unmark and dead-letter must happen even when ctx ended the loop.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.CommandTimeout)
	defer cancel()
	var imapErr error
	// With the recovery of lost marks, a failed publish stays marked: a
	// late unmark could clear the mark of a process that recovered the
	// message meanwhile. The recovery publishes it after RecoverAfter.
	if len(failed) > 0 && !s.recovers() {
		if err := s.unmarkInflight(uctx, cn, mailbox, uv, failed); err != nil {
			// Stale recovery republishes them after StaleAfter at most.
			imapErr = err
		}
	}
	if len(tooLarge) > 0 && imapErr == nil {
		if err := s.deadLetterUIDs(uctx, cn, tooLarge); err != nil {
			imapErr = err
		}
	}
	if len(pubErrs) > 0 {
		res.pubErr = fmt.Errorf("imap: publish %d of %d messages: %w", len(failed), len(msgs), errors.Join(pubErrs...))
	}
	res.pubErr = errors.Join(res.pubErr, fetchErr)
	if imapErr != nil {
		return res, imapErr
	}
	// The caller records pubErr in health, after this success of the IMAP
	// side.
	s.recordCycle(len(uids)-res.published-len(tooLarge), res.published, uv, cn.keywords)
	return res, nil
}

// markInflight records that the messages are being queued: on the server
// ($Queued plus the current generation keyword, other generation keywords
// removed) or, without keyword support, in process. It returns the
// messages marked by this call: with claim (claim.go) the server may have
// refused some to another process.
func (s *Source) markInflight(ctx context.Context, cn *conn, mailbox string, uv uint32, msgs []*imapclient.FetchMessageBuffer, g int, now time.Time, claim bool) ([]*imapclient.FetchMessageBuffer, error) {
	if !cn.keywords {
		s.mu.Lock()
		for _, m := range msgs {
			s.inflight[msgKey{mailbox, uv, uint32(m.UID)}] = now
		}
		s.mu.Unlock()
		return msgs, nil
	}
	if claim && maxModSeq(msgs) > 0 {
		if beforeMark != nil {
			beforeMark()
		}
		var err error
		msgs, err = s.claimInflight(ctx, cn, msgs, g)
		if afterMark != nil {
			afterMark()
		}
		if err != nil {
			return nil, err
		}
		s.trackOutstanding(mailbox, uv, msgs)
		return msgs, nil
	}
	var old []imap.Flag
	for i := range generations {
		if i != g {
			old = append(old, s.genKeyword(i))
		}
	}
	// Only recovered (stale) messages carry an old generation keyword; on
	// maildir every flag change renames a file, so touch only those.
	var all, stale []imap.UID
	s.trackOutstanding(mailbox, uv, msgs)
	for _, m := range msgs {
		all = append(all, m.UID)
		for _, f := range old {
			if hasFlag(m.Flags, f) {
				stale = append(stale, m.UID)
				break
			}
		}
	}
	return msgs, cn.do(ctx, "store in-flight mark", func() error {
		// Pipelined: both are on the wire before we wait.
		var del *imapclient.FetchCommand
		if len(stale) > 0 {
			del = cn.c.Store(imap.UIDSetNum(stale...), &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: old}, nil)
		}
		add := cn.c.Store(imap.UIDSetNum(all...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
			Flags: []imap.Flag{imap.Flag(s.cfg.InFlightKeyword), s.genKeyword(g)}}, nil)
		var err error
		if del != nil {
			err = del.Close()
		}
		return errors.Join(err, add.Close())
	})
}

func (s *Source) unmarkInflight(ctx context.Context, cn *conn, mailbox string, uv uint32, uids []imap.UID) error {
	if !cn.keywords {
		s.mu.Lock()
		for _, u := range uids {
			delete(s.inflight, msgKey{mailbox, uv, uint32(u)})
		}
		s.mu.Unlock()
		return nil
	}
	set := imap.UIDSetNum(uids...)
	err := cn.do(ctx, "clear in-flight mark", func() error {
		return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: s.inFlightFlags()}, nil).Close()
	})
	if err == nil {
		s.settled(mailbox, uv, uids...)
	}
	return err
}

// settled forgets messages whose marks are gone (settled or unmarked).
func (s *Source) settled(mailbox string, uv uint32, uids ...imap.UID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range uids {
		delete(s.outstanding, msgKey{mailbox, uv, uint32(u)})
	}
}

// clearOrphans runs once per process, on the first cycle, when the queue
// lives in the process: every in-flight mark on an unseen message then
// belongs to a process that is gone (its task died with it), so the marks
// are removed and this cycle publishes the messages again. One SEARCH and,
// if anything matched, one STORE.
// trackOutstanding records msgs as marked by this process when it owns
// its marks (in-memory queue), so a graceful stop can release them.
func (s *Source) trackOutstanding(mailbox string, uv uint32, msgs []*imapclient.FetchMessageBuffer) {
	if !s.ownsMarks {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.outstanding[msgKey{mailbox, uv, uint32(m.UID)}] = struct{}{}
	}
}

// searchMarks lists the messages carrying an in-flight mark that are
// neither \Seen nor dead-lettered.
func (s *Source) searchMarks(ctx context.Context, cn *conn, what string) ([]imap.UID, error) {
	var uids []imap.UID
	err := cn.do(ctx, what, func() error {
		data, err := cn.c.UIDSearch(&imap.SearchCriteria{
			Flag:    []imap.Flag{imap.Flag(s.cfg.InFlightKeyword)},
			NotFlag: []imap.Flag{imap.FlagSeen, imap.Flag(s.cfg.DeadLetterKeyword)},
		}, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	})
	return uids, err
}

func (s *Source) clearOrphans(ctx context.Context, cn *conn, mailbox string, uv uint32) error {
	s.mu.Lock()
	todo := s.ownsMarks && !s.orphansCleared
	s.mu.Unlock()
	if !todo || !cn.keywords {
		return nil
	}
	uids, err := s.searchMarks(ctx, cn, "search orphaned marks")
	if err != nil {
		return err
	}
	if len(uids) > 0 {
		if err := s.unmarkInflight(ctx, cn, mailbox, uv, uids); err != nil {
			return err
		}
		s.log.Info("imap: cleared in-flight marks left by a process that is gone; publishing them again",
			"count", len(uids), "mailbox", mailbox)
	}
	s.mu.Lock()
	s.orphansCleared = true
	s.mu.Unlock()
	return nil
}

// ReleaseMarks implements contracts.MarkKeeper: it clears the marks of
// messages this process published and did not settle, when its queue lives
// in the process — their tasks die with it, and the next start publishes
// them at once. The runtime calls it at stop, after the pools drained.
// Not done from Close, so that binaries that never stop a runtime (the
// Lambda functions) do not link it.
func (s *Source) ReleaseMarks(ctx context.Context) error {
	s.mu.Lock()
	if !s.ownsMarks || len(s.outstanding) == 0 || s.closed {
		s.mu.Unlock()
		return nil
	}
	groups := map[[2]string][]imap.UID{}
	for k := range s.outstanding {
		key := [2]string{k.mailbox, strconv.FormatUint(uint64(k.uidValidity), 10)}
		groups[key] = append(groups[key], imap.UID(k.uid))
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 2*s.cfg.CommandTimeout)
	defer cancel()
	released, failed := 0, 0
	for key, uids := range groups {
		uv64, _ := strconv.ParseUint(key[1], 10, 32)
		_, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
			if _, err := cn.selectMailbox(ctx, key[0], s.keywordFlags()); err != nil {
				return 0, false, err
			}
			if cn.uidValidity != uint32(uv64) {
				return 0, false, nil // the UIDs mean other messages now
			}
			return 0, false, s.unmarkInflight(ctx, cn, key[0], uint32(uv64), uids)
		})
		if err != nil {
			s.log.Warn("imap: could not release in-flight marks at stop; the next start clears them", "count", len(uids), "err", err)
			failed += len(uids)
			continue
		}
		released += len(uids)
	}
	if released > 0 {
		s.log.Info("imap: released in-flight marks of tasks this process did not finish", "count", released)
	}
	if failed > 0 {
		return fmt.Errorf("imap: %d in-flight marks not released", failed)
	}
	return nil
}

// filterInflight drops messages the fallback record says are in flight and
// not stale; stale entries are forgotten so the message is published anew.
func (s *Source) filterInflight(mailbox string, uv uint32, uids []imap.UID, now time.Time) []imap.UID {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := uids[:0]
	for _, u := range uids {
		k := msgKey{mailbox, uv, uint32(u)}
		if at, ok := s.inflight[k]; ok {
			if now.Sub(at) < s.cfg.StaleAfter {
				continue
			}
			delete(s.inflight, k)
		}
		out = append(out, u)
	}
	return out
}

func (s *Source) forgetInflight(mailbox string, uv uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.inflight {
		if k.mailbox == mailbox && k.uidValidity == uv {
			delete(s.inflight, k)
		}
	}
}

// task builds the task for one fetched message.
func (s *Source) task(mailbox string, uv uint32, m *imapclient.FetchMessageBuffer, body *imap.FetchItemBodySection) contracts.Task {
	var msgID string
	if m.Envelope != nil {
		msgID = m.Envelope.MessageID
	}
	uid := uint32(m.UID)
	return contracts.Task{
		ID:      TaskID(s.name, mailbox, uv, uid),
		Kind:    s.kind,
		Payload: m.FindBodySection(body),
		Attributes: map[string]string{
			contracts.AttrSource:    s.name,
			contracts.AttrSourceRef: s.ref(mailbox, uv, uid),
			AttrMailbox:             mailbox,
			AttrUIDValidity:         strconv.FormatUint(uint64(uv), 10),
			AttrUID:                 strconv.FormatUint(uint64(uid), 10),
			AttrMessageID:           msgID,
		},
	}
}

// TaskID is the ID of the task for a message: the same message (same
// mailbox, UIDVALIDITY and UID) always yields the same ID.
func TaskID(source, mailbox string, uidValidity, uid uint32) string {
	return fmt.Sprintf("%s:%s:%d:%d", source, mailbox, uidValidity, uid)
}

// ref is the RFC 5092 IMAP URL of a message, without password.
func (s *Source) ref(mailbox string, uv, uid uint32) string {
	segs := strings.Split(mailbox, "/")
	for i, p := range segs {
		segs[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("imap://%s@%s/%s;UIDVALIDITY=%d/;UID=%d",
		url.User(s.cfg.Username).String(), s.cfg.Addr, strings.Join(segs, "/"), uv, uid)
}
