// Package awsstore adds the AWS token stores to package mailauth:
// ssm:NAME (a SecureString parameter, read with GetParameter, written with
// PutParameter) and secretsmanager:ID or secretsmanager:ID#field (read with
// GetSecretValue, written with PutSecretValue; with #field the other fields
// of the JSON secret are kept). Import it for its side effect:
//
//	import _ "github.com/plba/plba/pkg/mailauth/awsstore"
//
// Reads are never cached: a function re-reads the parameter before every
// refresh, which is how a poller sees the token the worker rotated. The
// function's role needs ssm:PutParameter (or secretsmanager:PutSecretValue)
// on that one parameter; the generic stack grants it to the functions of a
// secret marked writable (see infra/plbastack).
package awsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/mailauth"
)

func init() {
	mailauth.RegisterStore("ssm", func(ctx context.Context, ref string) (mailauth.Store, error) {
		c, err := client(ctx)
		if err != nil {
			return nil, err
		}
		return &SSM{API: c, Name: ref}, nil
	})
	mailauth.RegisterStore("secretsmanager", func(ctx context.Context, ref string) (mailauth.Store, error) {
		c, err := client(ctx)
		if err != nil {
			return nil, err
		}
		id, field, _ := strings.Cut(ref, "#")
		return &SecretsManager{API: c, ID: id, Field: field}, nil
	})
}

var (
	clientOnce sync.Once
	shared     *awsconfig.Client
	clientErr  error
)

// client is built once per process (per warm Lambda container).
func client(ctx context.Context) (*awsconfig.Client, error) {
	clientOnce.Do(func() {
		var cfg aws.Config
		cfg, clientErr = awsconfig.Load(ctx, "")
		if clientErr == nil {
			shared = awsconfig.NewClient(cfg)
		}
	})
	if clientErr != nil {
		return nil, fmt.Errorf("token store: load AWS configuration: %w", clientErr)
	}
	return shared, nil
}

// SSMAPI is what the SSM store needs; *awsconfig.Client implements it.
type SSMAPI interface {
	GetParameter(ctx context.Context, name string) (awsconfig.Parameter, error)
	PutParameter(ctx context.Context, name, value, keyID string) (int64, error)
}

// SSM is a refresh token in a SecureString parameter.
type SSM struct {
	API  SSMAPI
	Name string
	// KeyID is the KMS key for PutParameter; empty: the account's aws/ssm
	// key.
	KeyID string
}

// Load implements mailauth.Store.
func (s *SSM) Load(ctx context.Context) (string, error) {
	p, err := s.API.GetParameter(ctx, s.Name)
	if errors.Is(err, config.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", mailauth.ErrNoRefreshToken, err)
	}
	if err != nil {
		return "", err
	}
	v := strings.TrimSpace(p.Value)
	if v == "" || v == "-" {
		// "-" is the placeholder docs/imap.md has you create the
		// parameter with before the first plba auth login.
		return "", fmt.Errorf("ssm parameter %s: %w", s.Name, mailauth.ErrNoRefreshToken)
	}
	return v, nil
}

// Save implements mailauth.Store.
func (s *SSM) Save(ctx context.Context, token string) error {
	_, err := s.API.PutParameter(ctx, s.Name, token, s.KeyID)
	return err
}

// Lock implements mailauth.Store: Parameter Store has no lock; see
// mailauth.TokenSource for how concurrent refreshes stay safe.
func (s *SSM) Lock(context.Context) (func(), error) { return func() {}, nil }

func (s *SSM) String() string { return "ssm:" + s.Name }

// SecretsManagerAPI is what the Secrets Manager store needs.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, id string) (string, error)
	PutSecretValue(ctx context.Context, id, value string) error
}

// SecretsManager is a refresh token in a secret, or in one field of a JSON
// secret.
type SecretsManager struct {
	API   SecretsManagerAPI
	ID    string
	Field string
}

// Load implements mailauth.Store.
func (s *SecretsManager) Load(ctx context.Context) (string, error) {
	v, err := s.API.GetSecretValue(ctx, s.ID)
	if errors.Is(err, config.ErrNotFound) {
		return "", fmt.Errorf("%w: %w", mailauth.ErrNoRefreshToken, err)
	}
	if err != nil {
		return "", err
	}
	if s.Field != "" {
		var m map[string]any
		if json.Unmarshal([]byte(v), &m) != nil {
			return "", fmt.Errorf("secretsmanager secret %s: not a JSON object, cannot pick field %q", s.ID, s.Field)
		}
		v, _ = m[s.Field].(string)
	}
	if v = strings.TrimSpace(v); v == "" || v == "-" {
		return "", fmt.Errorf("secretsmanager secret %s: %w", s.ID, mailauth.ErrNoRefreshToken)
	}
	return v, nil
}

// Save implements mailauth.Store; with a field, the secret's other fields
// are kept.
func (s *SecretsManager) Save(ctx context.Context, token string) error {
	if s.Field == "" {
		return s.API.PutSecretValue(ctx, s.ID, token)
	}
	m := map[string]any{}
	if cur, err := s.API.GetSecretValue(ctx, s.ID); err == nil {
		if json.Unmarshal([]byte(cur), &m) != nil {
			return fmt.Errorf("secretsmanager secret %s: not a JSON object, cannot set field %q", s.ID, s.Field)
		}
	} else if !errors.Is(err, config.ErrNotFound) {
		return err
	}
	m[s.Field] = token
	b, _ := json.Marshal(m)
	return s.API.PutSecretValue(ctx, s.ID, string(b))
}

// Lock implements mailauth.Store (no lock).
func (s *SecretsManager) Lock(context.Context) (func(), error) { return func() {}, nil }

func (s *SecretsManager) String() string {
	if s.Field != "" {
		return "secretsmanager:" + s.ID + "#" + s.Field
	}
	return "secretsmanager:" + s.ID
}
