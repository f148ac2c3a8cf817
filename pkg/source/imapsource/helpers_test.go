package imapsource_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// account is where a test's mailbox lives.
type account struct {
	addr, user, pass string
}

func memAccount(t testing.TB, opts ...imaptest.MemOption) account {
	t.Helper()
	srv, err := imaptest.StartMemServer(t.Context(), "", "alice", "secret-pw", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return account{srv.Addr, srv.User, srv.Pass}
}

func (a account) config(mutate ...func(*imapsource.Config)) imapsource.Config {
	cfg := imapsource.DefaultConfig()
	cfg.Addr = a.addr
	cfg.TLS = imapsource.TLSNone
	cfg.Username = a.user
	cfg.Password = contracts.Secret(a.pass)
	cfg.CommandTimeout = 10 * time.Second
	cfg.BackoffMin = 20 * time.Millisecond
	cfg.BackoffMax = 200 * time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

func newSource(t testing.TB, cfg imapsource.Config, opts ...imapsource.Option) *imapsource.Source {
	t.Helper()
	s, err := imapsource.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func (a account) client(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imaptest.Login(t.Context(), a.addr, a.user, a.pass)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// seed appends n messages (Message-IDs <prefix-i@test>) to mailbox and
// returns their raw bytes in order.
func (a account) seed(t testing.TB, mailbox, prefix string, n int, flags ...imap.Flag) [][]byte {
	t.Helper()
	c := a.client(t)
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = imaptest.Message(fmt.Sprintf("%s-%d@test", prefix, i), fmt.Sprintf("order %d", i), strings.Repeat("line of text\r\n", 20))
	}
	for start := 0; start < n; start += 200 {
		if _, err := imaptest.AppendMessages(t.Context(), c, mailbox, msgs[start:min(n, start+200)], flags...); err != nil {
			t.Fatal(err)
		}
	}
	return msgs
}

func (a account) create(t testing.TB, mailbox string) {
	t.Helper()
	if err := a.client(t).Create(mailbox, nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

// flags returns every message's flags by UID, lower-cased (imapmemserver
// lower-cases keywords; Dovecot does not).
func (a account) flags(t testing.TB, mailbox string) map[imap.UID][]string {
	t.Helper()
	c := a.client(t)
	data, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	out := map[imap.UID][]string{}
	if data.NumMessages == 0 {
		return out
	}
	all, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		var fs []string
		for _, f := range m.Flags {
			fs = append(fs, strings.ToLower(string(f)))
		}
		out[m.UID] = fs
	}
	return out
}

func has(flags []string, f string) bool {
	for _, x := range flags {
		if x == strings.ToLower(f) {
			return true
		}
	}
	return false
}

// countSeen counts messages with \Seen.
func countFlag(fl map[imap.UID][]string, f string) int {
	n := 0
	for _, fs := range fl {
		if has(fs, f) {
			n++
		}
	}
	return n
}

// collector is a Publisher that records tasks and can fail on demand.
type collector struct {
	mu    sync.Mutex
	tasks []contracts.Task
	ch    chan contracts.Task
	fail  func(contracts.Task) error
}

func newCollector() *collector { return &collector{ch: make(chan contracts.Task, 4096)} }

func (c *collector) Publish(ctx context.Context, task contracts.Task) error {
	if c.fail != nil {
		if err := c.fail(task); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.tasks = append(c.tasks, task)
	c.mu.Unlock()
	c.ch <- task
	return nil
}

func (c *collector) all() []contracts.Task {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]contracts.Task(nil), c.tasks...)
}

// next waits for a published task.
func (c *collector) next(t testing.TB, within time.Duration) contracts.Task {
	t.Helper()
	select {
	case task := <-c.ch:
		return task
	case <-time.After(within):
		t.Fatalf("no task published within %s", within)
		return contracts.Task{}
	}
}

// counter wraps connections and counts IMAP commands the client writes
// (lines starting with a command tag).
type counter struct {
	cmds atomic.Int64
}

var tagLine = regexp.MustCompile(`(?m)^T\d+ `)

func (c *counter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: c}, nil
}

type countingConn struct {
	net.Conn
	c   *counter
	buf []byte
}

func (cc *countingConn) Write(p []byte) (int, error) {
	// Commands can span writes; count complete tagged lines.
	cc.buf = append(cc.buf, p...)
	if i := bytes.LastIndexByte(cc.buf, '\n'); i >= 0 {
		cc.c.cmds.Add(int64(len(tagLine.FindAllIndex(cc.buf[:i+1], -1))))
		cc.buf = append(cc.buf[:0], cc.buf[i+1:]...)
	}
	return cc.Conn.Write(p)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) add(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// logBuffer collects a source's log lines (text format) for assertions.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{} // closed and replaced on every write
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote != nil {
		close(b.wrote)
		b.wrote = nil
	}
	return b.buf.Write(p)
}

// waitFor blocks until the log contains s.
func (b *logBuffer) waitFor(t testing.TB, s string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for {
		b.mu.Lock()
		if strings.Contains(b.buf.String(), s) {
			b.mu.Unlock()
			return
		}
		if b.wrote == nil {
			b.wrote = make(chan struct{})
		}
		wrote := b.wrote
		b.mu.Unlock()
		select {
		case <-wrote:
		case <-deadline:
			t.Fatalf("no log line with %q within %s:\n%s", s, within, b.String())
		}
	}
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
