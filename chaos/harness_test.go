// Package chaos runs fault scenarios against real processes and real
// servers: the plba binary, the project's test Dovecot (or a private one it
// restarts), an SMTP server that captures every reply. Each scenario prints
// one line of figures (tasks, lost, duplicated for effect, stranded, time to
// recover) and fails when lost, duplicated or stranded is above zero or the
// recovery is over its bound.
//
// The scenarios run only under `make chaos` (PLBA_CHAOS=short, part of
// `make test`) or `CHAOS_LONG=1 make chaos` (PLBA_CHAOS=long: more mail,
// and the soak); a plain `go test ./...` skips them.
package chaos_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-smtp"
	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// mode is PLBA_CHAOS: "short", "long", or "" (skip).
func mode(t *testing.T) string {
	t.Helper()
	m := os.Getenv("PLBA_CHAOS")
	if m == "" {
		t.Skip("chaos scenarios run with `make chaos` (PLBA_CHAOS=short|long)")
	}
	return m
}

// size picks the short or long figure.
func size(t *testing.T, short, long int) int {
	if mode(t) == "long" {
		return long
	}
	return short
}

// figures is one scenario's result line.
type figures struct {
	name       string
	tasks      int
	lost       int // \Seen without a stored outcome
	duplicated int // replies beyond one per Message-ID
	stranded   int // not \Seen when the run had drained
	marksLeft  int // in-flight marks ($Queued) left on mails not \Seen
	recover    time.Duration
	bound      time.Duration
	extra      string
}

func (f figures) String() string {
	s := fmt.Sprintf("chaos: %-28s tasks=%d lost=%d duplicated=%d stranded=%d recover=%.1fs (bound %s)",
		f.name, f.tasks, f.lost, f.duplicated, f.stranded, f.recover.Seconds(), f.bound)
	if f.extra != "" {
		s += " " + f.extra
	}
	return s
}

// report prints the line (make chaos shows it) and fails on a breach.
func report(t *testing.T, f figures) {
	t.Helper()
	fmt.Println(f.String())
	if f.lost > 0 || f.duplicated > 0 || f.stranded > 0 || f.marksLeft > 0 || (f.bound > 0 && f.recover > f.bound) {
		t.Errorf("%s", f)
	}
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// plbaBinary builds the real plba binary once per test run.
func plbaBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "plba-chaos")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "plba")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./local")
		cmd.Dir = testsvc.Root(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// proc is one running `plba run`.
type proc struct {
	cmd    *exec.Cmd
	stderr *syncio.Buffer
	done   chan error
}

func startPlba(t *testing.T, cfgFile string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(plbaBinary(t), "run", "--config", cfgFile)
	cmd.Env = append(os.Environ(), env...)
	p := &proc{cmd: cmd, stderr: &syncio.Buffer{}, done: make(chan error, 1)}
	cmd.Stdout = io.Discard
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// kill sends sig and waits for the process to end.
func (p *proc) kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
		p.done <- nil // for the cleanup
	case <-time.After(60 * time.Second):
		t.Fatalf("plba did not exit within 60s of %s; stderr:\n%s", sig, p.stderr.String())
	}
}

// replies is an SMTP server that captures every reply by In-Reply-To.
type replies struct {
	mu   sync.Mutex
	byID map[string]int
	addr string
}

