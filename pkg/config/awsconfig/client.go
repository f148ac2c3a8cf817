package awsconfig

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/plba/plba/pkg/config"
)

// ErrAccessDenied is wrapped by errors for calls the credentials may not
// make (AccessDeniedException, a KMS key the role may not decrypt with).
var ErrAccessDenied = errors.New("access denied")

// Parameter is one Parameter Store parameter.
type Parameter struct {
	Name string
	// Type is String, StringList or SecureString.
	Type  string
	Value string
}

// Client reads Parameter Store parameters and Secrets Manager secrets over
// their JSON APIs (POST / with X-Amz-Target, signed with Signature Version
// 4). It implements [SSMAPI] and [SecretsManagerAPI] with the calls
// PLBA needs (and PutParameter, PutSecretValue for rotated OAuth refresh
// tokens), instead of the SDK's service clients: those are about 4.5 MB of
// a Lambda bootstrap for three operations.
//
// Endpoints: AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER (via
// the configuration's sources, as the SDK clients resolve them), else
// cfg.BaseEndpoint, else the regional endpoint. Throttling, 5xx answers and
// transport errors are retried twice with jittered backoff. Error messages
// name the operation, the parameter or secret and AWS's error code, never a
// value.
type Client struct {
	cfg    aws.Config
	http   aws.HTTPClient
	signer *v4.Signer
}

var (
	_ SSMAPI            = (*Client)(nil)
	_ SecretsManagerAPI = (*Client)(nil)
)

// NewClient returns a client using cfg's region, credentials, endpoints
// and HTTP client.
func NewClient(cfg aws.Config) *Client {
	c := &Client{cfg: cfg, http: cfg.HTTPClient, signer: v4.NewSigner()}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	return c
}

// service describes one AWS service's JSON API.
type service struct {
	sdkID        string // for AWS_ENDPOINT_URL_<SDK ID>
	signingName  string // also the endpoint prefix
	targetPrefix string
	jsonVersion  string
}

var (
	ssmService = service{sdkID: "SSM", signingName: "ssm", targetPrefix: "AmazonSSM", jsonVersion: "1.1"}
	smService  = service{sdkID: "Secrets Manager", signingName: "secretsmanager", targetPrefix: "secretsmanager", jsonVersion: "1.1"}
)

// GetParameter reads one parameter, decrypting a SecureString. A missing
// parameter is an error wrapping [config.ErrNotFound] (and an [*APIError]).
func (c *Client) GetParameter(ctx context.Context, name string) (Parameter, error) {
	var out struct{ Parameter Parameter }
	in := map[string]any{"Name": name, "WithDecryption": true}
	if err := c.call(ctx, ssmService, "GetParameter", in, &out); err != nil {
		return Parameter{}, fmt.Errorf("ssm parameter %s: %w", name, err)
	}
	return out.Parameter, nil
}

// GetParametersByPath reads one page of the parameters under path
// (recursively, decrypted); next is "" on the last page.
func (c *Client) GetParametersByPath(ctx context.Context, path, nextToken string) (params []Parameter, next string, err error) {
	in := map[string]any{"Path": path, "Recursive": true, "WithDecryption": true}
	if nextToken != "" {
		in["NextToken"] = nextToken
	}
	var out struct {
		Parameters []Parameter
		NextToken  string
	}
	if err := c.call(ctx, ssmService, "GetParametersByPath", in, &out); err != nil {
		return nil, "", fmt.Errorf("ssm parameters under %s: %w", path, err)
	}
	return out.Parameters, out.NextToken, nil
}

// GetSecretValue reads the current SecretString of secret id (a name or
// ARN). A missing secret is an error wrapping [config.ErrNotFound]; a
// binary secret is an error.
func (c *Client) GetSecretValue(ctx context.Context, id string) (string, error) {
	var out struct {
		SecretString *string
	}
	if err := c.call(ctx, smService, "GetSecretValue", map[string]any{"SecretId": id}, &out); err != nil {
		return "", fmt.Errorf("secretsmanager secret %s: %w", id, err)
	}
	if out.SecretString == nil {
		return "", fmt.Errorf("secretsmanager secret %s: no SecretString (binary secrets are not supported)", id)
	}
	return *out.SecretString, nil
}

// PutParameter overwrites parameter name with value as a SecureString
// (KMS key: keyID, or the account's aws/ssm key when empty). It returns the
// new version. PLBA writes back rotated OAuth refresh tokens with it.
func (c *Client) PutParameter(ctx context.Context, name, value, keyID string) (int64, error) {
	in := map[string]any{"Name": name, "Value": value, "Type": "SecureString", "Overwrite": true}
	if keyID != "" {
		in["KeyId"] = keyID
	}
	var out struct{ Version int64 }
	if err := c.call(ctx, ssmService, "PutParameter", in, &out); err != nil {
		return 0, fmt.Errorf("ssm parameter %s: %w", name, err)
	}
	return out.Version, nil
}

// PutSecretValue stores value as the new current SecretString of secret id.
func (c *Client) PutSecretValue(ctx context.Context, id, value string) error {
	var out struct{ VersionId string }
	if err := c.call(ctx, smService, "PutSecretValue", map[string]any{"SecretId": id, "SecretString": value}, &out); err != nil {
		return fmt.Errorf("secretsmanager secret %s: %w", id, err)
	}
	return nil
}

