// Package feedrelay is PLBA's second application: it polls RSS and Atom
// feeds on a schedule with conditional GETs (ETag, Last-Modified), turns
// every entry it has not seen into a task, and a routine POSTs each entry
// as JSON to a webhook, retrying what the endpoint cannot take now and
// dead-lettering what it refuses.
//
// It runs unchanged under its local runner (cmd/feedrelay: the source is
// polled every apps.feedrelay.interval) and split on AWS (cmd/poller on the
// EventBridge schedule of plba.app.yaml, cmd/worker on the SQS queue,
// cmd/control for status and redrive), deployed by the generic stack in
// infra/ from its manifest, plba.app.yaml. What it remembers per feed (the
// entries already published, the validators, the last fetch's result) is
// in a state store: a JSON file locally, the manifest's DynamoDB table on
// AWS, so the control function reports the feeds' health too.
package feedrelay

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/schedule"
)

// Queue is the logical queue between the source and the routine.
const Queue = "entries"

// Module is the feed relay application.
type Module struct {
	cfg    Config
	client *http.Client
	state  StateStore
	src    *Source
	deliv  *Deliverer
}

// Options adjust the module (tests).
type Options struct {
	// HTTPClient fetches feeds and posts to the webhook; default a client
	// with no overall timeout (each request has its own).
	HTTPClient *http.Client
}

// New returns the module with its defaults.
func New(o Options) *Module {
	return &Module{cfg: DefaultConfig(), client: o.HTTPClient}
}

// Name implements contracts.ApplicationModule.
func (m *Module) Name() string { return "feedrelay" }

// DeclareConfig declares apps.feedrelay.
func (m *Module) DeclareConfig(c contracts.Config) error { return c.Declare(ConfigPath, &m.cfg) }

// Config returns the configuration Register decoded.
func (m *Module) Config() Config { return m.cfg }

// State returns the state store (after Register).
func (m *Module) State() StateStore { return m.state }

// OpenState opens the configured state store.
func OpenState(ctx context.Context, sc StateConfig) (StateStore, error) {
	switch sc.Driver {
	case DriverMemory:
		return NewMemoryState(), nil
	case DriverFile:
		return OpenFileState(sc.Path)
	case DriverDynamoDB:
		c, err := NewDynamoClient(ctx, sc)
		if err != nil {
			return nil, err
		}
		return NewDynamoState(c, sc.Table), nil
	}
	return nil, fmt.Errorf("%w: %s.state.driver: %q", ErrInvalidConfig, ConfigPath, sc.Driver)
}

// Register adds the source, the routine and their health.
func (m *Module) Register(ctx context.Context, r contracts.Registry) error {
	if err := r.Config().Decode(ConfigPath, &m.cfg); err != nil {
		return err
	}
	if err := m.cfg.Validate(); err != nil {
		return err
	}
	st, err := OpenState(ctx, m.cfg.State)
	if err != nil {
		return err
	}
	m.state = st
	r.OnStop(func(context.Context) error { return st.Close() })
	m.src = NewSource(m.cfg, m.client, st, r.Logger())
	var src contracts.TaskSource = m.src
	if m.cfg.Schedule != "" {
		sched, err := schedule.Parse(m.cfg.Schedule, nil) // Validate parsed it already
		if err != nil {
			return err
		}
		src = schedule.Gate(m.src, schedule.NewTicker(sched, m.cfg.CatchUp), nil)
	}
	m.deliv = NewDeliverer(m.cfg.Webhook, m.client)
	if err := r.AddSource(contracts.SourceSpec{Source: src, Queue: Queue, Interval: m.cfg.Interval}); err != nil {
		return err
	}
	if err := r.AddRoutine(contracts.RoutineSpec{Name: "deliver", Kind: TaskKind, Queue: Queue, Routine: m.deliv,
		Workers: m.cfg.Workers, WorkersKey: ConfigPath + ".workers",
		// Fetch and delivery timeouts are the routine's own; this bounds
		// the whole run a little above the delivery timeout.
		Timeout: m.cfg.Webhook.Timeout + 5*time.Second}); err != nil {
		return err
	}
	if err := r.AddHealth(FeedHealth(m.cfg, st)); err != nil {
		return err
	}
	return r.AddHealth(m.deliv)
}
