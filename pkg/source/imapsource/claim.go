package imapsource

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Conditional marks: the server arbitrates between processes.
//
// Two processes sharing a mailbox through a durable queue can wake for the
// same new mail, both SEARCH it unmarked and both mark it: a plain
// +FLAGS succeeds for both, and both would publish it. With CONDSTORE
// (RFC 7162) the mark is stored with UNCHANGEDSINCE V, V being the highest
// MODSEQ among the candidates as this cycle's FETCH saw them (after
// dropping those the FETCH already shows in flight, seen or
// dead-lettered). MODSEQs are mailbox-wide and increase, so any change
// another process makes to a candidate after that FETCH gives it a MODSEQ
// above V, and the server refuses our STORE for it. Only the messages the
// server changed are ours to publish.
//
// Which ones the server refused it says only in the tagged reply,
// "OK [MODIFIED uid-set]". The untagged FETCH replies cannot tell: Dovecot
// and Cyrus both send one for a refused message too, carrying the other
// process's flags (our very keywords) and a MODSEQ above V. go-imap v2
// beta.8 drops that response code, so the connection's reader is watched
// (modWatch) for it: a small scanner of the server's byte stream that
// follows lines and skips literals, and records MODIFIED sets only while
// a conditional mark is in flight.
//
// Without CONDSTORE, without keywords, or on a STARTTLS connection (the
// client upgrades the socket itself, below the watch) marks are stored as
// before and two cycles racing for the same new mail may both publish it.

// modWatch scans what the server sends for tagged "[MODIFIED set]" codes.
// Its parser runs on the client's reader goroutine; arm/disarm run on the
// cycle's.
type modWatch struct {
	mu sync.Mutex
	// parser state
	line     []byte
	tagged   bool // the current line starts a tagged response
	atStart  bool // the next byte starts a response
	skip     int64
	overflow bool
	// armed: a conditional mark is in flight; tags counts the tagged
	// responses seen since arm, refused the UIDs they reported.
	armed   bool
	tags    int
	refused []imap.UID
	garbled bool
}

// maxTaggedLine bounds a tagged line kept for parsing (a MODIFIED set of a
// whole batch fits many times over).
const maxTaggedLine = 1 << 20

func newModWatch() *modWatch { return &modWatch{atStart: true} }

// watchedConn feeds what is read from the server to a modWatch.
type watchedConn struct {
	net.Conn
	w *modWatch
}

func (c watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.w.feed(p[:n])
	}
	return n, err
}

func (w *modWatch) feed(b []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(b) > 0 {
		if w.skip > 0 {
			n := min(int64(len(b)), w.skip)
			b, w.skip = b[n:], w.skip-n
			continue
		}
		if w.atStart && len(w.line) == 0 {
			w.tagged = b[0] != '*' && b[0] != '+'
		}
		chunk := b
		end := bytes.IndexByte(b, '\n')
		if end >= 0 {
			chunk, b = b[:end+1], b[end+1:]
		} else {
			b = nil
		}
		w.line = append(w.line, chunk...)
		if w.tagged && w.atStart {
			if len(w.line) > maxTaggedLine {
				w.line, w.overflow = w.line[:0], true
			}
		} else if len(w.line) > 64 {
			// Untagged lines and continuations: only the end matters
			// (a literal's "{n}").
			w.line = append(w.line[:0], w.line[len(w.line)-32:]...)
		}
		if end < 0 {
			continue
		}
		line := bytes.TrimRight(w.line, "\r\n")
		if w.tagged && w.atStart {
			w.onTagged(line)
		}
		w.atStart = true
		if n, ok := literalAtEnd(line); ok {
			w.skip, w.atStart = n, false
		}
		w.line, w.overflow = w.line[:0], false
	}
}

// literalAtEnd reports a literal announced at the end of a line: "{n}",
// "{n+}" or "~{n}".
func literalAtEnd(line []byte) (int64, bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false
	}
	open := bytes.LastIndexByte(line, '{')
	if open < 0 {
		return 0, false
	}
	digits := strings.TrimSuffix(string(line[open+1:len(line)-1]), "+")
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

func (w *modWatch) onTagged(line []byte) {
	if !w.armed {
		return
	}
	w.tags++
	if w.overflow {
		w.garbled = true
		return
	}
	// tag SP ("OK" / "NO" / "BAD") SP "[" code ...
	parts := strings.SplitN(string(line), " ", 3)
	if len(parts) < 3 {
		return
	}
	const code = "[MODIFIED "
	if !strings.HasPrefix(strings.ToUpper(parts[2]), code) {
		return
	}
	set, _, ok := strings.Cut(parts[2][len(code):], "]")
	uids, err := parseUIDs(set)
	if !ok || err != nil {
		w.garbled = true
		return
	}
	w.refused = append(w.refused, uids...)
}

// parseUIDs parses a sequence set of plain numbers ("1:3,7").
func parseUIDs(s string) ([]imap.UID, error) {
	var out []imap.UID
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		a, err := strconv.ParseUint(lo, 10, 32)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = strconv.ParseUint(hi, 10, 32); err != nil {
				return nil, err
			}
		}
		if a > b {
			a, b = b, a
		}
		if b-a > 1<<20 {
			return nil, errors.New("range too large")
		}
		for u := a; u <= b; u++ {
			out = append(out, imap.UID(u))
		}
	}
	return out, nil
}

func (w *modWatch) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed, w.tags, w.refused, w.garbled = true, 0, nil, false
}

