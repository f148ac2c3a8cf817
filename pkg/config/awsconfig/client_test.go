package awsconfig_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
)

func TestClientErrorsNameTheCallNotTheValue(t *testing.T) {
	f, srv := newFake(t)
	f.params["/p"] = [2]string{"SecureString", "param-secret-value"}
	c := awsconfig.NewClient(awsCfg(srv.URL))

	f.failures = []failure{{400, "com.amazonaws.ssm#AccessDeniedException"}}
	_, err := c.GetParameter(t.Context(), "/p")
	if !errors.Is(err, awsconfig.ErrAccessDenied) || errors.Is(err, config.ErrNotFound) {
		t.Errorf("access denied: %v", err)
	}
	var ae *awsconfig.APIError
	if !errors.As(err, &ae) || ae.Code != "AccessDeniedException" || ae.Operation != "GetParameter" || ae.StatusCode != 400 {
		t.Errorf("APIError %+v", ae)
	}
	if !strings.Contains(err.Error(), "ssm parameter /p: GetParameter: AccessDeniedException (HTTP 400)") {
		t.Errorf("message %q", err)
	}

	// A wrong secret key: the server's signature check fails.
	bad := awsCfg(srv.URL)
	bad.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: "wrong-secret-key"}, nil
	})
	_, err = awsconfig.NewSecretsManagerResolver(awsconfig.NewClient(bad), 0).Resolve(t.Context(), "any")
	if !errors.Is(err, awsconfig.ErrAccessDenied) || strings.Contains(err.Error(), "wrong-secret-key") {
		t.Errorf("bad signature: %v", err)
	}

	// An answer that is not the expected JSON is not quoted.
	odd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"Parameter": "param-secret-value"`))
	}))
	defer odd.Close()
	_, err = awsconfig.NewClient(awsCfg(odd.URL)).GetParameter(t.Context(), "/p")
	if err == nil || strings.Contains(err.Error(), "param-secret-value") {
		t.Errorf("odd answer: %v", err)
	}
}

func TestClientRetriesThrottlingAndServerErrors(t *testing.T) {
	f, srv := newFake(t)
	f.secret["s"] = "v"
	c := awsconfig.NewClient(awsCfg(srv.URL))

	f.failures = []failure{{400, "ThrottlingException"}, {503, "ServiceUnavailable"}}
	if v, err := c.GetSecretValue(t.Context(), "s"); err != nil || v != "v" {
		t.Fatalf("after two transient failures: %q %v", v, err)
	}
	if n := f.count("secretsmanager.GetSecretValue"); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}

	// Three transient failures: given up, the last error reported.
	f.failures = []failure{{500, "InternalServiceError"}, {500, "InternalServiceError"}, {500, "InternalServiceError"}}
	if _, err := c.GetSecretValue(t.Context(), "s"); err == nil || !strings.Contains(err.Error(), "InternalServiceError (HTTP 500)") {
		t.Errorf("after three: %v", err)
	}
	if n := f.count("secretsmanager.GetSecretValue"); n != 6 {
		t.Errorf("%d calls, want 6", n)
	}

	// Not transient: one call.
	f.failures = []failure{{400, "ValidationException"}}
	if _, err := c.GetSecretValue(t.Context(), "s"); err == nil {
		t.Error("validation error not reported")
	}
	if n := f.count("secretsmanager.GetSecretValue"); n != 7 {
		t.Errorf("%d calls, want 7", n)
	}

	// The caller's deadline ends the backoff.
	f.failures = []failure{{500, "InternalServiceError"}, {500, "InternalServiceError"}, {500, "InternalServiceError"}}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.GetSecretValue(ctx, "s"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	ssmFake, ssmSrv := newFake(t)
	ssmFake.params["/p"] = [2]string{"String", "from-ssm-endpoint"}
	smFake, smSrv := newFake(t)
	smFake.secret["s"] = "from-sm-endpoint"
	env := map[string]string{
		"AWS_REGION":                       "us-east-1",
		"AWS_ACCESS_KEY_ID":                "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":            "secret",
		"AWS_SESSION_TOKEN":                "token",
		"AWS_ENDPOINT_URL_SSM":             ssmSrv.URL,
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": smSrv.URL,
		"AWS_ENDPOINT_URL_SQS":             "http://127.0.0.1:19324",
		"AWS_ENDPOINT_URL_DYNAMODB":        "http://127.0.0.1:18000",
	}
	cfg := awsconfig.FromEnv(func(k string) string { return env[k] })
	if cfg.Region != "us-east-1" {
		t.Errorf("region %q", cfg.Region)
	}
	creds, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || creds.AccessKeyID != "AKIDTEST" || creds.SecretAccessKey != "secret" || creds.SessionToken != "token" {
		t.Errorf("credentials %+v %v", creds, err)
	}
	// Each service at its own endpoint, as the SDK clients find them.
	rs := awsconfig.Resolvers(cfg, time.Minute)
	if v, err := rs["ssm"].Resolve(t.Context(), "/p"); err != nil || v != "from-ssm-endpoint" {
		t.Errorf("ssm: %q %v", v, err)
	}
	if v, err := rs["secretsmanager"].Resolve(t.Context(), "s"); err != nil || v != "from-sm-endpoint" {
		t.Errorf("secretsmanager: %q %v", v, err)
	}
	if ep := sqs.NewFromConfig(cfg).Options().BaseEndpoint; ep == nil || *ep != env["AWS_ENDPOINT_URL_SQS"] {
		t.Errorf("sqs endpoint %v", ep)
	}
	if ep := dynamodb.NewFromConfig(cfg).Options().BaseEndpoint; ep == nil || *ep != env["AWS_ENDPOINT_URL_DYNAMODB"] {
		t.Errorf("dynamodb endpoint %v", ep)
	}

	// AWS_ENDPOINT_URL for every service; ignoring configured endpoints.
	env = map[string]string{"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://global"}
	cfg = awsconfig.FromEnv(func(k string) string { return env[k] })
	if cfg.Region != "eu-west-1" || cfg.BaseEndpoint == nil || *cfg.BaseEndpoint != "http://global" {
		t.Errorf("region %q endpoint %v", cfg.Region, cfg.BaseEndpoint)
	}
	env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true"
	env["AWS_ENDPOINT_URL_SQS"] = "http://sqs"
	cfg = awsconfig.FromEnv(func(k string) string { return env[k] })
	if cfg.BaseEndpoint != nil || sqs.NewFromConfig(cfg).Options().BaseEndpoint != nil {
		t.Error("configured endpoints not ignored")
	}

	// No credentials: a clear error when a request is signed.
	if _, err := cfg.Credentials.Retrieve(t.Context()); !errors.Is(err, awsconfig.ErrNoCredentials) {
		t.Errorf("no credentials: %v", err)
	}
	_, err = awsconfig.NewClient(cfg).GetParameter(t.Context(), "/p")
	if !errors.Is(err, awsconfig.ErrNoCredentials) {
		t.Errorf("client without credentials: %v", err)
	}
}

func TestClientNeedsARegionWithoutEndpoint(t *testing.T) {
	cfg := aws.Config{Credentials: awsCfg("").Credentials}
	_, err := awsconfig.NewClient(cfg).GetSecretValue(t.Context(), "s")
	if err == nil || !strings.Contains(err.Error(), "no AWS region (set AWS_REGION)") {
		t.Errorf("got %v", err)
	}
}

// TestClientWritesSecrets: PutParameter overwrites as a SecureString,
// PutSecretValue replaces the secret string (OAuth refresh token rotation).
func TestClientWritesSecrets(t *testing.T) {
	f, srv := newFake(t)
	f.params["/plba/rt"] = [2]string{"SecureString", "old"}
	f.secret["mail"] = "old"
	c := awsconfig.NewClient(awsCfg(srv.URL))
	if v, err := c.PutParameter(t.Context(), "/plba/rt", "new-token", ""); err != nil || v != 2 {
		t.Fatalf("PutParameter = %d, %v", v, err)
	}
	if p, err := c.GetParameter(t.Context(), "/plba/rt"); err != nil || p.Value != "new-token" || p.Type != "SecureString" {
		t.Fatalf("after put: %+v, %v", p, err)
	}
	if err := c.PutSecretValue(t.Context(), "mail", "new-token"); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.GetSecretValue(t.Context(), "mail"); v != "new-token" {
		t.Fatalf("secret after put: %q", v)
	}
	err := c.PutSecretValue(t.Context(), "missing", "new-token")
	if !errors.Is(err, config.ErrNotFound) || strings.Contains(err.Error(), "new-token") {
		t.Fatalf("put to a missing secret: %v", err)
	}
}
