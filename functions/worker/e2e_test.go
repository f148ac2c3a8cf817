package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/emersion/go-imap/v2"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	_ "github.com/plba/plba/pkg/queue/memqueue" // local mode: the registered "memory" backend
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
	plbaruntime "github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

const mails = 30

// outcome is what the equivalence test compares per message.
type outcome struct {
	Status  domain.Status
	Reasons []string
	Total   string
}

// result is one mode's run.
type result struct {
	outcomes map[string]outcome // by Message-ID
	seen     []imap.UID
	dead     []string // dead-lettered tasks' Message-IDs
}

// TestSplitModeMatchesLocalMode is the equivalence test: the same
// mails in two fresh Dovecot mailboxes, processed once by the bot in local
// mode (runtime.Manager, in-memory queue, SQLite store) and once split (the
// real poller and worker bootstraps, built as `make lambdas` builds them,
// under the Runtime API emulator, a real SQS-compatible server in between,
// the test playing the event source mapping, a DynamoDB-compatible store as
// in AWS). Stored outcomes, the \Seen set and the dead letters must be the
// same, and match what the sample generator says each mail is.
func TestSplitModeMatchesLocalMode(t *testing.T) {
	sqsEndpoint := sqstest.Endpoint(t)
	dynamoAddr := testsvc.Require(t, testsvc.DynamoDB)
	addr, userLocal, pass := dovecottest.Dovecot(t)
	userSplit := dovecottest.UserName(t) + "s"
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	rnd := rand.New(rand.NewPCG(6, 6))
	want := map[string]domain.Status{}
	var raw [][]byte
	for i := range mails {
		s := demodata.GenerateSample(i+1, rnd)
		want[s.MessageID] = s.Want
		raw = append(raw, s.Raw)
	}
	for _, u := range []string{userLocal, userSplit} {
		c, err := imaptest.Login(ctx, addr, u, pass)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := imaptest.AppendMessages(ctx, c, "INBOX", raw); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	localStore := mailorderbot.StoreConfig{Driver: mailorderbot.DriverSQLite, Path: filepath.Join(t.TempDir(), "local.db")}
	splitStore := mailorderbot.StoreConfig{Driver: mailorderbot.DriverDynamoDB, Endpoint: "http://" + dynamoAddr,
		Table: fmt.Sprintf("orders-split-%d", time.Now().UnixNano())}
	t.Cleanup(func() { dropTable(t, splitStore) })
	botEnv := func(user string, sc mailorderbot.StoreConfig) map[string]string {
		return map[string]string{
			"PLBA_APPS__MAILORDERBOT__IMAP__ADDR":          addr,
			"PLBA_APPS__MAILORDERBOT__IMAP__TLS":           "none",
			"PLBA_APPS__MAILORDERBOT__IMAP__USERNAME":      user,
			"PLBA_APPS__MAILORDERBOT__IMAP__PASSWORD":      pass,
			"PLBA_APPS__MAILORDERBOT__IMAP__MAILBOX":       "INBOX",
			"PLBA_APPS__MAILORDERBOT__IMAP__MODE":          "poll",
			"PLBA_APPS__MAILORDERBOT__IMAP__POLL_INTERVAL": "300ms",
			"PLBA_APPS__MAILORDERBOT__STORE__DRIVER":       sc.Driver,
			"PLBA_APPS__MAILORDERBOT__STORE__PATH":         sc.Path,
			"PLBA_APPS__MAILORDERBOT__STORE__TABLE":        sc.Table,
			"PLBA_APPS__MAILORDERBOT__STORE__ENDPOINT":     sc.Endpoint,
		}
	}

	local := runLocal(t, ctx, botEnv(userLocal, localStore), localStore, addr, userLocal, pass)
	split := runSplit(t, ctx, sqsEndpoint, botEnv(userSplit, splitStore), splitStore, addr, userSplit, pass)

	if len(local.outcomes) != mails {
		t.Fatalf("local mode stored %d outcomes, want %d", len(local.outcomes), mails)
	}
	for id, w := range want {
		if got := local.outcomes[id].Status; got != w {
			t.Errorf("local mode: %s stored %s, want %s", id, got, w)
		}
	}
	for id, l := range local.outcomes {
		s, ok := split.outcomes[id]
		if !ok || s.Status != l.Status || s.Total != l.Total || !slices.Equal(s.Reasons, l.Reasons) {
			t.Errorf("%s: split mode stored %+v (%v), local mode %+v", id, s, ok, l)
		}
	}
	if len(split.outcomes) != len(local.outcomes) {
		t.Errorf("split mode stored %d outcomes, local mode %d", len(split.outcomes), len(local.outcomes))
	}
	if !slices.Equal(local.seen, split.seen) || len(local.seen) != mails {
		t.Errorf("\\Seen: local %v, split %v; want all %d", local.seen, split.seen, mails)
	}
	if !slices.Equal(local.dead, split.dead) {
		t.Errorf("dead letters: local %v, split %v", local.dead, split.dead)
	}
}

// runLocal runs the bot in-process with the local runtime until every
// mail has an outcome.
func runLocal(t *testing.T, ctx context.Context, env map[string]string, sc mailorderbot.StoreConfig, addr, user, pass string) result {
	t.Helper()
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	mod := mailorderbot.New(mailorderbot.Options{Parts: parts.All})
	decl := declarations{}
	if err := plbaruntime.DeclareConfig(decl, mod); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.New(ctx, config.Options{Environ: environ, Schemas: decl})
	if err != nil {
		t.Fatal(err)
	}
	logging, err := plbaruntime.NewLogging(io.Discard, plbaruntime.LogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	m := plbaruntime.NewManager(plbaruntime.Options{Config: cfg, Logging: logging, ConfigDeclared: true, Backoff: func(int) time.Duration { return 100 * time.Millisecond }})
	if err := m.Register(mod); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Stop(context.Background(), false) }()
	waitOutcomes(t, ctx, sc, mails)
	waitSeen(t, ctx, addr, user, pass, mails)
	q, _ := m.Queue(mailorderbot.Queue)
	var dead []string
	if dlq, ok := q.(contracts.DeadLetterQueue); ok {
		dls, err := dlq.DeadLetters(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dls {
			dead = append(dead, d.Task.Attr("imap.message_id"))
		}
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Fatalf("stop: %v", err)
	}
	return collect(t, ctx, sc, addr, user, pass, dead)
}

// runSplit runs the poller and worker bootstraps until every mail has an
// outcome.
func runSplit(t *testing.T, ctx context.Context, sqsEndpoint string, bot map[string]string, sc mailorderbot.StoreConfig, addr, user, pass string) result {
	t.Helper()
	client := sqstest.NewClient(sqsEndpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 3, VisibilityTimeout: 5 * time.Second})
	env := maps.Clone(bot)
	maps.Copy(env, map[string]string{
		"AWS_ENDPOINT_URL_SQS":            sqsEndpoint,
		"AWS_ACCESS_KEY_ID":               "test",
		"AWS_SECRET_ACCESS_KEY":           "test",
		"AWS_EC2_METADATA_DISABLED":       "true",
		"PLBA_QUEUE_ORDERS_URL":           pair.URL,
		"PLBA_QUEUE_ORDERS_DLQ_URL":       pair.DeadLetterURL,
		"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "true",
		"PLBA_MAX_RECEIVE_COUNT":          "3",
	})
	start := func(fn string) *emulator.Emulator {
		logs := &syncio.Buffer{}
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: build(t, fn), FunctionName: fn, Env: env, Timeout: 60 * time.Second, Stdout: logs, Stderr: logs})
		if err != nil {
			t.Fatalf("start %s: %v\n%s", fn, err, logs)
		}
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s output:\n%s", fn, logs)
			}
		})
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	poller, worker := start("poller"), start("worker")
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := poller.Invoke(ctx, []byte(`{"source":"aws.events","detail-type":"Scheduled Event"}`))
		if err != nil {
			t.Fatalf("poller: %v", err)
		}
		var sum pollerfn.Summary
		if err := json.Unmarshal(out, &sum); err != nil || len(sum.Errors) > 0 {
			t.Fatalf("poller summary %s (%v)", out, err)
		}
		for {
			recs, err := esm.Poll(ctx, worker.Invoke)
			if err != nil {
				t.Fatalf("worker: %v", err)
			}
			if len(recs) == 0 {
				break
			}
		}
		if n := count(t, ctx, sc); n == mails {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("split mode: %d of %d outcomes in time", count(t, ctx, sc), mails)
		}
	}
	waitSeen(t, ctx, addr, user, pass, mails)
	q, err := sqsqueue.New(sqsqueue.Options{Client: client, QueueURL: pair.URL, DeadLetterURL: pair.DeadLetterURL, WaitTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	dls, err := q.DeadLetters(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var dead []string
	for _, d := range dls {
		dead = append(dead, d.Task.Attr("imap.message_id"))
	}
	return collect(t, ctx, sc, addr, user, pass, dead)
}

// build builds function fn with the tags of `make lambdas` (for this
// machine, not arm64).
func build(t *testing.T, fn string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), fn, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc,plba_lambda,validator_novalidatefn", "-trimpath", "-o", out, "./functions/"+fn)
	cmd.Dir = testsvc.Root(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", fn, err, b)
	}
	return out
}

// openStore opens the store a mode writes to (this test binary has every
// driver).
func openStore(t *testing.T, ctx context.Context, sc mailorderbot.StoreConfig) store.OrderStore {
	t.Helper()
	st, err := mailorderbot.OpenStore(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// dropTable deletes the split mode's DynamoDB table.
func dropTable(t *testing.T, sc mailorderbot.StoreConfig) {
	client, err := dynamostore.NewClient(context.Background(), dynamostore.ClientConfig{Endpoint: sc.Endpoint})
	if err != nil {
		t.Error(err)
		return
	}
	_, err = client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(sc.Table)})
	var nf *dynamotypes.ResourceNotFoundException
	if err != nil && !errors.As(err, &nf) {
		t.Errorf("delete table %s: %v", sc.Table, err)
	}
}

func count(t *testing.T, ctx context.Context, sc mailorderbot.StoreConfig) int {
	t.Helper()
	if sc.Driver == mailorderbot.DriverSQLite {
		if _, err := os.Stat(sc.Path); errors.Is(err, os.ErrNotExist) {
			return 0
		}
	}
	st := openStore(t, ctx, sc)
	defer st.Close()
	orders, err := st.List(ctx, store.Filter{Limit: 10 * mails})
	if err != nil {
		t.Fatal(err)
	}
	return len(orders)
}

// waitOutcomes polls the store; nothing announces a stored outcome across
// processes.
func waitOutcomes(t *testing.T, ctx context.Context, sc mailorderbot.StoreConfig, n int) {
	t.Helper()
	for count(t, ctx, sc) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%d of %d outcomes stored in time", count(t, ctx, sc), n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func seen(t *testing.T, ctx context.Context, addr, user, pass string) []imap.UID {
	t.Helper()
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := data.AllUIDs()
	slices.Sort(uids)
	return uids
}

// waitSeen waits for settlement: \Seen is set after the outcome is stored.
func waitSeen(t *testing.T, ctx context.Context, addr, user, pass string, n int) {
	t.Helper()
	for len(seen(t, ctx, addr, user, pass)) < n {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %d of %d mails \\Seen in time", user, len(seen(t, ctx, addr, user, pass)), n)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func collect(t *testing.T, ctx context.Context, sc mailorderbot.StoreConfig, addr, user, pass string, dead []string) result {
	t.Helper()
	st := openStore(t, ctx, sc)
	defer st.Close()
	orders, err := st.List(ctx, store.Filter{Limit: 10 * mails})
	if err != nil {
		t.Fatal(err)
	}
	r := result{outcomes: map[string]outcome{}, seen: seen(t, ctx, addr, user, pass), dead: dead}
	for _, o := range orders {
		r.outcomes[o.MessageID] = outcome{Status: o.Status, Reasons: o.Reasons, Total: fmt.Sprint(o.Total)}
	}
	slices.Sort(r.dead)
	return r
}

// declarations collects the modules' configuration declarations.
type declarations map[string]any

func (d declarations) Declare(path string, schema any) error { d[path] = schema; return nil }
func (declarations) Decode(string, any) error                { return errors.New("declaring") }

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}
