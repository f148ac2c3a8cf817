package imapsource_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/cyrustest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// BenchmarkServers measures, per server of the matrix, what the closing
// note of issue 15 reports (docs/imap.md, "Measured per server"):
//
//   - poll: APPEND, one Poll, Settle(succeeded): from APPEND to \Seen
//     without the wait for the next poll_interval (which adds up to it);
//   - idle: a source in Run (IDLE); from APPEND to the published task's
//     Settle, i.e. to \Seen;
//   - deadletter_move: Settle(dead-lettered) with move:<folder>;
//   - restart: a private server stopped and started under an idling
//     source; from the start script's return to the task of a message
//     appended right after it (reconnect with backoff, catch-up).
//
// Run: go test -run '^$' -bench BenchmarkServers -benchtime 20x ./pkg/source/imapsource/
func BenchmarkServers(b *testing.B) {
	for _, srv := range benchServers() {
		b.Run(srv.name, func(b *testing.B) {
			b.Run("poll", func(b *testing.B) { benchPoll(b, srv.account(b)) })
			b.Run("idle", func(b *testing.B) { benchIdle(b, srv.account(b), nil) })
			b.Run("deadletter_move", func(b *testing.B) { benchDeadLetterMove(b, srv.account(b)) })
			if srv.private != nil {
				b.Run("restart", func(b *testing.B) { benchRestart(b, srv) })
			}
		})
	}
}

// benchServers is the matrix plus Cyrus without idled (Debian's default),
// whose IDLE latency only idle_check bounds.
func benchServers() []imapServer {
	return append(servers(), imapServer{name: "cyrus-without-idled", account: func(t testing.TB) account {
		in := cyrustest.StartPrivateWithoutIdled(t)
		return account{in.Addr, in.User(t), cyrustest.Password}
	}})
}

func msPerOp(b *testing.B, total time.Duration) {
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/op")
}

func benchPoll(b *testing.B, acc account) {
	src := newSource(b, acc.config())
	c := acc.client(b)
	pub := newCollector()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		appendOne(b, c, fmt.Sprintf("poll-%d@test", i))
		if n, err := src.Poll(b.Context(), pub); err != nil || n != 1 {
			b.Fatalf("Poll = %d, %v", n, err)
		}
		if err := src.Settle(b.Context(), <-pub.ch, contracts.OutcomeSucceeded, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	msPerOp(b, total)
}

func benchIdle(b *testing.B, acc account, mutate func(*imapsource.Config)) {
	cfg := acc.config(func(c *imapsource.Config) { c.Mode = imapsource.ModeIdle })
	if mutate != nil {
		mutate(&cfg)
	}
	src := newSource(b, cfg)
	pub := newCollector()
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	defer func() { cancel(); <-done }()
	c := acc.client(b)
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		appendOne(b, c, fmt.Sprintf("idle-%d@test", i))
		task := pub.next(b, 2*time.Minute)
		if err := src.Settle(b.Context(), task, contracts.OutcomeSucceeded, nil); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	msPerOp(b, total)
}

func benchDeadLetterMove(b *testing.B, acc account) {
	src := newSource(b, acc.config(func(c *imapsource.Config) { c.OnDeadLetter = "move:Dead Letters" }))
	c := acc.client(b)
	pub := newCollector()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		appendOne(b, c, fmt.Sprintf("dl-%d@test", i))
		if n, err := src.Poll(b.Context(), pub); err != nil || n != 1 {
			b.Fatalf("Poll = %d, %v", n, err)
		}
		task := <-pub.ch
		t0 := time.Now()
		if err := src.Settle(b.Context(), task, contracts.OutcomeDeadLettered, errors.New("bench")); err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	msPerOp(b, total)
}

func benchRestart(b *testing.B, srv imapServer) {
	ps := srv.private(b)
	src := newSource(b, ps.acc.config(func(c *imapsource.Config) {
		c.BackoffMin = 100 * time.Millisecond
		c.BackoffMax = 2 * time.Second
	}))
	pub := newCollector()
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, pub) }()
	defer func() { cancel(); <-done }()
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		ps.stop(b)
		ps.start(b)
		t0 := time.Now()
		c := ps.acc.client(b)
		appendOne(b, c, fmt.Sprintf("restart-%d@test", i))
		pub.next(b, time.Minute)
		total += time.Since(t0)
		_ = c.Close()
	}
	msPerOp(b, total)
}

// appendOne appends one small message.
func appendOne(b *testing.B, c *imapclient.Client, msgID string) {
	b.Helper()
	if _, err := imaptest.AppendMessages(b.Context(), c, "INBOX", [][]byte{imaptest.Message(msgID, "bench", "one line\r\n")}); err != nil {
		b.Fatal(err)
	}
}
