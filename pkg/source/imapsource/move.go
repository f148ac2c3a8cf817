package imapsource

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Moving messages without ever losing one (dead letters, redrive).
//
// go-imap's Move falls back to COPY, STORE \Deleted and EXPUNGE pipelined
// without waiting for COPY's answer, so a COPY that fails (NO [TRYCREATE],
// a full quota) still expunges, and a plain EXPUNGE also removes messages a
// person marked \Deleted. The source therefore moves by itself:
//
//   - MOVE when the server offers it (RFC 6851, IMAP4rev2);
//   - else COPY, wait for its OK, then UID STORE +FLAGS \Deleted and
//     UID EXPUNGE of exactly those UIDs (UIDPLUS);
//   - else (no UIDPLUS: Mailutils) COPY and nothing more: the original
//     stays, and the caller marks it (see [Source.deadLetter]), because a
//     plain EXPUNGE would take every \Deleted message of the mailbox.
//
// A destination that does not exist yet (NO [TRYCREATE]) is created and
// the command repeated once. Folder names get the personal namespace
// prefix where the server has one (Courier: "INBOX.").

// moveUIDs moves uids from the selected mailbox to folder. expunged is
// false when the originals were copied but left in place (no UIDPLUS).
func (s *Source) moveUIDs(ctx context.Context, cn *conn, uids []imap.UID, folder string) (expunged bool, err error) {
	set := imap.UIDSetNum(uids...)
	caps := cn.c.Caps()
	if caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2) {
		err := s.tryCreate(ctx, cn, folder, fmt.Sprintf("move to %q", folder), func() error {
			_, err := cn.c.Move(set, folder).Wait()
			return err
		})
		return err == nil, err
	}
	if err := s.tryCreate(ctx, cn, folder, fmt.Sprintf("copy to %q", folder), func() error {
		_, err := cn.c.Copy(set, folder).Wait()
		return err
	}); err != nil {
		return false, err
	}
	if !caps.Has(imap.CapUIDPlus) {
		return false, nil
	}
	// The copies exist: remove exactly the originals. Pipelined, since
	// UID EXPUNGE only takes what is \Deleted among these UIDs anyway.
	err = cn.do(ctx, "expunge moved originals", func() error {
		store := cn.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil)
		exp := cn.c.UIDExpunge(set)
		return errors.Join(store.Close(), exp.Close())
	})
	return err == nil, err
}

// tryCreate runs op; when the server answers NO [TRYCREATE] it creates
// folder and runs op once more.
func (s *Source) tryCreate(ctx context.Context, cn *conn, folder, what string, op func() error) error {
	err := cn.do(ctx, what, op)
	var ierr *imap.Error
	if !errors.As(err, &ierr) || ierr.Code != imap.ResponseCodeTryCreate {
		return err
	}
	if err := cn.do(ctx, fmt.Sprintf("create %q", folder), func() error {
		err := cn.c.Create(folder, nil).Wait()
		if errors.As(err, &ierr) && ierr.Code == imap.ResponseCodeAlreadyExists {
			return nil // another session was quicker
		}
		return err
	}); err != nil {
		return err
	}
	return cn.do(ctx, what, op)
}

// folderName returns folder as the server names it: with the personal
// namespace prefix (e.g. Courier's "INBOX.") unless it already has it or
// is INBOX. Asked once per connection; a server without NAMESPACE (or one
// that refuses it) gets the name as configured.
func (s *Source) folderName(ctx context.Context, cn *conn, folder string) (string, error) {
	if !cn.nsKnown {
		caps := cn.c.Caps()
		if caps.Has(imap.CapNamespace) || caps.Has(imap.CapIMAP4rev2) {
			var ns *imap.NamespaceData
			err := cn.do(ctx, "namespace", func() error {
				var err error
				ns, err = cn.c.Namespace().Wait()
				return err
			})
			var ierr *imap.Error
			switch {
			case err == nil && len(ns.Personal) > 0:
				cn.nsPrefix = ns.Personal[0].Prefix
			case err != nil && !errors.As(err, &ierr):
				return "", err // the connection, not the server's answer
			}
		}
		cn.nsKnown = true
	}
	return withPrefix(cn.nsPrefix, folder), nil
}

// withPrefix puts prefix in front of folder unless it is already there
// (compared case-insensitively for the INBOX part) or folder is INBOX.
func withPrefix(prefix, folder string) string {
	if prefix == "" || strings.EqualFold(folder, "INBOX") ||
		(len(folder) >= len(prefix) && strings.EqualFold(folder[:len(prefix)], prefix)) {
		return folder
	}
	return prefix + folder
}

// canExpunge reports whether moved messages leave the source mailbox
// (MOVE, or UID EXPUNGE from UIDPLUS); see moveUIDs.
func (cn *conn) canExpunge() bool {
	caps := cn.c.Caps()
	return caps.Has(imap.CapMove) || caps.Has(imap.CapIMAP4rev2) || caps.Has(imap.CapUIDPlus)
}