func startReplies(t *testing.T) *replies {
	t.Helper()
	r := &replies{byID: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &replySession{r: r}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return r
}

// duplicates counts replies beyond the first per original message.
func (r *replies) duplicates() (dups, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.byID {
		total += n
		if n > 1 {
			dups += n - 1
		}
	}
	return dups, total
}

type replySession struct{ r *replies }

func (s *replySession) AuthPlain(string, string) error       { return nil }
func (s *replySession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *replySession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *replySession) Reset()                               {}
func (s *replySession) Logout() error                        { return nil }
func (s *replySession) Data(rd io.Reader) error {
	mr, err := mail.CreateReader(rd)
	if err != nil {
		return err
	}
	ids, _ := mr.Header.MsgIDList("In-Reply-To")
	s.r.mu.Lock()
	for _, id := range ids {
		s.r.byID[id]++
	}
	s.r.mu.Unlock()
	return nil
}

// mailbox is a test user's INBOX seeded with n generated order mails.
type mailbox struct {
	addr, user, pass string
	want             map[string]domain.Status
	n                int
}

func seed(t *testing.T, ctx context.Context, addr, user, pass string, n int) *mailbox {
	t.Helper()
	rnd := rand.New(rand.NewPCG(uint64(n), 13))
	mb := &mailbox{addr: addr, user: user, pass: pass, want: map[string]domain.Status{}, n: n}
	var msgs [][]byte
	for i := range n {
		s := demodata.GenerateSample(i+1, rnd)
		mb.want[s.MessageID] = s.Want
		msgs = append(msgs, s.Raw)
	}
	c := mb.dial(t, ctx)
	defer c.Close()
	if _, err := imaptest.AppendMessages(ctx, c, "INBOX", msgs); err != nil {
		t.Fatal(err)
	}
	return mb
}

func (mb *mailbox) dial(t *testing.T, ctx context.Context) *imapclient.Client {
	t.Helper()
	c, err := imaptest.Login(ctx, mb.addr, mb.user, mb.pass)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// flags reports how many messages are \Seen and how many carry an
// in-flight mark ($Queued) without \Seen.
func (mb *mailbox) flags(t *testing.T, ctx context.Context) (seen, marked int) {
	t.Helper()
	c, err := imaptest.Login(ctx, mb.addr, mb.user, mb.pass)
	if err != nil {
		return -1, -1 // the server is down: not an answer
	}
	defer c.Close()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		return -1, -1
	}
	all, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait()
	if err != nil || len(all.AllUIDs()) == 0 {
		return -1, -1
	}
	set := imap.UIDSetNum(all.AllUIDs()...)
	fetched, err := c.Fetch(set, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil {
		return -1, -1
	}
	for _, m := range fetched {
		isSeen, isMarked := false, false
		for _, f := range m.Flags {
			switch {
			case strings.EqualFold(string(f), string(imap.FlagSeen)):
				isSeen = true
			case strings.EqualFold(string(f), "$Queued"):
				isMarked = true
			}
		}
		if isSeen {
			seen++
		} else if isMarked {
			marked++
		}
	}
	return seen, marked
}

// waitAllSeen polls until every message is \Seen or timeout; it returns
// when that happened (zero if it did not) and the last counts.
func (mb *mailbox) waitAllSeen(t *testing.T, ctx context.Context, timeout time.Duration) (took time.Duration, seen, marked int) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < timeout {
		seen, marked = mb.flags(t, ctx)
		if seen == mb.n {
			return time.Since(start), seen, marked
		}
		time.Sleep(200 * time.Millisecond) // polling a server from outside: there is no event to await
	}
	return 0, seen, marked
}

// outcomes reads the store: Message-ID → status.
func outcomes(t *testing.T, db string) map[string]string {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.Query(`SELECT key, status || ' ' || coalesce(json_extract(doc, '$.reasons'), '') FROM orders`)
	if err != nil {
		t.Fatalf("read the store %s: %v", db, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, s string
		if err := rows.Scan(&k, &s); err != nil {
			t.Fatal(err)
		}
		out[k] = s
	}
	return out
}

// unconfirmed counts replies a crash interrupted during their send: they
// may or may not have reached the customer and are not sent again.
func unconfirmed(t *testing.T, db string) int {
	t.Helper()
	d, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM outbox WHERE sent_at IS NULL AND attempted_at IS NOT NULL`).Scan(&n); err != nil {
		t.Fatalf("read the outbox: %v", err)
	}
	return n
}

// botConfig writes a plba config for the bot on mb with replies to r.
func botConfig(t *testing.T, mb *mailbox, r *replies, db, extra string) string {
	t.Helper()
	cfg := fmt.Sprintf(`platform:
  control: { listen: "off" }
  log: { level: warn }
  shutdown: { timeout: 10s }
apps:
  mailorderbot:
    imap: { addr: %q, tls: none, username: %q, password: %q, mailbox: INBOX, mode: idle }
    workers: 4
    store: { driver: sqlite, path: %q }
    smtp: { addr: %q, tls: none, from: "Shop <orders@shop.example>" }
%s`, mb.addr, mb.user, mb.pass, db, r.addr, extra)
	f := filepath.Join(t.TempDir(), "plba.yaml")
	if err := os.WriteFile(f, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// account compares the mailbox, the store and the replies after a run.
func account(t *testing.T, ctx context.Context, mb *mailbox, db string, r *replies, f *figures) {
	t.Helper()
	seen, _ := mb.flags(t, ctx)
	got := outcomes(t, db)
	f.tasks = mb.n
	f.stranded = mb.n - seen
	if seen < 0 {
		f.stranded = mb.n
	}
	for id := range mb.want {
		if _, ok := got[id]; !ok && seen == mb.n {
			f.lost++
		}
	}
	f.duplicated, _ = r.duplicates()
	var wrong []string
	for id, st := range got {
		if w, ok := mb.want[id]; ok && !strings.HasPrefix(st, string(w)+" ") {
			wrong = append(wrong, fmt.Sprintf("%s: %s, want %s", id, st, w))
		}
	}
	if len(wrong) > 0 {
		// The parser's correctness is the corpus tests' business; here
		// it is only reported (a kill must not change an outcome, which
		// a difference between scenarios would show).
		t.Logf("%d outcomes differ from the generator's expectation, e.g. %s", len(wrong), wrong[0])
	}
}

// lines returns the process's stderr lines matching substr (for reports).
func lines(s, substr string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			n++
		}
	}
	return n
}

// rewrite replaces config text (a line's start up to its end) and appends
// extra platform settings, for scenarios that change the bot's defaults.
func rewrite(t *testing.T, file string, repl map[string]string, extra string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for old, nw := range repl {
		s = strings.Replace(s, old, nw, 1)
	}
	if extra != "" {
		s = strings.Replace(s, "platform:\n", extra[:len("platform:\n")]+indentRest(extra), 1)
	}
	if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// indentRest returns the lines of a "platform:\n  ..." block after its
// first line.
func indentRest(extra string) string { return strings.TrimPrefix(extra, "platform:\n") }

// dynamoLost counts the mails of mb without a stored
// outcome in the DynamoDB table (the two-process scenarios' store): every
// seeded Message-ID must have an order item. It returns -1 when the table
// cannot be read.
func dynamoLost(t *testing.T, ctx context.Context, endpoint, table string, mb *mailbox) int {
	t.Helper()
	c, err := dynamostore.NewClient(ctx, dynamostore.ClientConfig{Endpoint: "http://" + endpoint})
	if err != nil {
		t.Logf("dynamodb client: %v", err)
		return -1
	}
	have := map[string]bool{}
	p := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: &table, ProjectionExpression: aws.String("pk")})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("scan %s: %v", table, err)
			return -1
		}
		for _, it := range out.Items {
			if s, ok := it["pk"].(*types.AttributeValueMemberS); ok {
				have[s.Value] = true
			}
		}
	}
	lost := 0
	for id := range mb.want {
		if !have[id] {
			lost++
		}
	}
	return lost
}

// redisPublished sums the "published" counters the Redis queues under
// prefix keep (every copy a process published, recoveries included).
func redisPublished(ctx context.Context, redisAddr, prefix string) int {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	published := 0
	keys, _ := rdb.Keys(ctx, prefix+":{*}:counters").Result()
	for _, k := range keys {
		p, _ := rdb.HGet(ctx, k, "published").Int()
		published += p
	}
	return published
}