// disarm returns the UIDs the server refused since arm, and whether the
// watch saw want tagged replies it could read.
func (w *modWatch) disarm(want int) ([]imap.UID, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.armed = false
	return w.refused, w.tags == want && !w.garbled
}

// condStore reports whether cn's server has CONDSTORE (asked once per
// source).
func (s *Source) condStore(ctx context.Context, cn *conn) (bool, error) {
	r := &s.recov
	r.mu.Lock()
	known := r.condstore
	r.mu.Unlock()
	if known != 0 {
		return known > 0, nil
	}
	var has bool
	if err := cn.do(ctx, "capability", func() error {
		has = cn.c.Caps().Has(imap.CapCondStore)
		return nil
	}); err != nil {
		return false, err
	}
	r.mu.Lock()
	r.condstore = -1
	if has {
		r.condstore = 1
	}
	r.mu.Unlock()
	return has, nil
}

// maxModSeq is the highest MODSEQ among msgs; 0 when the server sent none
// (then UNCHANGEDSINCE cannot be used: 0 always fails).
func maxModSeq(msgs []*imapclient.FetchMessageBuffer) uint64 {
	var v uint64
	for _, m := range msgs {
		v = max(v, m.ModSeq)
	}
	return v
}

// beforeMark and afterMark are test hooks (export_test.go): they run
// before and after a cycle's conditional mark.
var beforeMark, afterMark func()

// canClaim reports whether cycles on cn store conditional marks.
func (s *Source) canClaim(ctx context.Context, cn *conn) (bool, error) {
	if !cn.keywords || cn.watch == nil {
		return false, nil
	}
	return s.condStore(ctx, cn)
}

// stillCandidate: the flags a FETCH returned still match the search
// criteria (another process did not mark or settle the message between
// our SEARCH and FETCH).
func (s *Source) stillCandidate(flags []imap.Flag, g int) bool {
	if hasFlag(flags, imap.FlagSeen) || hasFlag(flags, imap.Flag(s.cfg.DeadLetterKeyword)) {
		return false
	}
	return !hasFlag(flags, imap.Flag(s.cfg.InFlightKeyword)) ||
		(!hasFlag(flags, s.genKeyword(g)) && !hasFlag(flags, s.genKeyword(g-1)))
}

// claimInflight stores the in-flight mark on msgs conditionally (see
// above) and returns the messages the server marked for us. Fresh
// messages get +FLAGS; stale ones (an old generation keyword) get their
// whole flag list replaced, which drops the old generation in the same
// STORE (a -FLAGS first would raise their MODSEQ above V). One STORE for
// the fresh ones and one per distinct flag list of stale ones, pipelined.
func (s *Source) claimInflight(ctx context.Context, cn *conn, msgs []*imapclient.FetchMessageBuffer, g int) ([]*imapclient.FetchMessageBuffer, error) {
	var v uint64
	var fresh []imap.UID
	stale := map[string][]imap.UID{}
	staleFlags := map[string][]imap.Flag{}
	mark := []imap.Flag{imap.Flag(s.cfg.InFlightKeyword), s.genKeyword(g)}
	gens := s.inFlightFlags()[1:]
	for _, m := range msgs {
		v = max(v, m.ModSeq)
		old := false
		for _, f := range gens {
			if f != s.genKeyword(g) && hasFlag(m.Flags, f) {
				old = true
				break
			}
		}
		if !old {
			fresh = append(fresh, m.UID)
			continue
		}
		var flags []imap.Flag
		for _, f := range m.Flags {
			if !strings.EqualFold(string(f), `\Recent`) && !hasFlag(gens, f) && f != imap.Flag(s.cfg.InFlightKeyword) {
				flags = append(flags, f)
			}
		}
		flags = append(flags, mark...)
		slices.Sort(flags)
		key := strings.Join(func() []string {
			out := make([]string, len(flags))
			for i, f := range flags {
				out[i] = string(f)
			}
			return out
		}(), " ")
		stale[key] = append(stale[key], m.UID)
		staleFlags[key] = flags
	}
	var refused []imap.UID
	complete := false
	err := cn.do(ctx, "store in-flight mark (conditional)", func() error {
		opts := &imap.StoreOptions{UnchangedSince: v}
		var cmds []*imapclient.FetchCommand
		cn.watch.arm()
		if len(fresh) > 0 {
			cmds = append(cmds, cn.c.Store(imap.UIDSetNum(fresh...), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: mark}, opts))
		}
		for key, uids := range stale {
			cmds = append(cmds, cn.c.Store(imap.UIDSetNum(uids...), &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: staleFlags[key]}, opts))
		}
		var errs []error
		for _, c := range cmds {
			errs = append(errs, c.Close())
		}
		refused, complete = cn.watch.disarm(len(cmds))
		return errors.Join(errs...)
	})
	if err != nil {
		return nil, err
	}
	if !complete {
		// The watch lost track of the stream: claim everything, as an
		// unconditional mark would.
		s.log.Warn("imap: could not read the server's answer to a conditional mark; treating every message as marked by this process")
		return msgs, nil
	}
	if len(refused) == 0 {
		return msgs, nil
	}
	slices.Sort(refused)
	claimed := slices.DeleteFunc(msgs, func(m *imapclient.FetchMessageBuffer) bool {
		_, lost := slices.BinarySearch(refused, m.UID)
		return lost
	})
	lost := len(msgs) - len(claimed)
	s.mu.Lock()
	s.claimsLost += int64(lost)
	s.mu.Unlock()
	s.log.Debug("imap: the server refused in-flight marks (another process marked those messages first); not publishing them",
		"count", lost)
	return claimed, nil
}
