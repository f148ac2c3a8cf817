package mailorderbot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/mailauth"
	// The ssm: and secretsmanager: refresh token stores.
	_ "github.com/plba/plba/pkg/mailauth/awsstore"
	"github.com/plba/plba/pkg/source/imapsource"
	"github.com/plba/plba/pkg/workers"
)

// Queue is the name of the bot's task queue.
const Queue = "orders"

// StoreService is the name under which the bot provides its
// store.OrderStore in the service container.
const StoreService = "mailorderbot.store"

// outboxEvery is how often a running bot sends what waits in the outbox
// (the Lambda poller does it once per invocation).
const outboxEvery = 30 * time.Second

// Options change how the module runs; configuration stays in Config.
type Options struct {
	// Demo serves an embedded IMAP mailbox with sample e-mails and points
	// the source at it (`make run` without configuration). Builds tagged
	// plba_lambda leave the demo out: Register fails with ErrNotInBuild.
	Demo bool
	// DemoInterval is how often the demo delivers a new e-mail; default 3s.
	DemoInterval time.Duration
	// Progress, when set, gets one line per outcome and a summary at stop.
	Progress io.Writer
	// SourceOptions are passed to the IMAP source (tests count round trips
	// or wrap connections).
	SourceOptions []imapsource.Option
	// Parts are the pieces behind the bot's topology that this binary
	// links (package parts: parts.All for the local runner and the worker
	// function, parts.Source alone for the poller, none for the control
	// function). A missing part is registered as a stand-in that fails
	// every use with ErrPartNotLinked, so every function sees the same
	// sources, queues and routines.
	Parts Parts
	// Auth is for tests of the auth command (follow the sign-in URL).
	Auth mailauth.CommandOptions
}

// Parts build the bot's two heavy pieces. Each is a function value so that
// a Lambda function's main that leaves one out does not link its code: the
// poller links no order parser, the control function neither the parser
// nor the IMAP client (see docs/serverless.md, "Size budget").
type Parts struct {
	// Source makes the IMAP source and closes it at stop: imapsource.Open.
	// The module calls no method of the source itself, so a binary without
	// this part links no IMAP command.
	Source func(r contracts.Registry, cfg imapsource.Config, opts ...imapsource.Option) (contracts.TaskSource, error)
	// Routine makes the order routine from the module's configuration,
	// store and logger (parts.Routine).
	Routine func(ctx context.Context, env RoutineEnv) (contracts.Routine, error)
	// Check logs in to a mailbox and selects it, for `config check
	// --connect`, `auth check` and `auth login`: imapsource.CheckConfig.
	Check func(ctx context.Context, cfg imapsource.Config, opts ...imapsource.Option) error
	// Review resolves an order in review (parts.Review, which calls
	// handler.Resolve): `orders review` and the control plane use it.
	Review func(ctx context.Context, env RoutineEnv, key domain.MessageKey, d ReviewDecision) (domain.Order, error)
}

// ReviewDecision is a person's resolution of an order in review; see
// handler.Decision, which it is converted to.
type ReviewDecision struct {
	// Accept turns the review into an accepted order; false rejects it.
	Accept bool
	// Lines are the confirmed lines (SKU and quantity); nil keeps the
	// lines read from the mail.
	Lines []domain.Line
	// Reason is stored; on rejection it is what the customer is told.
	Reason string
}

// RoutineEnv is what Parts.Routine gets.
type RoutineEnv struct {
	Config Config
	Store  store.OrderStore
	Logger *slog.Logger
	// OnOutcome reports a stored outcome (progress lines, counts).
	OnOutcome func(o domain.Order, duplicate bool)
}

// ErrPartNotLinked is returned by the stand-ins of parts a binary left
// out.
var ErrPartNotLinked = errors.New("mailorderbot: this part is not linked into this binary (mailorderbot.Options.Parts)")

// TaskKind is the task kind the IMAP source publishes e-mails as.
const TaskKind = "mailorderbot.email"

