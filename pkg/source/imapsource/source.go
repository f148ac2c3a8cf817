package imapsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
)

// Task attribute keys set on every task, next to [contracts.AttrSource] and
// [contracts.AttrSourceRef].
const (
	AttrMailbox     = "imap.mailbox"
	AttrUIDValidity = "imap.uidvalidity"
	AttrUID         = "imap.uid"
	// AttrMessageID is the Message-ID header without angle brackets; empty
	// when the message has none.
	AttrMessageID = "imap.message_id"
)

// DefaultKind is the task kind unless [WithKind] says otherwise.
const DefaultKind = "imap.message"

// DefaultName is the source name unless [WithName] says otherwise.
const DefaultName = "imap"

// Option customises a [Source].
type Option func(*Source)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Source) { s.log = l } }

// WithName sets the source name; it goes into [contracts.AttrSource] and is
// how the runtime finds the source's Settler. Default "imap".
func WithName(name string) Option { return func(s *Source) { s.name = name } }

// WithKind sets the kind of the tasks the source publishes.
func WithKind(kind string) Option { return func(s *Source) { s.kind = kind } }

// WithDialContext replaces the TCP dialer (tests count round trips through
// it; deployments may route through a proxy). TLS is still applied on top.
func WithDialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(s *Source) { s.dialContext = dial }
}

// WithTLSConfig replaces the TLS settings built from the config (CAFile,
// ServerName, InsecureSkipVerify), e.g. for client certificates. It is
// cloned; ServerName defaults to the host of Addr when empty.
func WithTLSConfig(tc *tls.Config) Option {
	return func(s *Source) {
		c := tc.Clone()
		if c.ServerName == "" {
			c.ServerName = s.tlsConfig.ServerName
		}
		s.tlsConfig = c
	}
}

// WithClock replaces time.Now for in-flight generations and health times.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

var (
	_ contracts.PushSource        = (*Source)(nil)
	_ contracts.Settler           = (*Source)(nil)
	_ contracts.HealthContributor = (*Source)(nil)
)

// Source is an IMAP task source. It is safe for concurrent use: Poll and
// Settle each use one connection (calls of the same kind are serialised),
// Run keeps a connection of its own for IDLE.
type Source struct {
	cfg         Config
	name, kind  string
	log         *slog.Logger
	now         func() time.Time
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig   *tls.Config
	auth        authState // the login; auth.go

	// Poll and Settle use a connection each, so a Poll blocked in Publish
	// (a full queue) never holds up the Settle calls that would drain it.
	pollConn, settleConn slot
	// batcher coalesces successful settlements into one STORE.
	batcher settleBatcher

	metrics *imapMetrics

	mu     sync.Mutex
	closed bool
	// inflight is the fallback in-flight record used when the server does
	// not let us store keywords: key -> when published.
	inflight map[msgKey]time.Time
	health   healthState
	// conns holds every live connection, so Close can drop them all, even
	// one a Poll blocked in Publish holds.
	conns map[*conn]struct{}

	// ownsMarks: the queue lives in this process (QueueOutlivesProcess
	// false), so every in-flight mark in the mailbox is this process's or
	// an orphan of one that is gone. orphansCleared: the marks found at
	// start were cleared. outstanding: messages this process marked and
	// has not settled, released (unmarked) at Close.
	ownsMarks      bool
	orphansCleared bool
	outstanding    map[msgKey]struct{}
	// claimsLost counts messages whose conditional mark the server
	// refused: another process marked them first (claim.go).
	claimsLost int64

	// recov recovers marks whose task a durable queue does not hold
	// (recover.go).
	recov recovery
}

// QueueOutlivesProcess implements contracts.MarkKeeper (see there): with a
// queue in the process, marks found at the first cycle are cleared (their
// tasks died with a process that is gone) and the marks of tasks not
// finished are cleared by ReleaseMarks at stop.
func (s *Source) QueueOutlivesProcess(durable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ownsMarks = !durable
	if s.ownsMarks && s.outstanding == nil {
		s.outstanding = map[msgKey]struct{}{}
	}
}

type msgKey struct {
	mailbox     string
	uidValidity uint32
	uid         uint32
}

type healthState struct {
	lastPoll       time.Time
	lastErr        error
	lastErrAt      time.Time
	failingSince   time.Time // first failure of the current run of failures
	failures       int       // consecutive failed cycles
	backlog        int
	reconnects     int
	published      int64
	settled        int64
	uidValidity    uint32
	keywords       bool
	keywordsKnown  bool
	everConnected  bool
	unsettledCount int64
}