// APIError is an error answer of an AWS API.
type APIError struct {
	Operation  string // e.g. "GetParameter"
	Code       string // AWS's error code, e.g. "ParameterNotFound"
	Message    string // AWS's message
	StatusCode int
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: %s (HTTP %d)", e.Operation, e.Code, e.StatusCode)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap maps the codes callers branch on to [config.ErrNotFound] and
// [ErrAccessDenied].
func (e *APIError) Unwrap() error {
	switch e.Code {
	case "ParameterNotFound", "ResourceNotFoundException":
		return config.ErrNotFound
	case "AccessDeniedException", "AccessDenied", "KMSAccessDeniedException", "UnrecognizedClientException",
		"InvalidSignatureException", "ExpiredTokenException", "IncompleteSignature":
		return ErrAccessDenied
	}
	if e.StatusCode == http.StatusForbidden {
		return ErrAccessDenied
	}
	return nil
}

func (e *APIError) retryable() bool {
	switch e.Code {
	case "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "InternalServerError",
		"InternalServiceError", "InternalFailure", "ServiceUnavailable":
		return true
	}
	return e.StatusCode >= 500 || e.StatusCode == http.StatusTooManyRequests
}

const attempts = 3

// call sends one JSON request and decodes the answer into out.
func (c *Client) call(ctx context.Context, svc service, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	endpoint, err := c.endpoint(ctx, svc)
	if err != nil {
		return err
	}
	var last error
	for attempt := range attempts {
		if attempt > 0 {
			// 100–200 ms, then 200–400 ms.
			d := time.Duration(100<<(attempt-1)) * time.Millisecond
			d += rand.N(d)
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%s: %w (last error: %w)", op, ctx.Err(), last)
			case <-t.C:
			}
		}
		var retry bool
		retry, last = c.try(ctx, svc, op, endpoint, body, out)
		if last == nil || !retry || ctx.Err() != nil {
			return last
		}
	}
	return last
}

func (c *Client) try(ctx context.Context, svc service, op, endpoint string, body []byte, out any) (retry bool, err error) {
	if c.cfg.Credentials == nil {
		return false, fmt.Errorf("%s: %w", op, ErrNoCredentials)
	}
	creds, err := c.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return false, fmt.Errorf("%s: credentials: %w", op, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-"+svc.jsonVersion)
	req.Header.Set("X-Amz-Target", svc.targetPrefix+"."+op)
	sum := sha256.Sum256(body)
	if err := c.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), svc.signingName, c.cfg.Region, time.Now().UTC()); err != nil {
		return false, fmt.Errorf("%s: sign request: %w", op, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("%s: %w", op, err)
	}
	defer resp.Body.Close()
	// Answers here are small; a limit keeps a misbehaving endpoint from
	// filling memory.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("%s: read answer: %w", op, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &APIError{Operation: op, StatusCode: resp.StatusCode}
		var ae struct {
			Type     string `json:"__type"`
			Message  string `json:"message"`
			Message2 string `json:"Message"`
		}
		// A body that is not the JSON error shape is not quoted: it
		// could be anything.
		if json.Unmarshal(data, &ae) == nil {
			e.Code, e.Message = ae.Type, ae.Message
			if e.Message == "" {
				e.Message = ae.Message2
			}
		}
		// "com.amazonaws.ssm#ParameterNotFound" or "ParameterNotFound".
		if i := strings.LastIndexByte(e.Code, '#'); i >= 0 {
			e.Code = e.Code[i+1:]
		}
		if h := resp.Header.Get("X-Amzn-Errortype"); e.Code == "" && h != "" {
			e.Code, _, _ = strings.Cut(h, ":")
		}
		if e.Code == "" {
			e.Code = http.StatusText(resp.StatusCode)
		}
		return e.retryable(), e
	}
	if err := json.Unmarshal(data, out); err != nil {
		// The decoder's error could quote the answer, which holds the
		// secret: say only what failed.
		return false, fmt.Errorf("%s: answer is not the expected JSON", op)
	}
	return false, nil
}

// endpoint resolves svc's endpoint as the SDK clients do, minus FIPS and
// dual-stack variants.
func (c *Client) endpoint(ctx context.Context, svc service) (string, error) {
	for _, src := range c.cfg.ConfigSources {
		if p, ok := src.(interface {
			GetServiceBaseEndpoint(context.Context, string) (string, bool, error)
		}); ok {
			if ep, found, err := p.GetServiceBaseEndpoint(ctx, svc.sdkID); err == nil && found && ep != "" {
				return ep, nil
			}
		}
	}
	if c.cfg.BaseEndpoint != nil && *c.cfg.BaseEndpoint != "" {
		return *c.cfg.BaseEndpoint, nil
	}
	r := c.cfg.Region
	if r == "" {
		return "", fmt.Errorf("%s: no AWS region (set AWS_REGION)", svc.signingName)
	}
	domain := "amazonaws.com"
	if strings.HasPrefix(r, "cn-") {
		domain = "amazonaws.com.cn"
	}
	return "https://" + svc.signingName + "." + r + "." + domain + "/", nil
}