// Module is the mail order bot as a PLBA application module.
type Module struct {
	opts  Options
	cfg   Config
	store store.OrderStore
	log   *slog.Logger

	mu     sync.Mutex
	counts map[string]int
}

// New returns the module.
func New(opts Options) *Module {
	if opts.DemoInterval == 0 {
		opts.DemoInterval = 3 * time.Second
	}
	cfg := DefaultConfig()
	if opts.Demo {
		// Placeholders that satisfy validation; Register points the source
		// at the embedded server.
		demoDefaults(&cfg)
	}
	return &Module{opts: opts, cfg: cfg, counts: map[string]int{}}
}

// Name implements contracts.ApplicationModule.
func (m *Module) Name() string { return "mailorderbot" }

// DeclareConfig declares apps.mailorderbot with its defaults and rules.
func (m *Module) DeclareConfig(c contracts.Config) error { return c.Declare(ConfigPath, &m.cfg) }

// Config returns the decoded configuration (after Register).
func (m *Module) Config() Config { return m.cfg }

// Store returns the order store (after Register).
func (m *Module) Store() store.OrderStore { return m.store }

// Register wires the bot: IMAP source → queue "orders" → pool of Workers
// running the order routine; the store closes at stop.
func (m *Module) Register(ctx context.Context, r contracts.Registry) error {
	if err := r.Config().Decode(ConfigPath, &m.cfg); err != nil {
		return err
	}
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	// A refresh token given as a reference (${ssm:...}) is written back
	// there when the provider rotates it.
	m.cfg.bindTokenStores(r.Config())
	log := r.Logger()
	m.log = log
	if m.opts.Demo {
		addr, err := startDemo(r, m.opts.DemoInterval)
		if err != nil {
			return err
		}
		m.cfg.IMAP.Addr = addr
	}
	st, err := OpenStore(ctx, m.cfg.Store)
	if err != nil {
		return fmt.Errorf("open order store: %w", err)
	}
	m.store = st
	r.OnStop(func(context.Context) error { return st.Close() })
	// Replies a crash left unconfirmed show in health and status.
	if err := r.AddHealth(newOutboxHealth(st)); err != nil {
		return err
	}
	// Other modules of the deployment (a reminder, a report) share the
	// store through the service container: runtime.Get[store.OrderStore].
	if err := r.Services().Provide(StoreService, st); err != nil {
		return err
	}
	var h contracts.Routine = absentRoutine{}
	if m.opts.Parts.Routine != nil {
		if h, err = m.opts.Parts.Routine(ctx, RoutineEnv{Config: m.cfg, Store: st, Logger: log, OnOutcome: m.outcome}); err != nil {
			return err
		}
	}
	// One source per mailbox, each with its own connections and health;
	// all publish to the one queue.
	for _, mb := range m.cfg.Sources() {
		var src contracts.TaskSource = absentSource{name: mb.Name}
		if m.opts.Parts.Source != nil {
			srcOpts := append([]imapsource.Option{imapsource.WithName(mb.Name), imapsource.WithKind(TaskKind), imapsource.WithLogger(log)}, m.opts.SourceOptions...)
			s, err := m.opts.Parts.Source(r, mb.IMAP, srcOpts...)
			if err != nil {
				return fmt.Errorf("mailbox %s: %w", mb.Name, err)
			}
			src = s
		}
		if err := r.AddSource(contracts.SourceSpec{Source: src, Queue: Queue, Mode: mb.IMAP.SourceMode(), Interval: mb.IMAP.PollInterval}); err != nil {
			return err
		}
	}
	if err := r.AddRoutine(contracts.RoutineSpec{Name: "orders", Kind: TaskKind, Queue: Queue, Routine: h, Workers: m.cfg.Workers,
		WorkersKey: ConfigPath + ".workers"}); err != nil {
		return err
	}
	sender, err := m.cfg.Sender()
	if err != nil {
		return fmt.Errorf("%s.smtp: %w", ConfigPath, err)
	}
	if sender != nil {
		// Replies whose send failed stay in the outbox; retry them every
		// outboxEvery locally, once per poller invocation on Lambda.
		flush := workers.Every("outbox", outboxEvery, func(ctx context.Context) error {
			_, err := reply.Flush(ctx, st, sender, 100)
			return err
		}, func(err error) { log.Warn("outbox flush failed", "err", err) })
		if err := r.AddWorker(flush); err != nil {
			return err
		}
	}
	if ret := m.cfg.RawRetention; ret > 0 {
		// Raw messages kept for review are purged after the retention:
		// hourly locally, once per poller invocation on Lambda.
		purge := workers.Every("raw-retention", time.Hour, func(ctx context.Context) error {
			n, err := st.PurgeRaw(ctx, time.Now().Add(-ret))
			if n > 0 {
				log.Info("raw messages purged", "count", n, "retention", ret.String())
			}
			return err
		}, func(err error) { log.Warn("purging raw messages failed", "err", err) })
		if err := r.AddWorker(purge); err != nil {
			return err
		}
	}
	if m.opts.Progress != nil {
		r.OnStop(func(context.Context) error { m.summary(); return nil })
	}
	return nil
}