// Open is [New] for a module's Register, as a part a main may leave out:
// the source is closed when the deployment stops (r.OnStop), and it comes
// back as a contracts.TaskSource, so a module that reaches the IMAP client
// only through Open, as a function value, never holds the concrete type —
// and a binary whose main leaves that value out links no IMAP command (see
// the Lambda size budget in docs/serverless.md).
func Open(r contracts.Registry, cfg Config, opts ...Option) (contracts.TaskSource, error) {
	s, err := New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	r.OnStop(func(context.Context) error { return s.Close() })
	return s, nil
}

// New checks cfg (after filling defaults) and returns a source. It does not
// connect; the first Poll, Run or Settle does.
func New(cfg Config, opts ...Option) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tc, err := buildTLSConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &Source{
		cfg:       cfg,
		name:      DefaultName,
		kind:      DefaultKind,
		log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		now:       time.Now,
		tlsConfig: tc,
		inflight:  make(map[msgKey]time.Time),
		conns:     make(map[*conn]struct{}),
	}
	d := &net.Dialer{}
	s.dialContext = d.DialContext
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("source", s.name, "mailbox", cfg.Mailbox)
	s.metrics = newMetrics(s.name, s.now)
	return s, nil
}

// Name returns the source name.
func (s *Source) Name() string { return s.name }

// Config returns the effective configuration (defaults filled in).
func (s *Source) Config() Config { return s.cfg }

// Poll runs one cycle on the source's poll connection: it publishes up to
// BatchSize unseen messages that are not in flight and returns how many it
// published. The number of IMAP round trips does not depend on the number
// of messages. A connection that turns out dead is replaced once.
func (s *Source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	n, _, err := s.withConn(ctx, &s.pollConn, func(cn *conn) (int, bool, error) {
		return s.cycle(ctx, cn, pub)
	})
	return n, err
}

// slot holds a connection that is dialled on first use and serialises its
// users.
type slot struct {
	mu sync.Mutex
	cn *conn
}

// withConn runs f on the slot's connection, dialling when needed. When f
// fails on a reused connection that has meanwhile died (a Lambda warm start
// after the server dropped us), it redials once.
func (s *Source) withConn(ctx context.Context, sl *slot, f func(*conn) (int, bool, error)) (int, bool, error) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if s.isClosed() {
			return 0, false, ErrClosed
		}
		reused := sl.cn != nil
		if sl.cn != nil && !sl.cn.alive() {
			s.drop(sl)
			reused = false
		}
		if sl.cn == nil {
			cn, err := s.dial(ctx)
			if err != nil {
				s.recordErr(err)
				return 0, false, err
			}
			if !s.addConn(cn) {
				cn.close()
				return 0, false, ErrClosed
			}
			sl.cn = cn
		}
		n, more, err := f(sl.cn)
		if err == nil {
			return n, more, nil
		}
		if !sl.cn.alive() {
			s.drop(sl)
			if reused && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		s.recordErr(err)
		return n, more, err
	}
}

// drop closes the slot's connection; the caller holds sl.mu.
func (s *Source) drop(sl *slot) {
	if sl.cn == nil {
		return
	}
	sl.cn.close()
	s.removeConn(sl.cn)
	sl.cn = nil
}

