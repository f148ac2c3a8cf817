package pgconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// Importing this package offers the "postgres" provider to
// platform.config.providers:
//
//	platform:
//	  config:
//	    providers:
//	      - type: postgres
//	        dsn: ${env:PLBA_CONFIG_DSN}   # a secret: never printed
//	        table: plba_config            # default
//	        poll_interval: 5s             # default; NOTIFY reloads at once
//
// The table is created if missing ([Provider.EnsureSchema]).
func init() { config.RegisterProvider("postgres", open) }

func open(ctx context.Context, spec config.ProviderSpec) (contracts.ConfigProvider, func(), error) {
	if spec.DSN.IsZero() {
		return nil, nil, errors.New("dsn: required for the postgres provider")
	}
	pool, err := pgxpool.New(ctx, spec.DSN.Reveal())
	if err != nil {
		// pgx's parse errors can quote the DSN: say only what kind it was.
		return nil, nil, errors.New("dsn: not a valid PostgreSQL connection string")
	}
	p := &Provider{Pool: pool, Table: spec.Table, PollInterval: spec.PollInterval}
	if err := p.EnsureSchema(ctx); err != nil {
		pool.Close()
		return nil, nil, fmt.Errorf("connect and prepare table: %w", err)
	}
	return p, pool.Close, nil
}
