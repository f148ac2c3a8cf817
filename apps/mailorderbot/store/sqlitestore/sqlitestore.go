// Package sqlitestore is the default [store.OrderStore]: one SQLite file on
// local disk, through the pure-Go modernc.org/sqlite driver (no cgo, so the
// binary stays static).
//
// # Concurrency
//
// The database runs in WAL mode, so readers never wait for the writer, with a
// busy timeout so concurrent writers queue instead of failing. Write
// transactions start with BEGIN IMMEDIATE: they take the write lock up front,
// which avoids the deadlock two deferred transactions hit when both try to
// upgrade from read to write. Many workers may share one Store.
//
// # Schema and migrations
//
// Table orders (key primary key, status, created_at, resolved_at, the order
// as JSON), table outbox (key primary key, addresses, raw message, sent_at),
// written in one transaction by Save, and table raw_mail (raw messages of
// orders in review, purged after the retention). Orders are inserted with ON
// CONFLICT DO NOTHING, which is what makes Save idempotent.
//
// The schema is versioned in SQLite's user_version: Open applies the
// migrations the file lacks, in one write transaction, so a database made by
// an older version opens and keeps working (version 0 is a database from
// before versioning, whose tables are exactly migration 1). A database newer
// than the binary is refused rather than misread.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
)

// DefaultPath is where the store lives when the configuration names none.
const DefaultPath = "var/orders.db"

// Options configure Open.
type Options struct {
	// BusyTimeout is how long a writer waits for the lock; default 10s.
	BusyTimeout time.Duration
	// MaxOpenConns bounds the connection pool; default 8.
	MaxOpenConns int
}

// Store is a SQLite-backed [store.OrderStore].
type Store struct {
	db    *sql.DB
	path  string
	group groupCommit
	// Save's statements, prepared once per connection (SQLite spends
	// about as long parsing an INSERT as running it).
	insOrder, insOutbox *sql.Stmt
}

var _ store.OrderStore = (*Store)(nil)

// migrations[i] takes the schema from version i to i+1. Never edit one that
// has shipped; append.
var migrations = []string{
	// 1: the schema every database before versioning has.
	`
CREATE TABLE IF NOT EXISTS orders (
	key        TEXT PRIMARY KEY,
	status     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	doc        BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_created ON orders (created_at, key);
CREATE INDEX IF NOT EXISTS orders_status_created ON orders (status, created_at, key);
CREATE TABLE IF NOT EXISTS outbox (
	key        TEXT PRIMARY KEY REFERENCES orders (key),
	from_addr  TEXT NOT NULL,
	to_addrs   TEXT NOT NULL,
	raw        BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	sent_at    INTEGER
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (created_at, key) WHERE sent_at IS NULL;
`,
	// 2: review resolution time; raw messages kept for review.
	`
ALTER TABLE orders ADD COLUMN resolved_at INTEGER;
CREATE TABLE raw_mail (
	key        TEXT PRIMARY KEY REFERENCES orders (key),
	raw        BLOB NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE INDEX raw_mail_created ON raw_mail (created_at);
`,
	// 3: a reply's send attempt (a crash during a send leaves it set).
	`
ALTER TABLE outbox ADD COLUMN attempted_at INTEGER;
`,
}

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// migrate brings the database to SchemaVersion.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one migrator at a time
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var v int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this program's %d", v, len(migrations))
	}
	if v == len(migrations) {
		return nil
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return fmt.Errorf("set schema version: %w", err)
	}
	return tx.Commit()
}

// Open opens (creating if needed) the database file at path and its
// directory. An empty path means [DefaultPath].
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		path = DefaultPath
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlitestore: path %q must not contain ? or #", path)
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = 8
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlitestore: create directory: %w", err)
		}
	}
	dsn := fmt.Sprintf("file:%s?_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate",
		path, opts.BusyTimeout.Milliseconds())
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxOpenConns)
	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: schema of %s: %w", path, err)
	}
	st := &Store{db: db, path: path}
	if st.insOrder, err = db.PrepareContext(ctx, insertOrder); err == nil {
		st.insOutbox, err = db.PrepareContext(ctx, insertOutbox)
	}
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlitestore: prepare statements on %s: %w", path, err)
	}
	return st, nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Ping checks the database is usable (for health checks).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	_ = s.insOrder.Close()
	_ = s.insOutbox.Close()
	return s.db.Close()
}

