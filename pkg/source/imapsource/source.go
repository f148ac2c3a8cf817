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
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/plba/plba/pkg/contracts"
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

// WithClock replaces time.Now for in-flight generations and health times.
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// Source is an IMAP task source. It is safe for concurrent use: Poll and
// Settle share one command connection (serialised), Run keeps a connection
// of its own for IDLE.
type Source struct {
	cfg         Config
	name, kind  string
	log         *slog.Logger
	now         func() time.Time
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	tlsConfig   *tls.Config

	// cmdMu serialises use of cmd, the connection Poll and Settle share.
	cmdMu sync.Mutex
	cmd   *conn

	mu     sync.Mutex
	closed bool
	// inflight is the fallback in-flight record used when the server does
	// not let us store keywords: key -> when published.
	inflight map[msgKey]time.Time
	health   healthState
	// runConn is the connection Run is using, so Close can break IDLE.
	runConns map[*conn]struct{}
}

type msgKey struct {
	mailbox     string
	uidValidity uint32
	uid         uint32
}

type healthState struct {
	connected      int // live connections
	lastPoll       time.Time
	lastErr        error
	lastErrAt      time.Time
	failures       int // consecutive failed cycles
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
		runConns:  make(map[*conn]struct{}),
	}
	d := &net.Dialer{}
	s.dialContext = d.DialContext
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("source", s.name, "mailbox", cfg.Mailbox)
	return s, nil
}

// Name returns the source name.
func (s *Source) Name() string { return s.name }

// Config returns the effective configuration (defaults filled in).
func (s *Source) Config() Config { return s.cfg }

// Poll runs one cycle on the shared command connection: it publishes up to
// BatchSize unseen messages that are not in flight and returns how many it
// published. The number of IMAP round trips does not depend on the number
// of messages. A connection that turns out dead is replaced once.
func (s *Source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	n, _, err := s.withCmd(ctx, func(cn *conn) (int, bool, error) {
		return s.cycle(ctx, cn, pub)
	})
	return n, err
}

// withCmd runs f on the command connection, dialling when needed. When f
// fails on a reused connection that has meanwhile died (a Lambda warm start
// after the server dropped us), it redials once. Caller holds cmdMu.
func (s *Source) withCmd(ctx context.Context, f func(*conn) (int, bool, error)) (int, bool, error) {
	for attempt := 0; ; attempt++ {
		reused := s.cmd != nil
		if s.cmd != nil && !s.cmd.alive() {
			s.dropCmd()
			reused = false
		}
		if s.cmd == nil {
			if s.isClosed() {
				return 0, false, ErrClosed
			}
			cn, err := s.dial(ctx)
			if err != nil {
				s.recordErr(err)
				return 0, false, err
			}
			s.cmd = cn
			s.connUp(cn, false)
		}
		n, more, err := f(s.cmd)
		if err == nil {
			return n, more, nil
		}
		if !s.cmd.alive() {
			s.dropCmd()
			if reused && attempt == 0 && ctx.Err() == nil {
				continue
			}
		}
		s.recordErr(err)
		return n, more, err
	}
}

func (s *Source) dropCmd() {
	if s.cmd == nil {
		return
	}
	s.cmd.close()
	s.connDown(s.cmd)
	s.cmd = nil
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
		s.log.Warn("imap: connection lost; reconnecting", "err", err, "in", wait)
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
	if !s.addRunConn(cn) {
		cn.close()
		return false, ErrClosed
	}
	s.connUp(cn, true)
	defer func() {
		s.removeRunConn(cn)
		cn.close()
		s.connDown(cn)
	}()

	watchdog := time.NewTimer(s.cfg.IdleRestart)
	defer watchdog.Stop()
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
				s.log.Warn("imap: publish failed; messages stay for the next cycle", "err", r.pubErr)
				retrySoon = true
				break
			}
			if !r.more {
				break
			}
		}
		established = true

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
			return established, err
		}
		if !watchdog.Stop() {
			select {
			case <-watchdog.C:
			default:
			}
		}
		if retrySoon {
			watchdog.Reset(min(s.cfg.IdleRestart, s.cfg.PollInterval))
		} else {
			watchdog.Reset(s.cfg.IdleRestart)
		}
		select {
		case <-ctx.Done():
			return established, ctx.Err()
		case <-cn.c.Closed():
			return established, fmt.Errorf("imap: connection closed while idling")
		case <-cn.events:
		case <-watchdog.C:
		}
		if err := cn.do(ctx, "stop idle", func() error {
			if err := idle.Close(); err != nil {
				return err
			}
			return idle.Wait()
		}); err != nil {
			return established, err
		}
	}
}

func (s *Source) addRunConn(cn *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.runConns[cn] = struct{}{}
	return true
}

func (s *Source) removeRunConn(cn *conn) {
	s.mu.Lock()
	delete(s.runConns, cn)
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
	conns := make([]*conn, 0, len(s.runConns))
	for cn := range s.runConns {
		conns = append(conns, cn)
	}
	s.mu.Unlock()
	for _, cn := range conns {
		cn.close()
	}
	s.cmdMu.Lock()
	s.dropCmd()
	s.cmdMu.Unlock()
	return nil
}

func (s *Source) connUp(cn *conn, _ bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.connected++
	s.health.everConnected = true
}

func (s *Source) connDown(cn *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.health.connected > 0 {
		s.health.connected--
	}
}

func (s *Source) recordErr(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.lastErr = err
	s.health.lastErrAt = s.now()
	s.health.failures++
}

func (s *Source) recordCycle(backlog, published int, uidValidity uint32, keywords bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.lastPoll = s.now()
	s.health.failures = 0
	s.health.backlog = backlog
	s.health.published += int64(published)
	s.health.uidValidity = uidValidity
	s.health.keywords = keywords
	s.health.keywordsKnown = true
}

// Health reports connected, last successful poll, backlog (unseen messages
// not in flight left after the last cycle), reconnects and the last error.
// Degraded after a failure, down after five failed cycles in a row. It
// never does I/O.
func (s *Source) Health(ctx context.Context) contracts.Health {
	s.mu.Lock()
	h := s.health
	closed := s.closed
	s.mu.Unlock()
	d := map[string]string{
		"addr":        s.cfg.Addr,
		"mailbox":     s.cfg.Mailbox,
		"mode":        s.cfg.Mode,
		"connected":   strconv.FormatBool(h.connected > 0),
		"backlog":     strconv.Itoa(h.backlog),
		"reconnects":  strconv.Itoa(h.reconnects),
		"published":   strconv.FormatInt(h.published, 10),
		"settled":     strconv.FormatInt(h.settled, 10),
		"uidvalidity": strconv.FormatUint(uint64(h.uidValidity), 10),
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
	if h.lastErr != nil {
		d["last_error"] = h.lastErr.Error()
		d["last_error_at"] = h.lastErrAt.UTC().Format(time.RFC3339)
	}
	var out contracts.Health
	switch {
	case closed:
		out = contracts.Down("closed")
	case h.failures >= 5:
		out = contracts.Down(fmt.Sprintf("%d failed attempts in a row", h.failures))
	case h.failures > 0:
		out = contracts.Degraded("last attempt failed; retrying")
	case !h.everConnected:
		out = contracts.Up("not connected yet")
	default:
		out = contracts.Up("ok")
	}
	out.Details = d
	out.Checked = s.now()
	return out
}
