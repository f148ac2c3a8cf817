//go:build plba_lambda

package awsconfig

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Load returns the AWS SDK configuration. This build (tagged plba_lambda,
// for Lambda bootstraps) reads only the environment Lambda sets, with
// [FromEnv]; region, when not empty, overrides AWS_REGION.
func Load(_ context.Context, region string) (aws.Config, error) {
	cfg := FromEnv(nil)
	if region != "" {
		cfg.Region = region
	}
	return cfg, nil
}