// Save implements [store.OrderStore]. Saves that arrive while another one
// is committing are written together in one transaction (group commit):
// the first caller writes its own order and every order queued meanwhile,
// so a burst of orders from many workers costs one commit per round
// instead of one per order. Each Save still returns only after the
// transaction holding its order committed, and an order is still all or
// nothing: when any statement of a round fails, the round is rolled back
// and each of its orders is saved in a transaction of its own.
func (s *Store) Save(ctx context.Context, order domain.Order, reply *domain.Reply) (created bool, err error) {
	if err := store.Check(order, reply); err != nil {
		return false, err
	}
	if err := ctx.Err(); err != nil {
		// Once queued, a Save is written whatever its ctx does.
		return false, fmt.Errorf("sqlitestore: save %s: %w", order.Key, err)
	}
	doc, err := json.Marshal(order)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: encode order %s: %w", order.Key, err)
	}
	r := &saveReq{order: order, reply: reply, doc: doc, done: make(chan struct{})}
	if reply != nil {
		to, _ := json.Marshal(reply.To)
		r.to = string(to)
	}
	s.group.run(ctx, r, s.saveRound)
	return r.created, r.err
}

// saveReq is one Save waiting for its round.
type saveReq struct {
	order   domain.Order
	reply   *domain.Reply
	doc     []byte
	to      string
	created bool
	err     error
	// done is closed when the request is answered, or when it is to lead
	// the next round (lead set).
	done chan struct{}
	lead bool
}

// maxRound bounds the orders of one group commit, so one transaction
// never holds the write lock for long.
const maxRound = 64

// groupCommit queues Saves while a round is on the way. Nothing waits for
// a timer: a lone Save is one transaction, as without grouping.
type groupCommit struct {
	mu      sync.Mutex
	pending []*saveReq
	running bool
}

// run answers r: it either waits while a round that holds r runs, or
// leads rounds itself until r is answered, then hands the lead to the
// first request still waiting. A waiting request does not give up on ctx:
// the round that holds it may already be committing, and the lead must
// never be handed to a caller that left.
func (g *groupCommit) run(ctx context.Context, r *saveReq, round func(context.Context, []*saveReq)) {
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if g.running {
		g.mu.Unlock()
		<-r.done
		if !r.lead {
			return
		}
		g.mu.Lock()
	}
	g.running = true
	// The round is others' work too: not bound to this caller's ctx.
	rctx := context.WithoutCancel(ctx)
	for {
		n := min(len(g.pending), maxRound)
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()
		round(rctx, batch)
		answered := false
		for _, q := range batch {
			if q == r {
				answered = true
			} else {
				close(q.done)
			}
		}
		g.mu.Lock()
		if answered {
			if len(g.pending) == 0 {
				g.running = false
			} else {
				next := g.pending[0]
				next.lead = true
				close(next.done)
			}
			g.mu.Unlock()
			return
		}
	}
}

// saveRound writes a round of orders in one transaction; on any failure it
// rolls back and saves each order alone, so one bad order costs the others
// nothing.
func (s *Store) saveRound(ctx context.Context, batch []*saveReq) {
	if len(batch) == 1 {
		batch[0].created, batch[0].err = s.saveOne(ctx, batch[0])
		return
	}
	if err := s.saveAll(ctx, batch); err != nil {
		for _, r := range batch {
			r.created, r.err = s.saveOne(ctx, r)
		}
	}
}

const (
	insertOrder  = `INSERT INTO orders (key, status, created_at, doc) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`
	insertOutbox = `INSERT INTO outbox (key, from_addr, to_addrs, raw, created_at) VALUES (?, ?, ?, ?, ?)`
)

// saveAll saves every order of batch in one transaction.
func (s *Store) saveAll(ctx context.Context, batch []*saveReq) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	ins := tx.StmtContext(ctx, s.insOrder)
	out := tx.StmtContext(ctx, s.insOutbox)
	created := make([]bool, len(batch))
	for i, r := range batch {
		res, err := ins.ExecContext(ctx, string(r.order.Key), string(r.order.Status), r.order.CreatedAt.UnixNano(), r.doc)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 || r.reply == nil {
			created[i] = n > 0
			continue
		}
		if _, err := out.ExecContext(ctx, string(r.reply.Key), r.reply.From, r.to, r.reply.Raw, r.reply.CreatedAt.UnixNano()); err != nil {
			return err
		}
		created[i] = true
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for i, r := range batch {
		r.created = created[i]
	}
	return nil
}