// CheckConnections implements contracts.ConnectionChecker (`config check
// --connect`): it logs in to every configured mailbox and selects it,
// through Parts.Check, and reports each failure by mailbox name.
func (m *Module) CheckConnections(ctx context.Context, c contracts.Config) error {
	cfg := m.cfg
	if err := c.Decode(ConfigPath, &cfg); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	if m.opts.Demo || !cfg.readsMail() {
		return nil // the demo serves its own mailbox
	}
	if m.opts.Parts.Check == nil {
		return fmt.Errorf("IMAP check: %w", ErrPartNotLinked)
	}
	var errs []error
	for _, mb := range cfg.Sources() {
		if err := m.opts.Parts.Check(ctx, mb.IMAP); err != nil {
			errs = append(errs, fmt.Errorf("mailbox %s (%s at %s): %w", mb.Name, mb.IMAP.Mailbox, mb.IMAP.Addr, err))
		}
	}
	return errors.Join(errs...)
}

// absentSource and absentRoutine stand in for parts a binary left out.
type absentSource struct{ name string }

func (a absentSource) Name() string { return a.name }
func (absentSource) Poll(context.Context, contracts.Publisher) (int, error) {
	return 0, fmt.Errorf("IMAP source: %w", ErrPartNotLinked)
}

type absentRoutine struct{}

func (absentRoutine) Run(context.Context, contracts.Task) error {
	return fmt.Errorf("order routine: %w", ErrPartNotLinked)
}

func (m *Module) outcome(ord domain.Order, duplicate bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if duplicate {
		m.counts["duplicate"]++
	} else {
		m.counts[string(ord.Status)]++
	}
	if m.opts.Progress == nil {
		return
	}
	detail := ""
	switch ord.Status {
	case domain.StatusAccepted:
		detail = fmt.Sprintf("%d line(s), total %s", len(ord.Lines), ord.Total)
	case domain.StatusRejected, domain.StatusIgnored, domain.StatusReview:
		if len(ord.Reasons) > 0 {
			detail = ord.Reasons[0]
			if len(ord.Reasons) > 1 {
				detail += fmt.Sprintf(" (+%d more)", len(ord.Reasons)-1)
			}
		}
	}
	dup := ""
	if duplicate {
		dup = " (already stored)"
	}
	fmt.Fprintf(m.opts.Progress, "%-8s %-40s %-36s %s%s\n", ord.Status, ord.Key, ord.Customer.String(), detail, dup)
}

func (m *Module) summary() {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.opts.Progress, "\nsummary: %d accepted, %d rejected, %d ignored, %d review, %d redeliveries already stored\n",
		m.counts[string(domain.StatusAccepted)], m.counts[string(domain.StatusRejected)], m.counts[string(domain.StatusIgnored)],
		m.counts[string(domain.StatusReview)], m.counts["duplicate"])
}

// Counts returns how many outcomes of each status this process stored
// ("duplicate" counts redeliveries of stored orders).
func (m *Module) Counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.counts))
	for k, v := range m.counts {
		out[k] = v
	}
	return out
}
