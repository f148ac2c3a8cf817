//go:build plba_lambda

package mailorderbot

// The Lambda build (tag plba_lambda, set by `make lambdas`): no SQLite
// driver and no demo IMAP server, and the DynamoDB client configured from
// the function's environment only (awsconfig.Load), without the SDK's
// default credential chain.

import (
	"context"
	"fmt"
	"time"

	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/imapsource"
)

func openSQLite(context.Context, StoreConfig) (store.OrderStore, error) {
	return nil, fmt.Errorf("store driver sqlite is not in this build (Lambda builds use dynamodb): %w", ErrNotInBuild)
}

// demoDefaults fills placeholders that pass validation, so that Register
// gets as far as startDemo and says why there is no demo.
func demoDefaults(c *Config) {
	c.IMAP.Addr = "127.0.0.1:1143"
	c.IMAP.TLS = imapsource.TLSNone
	c.IMAP.Username = "demo"
	c.IMAP.Password = "demo"
}

func startDemo(contracts.Registry, time.Duration) (string, error) {
	return "", fmt.Errorf("demo mode (the embedded IMAP server) is not in this build: %w", ErrNotInBuild)
}