// saveOne saves one order in a transaction of its own.
func (s *Store) saveOne(ctx context.Context, r *saveReq) (created bool, err error) {
	order, reply := r.order, r.reply
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: save %s: begin: %w", order.Key, err)
	}
	defer func() {
		if !created || err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.StmtContext(ctx, s.insOrder).ExecContext(ctx, string(order.Key), string(order.Status), order.CreatedAt.UnixNano(), r.doc)
	if err != nil {
		return false, fmt.Errorf("sqlitestore: save %s: %w", order.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlitestore: save %s: %w", order.Key, err)
	}
	if n == 0 {
		return false, nil
	}
	if reply != nil {
		if _, err := tx.StmtContext(ctx, s.insOutbox).ExecContext(ctx,
			string(reply.Key), reply.From, r.to, reply.Raw, reply.CreatedAt.UnixNano()); err != nil {
			return false, fmt.Errorf("sqlitestore: save reply %s: %w", order.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("sqlitestore: save %s: commit: %w", order.Key, err)
	}
	return true, nil
}

// Get implements [store.OrderStore].
func (s *Store) Get(ctx context.Context, key domain.MessageKey) (domain.Order, error) {
	var doc []byte
	err := s.db.QueryRowContext(ctx, `SELECT doc FROM orders WHERE key = ?`, string(key)).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Order{}, fmt.Errorf("sqlitestore: order %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return domain.Order{}, fmt.Errorf("sqlitestore: get %s: %w", key, err)
	}
	return decode(doc)
}

func decode(doc []byte) (domain.Order, error) {
	var o domain.Order
	if err := json.Unmarshal(doc, &o); err != nil {
		return domain.Order{}, fmt.Errorf("sqlitestore: decode order: %w", err)
	}
	return o, nil
}

// List implements [store.OrderStore].
// Count implements [store.OrderStore].
func (s *Store) Count(ctx context.Context, f store.Filter) (int, error) {
	q, args := `SELECT count(*) FROM orders`, []any{}
	if f.Status != "" {
		q, args = `SELECT count(*) FROM orders WHERE status = ?`, []any{string(f.Status)}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlitestore: count: %w", err)
	}
	return n, nil
}

// List implements [store.OrderStore].
func (s *Store) List(ctx context.Context, f store.Filter) ([]domain.Order, error) {
	q := `SELECT doc FROM orders ORDER BY created_at DESC, key DESC LIMIT ?`
	args := []any{store.Limit(f.Limit)}
	if f.Status != "" {
		q = `SELECT doc FROM orders WHERE status = ? ORDER BY created_at DESC, key DESC LIMIT ?`
		args = []any{string(f.Status), store.Limit(f.Limit)}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list: %w", err)
	}
	defer rows.Close()
	var out []domain.Order
	for rows.Next() {
		var doc []byte
		if err := rows.Scan(&doc); err != nil {
			return nil, fmt.Errorf("sqlitestore: list: %w", err)
		}
		o, err := decode(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: list: %w", err)
	}
	return out, nil
}

const replyCols = `key, from_addr, to_addrs, raw, created_at, sent_at, attempted_at`

func scanReply(sc interface{ Scan(...any) error }) (domain.Reply, error) {
	var (
		r       domain.Reply
		key, to string
		created int64
		sent    sql.NullInt64
		tried   sql.NullInt64
	)
	if err := sc.Scan(&key, &r.From, &to, &r.Raw, &created, &sent, &tried); err != nil {
		return r, err
	}
	r.Key = domain.MessageKey(key)
	if err := json.Unmarshal([]byte(to), &r.To); err != nil {
		return r, fmt.Errorf("decode recipients: %w", err)
	}
	r.CreatedAt = time.Unix(0, created).UTC()
	if sent.Valid {
		r.SentAt = time.Unix(0, sent.Int64).UTC()
	}
	if tried.Valid {
		r.AttemptedAt = time.Unix(0, tried.Int64).UTC()
	}
	return r, nil
}

// MarkAttempt implements [store.OrderStore].
func (s *Store) MarkAttempt(ctx context.Context, key domain.MessageKey, at time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET attempted_at = ? WHERE key = ? AND sent_at IS NULL AND attempted_at IS NULL`,
		at.UnixNano(), string(key))
	if err != nil {
		return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return nil
	}
	var attempted bool
	err = s.db.QueryRowContext(ctx, `SELECT attempted_at IS NOT NULL FROM outbox WHERE key = ? AND sent_at IS NULL`, string(key)).Scan(&attempted)
	switch {
	case errors.Is(err, sql.ErrNoRows) || (err == nil && !attempted):
		return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, store.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, err)
	}
	return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, store.ErrAttempted)
}

// ClearAttempt implements [store.OrderStore].
func (s *Store) ClearAttempt(ctx context.Context, key domain.MessageKey) error {
	return s.setAttempt(ctx, key, sql.NullInt64{})
}

func (s *Store) setAttempt(ctx context.Context, key domain.MessageKey, v sql.NullInt64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE outbox SET attempted_at = ? WHERE key = ? AND sent_at IS NULL`, v, string(key))
	if err != nil {
		return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlitestore: reply attempt %s: %w", key, store.ErrNotFound)
	}
	return nil
}

// Reply implements [store.OrderStore].
func (s *Store) Reply(ctx context.Context, key domain.MessageKey) (domain.Reply, error) {
	r, err := scanReply(s.db.QueryRowContext(ctx, `SELECT `+replyCols+` FROM outbox WHERE key = ?`, string(key)))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Reply{}, fmt.Errorf("sqlitestore: reply %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return domain.Reply{}, fmt.Errorf("sqlitestore: reply %s: %w", key, err)
	}
	return r, nil
}

// PendingReplies implements [store.OrderStore].
func (s *Store) PendingReplies(ctx context.Context, limit int) ([]domain.Reply, error) {
	return s.replies(ctx, "pending", `attempted_at IS NULL`, limit)
}

// UnconfirmedReplies implements [store.OrderStore].
func (s *Store) UnconfirmedReplies(ctx context.Context, limit int) ([]domain.Reply, error) {
	return s.replies(ctx, "unconfirmed", `attempted_at IS NOT NULL`, limit)
}

// replies lists unsent replies matching attempted, oldest first.
func (s *Store) replies(ctx context.Context, what, attempted string, limit int) ([]domain.Reply, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT `+replyCols+` FROM outbox WHERE sent_at IS NULL AND `+attempted+` ORDER BY created_at, key LIMIT ?`, store.Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %s replies: %w", what, err)
	}
	defer rows.Close()
	var out []domain.Reply
	for rows.Next() {
		r, err := scanReply(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: %s replies: %w", what, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: %s replies: %w", what, err)
	}
	return out, nil
}

// MarkSent implements [store.OrderStore].
func (s *Store) MarkSent(ctx context.Context, key domain.MessageKey, at time.Time) error {
	res, err := s.db.ExecContext(ctx,
		`UPDATE outbox SET sent_at = COALESCE(sent_at, ?) WHERE key = ?`, at.UnixNano(), string(key))
	if err != nil {
		return fmt.Errorf("sqlitestore: mark sent %s: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitestore: mark sent %s: %w", key, err)
	} else if n == 0 {
		return fmt.Errorf("sqlitestore: reply %s: %w", key, store.ErrNotFound)
	}
	return nil
}

// Resolve implements [store.OrderStore].
func (s *Store) Resolve(ctx context.Context, order domain.Order, reply *domain.Reply) (err error) {
	if err := store.Check(order, reply); err != nil {
		return err
	}
	doc, err := json.Marshal(order)
	if err != nil {
		return fmt.Errorf("sqlitestore: encode order %s: %w", order.Key, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: resolve %s: begin: %w", order.Key, err)
	}
	defer func() { _ = tx.Rollback() }()
	var at any
	if order.Resolution != nil {
		at = order.Resolution.At.UnixNano()
	}
	res, err := tx.ExecContext(ctx, `UPDATE orders SET status = ?, doc = ?, resolved_at = ? WHERE key = ? AND status = ?`,
		string(order.Status), doc, at, string(order.Key), string(domain.StatusReview))
	if err != nil {
		return fmt.Errorf("sqlitestore: resolve %s: %w", order.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlitestore: resolve %s: %w", order.Key, err)
	} else if n == 0 {
		var st string
		err := tx.QueryRowContext(ctx, `SELECT status FROM orders WHERE key = ?`, string(order.Key)).Scan(&st)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlitestore: order %s: %w", order.Key, store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("sqlitestore: resolve %s: %w", order.Key, err)
		}
		return fmt.Errorf("sqlitestore: order %s is %s: %w", order.Key, st, store.ErrNotReview)
	}
	if reply != nil {
		to, _ := json.Marshal(reply.To)
		if _, err := tx.ExecContext(ctx, `INSERT INTO outbox (key, from_addr, to_addrs, raw, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET from_addr = excluded.from_addr, to_addrs = excluded.to_addrs, raw = excluded.raw,
			created_at = excluded.created_at, sent_at = NULL`,
			string(reply.Key), reply.From, string(to), reply.Raw, reply.CreatedAt.UnixNano()); err != nil {
			return fmt.Errorf("sqlitestore: resolve %s: reply: %w", order.Key, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: resolve %s: commit: %w", order.Key, err)
	}
	return nil
}

// PutRaw implements [store.OrderStore].
func (s *Store) PutRaw(ctx context.Context, key domain.MessageKey, raw []byte, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO raw_mail (key, raw, created_at) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		string(key), raw, at.UnixNano())
	if err != nil {
		return fmt.Errorf("sqlitestore: keep raw %s: %w", key, err)
	}
	return nil
}

// Raw implements [store.OrderStore].
func (s *Store) Raw(ctx context.Context, key domain.MessageKey) ([]byte, error) {
	var raw []byte
	err := s.db.QueryRowContext(ctx, `SELECT raw FROM raw_mail WHERE key = ?`, string(key)).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlitestore: raw %s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: raw %s: %w", key, err)
	}
	return raw, nil
}

// PurgeRaw implements [store.OrderStore].
func (s *Store) PurgeRaw(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM raw_mail WHERE created_at < ?`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: purge raw: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: purge raw: %w", err)
	}
	return int(n), nil
}
