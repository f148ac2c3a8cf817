// Package awsconfig resolves PLBA secret references from AWS Systems
// Manager Parameter Store (${ssm:/path}) and Secrets Manager
// (${secretsmanager:name}), and provides a Parameter Store subtree as a
// configuration layer. It talks to both services with [Client], a small
// client of their JSON APIs signed by the SDK's Signature Version 4 signer
// (the SDK's service clients would add about 4.5 MB to a Lambda bootstrap for
// three operations); callers build the aws.Config (credentials, region,
// endpoint), with [Load] or [FromEnv] or their own.
//
// # Resolvers
//
//	rs := awsconfig.Resolvers(awsCfg, 5*time.Minute)   // "ssm" and "secretsmanager"
//	m, err := config.New(ctx, config.Options{Files: files, Resolvers: rs})
//
// SSM parameters are read with WithDecryption, so a SecureString arrives in
// plain text (and is then redacted everywhere by the config manager).
// Secrets Manager values are the SecretString; "name#field" picks one field
// of a JSON secret (${secretsmanager:prod/imap#password}). Every value is
// cached for maxAge, so reloads do not call AWS for each secret.
//
// # AWS configuration
//
// [Load] returns the aws.Config to build clients from: the SDK's default
// chain (config.LoadDefaultConfig) in ordinary builds, and [FromEnv] — the
// region, credentials and endpoint overrides Lambda puts in the
// environment, nothing else — in builds tagged plba_lambda, the Lambda
// bootstraps, where the default chain's SSO, STS and IMDS providers would
// be dead weight.
//
// # Parameter Store as a layer
//
// [SSMProvider] loads every parameter under a path prefix:
// /plba/prod/apps/bot/workers becomes apps.bot.workers. SecureString
// parameters are marked secret.
package awsconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// SSMAPI is what the resolver and provider need from Parameter Store;
// [*Client] implements it. Both calls decrypt SecureString values; a
// missing parameter is an error wrapping [config.ErrNotFound].
type SSMAPI interface {
	GetParameter(ctx context.Context, name string) (Parameter, error)
	// GetParametersByPath returns one page of the parameters under path,
	// recursively; next is "" on the last page.
	GetParametersByPath(ctx context.Context, path, nextToken string) (params []Parameter, next string, err error)
}

// SecretsManagerAPI is what the resolver needs from Secrets Manager;
// [*Client] implements it. A missing secret is an error wrapping
// [config.ErrNotFound].
type SecretsManagerAPI interface {
	// GetSecretValue returns the current SecretString of secret id.
	GetSecretValue(ctx context.Context, id string) (string, error)
}

// Resolvers returns the "ssm" and "secretsmanager" resolvers over a
// [Client] built from cfg, each caching values for maxAge.
func Resolvers(cfg aws.Config, maxAge time.Duration) map[string]config.Resolver {
	c := NewClient(cfg)
	return map[string]config.Resolver{
		"ssm":            NewSSMResolver(c, maxAge),
		"secretsmanager": NewSecretsManagerResolver(c, maxAge),
	}
}

// NewSSMResolver resolves ${ssm:/path} with GetParameter (WithDecryption),
// caching each value for maxAge. A missing parameter is
// [config.ErrNotFound].
func NewSSMResolver(c SSMAPI, maxAge time.Duration) config.Resolver {
	return config.Cache(config.ResolverFunc(func(ctx context.Context, name string) (string, error) {
		p, err := c.GetParameter(ctx, name)
		if err != nil {
			if errors.Is(err, config.ErrNotFound) {
				return "", fmt.Errorf("ssm parameter %s: %w", name, config.ErrNotFound)
			}
			return "", err // names the parameter and the operation
		}
		return p.Value, nil
	}), maxAge, nil)
}

// NewSecretsManagerResolver resolves ${secretsmanager:name} (or
// name#field for a JSON secret) with GetSecretValue, caching each secret
// for maxAge.
func NewSecretsManagerResolver(c SecretsManagerAPI, maxAge time.Duration) config.Resolver {
	fetch := config.Cache(config.ResolverFunc(func(ctx context.Context, id string) (string, error) {
		v, err := c.GetSecretValue(ctx, id)
		if err != nil {
			if errors.Is(err, config.ErrNotFound) {
				return "", fmt.Errorf("secretsmanager secret %s: %w", id, config.ErrNotFound)
			}
			return "", err // names the secret and the operation
		}
		return v, nil
	}), maxAge, nil)
	return config.ResolverFunc(func(ctx context.Context, ref string) (string, error) {
		id, field, hasField := strings.Cut(ref, "#")
		v, err := fetch.Resolve(ctx, id)
		if err != nil || !hasField {
			return v, err
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(v), &fields); err != nil {
			// The JSON error could quote the secret: say only what failed.
			return "", fmt.Errorf("secretsmanager secret %s: not a JSON object, cannot pick field %q", id, field)
		}
		f, ok := fields[field]
		if !ok {
			return "", fmt.Errorf("secretsmanager secret %s: field %q: %w", id, field, config.ErrNotFound)
		}
		if s, ok := f.(string); ok {
			return s, nil
		}
		b, _ := json.Marshal(f)
		return string(b), nil
	})
}

// SSMProvider is a configuration layer holding every parameter under a
// Parameter Store path.
type SSMProvider struct {
	// Client reads the parameters.
	Client SSMAPI
	// Path is the prefix, e.g. "/plba/prod"; its parameters'
	// remaining path segments become the key path.
	Path string
}

var _ contracts.ConfigProvider = (*SSMProvider)(nil)

// Name implements [contracts.ConfigProvider].
func (p *SSMProvider) Name() string { return "ssm " + p.Path }

// Load reads the parameters (recursively, decrypted). SecureString values
// come back as [contracts.Secret] so the manager redacts them.
func (p *SSMProvider) Load(ctx context.Context) (map[string]any, error) {
	prefix := "/" + strings.Trim(p.Path, "/")
	out := map[string]any{}
	token := ""
	for {
		page, next, err := p.Client.GetParametersByPath(ctx, prefix, token)
		if err != nil {
			return nil, err
		}
		for _, prm := range page {
			if prm.Name == "" {
				continue
			}
			rest := strings.TrimPrefix(strings.TrimPrefix(prm.Name, prefix), "/")
			parts := strings.Split(rest, "/")
			var v any = prm.Value
			if prm.Type == "SecureString" {
				v = contracts.Secret(prm.Value)
			}
			setPath(out, parts, v)
		}
		if next == "" || next == token {
			return out, nil
		}
		token = next
	}
}

func setPath(m map[string]any, parts []string, v any) {
	for i, p := range parts {
		if p == "" {
			return
		}
		if i == len(parts)-1 {
			m[p] = v
			return
		}
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
}
