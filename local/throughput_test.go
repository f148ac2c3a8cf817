package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/pkg/runner"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// burst is the number of order mails one benchmark iteration processes
// (PLBA_BENCH_MAILS overrides it).
func burst() int {
	if n, err := strconv.Atoi(os.Getenv("PLBA_BENCH_MAILS")); err == nil && n > 0 {
		return n
	}
	return 2000
}

// seedBurst appends n generated order mails to a fresh Dovecot mailbox
// and returns its credentials.
func seedBurst(b *testing.B, n int) (addr, user, pass string) {
	b.Helper()
	addr, _, pass = dovecottest.Dovecot(b)
	user = dovecottest.UserName(b)
	rnd := rand.New(rand.NewPCG(uint64(n), 3))
	var msgs [][]byte
	for i := range n {
		msgs = append(msgs, demodata.GenerateSample(i+1, rnd).Raw)
	}
	ctx := context.Background()
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := imaptest.AppendMessages(ctx, c, "INBOX", msgs); err != nil {
		b.Fatal(err)
	}
	return addr, user, pass
}

// seenCount counts \Seen messages over a connection of its own.
func seenCount(b *testing.B, c *imapclient.Client) int {
	b.Helper()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	d, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	return len(d.AllUIDs())
}

// BenchmarkBurstToSeen is the real path users feel: a burst of order mails
// in Dovecot, `plba run` (the bot, 4 workers, SQLite store) from start
// until every mail is \Seen, in poll and in idle mode, next to the
// reference: one go-imap connection doing what a careful single-threaded
// client does (one search, one batched BODY.PEEK[] fetch, then one UID
// STORE +FLAGS (\Seen) per message). Reported as mails/s; run with
// -benchtime 1x -count 3 (make bench does).
func BenchmarkBurstToSeen(b *testing.B) {
	n := burst()
	b.Run("reference", func(b *testing.B) {
		for range b.N {
			b.StopTimer()
			addr, user, pass := seedBurst(b, n)
			ctx := context.Background()
			c, err := imaptest.Login(ctx, addr, user, pass)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			start := time.Now()
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				b.Fatal(err)
			}
			d, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
			if err != nil {
				b.Fatal(err)
			}
			uids := d.AllUIDs()
			body := &imap.FetchItemBodySection{Peek: true}
			msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{body}}).Collect()
			if err != nil || len(msgs) != n {
				b.Fatalf("fetch: %d messages, %v", len(msgs), err)
			}
			for _, m := range msgs {
				if err := c.Store(imap.UIDSetNum(m.UID), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
					b.Fatal(err)
				}
			}
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(n)/el.Seconds(), "mails/s")
			_ = c.Close()
		}
	})
	for _, mode := range []string{"poll", "idle"} {
		b.Run("plba/"+mode, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				addr, user, pass := seedBurst(b, n)
				db := filepath.Join(b.TempDir(), "orders.db")
				cfg := filepath.Join(b.TempDir(), "plba.yaml")
				if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`platform:
  control: { listen: "off" }
  log: { level: error }
apps:
  mailorderbot:
    imap: { addr: %q, tls: none, username: %q, password: %q, mailbox: INBOX, mode: %s, poll_interval: 1s }
    workers: 4
    store: { driver: sqlite, path: %q }
`, addr, user, pass, mode, db)), 0o600); err != nil {
					b.Fatal(err)
				}
				watch, err := imaptest.Login(context.Background(), addr, user, pass)
				if err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan int, 1)
				b.StartTimer()
				start := time.Now()
				go func() { done <- runner.Run(ctx, app(), []string{"run", "--config", cfg}, io.Discard, io.Discard) }()
				for seenCount(b, watch) < n {
					select {
					case code := <-done:
						b.Fatalf("plba exited with %d", code)
					case <-time.After(20 * time.Millisecond): // watching a server from outside: nothing to await
					}
					if time.Since(start) > 5*time.Minute {
						b.Fatalf("only %d of %d seen after 5 min", seenCount(b, watch), n)
					}
				}
				el := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(n)/el.Seconds(), "mails/s")
				cancel()
				<-done
				_ = watch.Close()
			}
		})
	}
}
