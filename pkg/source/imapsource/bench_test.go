package imapsource_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

const benchMessages = 1000

var discard = contracts.PublisherFunc(func(context.Context, contracts.Task) error { return nil })

// BenchmarkPollCycle measures one Poll of 1,000 unseen messages on Dovecot:
// SELECT, SEARCH, FETCH of every body, the in-flight STORE and 1,000 tasks.
// Between iterations (untimed) the in-flight marks are cleared again.
func BenchmarkPollCycle(b *testing.B) {
	acc := dovecotAccount(b)
	acc.seed(b, "INBOX", "bench", benchMessages)
	src := newSource(b, acc.config(func(c *imapsource.Config) { c.BatchSize = benchMessages }))
	reset := acc.client(b)
	if _, err := reset.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	var marks []imap.Flag
	for _, g := range []string{"", "G0", "G1", "G2", "G3"} {
		marks = append(marks, imap.Flag("$Queued"+g))
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		if err := reset.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: marks}, nil).Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n, err := src.Poll(b.Context(), discard)
		if err != nil || n != benchMessages {
			b.Fatalf("Poll = %d, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchMessages, "µs/msg")
}

// BenchmarkBareGoIMAP is the limit: the same SELECT, unseen search and
// batched BODY.PEEK[] + ENVELOPE fetch with go-imap directly, no marking
// and no tasks.
func BenchmarkBareGoIMAP(b *testing.B) {
	acc := dovecotAccount(b)
	acc.seed(b, "INBOX", "bench", benchMessages)
	c, err := imaptest.Login(b.Context(), acc.addr, acc.user, acc.pass)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := &imap.FetchItemBodySection{Peek: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
		if err != nil {
			b.Fatal(err)
		}
		msgs, err := c.Fetch(imap.UIDSetNum(data.AllUIDs()...), &imap.FetchOptions{
			UID: true, Envelope: true, BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil || len(msgs) != benchMessages {
			b.Fatalf("fetched %d, %v", len(msgs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/benchMessages, "µs/msg")
}

// BenchmarkMarkInFlight isolates what Poll adds to the bare loop on the
// server: one UID STORE +FLAGS ($Queued $QueuedGn) over 1,000 messages
// (on maildir, Dovecot renames one file per message).
func BenchmarkMarkInFlight(b *testing.B) {
	acc := dovecotAccount(b)
	acc.seed(b, "INBOX", "bench", benchMessages)
	c, err := imaptest.Login(b.Context(), acc.addr, acc.user, acc.pass)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	all := imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	marks := []imap.Flag{"$Queued", "$QueuedG1"}
	for b.Loop() {
		b.StopTimer()
		if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsDel, Silent: true, Flags: marks}, nil).Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: marks}, nil).Close(); err != nil {
			b.Fatal(err)
		}
	}
}
