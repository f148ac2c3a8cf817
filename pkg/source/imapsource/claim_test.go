package imapsource_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// pairGate holds the first cycle that reaches its mark until a second one
// has stored its own: both FETCHed the same unmarked candidates (neither
// had marked yet) and the server sees the two STOREs one after the other.
// A cycle alone is let go after a timeout (its partner found nothing).
type pairGate struct {
	mu      sync.Mutex
	waiting chan struct{} // the first cycle waits on it
	second  bool          // a second cycle is marking
	pairs   int
}

func (p *pairGate) before() {
	p.mu.Lock()
	if p.waiting != nil && !p.second {
		p.second = true
		p.pairs++
		p.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	p.waiting = ch
	p.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(2 * time.Second):
		p.mu.Lock()
		if p.waiting == ch {
			p.waiting = nil
		}
		p.mu.Unlock()
	}
}

func (p *pairGate) after() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.second && p.waiting != nil {
		close(p.waiting)
		p.waiting, p.second = nil, false
	}
}

// Two sources sharing a mailbox (and a durable queue) race cycle for cycle
// over the same new mails; with CONDSTORE the server arbitrates the mark.
// In the gated rounds both cycles searched and fetched the same candidates
// before either marked — the race the marks alone did not arbitrate — and
// every message must be published exactly once; the refused marks are
// counted, so the test cannot pass without the two having tried the same
// UIDs. In the free rounds the cycles run as they come: on Cyrus exactly
// once too; Dovecot 2.3 misses a conflict when the two STOREs run inside
// the server at the same moment (docs/faults.md), so there the duplicates
// of the free rounds are reported, not failed.
func TestServersConditionalMarkRace(t *testing.T) {
	for _, srv := range servers()[1:] { // the real servers: imapmemserver has no CONDSTORE
		t.Run(srv.name, func(t *testing.T) {
			acc := srv.account(t)
			h := newHolder()
			cfg := acc.config(func(c *imapsource.Config) { c.BatchSize = 50 })
			a, b := newSource(t, cfg), newSource(t, cfg)
			a.UseTaskHolder(h)
			b.UseTaskHolder(h)
			gate := &pairGate{}
			seeder := acc.client(t)
			defer imapsource.SetMarkHooks(nil, nil)
			const rounds, n = 10, 20
			gated := func(round int) bool { return round%2 == 0 }
			for round := range rounds {
				if gated(round) {
					imapsource.SetMarkHooks(gate.before, gate.after)
				} else {
					imapsource.SetMarkHooks(nil, nil)
				}
				msgs := make([][]byte, n)
				for i := range msgs {
					msgs[i] = imaptest.Message(fmt.Sprintf("r%d-%d@test", round, i), "order", "body\r\n")
				}
				if _, err := imaptest.AppendMessages(t.Context(), seeder, "INBOX", msgs); err != nil {
					t.Fatal(err)
				}
				want := (round + 1) * n
				var wg sync.WaitGroup
				for who, src := range map[string]*imapsource.Source{"a": a, "b": b} {
					wg.Go(func() {
						for start := time.Now(); h.count() < want && time.Since(start) < 10*time.Second; {
							if _, err := src.Poll(t.Context(), h.publisher(who)); err != nil {
								t.Errorf("%s Poll: %v", who, err)
								return
							}
						}
					})
				}
				wg.Wait()
			}

			byID := map[string][]string{}
			for _, e := range h.published() {
				var who, id string
				_, _ = fmt.Sscan(e, &who, &id)
				byID[id] = append(byID[id], who)
			}
			var dups, freeDups []string
			for id, whos := range byID {
				if len(whos) == 1 {
					continue
				}
				uid, _ := strconv.Atoi(id[strings.LastIndexByte(id, ':')+1:])
				d := fmt.Sprintf("%s by %v", id, whos)
				if srv.name == "dovecot" && !gated((uid-1)/n) {
					freeDups = append(freeDups, d)
					continue
				}
				dups = append(dups, d)
			}
			lostA, lostB := imapsource.ClaimsLost(a), imapsource.ClaimsLost(b)
			t.Logf("published %d tasks for %d mails; refused marks a=%d b=%d; gated pairs %d; duplicates in free rounds %v",
				len(h.published()), rounds*n, lostA, lostB, gate.pairs, freeDups)
			if len(byID) != rounds*n || len(dups) > 0 {
				t.Fatalf("published %d distinct of %d, duplicates %v", len(byID), rounds*n, dups)
			}
			if lostA+lostB < int64(rounds/2*n) || gate.pairs < rounds/2 {
				t.Fatalf("refused marks %d+%d (gated pairs %d): the sources did not race for the same UIDs", lostA, lostB, gate.pairs)
			}
			// Every message carries exactly one mark generation.
			for uid, fl := range acc.flags(t, "INBOX") {
				if !has(fl, "$Queued") || countGens(fl) != 1 {
					t.Fatalf("uid %d flags %v, want $Queued and one generation", uid, fl)
				}
			}
		})
	}
}

func countGens(fl []string) int {
	n := 0
	for g := range 4 {
		if has(fl, fmt.Sprintf("$QueuedG%d", g)) {
			n++
		}
	}
	return n
}

// A stale mark (an old generation keyword) is taken over by a conditional
// mark that replaces the flag list: the old generation goes in the same
// STORE, other flags stay.
func TestServersConditionalMarkTakesStale(t *testing.T) {
	for _, srv := range servers()[1:] {
		t.Run(srv.name, func(t *testing.T) {
			acc := srv.account(t)
			acc.seed(t, "INBOX", "m", 3)
			c := acc.client(t)
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			g := (time.Now().UnixNano() / int64(30*time.Minute)) % 4
			old := imap.Flag(fmt.Sprintf("$QueuedG%d", (g+2)%4))
			if err := c.Store(imap.UIDSetNum(1, 2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true,
				Flags: []imap.Flag{"$Queued", old, imap.FlagFlagged}}, nil).Close(); err != nil {
				t.Fatal(err)
			}
			h := newHolder()
			src := newSource(t, acc.config())
			src.UseTaskHolder(h)
			if n, err := src.Poll(t.Context(), h.publisher("a")); err != nil || n != 3 {
				t.Fatalf("Poll = %d, %v; want 3", n, err)
			}
			for uid, fl := range acc.flags(t, "INBOX") {
				if !has(fl, "$Queued") || countGens(fl) != 1 || has(fl, string(old)) {
					t.Fatalf("uid %d flags %v: want $Queued and the current generation only", uid, fl)
				}
				if (uid <= 2) != has(fl, `\Flagged`) {
					t.Fatalf("uid %d flags %v: \\Flagged changed", uid, fl)
				}
			}
		})
	}
}
