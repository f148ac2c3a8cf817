package sqlitestore_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
)

// oldSchema is the schema sqlitestore created before versioning (commit
// da95cb8), verbatim: a database from then has user_version 0.
const oldSchema = `
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
`

// An order document as the old version wrote it (no candidates, no
// resolution), keyed by an IMAP URL as old versions did without Message-ID.
const oldDoc = `{"key":"imap://bot@h/INBOX;UIDVALIDITY=7/;UID=42","status":"accepted","customer":{"name":"Carol","address":"carol@example.org"},` +
	`"lines":[{"sku":"XYZ-9000","name":"Industrial sprocket","qty":1,"unit_price":{"amount":49900,"currency":"EUR"},"total":{"amount":49900,"currency":"EUR"}}],` +
	`"total":{"amount":49900,"currency":"EUR"},"created_at":"2026-01-05T10:00:00Z"}`

func TestOldDatabaseIsMigrated(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, oldSchema); err != nil {
		t.Fatal(err)
	}
	const oldKey = "imap://bot@h/INBOX;UIDVALIDITY=7/;UID=42"
	created := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC).UnixNano()
	if _, err := db.ExecContext(ctx, `INSERT INTO orders VALUES (?, 'accepted', ?, ?)`, oldKey, created, []byte(oldDoc)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO outbox (key, from_addr, to_addrs, raw, created_at) VALUES (?, 'orders@shop.example', '["carol@example.org"]', 'Subject: x', ?)`,
		oldKey, created); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("open old database: %v", err)
	}
	defer s.Close()
	o, err := s.Get(ctx, oldKey)
	if err != nil || o.Status != domain.StatusAccepted || o.Total.Amount != 49900 || o.Customer.Address != "carol@example.org" {
		t.Fatalf("old order after migration: %+v, %v", o, err)
	}
	if l, err := s.List(ctx, store.Filter{}); err != nil || len(l) != 1 {
		t.Fatalf("List: %d, %v", len(l), err)
	}
	if p, err := s.PendingReplies(ctx, 0); err != nil || len(p) != 1 {
		t.Fatalf("PendingReplies: %d, %v", len(p), err)
	}
	// The new features work on the migrated file.
	rv := domain.Order{Key: "rv@example.com", Status: domain.StatusReview, Reasons: []string{"line not understood"},
		Candidates: []string{"TEA-001 maybe"}, CreatedAt: time.Now()}
	if ok, err := s.Save(ctx, rv, nil); err != nil || !ok {
		t.Fatalf("Save review: %v %v", ok, err)
	}
	if err := s.PutRaw(ctx, rv.Key, []byte("raw mail"), time.Now()); err != nil {
		t.Fatal(err)
	}
	rv.Status = domain.StatusRejected
	rv.Resolution = &domain.Resolution{From: domain.StatusReview, At: time.Now()}
	if err := s.Resolve(ctx, rv, nil); err != nil {
		t.Fatalf("Resolve on migrated database: %v", err)
	}
	if err := s.Resolve(ctx, domain.Order{Key: oldKey, Status: domain.StatusRejected}, nil); !errors.Is(err, store.ErrNotReview) {
		t.Fatalf("Resolve of an accepted order: %v, want ErrNotReview", err)
	}
	s.Close()

	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v int
	if err := db.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&v); err != nil || v != sqlitestore.SchemaVersion {
		t.Fatalf("user_version = %d, %v; want %d", v, err, sqlitestore.SchemaVersion)
	}
	// Reopening a current database applies nothing and keeps the data.
	s2, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if raw, err := s2.Raw(ctx, rv.Key); err != nil || string(raw) != "raw mail" {
		t.Fatalf("Raw after reopen: %q, %v", raw, err)
	}
}

func TestNewerDatabaseIsRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "future.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{}); err == nil {
		s.Close()
		t.Fatal("a database from a newer version opened")
	}
}
