// Package pgconfig is a configuration layer kept in a PostgreSQL table
// (pgx v5), with change detection, for values that operators change while
// the application runs.
//
// # Table
//
// [Provider.EnsureSchema] creates (idempotently) the table, by default
// plba_config:
//
//	CREATE TABLE plba_config (
//	    key        text PRIMARY KEY,             -- dotted key path: apps.bot.workers
//	    value      text NOT NULL,                -- as in an env override; may hold ${ssm:...}
//	    secret     boolean NOT NULL DEFAULT false, -- redact in every output
//	    version    bigint NOT NULL,              -- from plba_config_version_seq, set by trigger
//	    updated_at timestamptz NOT NULL DEFAULT now()
//	);
//
// and two triggers: one stamps every inserted or updated row with the
// next value of the table's version sequence, the other sends
// NOTIFY <table> after every statement that changed the table.
//
// # Change detection
//
// [Provider.Watch] (called by the manager's Watch) LISTENs on the
// notification channel for prompt reloads and also polls
// (max(version), count(*)) every [Provider.PollInterval], which catches
// inserts, updates and deletes even when a notification was lost with a
// dropped connection.
package pgconfig

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plba/plba/pkg/contracts"
)

// DefaultTable is the table used when [Provider.Table] is empty.
const DefaultTable = "plba_config"

// Provider loads key/value rows from a PostgreSQL table as one
// configuration layer. It implements [contracts.ConfigProvider] and
// [contracts.ConfigWatcher].
type Provider struct {
	// Pool is the database. The provider does not close it.
	Pool *pgxpool.Pool
	// Table is the table name (may be schema-qualified: "cfg.plba_config");
	// default [DefaultTable].
	Table string
	// PollInterval is how often Watch compares the table's version; default
	// 5s.
	PollInterval time.Duration
	// NoListen turns LISTEN/NOTIFY off (polling only), e.g. behind a
	// transaction-pooling proxy that does not support LISTEN.
	NoListen bool

	mu   sync.Mutex
	seen fingerprint // what the last Load saw
}

var (
	_ contracts.ConfigProvider = (*Provider)(nil)
	_ contracts.ConfigWatcher  = (*Provider)(nil)
)

type fingerprint struct {
	version, count int64
}

func (p *Provider) table() string {
	if p.Table == "" {
		return DefaultTable
	}
	return p.Table
}

// ident quotes the table name (and a schema part) for SQL.
func (p *Provider) ident(suffix string) string {
	parts := strings.Split(p.table(), ".")
	parts[len(parts)-1] += suffix
	return pgx.Identifier(parts).Sanitize()
}

// channel is the NOTIFY channel: the table's name.
func (p *Provider) channel() string {
	parts := strings.Split(p.table(), ".")
	return parts[len(parts)-1]
}

// Name implements [contracts.ConfigProvider].
func (p *Provider) Name() string { return "postgres " + p.table() }

