// Package awsconfig resolves PLBA secret references from AWS Systems
// Manager Parameter Store (${ssm:/path}) and Secrets Manager
// (${secretsmanager:name}), and provides a Parameter Store subtree as a
// configuration layer. It uses the real aws-sdk-go-v2 clients; callers
// build them (credentials, region, endpoint) and pass them in.
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
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// SSMAPI is the part of *ssm.Client the resolver and provider use.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	ssm.GetParametersByPathAPIClient
}

// SecretsManagerAPI is the part of *secretsmanager.Client the resolver
// uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Resolvers returns the "ssm" and "secretsmanager" resolvers over clients
// built from cfg, each caching values for maxAge.
func Resolvers(cfg aws.Config, maxAge time.Duration) map[string]config.Resolver {
	return map[string]config.Resolver{
		"ssm":            NewSSMResolver(ssm.NewFromConfig(cfg), maxAge),
		"secretsmanager": NewSecretsManagerResolver(secretsmanager.NewFromConfig(cfg), maxAge),
	}
}

// NewSSMResolver resolves ${ssm:/path} with GetParameter (WithDecryption),
// caching each value for maxAge. A missing parameter is
// [config.ErrNotFound].
func NewSSMResolver(c SSMAPI, maxAge time.Duration) config.Resolver {
	return config.Cache(config.ResolverFunc(func(ctx context.Context, name string) (string, error) {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			var nf *ssmtypes.ParameterNotFound
			if errors.As(err, &nf) {
				return "", fmt.Errorf("ssm parameter %s: %w", name, config.ErrNotFound)
			}
			return "", fmt.Errorf("ssm: get parameter %s: %w", name, err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return "", fmt.Errorf("ssm parameter %s: no value", name)
		}
		return *out.Parameter.Value, nil
	}), maxAge, nil)
}

// NewSecretsManagerResolver resolves ${secretsmanager:name} (or
// name#field for a JSON secret) with GetSecretValue, caching each secret
// for maxAge.
func NewSecretsManagerResolver(c SecretsManagerAPI, maxAge time.Duration) config.Resolver {
	fetch := config.Cache(config.ResolverFunc(func(ctx context.Context, id string) (string, error) {
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			var nf *smtypes.ResourceNotFoundException
			if errors.As(err, &nf) {
				return "", fmt.Errorf("secretsmanager secret %s: %w", id, config.ErrNotFound)
			}
			return "", fmt.Errorf("secretsmanager: get secret value %s: %w", id, err)
		}
		if out.SecretString == nil {
			return "", fmt.Errorf("secretsmanager secret %s: no SecretString (binary secrets are not supported)", id)
		}
		return *out.SecretString, nil
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
	pg := ssm.NewGetParametersByPathPaginator(p.Client, &ssm.GetParametersByPathInput{
		Path: aws.String(prefix), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true),
	})
	out := map[string]any{}
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("ssm: get parameters by path %s: %w", prefix, err)
		}
		for _, prm := range page.Parameters {
			if prm.Name == nil || prm.Value == nil {
				continue
			}
			rest := strings.TrimPrefix(strings.TrimPrefix(*prm.Name, prefix), "/")
			parts := strings.Split(rest, "/")
			var v any = *prm.Value
			if prm.Type == ssmtypes.ParameterTypeSecureString {
				v = contracts.Secret(*prm.Value)
			}
			setPath(out, parts, v)
		}
	}
	return out, nil
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
