package controlcli_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/control/controlcli"
	"github.com/plba/plba/pkg/runtime"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// mailModule polls one IMAP mailbox into queue "mail"; its routine fails
// permanently while fail is set.
type mailModule struct {
	cfg  imapsource.Config
	fail *atomic.Bool
}

func (mailModule) Name() string { return "mail" }
func (m mailModule) Register(_ context.Context, r contracts.Registry) error {
	src, err := imapsource.New(m.cfg)
	if err != nil {
		return err
	}
	r.OnStop(func(context.Context) error { return src.Close() })
	if err := r.AddSource(contracts.SourceSpec{Source: src, Queue: "mail", Mode: contracts.SourcePoll, Interval: 20 * time.Millisecond}); err != nil {
		return err
	}
	return r.AddRoutine(contracts.RoutineSpec{Kind: imapsource.DefaultKind, Queue: "mail", Routine: contracts.RoutineFunc(
		func(context.Context, contracts.Task) error {
			if m.fail.Load() {
				return contracts.Permanent(errors.New("order cannot be parsed"))
			}
			return nil
		})})
}

// process is one run of the application: a runtime with in-memory queues
// and its local control plane.
type process struct {
	m        *runtime.Manager
	outcomes *control.Outcomes
	url      string
}

func startProcess(t *testing.T, mod mailModule) *process {
	t.Helper()
	logging, _ := runtime.NewLogging(io.Discard, runtime.LogConfig{Level: "error"})
	p := &process{outcomes: control.NewOutcomes(16)}
	p.m = runtime.NewManager(runtime.Options{Logging: logging, QueueObserver: p.outcomes.Observer})
	_ = p.m.Register(mod)
	if err := p.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	so := control.LocalOptions(p.m)
	so.Outcomes, so.Sources = p.outcomes, control.SourcesOf(p.m.SourceSpecs())
	so.Logger = slog.New(slog.DiscardHandler)
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	p.url = httpServer(t, svc)
	return p
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	if err := p.m.Stop(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

func mailFlags(t *testing.T, addr, user, pass string) []imap.Flag {
	t.Helper()
	c, err := imaptest.Login(t.Context(), addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch flags: %v (%d messages)", err, len(msgs))
	}
	return msgs[0].Flags
}

// A mail is dead-lettered, the process stops (the in-memory dead-letter
// queue is gone with it), a new process starts: `dlq list` shows the mail
// from the source's $DeadLetter mark, and `dlq redrive` brings it back to
// an outcome — on the real test Dovecot.
func TestDeadLetterSurvivesRestartOnDovecot(t *testing.T) {
	addr, user, pass := dovecottest.Dovecot(t)
	c, err := imaptest.Login(t.Context(), addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imaptest.AppendMessages(t.Context(), c, "INBOX", [][]byte{imaptest.Message("order-1@test", "order", "2 x WIDGET\r\n")}); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	cfg := imapsource.DefaultConfig()
	cfg.Addr, cfg.TLS, cfg.Username, cfg.Password = addr, imapsource.TLSNone, user, contracts.Secret(pass)
	cfg.Mode, cfg.CommandTimeout = imapsource.ModePoll, 10*time.Second
	fail := &atomic.Bool{}
	fail.Store(true)
	mod := mailModule{cfg: cfg, fail: fail}

	// Process 1: the routine fails, the mail is dead-lettered.
	p1 := startProcess(t, mod)
	q, _ := p1.m.Queue("mail")
	waitFor(t, func() bool { s, _ := q.Stats(context.Background()); return s.Dead == 1 && s.InFlight == 0 })
	p1.stop(t)
	if fl := mailFlags(t, addr, user, pass); !slices.Contains(fl, imap.Flag("$DeadLetter")) || slices.Contains(fl, imap.FlagSeen) {
		t.Fatalf("after dead-lettering: flags %v", fl)
	}

	// Process 2: a fresh queue; the routine works now.
	fail.Store(false)
	p2 := startProcess(t, mod)
	defer p2.stop(t)
	q2, _ := p2.m.Queue("mail")
	if s, _ := q2.Stats(context.Background()); s.Dead != 0 || s.Published != 0 {
		t.Fatalf("the new process's queue is not empty: %+v", s)
	}
	o := controlcli.Options{Getenv: func(k string) string {
		return map[string]string{"PLBA_CONTROL_URL": p2.url, "PLBA_CONTROL_TOKEN": token}[k]
	}}
	out, errw, code := runCLI(t, o, []string{"dlq", "list", "mail", "--json"})
	var list control.DeadLettersResult
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 {
		t.Fatalf("dlq list: exit %d %s %s", code, out, errw)
	}
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].Origin != "source:"+imapsource.DefaultName ||
		!strings.Contains(list.DeadLetters[0].Ref, ";UID=1") || !strings.HasSuffix(list.DeadLetters[0].ID, ":1") {
		t.Fatalf("dlq list after the restart: %+v", list)
	}
	id := list.DeadLetters[0].ID
	out, errw, code = runCLI(t, o, []string{"dlq", "peek", "mail", id})
	if code != 0 || !strings.Contains(out, "2 x WIDGET") {
		t.Fatalf("dlq peek: exit %d %s %s", code, out, errw)
	}
	out, errw, code = runCLI(t, o, []string{"dlq", "redrive", "mail"})
	if code != 0 || !strings.Contains(out, "released 1 marked by the source") {
		t.Fatalf("dlq redrive: exit %d %s %s", code, out, errw)
	}
	// The next poll publishes it again and the routine succeeds.
	waitFor(t, func() bool {
		for _, r := range p2.outcomes.Recent("mail", 0) {
			if r.ID == id && r.Outcome == "succeeded" {
				return true
			}
		}
		return false
	})
	out, _, _ = runCLI(t, o, []string{"outcomes", "--queue", "mail"})
	if !strings.Contains(out, id) || !strings.Contains(out, "succeeded") {
		t.Fatalf("outcomes:\n%s", out)
	}
	// Settled on the server: seen, and no longer a dead letter.
	waitFor(t, func() bool { return slices.Contains(mailFlags(t, addr, user, pass), imap.FlagSeen) })
	if fl := mailFlags(t, addr, user, pass); slices.Contains(fl, imap.Flag("$DeadLetter")) {
		t.Fatalf("after redrive: flags %v", fl)
	}
	out, _, _ = runCLI(t, o, []string{"dlq", "list", "mail"})
	if !strings.Contains(out, "0 dead letter(s) in mail") {
		t.Fatalf("dlq list after the redrive:\n%s", out)
	}

	// Purge: a second mail is dead-lettered; `dlq purge` settles the
	// source's mark (\Seen, nothing deleted) and says the memory queue
	// cannot drop its own copy.
	fail.Store(true)
	c, err = imaptest.Login(t.Context(), addr, user, pass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := imaptest.AppendMessages(t.Context(), c, "INBOX", [][]byte{imaptest.Message("order-2@test", "order", "bad\r\n")}); err != nil {
		t.Fatal(err)
	}
	_ = c.Close()
	waitFor(t, func() bool { s, _ := q2.Stats(context.Background()); return s.Dead == 1 && s.InFlight == 0 })
	p2.stop(t)
	p3 := startProcess(t, mod)
	defer p3.stop(t)
	o3 := controlcli.Options{Getenv: func(k string) string {
		return map[string]string{"PLBA_CONTROL_URL": p3.url, "PLBA_CONTROL_TOKEN": token}[k]
	}}
	out, errw, code = runCLI(t, o3, []string{"dlq", "purge", "mail"})
	if code != 0 || !strings.Contains(out, "settled 1 marked by the source") || !strings.Contains(out, "cannot drop its own dead letters") {
		t.Fatalf("dlq purge: exit %d %s %s", code, out, errw)
	}
	out, _, _ = runCLI(t, o3, []string{"dlq", "list", "mail"})
	if !strings.Contains(out, "0 dead letter(s) in mail") {
		t.Fatalf("dlq list after the purge:\n%s", out)
	}
}