// EnsureSchema creates the table, its version sequence and its triggers
// when they do not exist.
func (p *Provider) EnsureSchema(ctx context.Context) error {
	t, seq, fn, ch := p.ident(""), p.ident("_version_seq"), p.ident("_touch"), p.channel()
	stmt := fmt.Sprintf(`
CREATE SEQUENCE IF NOT EXISTS %[2]s;
CREATE TABLE IF NOT EXISTS %[1]s (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    secret     boolean NOT NULL DEFAULT false,
    version    bigint NOT NULL DEFAULT nextval('%[2]s'),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION %[3]s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        NEW.version := nextval('%[2]s');
        NEW.updated_at := now();
        RETURN NEW;
    END IF;
    PERFORM pg_notify(%[4]s, '');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS plba_version ON %[1]s;
CREATE TRIGGER plba_version BEFORE INSERT OR UPDATE ON %[1]s FOR EACH ROW EXECUTE FUNCTION %[3]s();
DROP TRIGGER IF EXISTS plba_notify ON %[1]s;
CREATE TRIGGER plba_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %[1]s FOR EACH STATEMENT EXECUTE FUNCTION %[3]s();
`, t, seq, fn, quoteLiteral(ch))
	// One transaction: concurrent EnsureSchema calls serialise on the
	// advisory lock instead of failing on the catalog.
	tx, err := p.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("pgconfig: ensure schema %s: %w", p.table(), err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", p.table()); err != nil {
		return fmt.Errorf("pgconfig: ensure schema %s: lock: %w", p.table(), err)
	}
	if _, err := tx.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("pgconfig: ensure schema %s: %w", p.table(), err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("pgconfig: ensure schema %s: commit: %w", p.table(), err)
	}
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Set writes one key (insert or update); the trigger bumps its version
// and notifies watchers.
func (p *Provider) Set(ctx context.Context, key, value string, secret bool) error {
	_, err := p.Pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (key, value, secret) VALUES ($1, $2, $3)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, secret = EXCLUDED.secret`, p.ident("")), key, value, secret)
	if err != nil {
		return fmt.Errorf("pgconfig: set %s in %s: %w", key, p.table(), err)
	}
	return nil
}

// Delete removes one key.
func (p *Provider) Delete(ctx context.Context, key string) error {
	if _, err := p.Pool.Exec(ctx, fmt.Sprintf(`DELETE FROM %s WHERE key = $1`, p.ident("")), key); err != nil {
		return fmt.Errorf("pgconfig: delete %s from %s: %w", key, p.table(), err)
	}
	return nil
}

// Load implements [contracts.ConfigProvider]: every row becomes the key
// path it names; secret rows come back as [contracts.Secret].
func (p *Provider) Load(ctx context.Context) (map[string]any, error) {
	rows, err := p.Pool.Query(ctx, fmt.Sprintf(`SELECT key, value, secret, version FROM %s`, p.ident("")))
	if err != nil {
		return nil, fmt.Errorf("pgconfig: load %s: %w", p.table(), err)
	}
	type row struct {
		key, value string
		secret     bool
	}
	var all []row
	var fp fingerprint
	for rows.Next() {
		var r row
		var v int64
		if err := rows.Scan(&r.key, &r.value, &r.secret, &v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgconfig: load %s: %w", p.table(), err)
		}
		all = append(all, r)
		fp.count++
		fp.version = max(fp.version, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgconfig: load %s: %w", p.table(), err)
	}
	// Sorted, so that where "a" and "a.b" both exist the deeper key wins
	// every time.
	sort.Slice(all, func(i, j int) bool { return all[i].key < all[j].key })
	out := map[string]any{}
	for _, r := range all {
		var v any = r.value
		if r.secret {
			v = contracts.Secret(r.value)
		}
		setPath(out, strings.Split(r.key, "."), v)
	}
	p.mu.Lock()
	p.seen = fp
	p.mu.Unlock()
	return out, nil
}

func setPath(m map[string]any, parts []string, v any) {
	for _, s := range parts {
		if s == "" {
			return // "a..b", ".a": not a key path
		}
	}
	for i, s := range parts {
		if i == len(parts)-1 {
			m[s] = v
			return
		}
		next, ok := m[s].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[s] = next
		}
		m = next
	}
}

func (p *Provider) current(ctx context.Context) (fingerprint, error) {
	var fp fingerprint
	err := p.Pool.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(version), 0), count(*) FROM %s`, p.ident(""))).Scan(&fp.version, &fp.count)
	if err != nil {
		return fp, fmt.Errorf("pgconfig: poll %s: %w", p.table(), err)
	}
	return fp, nil
}

// Watch implements [contracts.ConfigWatcher]: it calls onChange when a
// NOTIFY arrives or the polled version differs from what the last Load
// saw, until ctx is done (then it returns nil). Database errors do not end
// it: polling goes on and the listener reconnects.
func (p *Provider) Watch(ctx context.Context, onChange func()) error {
	interval := p.PollInterval
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if !p.NoListen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := p.listen(ctx, onChange); err != nil && ctx.Err() == nil {
					// Reconnect after a pause; polling covers the gap.
					select {
					case <-ctx.Done():
					case <-time.After(interval):
					}
				}
			}
		}()
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if p.changedSinceLoad(ctx) {
			onChange()
		}
	}
}

func (p *Provider) changedSinceLoad(ctx context.Context) bool {
	fp, err := p.current(ctx)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fp != p.seen
}

// listen holds one connection in LISTEN until ctx is done or it fails.
func (p *Provider) listen(ctx context.Context, onChange func()) error {
	pc, err := p.Pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("pgconfig: listen %s: %w", p.table(), err)
	}
	// The connection leaves the pool: a LISTENing session must not be
	// handed to other users.
	conn := pc.Hijack()
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{p.channel()}.Sanitize()); err != nil {
		return fmt.Errorf("pgconfig: listen %s: %w", p.table(), err)
	}
	// Catch up on what changed before LISTEN took effect (since the last
	// Load, or while a previous connection was down).
	if p.changedSinceLoad(ctx) {
		onChange()
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if errors.Is(err, context.Canceled) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pgconfig: listen %s: %w", p.table(), err)
		}
		onChange()
	}
}
