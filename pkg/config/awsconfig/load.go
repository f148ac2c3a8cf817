//go:build !plba_lambda

package awsconfig

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	sdkconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Load returns the AWS SDK configuration. In ordinary builds it is the
// SDK's default chain (config.LoadDefaultConfig: environment, shared files,
// SSO, web identity, container and instance roles); region, when not
// empty, overrides the configured one. Builds tagged plba_lambda (the
// Lambda bootstraps) use [FromEnv] instead.
func Load(ctx context.Context, region string) (aws.Config, error) {
	var opts []func(*sdkconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, sdkconfig.WithRegion(region))
	}
	return sdkconfig.LoadDefaultConfig(ctx, opts...)
}