// Run is the push mode. With Mode idle it keeps a connection in IMAP IDLE
// and runs a cycle whenever the server reports new messages, after every
// (re)connect (catch-up by search, so nothing that arrived while it was not
// listening is missed) and every IdleRestart (the watchdog that detects
// silently dead connections). A dropped connection is re-established with
// jittered exponential backoff. With Mode poll it calls Poll every
// PollInterval instead. Run returns nil when ctx is done and ErrClosed
// after Close.
func (s *Source) Run(ctx context.Context, pub contracts.Publisher) error {
	if s.cfg.Mode == ModePoll {
		return s.runPoll(ctx, pub)
	}
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     s.cfg.BackoffMin,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         s.cfg.BackoffMax,
	}
	bo.Reset()
	for first := true; ; first = false {
		if s.isClosed() {
			return ErrClosed
		}
		if !first {
			s.mu.Lock()
			s.health.reconnects++
			s.mu.Unlock()
			s.metrics.reconnected()
		}
		established, err := s.idleSession(ctx, pub)
		if ctx.Err() != nil {
			return nil
		}
		if s.isClosed() {
			return ErrClosed
		}
		if established {
			bo.Reset()
		}
		wait := bo.NextBackOff()
		s.recordErr(err)
		switch kind := errorKind(err); {
		case kind != "":
			// A cause reconnecting alone does not cure (a missing mailbox,
			// refused login, TLS, capability): say so, and retry slowly
			// in case someone fixes it on the server.
			wait = s.cfg.BackoffMax
			s.log.Error("imap: cannot read the mailbox; retrying", "kind", kind, "err", err, "in", wait)
		case established:
			s.log.Warn("imap: connection lost; reconnecting", "err", err, "in", wait)
		default:
			s.log.Warn("imap: connect failed; retrying", "err", err, "in", wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Source) runPoll(ctx context.Context, pub contracts.Publisher) error {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		for {
			n, err := s.Poll(ctx, pub)
			if err != nil {
				if errors.Is(err, ErrClosed) {
					return err
				}
				if ctx.Err() == nil {
					s.log.Warn("imap: poll failed", "err", err)
				}
				break
			}
			if n < s.cfg.BatchSize {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// idleSession is one connection's life in push mode. It reports whether the
// connection got as far as a completed catch-up (then backoff restarts).
func (s *Source) idleSession(ctx context.Context, pub contracts.Publisher) (established bool, err error) {
	cn, err := s.dial(ctx)
	if err != nil {
		return false, err
	}
	if !s.addConn(cn) {
		cn.close()
		return false, ErrClosed
	}
	defer func() {
		cn.close()
		s.removeConn(cn)
	}()

	watchdog := time.NewTimer(s.cfg.IdleRestart)
	defer watchdog.Stop()
	var canIdle bool
	if err := cn.do(ctx, "capability", func() error {
		// Caps may ask the server when login did not report them.
		caps := cn.c.Caps()
		canIdle = caps.Has(imap.CapIdle) || caps.Has(imap.CapIMAP4rev2)
		return nil
	}); err != nil {
		return false, err
	}
	if !canIdle {
		s.log.Warn("imap: server does not support IDLE; polling on this connection every poll_interval instead",
			"poll_interval", s.cfg.PollInterval)
	}
	for {
		// Catch up: repeat while cycles come back full.
		retrySoon := false
		for {
			r, err := s.cycleResult(ctx, cn, pub)
			if err != nil {
				return established, err
			}
			if r.pubErr != nil {
				// The queue refused tasks; the connection is fine. Retry
				// after PollInterval at the latest.
				s.recordErr(r.pubErr)
				s.log.Warn("imap: publish failed; messages stay for the next cycle", "err", r.pubErr)
				retrySoon = true
				break
			}
			if r.capped {
				// The read-ahead bound is reached: wait until consumers
				// made room, then read on (new mail is searched for then).
				if bp, ok := pub.(contracts.Backpressure); ok {
					if err := bp.WaitRoom(ctx); err != nil {
						return established, err
					}
					continue
				}
			}
			if !r.more {
				break
			}
		}
		established = true

		// Go 1.23+ timers: Reset needs no draining.
		switch {
		case retrySoon:
			watchdog.Reset(min(s.cfg.IdleRestart, s.cfg.PollInterval))
		case !canIdle:
			watchdog.Reset(s.cfg.PollInterval)
		default:
			watchdog.Reset(s.cfg.IdleRestart)
		}
		if !canIdle {
			// The server has no IDLE: poll on this connection instead.
			select {
			case <-ctx.Done():
				return established, ctx.Err()
			case <-cn.c.Closed():
				return established, errors.New("imap: connection closed")
			case <-cn.events:
			case <-watchdog.C:
			}
			continue
		}
		if err := s.idleUntil(ctx, cn, watchdog.C); err != nil {
			return established, err
		}
	}
}

// idleUntil idles until the server reports new mail or the watchdog fires.
// Every IdleCheck it leaves IDLE and sends NOOP: a server that does not
// push during IDLE still reports new messages (EXISTS) in NOOP's answer, so
// the time from APPEND to task is bounded by IdleCheck on every server. One
// check costs three short commands (DONE, NOOP, IDLE).
func (s *Source) idleUntil(ctx context.Context, cn *conn, watchdog <-chan time.Time) error {
	check := time.NewTimer(s.cfg.IdleCheck)
	defer check.Stop()
	for {
		var idle interface {
			Close() error
			Wait() error
		}
		if err := cn.do(ctx, "idle", func() error {
			cmd, err := cn.c.Idle()
			if err == nil {
				idle = cmd
			}
			return err
		}); err != nil {
			return err
		}
		checkNow := false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-cn.c.Closed():
			return errors.New("imap: connection closed while idling")
		case <-cn.events:
		case <-watchdog:
		case <-check.C:
			checkNow = true
		}
		if err := cn.do(ctx, "stop idle", func() error {
			if err := idle.Close(); err != nil {
				return err
			}
			return idle.Wait()
		}); err != nil {
			return err
		}
		if !checkNow {
			return nil
		}
		if err := cn.do(ctx, "noop", func() error { return cn.c.Noop().Wait() }); err != nil {
			return err
		}
		select {
		case <-cn.events:
			return nil // new mail: the caller runs a cycle (which drains events again)
		default:
		}
		check.Reset(s.cfg.IdleCheck)
	}
}

// addConn registers a live connection; false after Close.
func (s *Source) addConn(cn *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[cn] = struct{}{}
	s.health.everConnected = true
	return true
}

func (s *Source) removeConn(cn *conn) {
	s.mu.Lock()
	delete(s.conns, cn)
	s.mu.Unlock()
}

func (s *Source) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close drops every connection; Run returns ErrClosed, later Poll and
// Settle calls fail with ErrClosed.
func (s *Source) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for cn := range s.conns {
		conns = append(conns, cn)
	}
	clear(s.conns)
	s.mu.Unlock()
	s.stopRecovery()
	for _, cn := range conns {
		cn.close()
	}
	return nil
}

func (s *Source) recordErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.lastErr = err
	s.health.lastErrAt = s.now()
	if s.health.failures == 0 {
		s.health.failingSince = s.health.lastErrAt
	}
	s.health.failures++
	s.metrics.failedCycle()
}

// recordCycle records a successful cycle. After failures it clears the
// last error from health and logs the recovery once.
func (s *Source) recordCycle(backlog, published int, uidValidity uint32, keywords bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.health.failures > 0 {
		s.log.Info("imap: recovered after failures", "failed_attempts", s.health.failures,
			"last_error", s.health.lastErr, "down_since", s.health.failingSince.UTC().Format(time.RFC3339))
	}
	s.health.lastErr = nil
	s.health.lastErrAt = time.Time{}
	s.health.lastPoll = s.now()
	s.health.failures = 0
	s.health.backlog = backlog
	s.health.published += int64(published)
	s.health.uidValidity = uidValidity
	s.health.keywords = keywords
	s.health.keywordsKnown = true
	s.metrics.cycle(backlog)
}

// Health reports connected, last successful poll, backlog (unseen messages
// not in flight left after the last cycle), reconnects and the last error.
// Degraded after a failure, down after five failed cycles in a row. It
// never does I/O.
func (s *Source) Health(ctx context.Context) contracts.Health {
	s.mu.Lock()
	h := s.health
	closed := s.closed
	connected := len(s.conns) > 0
	claimsLost := s.claimsLost
	s.mu.Unlock()
	d := map[string]string{
		"addr":        s.cfg.Addr,
		"mailbox":     s.cfg.Mailbox,
		"mode":        s.cfg.Mode,
		"connected":   strconv.FormatBool(connected),
		"backlog":     strconv.Itoa(h.backlog),
		"reconnects":  strconv.Itoa(h.reconnects),
		"published":   strconv.FormatInt(h.published, 10),
		"settled":     strconv.FormatInt(h.settled, 10),
		"uidvalidity": strconv.FormatUint(uint64(h.uidValidity), 10),
	}
	if n := s.recoveredMarks(); n > 0 {
		d["recovered_marks"] = strconv.FormatInt(n, 10)
	}
	if claimsLost > 0 {
		// Messages another process marked first (conditional mark).
		d["claims_lost"] = strconv.FormatInt(claimsLost, 10)
	}
	if h.unsettledCount > 0 {
		d["unsettled"] = strconv.FormatInt(h.unsettledCount, 10)
	}
	if h.keywordsKnown {
		if h.keywords {
			d["in_flight"] = "keyword " + s.cfg.InFlightKeyword
		} else {
			d["in_flight"] = "in-process (server refuses keywords)"
		}
	}
	if !h.lastPoll.IsZero() {
		d["last_poll"] = h.lastPoll.UTC().Format(time.RFC3339)
	}
	why := ""
	if h.lastErr != nil {
		d["last_error"] = h.lastErr.Error()
		d["last_error_at"] = h.lastErrAt.UTC().Format(time.RFC3339)
		if kind := errorKind(h.lastErr); kind != "" {
			d["last_error_kind"] = kind
			why = ": " + strings.ReplaceAll(kind, "_", " ")
		}
	}
	var out contracts.Health
	switch {
	case closed:
		out = contracts.Down("closed")
	case h.failures > 0 && mailauth.IsAuthError(h.lastErr):
		// A refused refresh token or access token does not heal by
		// retrying; a new plba auth login heals it (the token store is
		// re-read before every refresh).
		out = contracts.Down("login refused (OAuth 2.0): run plba auth login")
	case h.failures >= 5:
		out = contracts.Down(fmt.Sprintf("%d failed attempts in a row%s", h.failures, why))
	case h.failures > 0:
		out = contracts.Degraded("last attempt failed" + why + "; retrying")
	case !h.everConnected:
		out = contracts.Up("not connected yet")
	default:
		out = contracts.Up("ok")
	}
	out.Details = d
	out.Checked = s.now()
	return out
}
