package awsstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/mailauth"
	"github.com/plba/plba/pkg/mailauth/awsstore"
)

type fakeAPI struct {
	params  map[string]string
	secrets map[string]string
}

func (f *fakeAPI) GetParameter(_ context.Context, name string) (awsconfig.Parameter, error) {
	v, ok := f.params[name]
	if !ok {
		return awsconfig.Parameter{}, fmt.Errorf("ssm parameter %s: %w", name, config.ErrNotFound)
	}
	return awsconfig.Parameter{Name: name, Type: "SecureString", Value: v}, nil
}

func (f *fakeAPI) PutParameter(_ context.Context, name, value, _ string) (int64, error) {
	f.params[name] = value
	return 2, nil
}

func (f *fakeAPI) GetSecretValue(_ context.Context, id string) (string, error) {
	v, ok := f.secrets[id]
	if !ok {
		return "", fmt.Errorf("secret %s: %w", id, config.ErrNotFound)
	}
	return v, nil
}

func (f *fakeAPI) PutSecretValue(_ context.Context, id, value string) error {
	f.secrets[id] = value
	return nil
}

func TestSSMStore(t *testing.T) {
	api := &fakeAPI{params: map[string]string{"/plba/rt": "-"}}
	s := &awsstore.SSM{API: api, Name: "/plba/rt"}
	if _, err := s.Load(t.Context()); !errors.Is(err, mailauth.ErrNoRefreshToken) {
		t.Fatalf("placeholder: %v", err)
	}
	if err := s.Save(t.Context(), "rt-1"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Load(t.Context()); err != nil || v != "rt-1" {
		t.Fatalf("Load = %q, %v", v, err)
	}
	if s.String() != "ssm:/plba/rt" {
		t.Error(s.String())
	}
}

func TestSecretsManagerFieldKeepsOthers(t *testing.T) {
	api := &fakeAPI{secrets: map[string]string{"mail": `{"password":"pw","refresh":"rt-0"}`}}
	s := &awsstore.SecretsManager{API: api, ID: "mail", Field: "refresh"}
	if v, err := s.Load(t.Context()); err != nil || v != "rt-0" {
		t.Fatalf("Load = %q, %v", v, err)
	}
	if err := s.Save(t.Context(), "rt-1"); err != nil {
		t.Fatal(err)
	}
	if api.secrets["mail"] != `{"password":"pw","refresh":"rt-1"}` {
		t.Fatalf("secret after save: %s", api.secrets["mail"])
	}
}
