package mailorderbot_test

import (
	// The runtime's default queues are the registered "memory" backend.
	_ "github.com/plba/plba/pkg/queue/memqueue"

	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// runMode runs the bot through the runtime against a fresh Dovecot mailbox
// in the given IMAP mode and returns "message-id status" lines and the
// number of unseen messages left.
func runMode(t *testing.T, mode string) ([]string, int) {
	t.Helper()
	addr, user, pass := dovecottest.Dovecot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	samples := demodata.Samples()
	c, err := imaptest.Login(ctx, addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Half the mail is there before the start, half arrives while running.
	first, later := samples[:5], samples[5:]
	for _, s := range first {
		if _, err := imaptest.AppendMessages(ctx, c, "INBOX", [][]byte{s.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	flags := map[string]string{
		"apps.mailorderbot.imap.addr":          addr,
		"apps.mailorderbot.imap.tls":           "none",
		"apps.mailorderbot.imap.username":      user,
		"apps.mailorderbot.imap.password":      pass,
		"apps.mailorderbot.imap.mode":          mode,
		"apps.mailorderbot.imap.poll_interval": "100ms",
		"apps.mailorderbot.workers":            "4",
		"apps.mailorderbot.store.path":         filepath.Join(t.TempDir(), "orders.db"),
	}
	bot := mailorderbot.New(mailorderbot.Options{Parts: parts.All})
	cfg, err := config.New(ctx, config.Options{Flags: flags, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	m := runtime.NewManager(runtime.Options{Config: cfg, Logging: logging})
	if err := m.Register(bot); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range later {
		if _, err := imaptest.AppendMessages(ctx, c, "INBOX", [][]byte{s.Raw}); err != nil {
			t.Fatal(err)
		}
	}
	for total := 0; total < len(samples); {
		total = 0
		for _, n := range bot.Counts() {
			total += n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s mode: %d of %d outcomes", mode, total, len(samples))
		case <-time.After(10 * time.Millisecond):
		}
	}
	orders, err := bot.Store().List(ctx, store.Filter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Stop(ctx, false); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range orders {
		got = append(got, fmt.Sprintf("%s %s", o.MessageID, o.Status))
	}
	sort.Strings(got)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	un, err := c.UIDSearch(&imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	return got, len(un.AllUIDs())
}

// Swapping the source between polling and IDLE changes nothing else: the
// same module and mails give the same outcomes and the same \Seen set.
func TestPollAndIdleModesAreEquivalent(t *testing.T) {
	poll, unseenPoll := runMode(t, "poll")
	idle, unseenIdle := runMode(t, "idle")
	if unseenPoll != 0 || unseenIdle != 0 {
		t.Fatalf("unseen left: poll %d, idle %d", unseenPoll, unseenIdle)
	}
	if fmt.Sprint(poll) != fmt.Sprint(idle) {
		t.Fatalf("modes differ:\npoll: %v\nidle: %v", poll, idle)
	}
	var want []string
	for _, s := range demodata.Samples() {
		want = append(want, fmt.Sprintf("%s %s", s.MessageID, s.Want))
	}
	sort.Strings(want)
	if fmt.Sprint(poll) != fmt.Sprint(want) {
		t.Fatalf("outcomes differ from the samples' expectations:\ngot:  %v\nwant: %v", poll, want)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Idle keep-alive connections of AWS SDK clients (DynamoDB store
		// tests) outlive the tests by design.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}
