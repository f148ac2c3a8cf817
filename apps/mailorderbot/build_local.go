//go:build !plba_lambda

package mailorderbot

// The pieces only local builds have. Lambda builds (tag plba_lambda, see
// build_lambda.go) leave them out to keep the bootstraps small: the SQLite
// driver (modernc.org/sqlite, about 4 MB of binary) and the demo's embedded
// IMAP server (go-imap's imapserver and imapmemserver).

import (
	"context"
	"time"

	"github.com/plba/plba/apps/mailorderbot/demo"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/sqlitestore"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
)

func openSQLite(ctx context.Context, sc StoreConfig) (store.OrderStore, error) {
	return sqlitestore.Open(ctx, sc.Path, sqlitestore.Options{})
}

func demoDefaults(c *Config) {
	c.IMAP.Addr = demo.DefaultAddr
	c.IMAP.TLS = imapsource.TLSNone
	c.IMAP.Username = demo.User
	c.IMAP.Password = demo.Password
}

// startDemo adds the demo mailbox worker and returns its address.
func startDemo(r contracts.Registry, interval time.Duration) (string, error) {
	addr, err := demo.PickAddr()
	if err != nil {
		return "", err
	}
	if err := r.AddWorker(demo.Worker(addr, interval, uint64(time.Now().UnixNano()))); err != nil {
		return "", err
	}
	r.Logger().Info("demo mode: embedded IMAP server with sample order e-mails", "addr", addr, "user", demo.User, "new_mail_every", interval)
	return addr, nil
}
