package imapsource

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/pkg/contracts"
)

// The source's own dead letters (contracts.DeadLetterSource). A dead
// letter's mark lives on the server — DeadLetterKeyword plus \Flagged on
// an unseen message (OnDeadLetter "flag"; \Flagged alone where the mailbox
// cannot store keywords), or the message moved, unseen, to the dead-letter
// folder ("move:<folder>") — so it survives a restart that lost an
// in-memory queue's dead letters, and the control plane can still list and
// redrive it.

// deadLetterBox selects where the dead letters are and returns the UIDs of
// those marked, oldest first. ok is false when the dead-letter folder does
// not exist yet (nothing was ever dead-lettered there).
func (s *Source) deadLetterBox(ctx context.Context, cn *conn) (uids []imap.UID, ok bool, err error) {
	box := s.cfg.Mailbox
	folder := s.cfg.moveFolder()
	if folder != "" {
		if folder, err = s.folderName(ctx, cn, folder); err != nil {
			return nil, false, err
		}
		box = folder
	}
	if _, err := cn.selectMailbox(ctx, box, s.keywordFlags()); err != nil {
		if folder != "" && errors.Is(err, ErrMailboxNotFound) {
			return nil, false, nil
		}
		return nil, false, err
	}
	c := &imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}
	switch {
	case folder != "":
		// Every unseen message in the folder is a dead letter.
	case cn.keywords:
		c.Flag = []imap.Flag{imap.Flag(s.cfg.DeadLetterKeyword)}
	default:
		c.Flag = []imap.Flag{imap.FlagFlagged}
	}
	err = cn.do(ctx, "search dead letters", func() error {
		data, err := cn.c.UIDSearch(c, nil).Wait()
		if err == nil {
			uids = data.AllUIDs()
		}
		return err
	})
	slices.Sort(uids)
	return uids, true, err
}

// MarkedDeadLetters lists up to limit (default 100) messages the source marked as
// dead letters, as the tasks Poll made of them, oldest first. The reason is
// not stored on the server; it names the mark.
func (s *Source) MarkedDeadLetters(ctx context.Context, limit int) ([]contracts.DeadLetter, error) {
	if limit <= 0 {
		limit = 100
	}
	var out []contracts.DeadLetter
	_, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
		out = nil
		uids, ok, err := s.deadLetterBox(ctx, cn)
		if err != nil || !ok || len(uids) == 0 {
			return 0, false, err
		}
		if len(uids) > limit {
			uids = uids[:limit]
		}
		body := &imap.FetchItemBodySection{Peek: true}
		var msgs []*imapclient.FetchMessageBuffer
		if err := cn.do(ctx, "fetch dead letters", func() error {
			var err error
			msgs, err = cn.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
				UID: true, Envelope: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{body},
			}).Collect()
			return err
		}); err != nil {
			return 0, false, err
		}
		slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
		reason := fmt.Sprintf("marked %s in %s", s.cfg.DeadLetterKeyword, cn.selected)
		if s.cfg.moveFolder() != "" {
			reason = "moved to " + cn.selected
		} else if !cn.keywords {
			reason = "marked \\Flagged in " + cn.selected
		}
		for _, m := range msgs {
			out = append(out, contracts.DeadLetter{Task: s.task(cn.selected, cn.uidValidity, m, body), Reason: reason, At: m.InternalDate})
		}
		return len(out), false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("imap: dead letters: %w", err)
	}
	return out, nil
}

// RedriveMarked releases the dead letters with these task IDs (all
// when ids is nil) for polling again: the mark and \Flagged are removed,
// or the message is moved back from the dead-letter folder. The next Poll
// publishes them as tasks.
func (s *Source) RedriveMarked(ctx context.Context, ids []string) (int, error) {
	n, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
		uids, ok, err := s.deadLetterBox(ctx, cn)
		if err != nil || !ok || len(uids) == 0 {
			return 0, false, err
		}
		if ids != nil {
			want := make(map[string]bool, len(ids))
			for _, id := range ids {
				want[id] = true
			}
			uids = slices.DeleteFunc(uids, func(u imap.UID) bool {
				return !want[TaskID(s.name, cn.selected, cn.uidValidity, uint32(u))]
			})
			if len(uids) == 0 {
				return 0, false, nil
			}
		}
		set := imap.UIDSetNum(uids...)
		if s.cfg.moveFolder() != "" {
			expunged, err := s.moveUIDs(ctx, cn, uids, s.cfg.Mailbox)
			if err != nil || expunged {
				return len(uids), false, err
			}
			// Copied back without UIDPLUS: the copies here are settled as
			// seen so they are not listed again; nothing is expunged.
			return len(uids), false, cn.do(ctx, "mark redriven copies seen", func() error {
				return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close()
			})
		}
		flags := []imap.Flag{imap.FlagFlagged}
		if cn.keywords {
			flags = append(flags, imap.Flag(s.cfg.DeadLetterKeyword))
		}
		return len(uids), false, cn.do(ctx, "clear dead-letter mark", func() error {
			return cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: flags}, nil).Close()
		})
	})
	if err != nil {
		return 0, fmt.Errorf("imap: redrive dead letters: %w", err)
	}
	if n > 0 {
		s.log.Info("imap: dead letters released for polling", "count", n)
	}
	return n, nil
}

// PurgeMarked settles every dead letter as done without running it:
// it is marked \Seen (and, in flag mode, the mark removed), so it is
// neither polled nor listed again. No message is deleted.
func (s *Source) PurgeMarked(ctx context.Context) (int, error) {
	n, _, err := s.withConn(ctx, &s.settleConn, func(cn *conn) (int, bool, error) {
		uids, ok, err := s.deadLetterBox(ctx, cn)
		if err != nil || !ok || len(uids) == 0 {
			return 0, false, err
		}
		set := imap.UIDSetNum(uids...)
		return len(uids), false, cn.do(ctx, "settle dead letters as seen", func() error {
			add := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil)
			var del *imapclient.FetchCommand
			if s.cfg.moveFolder() == "" && cn.keywords {
				del = cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: []imap.Flag{imap.Flag(s.cfg.DeadLetterKeyword)}}, nil)
			}
			err := add.Close()
			if del != nil {
				err = errors.Join(err, del.Close())
			}
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("imap: purge dead letters: %w", err)
	}
	return n, nil
}
