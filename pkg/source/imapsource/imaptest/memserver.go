// Package imaptest runs an in-process IMAP server (go-imap's imapmemserver)
// for fast tests and for demos that need a mailbox without a real mail
// server. It does not import package testing, so a demo binary may use it.
//
// The server speaks IMAP4rev2 (IDLE, MOVE, UIDPLUS) in plain text on
// 127.0.0.1 and notifies idling clients within 10 ms. Unlike Dovecot it
// lower-cases keywords; compare flags case-insensitively.
package imaptest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// MemServer is a running in-memory IMAP server with one user whose INBOX
// exists.
type MemServer struct {
	// Addr is the host:port it listens on.
	Addr       string
	User, Pass string

	srv     *imapserver.Server
	ln      net.Listener
	stopped chan struct{} // closed when Serve returned

	noPerm     bool
	caps       imap.CapSet // nil: IMAP4rev2
	nsPrefix   string
	copyErr    *imap.Error
	silentIdle bool
	closeOnce  sync.Once
	closeErr   error
}

// MemOption customises StartMemServer.
type MemOption func(*MemServer)

// WithoutKeywords makes the server answer SELECT with PERMANENTFLAGS that
// lack \* (like servers that cannot store keywords), to exercise a
// client's fallback.
func WithoutKeywords() MemOption { return func(m *MemServer) { m.noPerm = true } }

// WithCaps makes the server speak IMAP4rev1 with only these extensions
// (IDLE, ENABLE and UNSELECT are always offered), e.g. none at all for a
// server without MOVE and UIDPLUS (Mailutils), or UIDPLUS alone (Courier).
func WithCaps(caps ...imap.Cap) MemOption {
	return func(m *MemServer) {
		m.caps = imap.CapSet{imap.CapIMAP4rev1: {}}
		for _, c := range caps {
			m.caps[c] = struct{}{}
		}
	}
}

// WithNamespacePrefix makes NAMESPACE report this personal prefix (Courier
// reports "INBOX."; here the delimiter is "/", so "INBOX/"). It implies
// the NAMESPACE capability.
func WithNamespacePrefix(prefix string) MemOption {
	return func(m *MemServer) { m.nsPrefix = prefix }
}

// WithoutIdleNotify makes IDLE silent: the server never reports new mail
// while a client idles (like Mailutils, or Cyrus without idled for ~60 s),
// only in answer to other commands such as NOOP.
func WithoutIdleNotify() MemOption { return func(m *MemServer) { m.silentIdle = true } }

// WithCopyError makes every COPY fail with err (e.g. NO [OVERQUOTA]), to
// show a client does not expunge what it could not copy.
func WithCopyError(err *imap.Error) MemOption { return func(m *MemServer) { m.copyErr = err } }

// StartMemServer listens on addr ("" or "127.0.0.1:0" picks a free port) and
// serves until Close or ctx is done. user logs in with pass.
func StartMemServer(ctx context.Context, addr, user, pass string, opts ...MemOption) (*MemServer, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, pass)
	if err := u.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("imaptest: create INBOX: %w", err)
	}
	mem.AddUser(u)
	m := &MemServer{User: user, Pass: pass, stopped: make(chan struct{})}
	for _, o := range opts {
		o(m)
	}
	caps := m.caps
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}}
	}
	if m.nsPrefix != "" {
		caps[imap.CapNamespace] = struct{}{}
	}
	m.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &session{UserSession: nil, user: u, m: m}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       discardLogger{},
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imaptest: listen %s: %w", addr, err)
	}
	m.ln = ln
	m.Addr = ln.Addr().String()
	stop := context.AfterFunc(ctx, func() { _ = m.Close() })
	go func() {
		defer close(m.stopped)
		defer stop()
		_ = m.srv.Serve(ln)
	}()
	return m, nil
}

// Close stops the server and drops its connections.
func (m *MemServer) Close() error {
	m.closeOnce.Do(func() {
		m.closeErr = m.srv.Close()
		// Serve may not have registered the listener yet.
		_ = m.ln.Close()
		<-m.stopped
	})
	return m.closeErr
}

// Dial returns a logged-in client, for seeding and for inspecting flags.
func (m *MemServer) Dial(ctx context.Context) (*imapclient.Client, error) {
	return Login(ctx, m.Addr, m.User, m.Pass)
}

