package imapsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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
// returns how many messages the server reported.
func (s *Source) storeSettled(ctx context.Context, cn *conn, uids []imap.UID, add []imap.Flag) (int, error) {
	set := imap.UIDSetNum(uids...)
	var n int
	err := cn.do(ctx, "store settled flags", func() error {
		addCmd := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: add}, nil)
		var delCmd interface{ Close() error }
		if cn.keywords {
			delCmd = cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: s.inFlightFlags()}, nil)
		}
		msgs, err := addCmd.Collect()
		n = len(msgs)
		if delCmd != nil {
			err = errors.Join(err, delCmd.Close())
		}
		return err
	})
	return n, err
}

// deadLetter applies OnDeadLetter to uids and returns how many exist.
func (s *Source) deadLetter(ctx context.Context, cn *conn, uids []imap.UID) (int, error) {
	folder := s.cfg.moveFolder()
	if folder == "" {
		flags := []imap.Flag{imap.FlagFlagged}
		if cn.keywords {
			flags = append(flags, imap.Flag(s.cfg.DeadLetterKeyword))
		}
		return s.storeSettled(ctx, cn, uids, flags)
	}
	// Clear the marks first so the moved copy is clean; the non-silent
	// store also tells whether the messages still exist.
	set := imap.UIDSetNum(uids...)
	n := len(uids)
	var flags []imap.Flag // without keywords: an empty STORE, just to learn existence
	if cn.keywords {
		flags = s.inFlightFlags()
	}
	if err := cn.do(ctx, "clear in-flight mark", func() error {
		msgs, err := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: flags}, nil).Collect()
		n = len(msgs)
		return err
	}); err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, nil
	}
	move := func() error {
		_, err := cn.c.Move(set, folder).Wait()
		return err
	}
	err := cn.do(ctx, fmt.Sprintf("move to %q", folder), move)
	var ierr *imap.Error
	if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeTryCreate {
		if err := cn.do(ctx, fmt.Sprintf("create %q", folder), func() error {
			return cn.c.Create(folder, nil).Wait()
		}); err != nil {
			return 0, err
		}
		err = cn.do(ctx, fmt.Sprintf("move to %q", folder), move)
	}
	return n, err
}

// deadLetterUIDs is deadLetter for the cycle's own use (messages the queue
// refused as too large).
func (s *Source) deadLetterUIDs(ctx context.Context, cn *conn, uids []imap.UID) error {
	_, err := s.deadLetter(ctx, cn, uids)
	return err
}
