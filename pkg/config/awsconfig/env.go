package awsconfig

import (
	"context"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// ErrNoCredentials is returned, when a request is signed, by the
// credentials of [FromEnv] if AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is
// not set.
var ErrNoCredentials = errors.New("awsconfig: no AWS credentials in the environment (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; Lambda sets them from the function's role)")

// FromEnv builds an AWS SDK configuration from the environment variables
// Lambda gives a function, and nothing else: the region from AWS_REGION (or
// AWS_DEFAULT_REGION), static credentials from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, the endpoint overrides
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (e.g.
// AWS_ENDPOINT_URL_SQS, AWS_ENDPOINT_URL_DYNAMODB) unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true. getenv nil means os.Getenv.
//
// It exists because the SDK's config.LoadDefaultConfig also links the
// shared-file, SSO, SSO-OIDC, sign-in, STS and IMDS credential providers —
// about 1.5 MB of a Lambda bootstrap that can never use them. Builds tagged
// plba_lambda use it in [Load].
func FromEnv(getenv func(string) string) aws.Config {
	if getenv == nil {
		getenv = os.Getenv
	}
	cfg := aws.Config{
		Region: first(getenv("AWS_REGION"), getenv("AWS_DEFAULT_REGION")),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			id := first(getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_ACCESS_KEY"))
			key := first(getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SECRET_KEY"))
			if id == "" || key == "" {
				return aws.Credentials{}, ErrNoCredentials
			}
			return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: getenv("AWS_SESSION_TOKEN"), Source: "EnvConfigCredentials"}, nil
		}),
	}
	if strings.EqualFold(getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"), "true") {
		return cfg
	}
	if ep := getenv("AWS_ENDPOINT_URL"); ep != "" {
		cfg.BaseEndpoint = aws.String(ep)
	}
	// Service clients ask their config sources for a service endpoint
	// (AWS_ENDPOINT_URL_<SDK ID>) through this method, as they ask the
	// SDK's own EnvConfig.
	cfg.ConfigSources = []any{envEndpoints(getenv)}
	return cfg
}

// envEndpoints answers service-specific endpoint lookups from getenv.
type envEndpoints func(string) string

// GetServiceBaseEndpoint returns AWS_ENDPOINT_URL_<SDK ID>, the SDK ID upper
// case with spaces as underscores, like the SDK's environment source.
func (g envEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	ep := g("AWS_ENDPOINT_URL_" + strings.ReplaceAll(strings.ToUpper(sdkID), " ", "_"))
	return ep, ep != "", nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
