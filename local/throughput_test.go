package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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
// STORE +FLAGS (\Seen) per message). Each iteration measures all three on
// fresh mailboxes, in an order that rotates from one iteration to the
// next (the later runs of a process are a little slower, and a busy
// neighbour slows plba, which needs CPU, more than the reference), and
// reports mails/s and CPU per mail for each, and plba's time as a
// multiple of the reference's in the same iteration. Run with -benchtime
// 1x -count 5 (make bench does); the sub-benchmarks reference, plba/poll
// and plba/idle measure one of them alone (for profiles).
func BenchmarkBurstToSeen(b *testing.B) {
	n := burst()
	b.Run("paired", func(b *testing.B) {
		for range b.N {
			order := rotations[int(pairedRound.Add(1)-1)%len(rotations)]
			res := map[string]burstResult{}
			for _, what := range order {
				if what == "reference" {
					res[what] = burstReference(b, n)
				} else {
					res[what] = burstPlba(b, n, what)
				}
			}
			ref := res["reference"]
			for _, what := range []string{"reference", "poll", "idle"} {
				r := res[what]
				r.report(b, n, what+"-")
				if what != "reference" {
					b.ReportMetric(r.took.Seconds()/ref.took.Seconds(), what+"-x")
				}
			}
			b.Logf("order %v", order)
		}
	})
	b.Run("reference", func(b *testing.B) {
		for range b.N {
			burstReference(b, n).report(b, n, "")
		}
	})
	for _, mode := range []string{"poll", "idle"} {
		b.Run("plba/"+mode, func(b *testing.B) {
			for range b.N {
				burstPlba(b, n, mode).report(b, n, "")
			}
		})
	}
}

// rotations is the order of the paired measurements, iteration by
// iteration.
var rotations = [][]string{{"reference", "poll", "idle"}, {"idle", "reference", "poll"}, {"poll", "idle", "reference"}}

var pairedRound atomic.Int64

// burstResult is one measured burst.
type burstResult struct {
	took       time.Duration
	cpuPerMail float64
	// cmdsPerMail: IMAP commands per mail, when PLBA_BENCH_WIRE counted
	// them (else 0).
	cmdsPerMail float64
}

// report reports r under units prefixed with prefix ("" or "poll-"…).
func (r burstResult) report(b *testing.B, n int, prefix string) {
	b.ReportMetric(float64(n)/r.took.Seconds(), prefix+"mails/s")
	b.ReportMetric(r.cpuPerMail, prefix+"cpu-µs/mail")
	if r.cmdsPerMail > 0 {
		b.ReportMetric(r.cmdsPerMail, prefix+"cmds/mail")
	}
}

// burstReference seeds a mailbox (untimed) and times the reference client
// on it; the benchmark timer runs only while it works.
func burstReference(b *testing.B, n int) burstResult {
	b.StopTimer()
	addr, user, pass := seedBurst(b, n)
	wc := wire(b, addr, b.Name()+"-reference")
	if wc != nil {
		addr = wc.addr()
	}
	ctx := context.Background()
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.StartTimer()
	start, cpu0 := time.Now(), cpuTime()
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
	r := burstResult{took: time.Since(start), cpuPerMail: float64((cpuTime() - cpu0).Microseconds()) / float64(n)}
	b.StopTimer()
	if wc != nil {
		r.cmdsPerMail = wc.report(b, n)
	}
	return r
}