// Login connects to addr without TLS and logs in. It is a helper for tests
// and seeding tools, for Dovecot as much as for MemServer.
func Login(ctx context.Context, addr, user, pass string) (*imapclient.Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imaptest: dial %s: %w", addr, err)
	}
	c := imapclient.New(conn, nil)
	if err := c.Login(user, pass).Wait(); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("imaptest: login %s: %w", user, err)
	}
	return c, nil
}

// Append stores raw in mailbox with flags, over IMAP.
func (m *MemServer) Append(ctx context.Context, mailbox string, raw []byte, flags ...imap.Flag) error {
	c, err := m.Dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = AppendMessages(ctx, c, mailbox, [][]byte{raw}, flags...)
	return err
}

// AppendMessages appends msgs to mailbox over c, pipelined (one round trip
// for all of them when the server supports LITERAL+ or IMAP4rev2, which
// both Dovecot and MemServer do). It returns the UIDs when the server
// reports them (UIDPLUS).
func AppendMessages(ctx context.Context, c *imapclient.Client, mailbox string, msgs [][]byte, flags ...imap.Flag) ([]imap.UID, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmds := make([]*imapclient.AppendCommand, 0, len(msgs))
	var errs []error
	for _, raw := range msgs {
		cmd := c.Append(mailbox, int64(len(raw)), &imap.AppendOptions{Flags: flags})
		_, werr := cmd.Write(raw)
		cerr := cmd.Close()
		if err := errors.Join(werr, cerr); err != nil {
			errs = append(errs, err)
			break
		}
		cmds = append(cmds, cmd)
	}
	uids := make([]imap.UID, 0, len(cmds))
	for _, cmd := range cmds {
		data, err := cmd.Wait()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uids = append(uids, data.UID)
	}
	if err := errors.Join(errs...); err != nil {
		return uids, fmt.Errorf("imaptest: append to %q: %w", mailbox, err)
	}
	return uids, nil
}

// Message returns a small RFC 822 message with the given Message-ID (without
// angle brackets) and subject.
func Message(messageID, subject, body string) []byte {
	return fmt.Appendf(nil, "From: Customer <customer@example.com>\r\n"+
		"To: Orders <orders@example.com>\r\n"+
		"Subject: %s\r\n"+
		"Date: %s\r\n"+
		"Message-ID: <%s>\r\n"+
		"MIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"\r\n%s\r\n", subject, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Format(time.RFC1123Z), messageID, body)
}

// session logs in to the one user and can hide \* from PERMANENTFLAGS.
type session struct {
	*imapmemserver.UserSession
	user     *imapmemserver.User
	m        *MemServer
	selected bool
}

func (s *session) Login(username, password string) error {
	if err := s.user.Login(username, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.user)
	return nil
}

func (s *session) Close() error {
	if s.UserSession == nil {
		return nil
	}
	return s.UserSession.Close()
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	// imapmemserver replaces the view without closing the old one; close it
	// so re-SELECTs do not pile up views.
	if s.selected {
		_ = s.Unselect()
	}
	data, err := s.UserSession.Select(name, options)
	s.selected = err == nil
	if err != nil || !s.m.noPerm {
		return data, err
	}
	perm := data.PermanentFlags[:0:0]
	for _, f := range data.PermanentFlags {
		if f != imap.FlagWildcard {
			perm = append(perm, f)
		}
	}
	data.PermanentFlags = perm
	return data, nil
}

// Idle polls the session's update queue. imapmemserver's own Idle only
// wakes for updates queued after IDLE began, so mail appended between a
// client's last command and its IDLE would wait for the next update (or the
// client's watchdog); Dovecot does not behave like that.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	if s.m.silentIdle {
		<-stop
		return nil
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if s.selected {
			if err := s.UserSession.Poll(w, true); err != nil {
				return err
			}
		}
		select {
		case <-stop:
			return nil
		case <-t.C:
		}
	}
}

// Namespace reports the configured personal prefix.
func (s *session) Namespace() (*imap.NamespaceData, error) {
	data, err := s.UserSession.Namespace()
	if err == nil && s.m.nsPrefix != "" {
		data.Personal = []imap.NamespaceDescriptor{{Prefix: s.m.nsPrefix, Delim: '/'}}
	}
	return data, err
}

// Copy fails with the configured error, if any.
func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if s.m.copyErr != nil {
		return nil, s.m.copyErr
	}
	return s.UserSession.Copy(numSet, dest)
}

func (s *session) Unselect() error {
	s.selected = false
	return s.UserSession.Unselect()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}
