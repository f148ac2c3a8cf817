package awsconfig

import (
	"context"
	"errors"
	"fmt"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// Importing this package offers the "ssm" provider to
// platform.config.providers: every parameter under path becomes a key
// (/plba/prod/apps/bot/workers → apps.bot.workers; SecureString values are
// secrets). It is read at start and on every reload (SIGHUP, a changed
// file); Parameter Store sends no change notifications.
//
//	platform:
//	  config:
//	    providers:
//	      - type: ssm
//	        path: /plba/prod
func init() { config.RegisterProvider("ssm", openSSM) }

func openSSM(ctx context.Context, spec config.ProviderSpec) (contracts.ConfigProvider, func(), error) {
	if spec.Path == "" {
		return nil, nil, errors.New("path: required for the ssm provider")
	}
	cfg, err := Load(ctx, "")
	if err != nil {
		return nil, nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &SSMProvider{Client: NewClient(cfg), Path: spec.Path}, nil, nil
}