// burstPlba seeds a mailbox (untimed) and times `plba run` (the bot in
// mode) until every mail on it is \Seen.
func burstPlba(b *testing.B, n int, mode string) burstResult {
	b.StopTimer()
	addr, user, pass := seedBurst(b, n)
	plbaAddr := addr
	wc := wire(b, addr, b.Name()+"-"+mode)
	if wc != nil {
		plbaAddr = wc.addr()
	}
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
`, plbaAddr, user, pass, mode, db)), 0o600); err != nil {
		b.Fatal(err)
	}
	watch, err := imaptest.Login(context.Background(), addr, user, pass)
	if err != nil {
		b.Fatal(err)
	}
	defer watch.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	b.StartTimer()
	start, cpu0 := time.Now(), cpuTime()
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
	r := burstResult{took: time.Since(start), cpuPerMail: float64((cpuTime() - cpu0).Microseconds()) / float64(n)}
	b.StopTimer()
	if wc != nil {
		r.cmdsPerMail = wc.report(b, n)
	}
	cancel()
	<-done
	return r
}

// cpuTime is the CPU time (user + system) this process has used: the
// benchmark reports it per mail, a figure the other work on a shared
// machine does not distort as much as the wall time. Dovecot's CPU is not
// in it.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// wireCounter is a loopback TCP proxy in front of the IMAP server that
// counts the commands clients send (a line that starts with a tag and a
// command name; IDLE's DONE and literal data are not commands) and, with
// PLBA_BENCH_WIRE=FILE, writes a timeline of commands and tagged
// completions. It adds a hop, so benchmarks use it only when asked
// (PLBA_BENCH_WIRE set), for the reference and plba alike.
type wireCounter struct {
	ln       net.Listener
	target   string
	start    time.Time
	commands atomic.Int64
	byName   sync.Map // command name -> *atomic.Int64
	logMu    sync.Mutex
	log      io.Writer
	conns    atomic.Int64
}

func newWireCounter(b *testing.B, target string, log io.Writer) *wireCounter {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	w := &wireCounter{ln: ln, target: target, start: time.Now(), log: log}
	var wg sync.WaitGroup
	b.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			id := w.conns.Add(1)
			wg.Add(2)
			go func() { defer wg.Done(); w.pump(id, c, up, true) }()
			go func() { defer wg.Done(); w.pump(id, up, c, false) }()
		}
	}()
	return w
}

func (w *wireCounter) addr() string { return w.ln.Addr().String() }

// pump copies src to dst line by line, counting and logging.
func (w *wireCounter) pump(id int64, src, dst net.Conn, fromClient bool) {
	defer func() { _ = src.Close(); _ = dst.Close() }()
	r := bufio.NewReaderSize(src, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			w.observe(id, line, fromClient)
			if _, werr := dst.Write(line); werr != nil {
				return
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (w *wireCounter) observe(id int64, line []byte, fromClient bool) {
	f := bytes.Fields(line)
	if len(f) < 2 || f[0][0] == '*' || f[0][0] == '+' {
		return
	}
	var name string
	if fromClient {
		name = strings.ToUpper(string(f[1]))
		if name == "UID" && len(f) > 2 {
			name += " " + strings.ToUpper(string(f[2]))
		}
		w.commands.Add(1)
		v, _ := w.byName.LoadOrStore(name, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	} else if !bytes.EqualFold(f[1], []byte("OK")) && !bytes.EqualFold(f[1], []byte("NO")) && !bytes.EqualFold(f[1], []byte("BAD")) {
		return // literal data, not a completion
	}
	if w.log == nil {
		return
	}
	text := string(bytes.TrimSpace(line))
	if len(text) > 70 {
		text = text[:70] + "…"
	}
	dir := "S"
	if fromClient {
		dir = "C"
	}
	w.logMu.Lock()
	fmt.Fprintf(w.log, "%9.3f c%d %s %s\n", float64(time.Since(w.start).Microseconds())/1000, id, dir, text)
	w.logMu.Unlock()
}

// report logs the commands by name and returns the commands per mail.
func (w *wireCounter) report(b *testing.B, n int) float64 {
	var parts []string
	w.byName.Range(func(k, v any) bool {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	sort.Strings(parts)
	b.Logf("IMAP commands for %d mails: %d (%s)", n, w.commands.Load(), strings.Join(parts, " "))
	return float64(w.commands.Load()) / float64(n)
}

// wire returns a counting proxy when PLBA_BENCH_WIRE is set (a file name
// for the timeline, or "1" for counts only), else nil.
func wire(b *testing.B, target, label string) *wireCounter {
	v := os.Getenv("PLBA_BENCH_WIRE")
	if v == "" {
		return nil
	}
	var log io.Writer
	if v != "1" {
		f, err := os.Create(v + "." + strings.ReplaceAll(label, "/", "-"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = f.Close() })
		log = f
	}
	return newWireCounter(b, target, log)
}
