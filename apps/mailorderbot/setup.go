package mailorderbot

import (
	"context"
	"errors"
	"fmt"

	"github.com/plba/plba/apps/mailorderbot/reply"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
)

// ErrNotInBuild is wrapped by the errors of features that builds tagged
// plba_lambda (the Lambda bootstraps, see docs/serverless.md) leave out:
// the sqlite store driver and demo mode.
var ErrNotInBuild = errors.New("mailorderbot: left out of builds tagged plba_lambda")

// OpenStore opens the configured order store. For DynamoDB with an endpoint
// (a local server) it creates the table when missing; against AWS the table
// must exist (the CDK stack creates it, and the functions' roles may not).
//
// Builds tagged plba_lambda (the Lambda bootstraps) have no SQLite driver:
// there the sqlite driver fails with [ErrNotInBuild].
func OpenStore(ctx context.Context, sc StoreConfig) (store.OrderStore, error) {
	switch sc.Driver {
	case DriverSQLite, "":
		return openSQLite(ctx, sc)
	case DriverDynamoDB:
		client, err := dynamostore.NewClient(ctx, dynamostore.ClientConfig{Region: sc.Region, Endpoint: sc.Endpoint})
		if err != nil {
			return nil, err
		}
		s, err := dynamostore.New(client, sc.Table)
		if err != nil {
			return nil, err
		}
		if sc.Endpoint != "" {
			if err := s.EnsureTable(ctx); err != nil {
				return nil, err
			}
		}
		return s, nil
	default:
		return nil, fmt.Errorf("%w: %s.store.driver: %q is not one of sqlite, dynamodb", ErrInvalidConfig, ConfigPath, sc.Driver)
	}
}

// Sender returns the SMTP sender, or nil when smtp.addr is empty.
func (c Config) Sender() (reply.Sender, error) {
	if c.SMTP.Addr == "" {
		return nil, nil
	}
	return reply.NewSMTPSender(c.SMTPSenderConfig())
}
