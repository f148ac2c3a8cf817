package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/plba/plba/pkg/config"
	"github.com/plba/plba/pkg/contracts"
)

// TestConfigErrorNamesKeyAndSource: a Validate method's contracts.ConfigError
// is reported at its key with the value's source.
func TestConfigErrorNamesKeyAndSource(t *testing.T) {
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_APP__LIMIT=7"}})
	if err != nil {
		t.Fatal(err)
	}
	var v keyedValidate
	err = m.Decode("app", &v)
	var ce *config.Error
	if !errors.As(err, &ce) || len(ce.Problems) != 1 || ce.Problems[0].Path != "app.limit" || ce.Problems[0].Source != "env PLBA_APP__LIMIT" {
		t.Fatalf("%v", err)
	}
}

type keyedValidate struct {
	Limit int `koanf:"limit"`
}

func (k keyedValidate) Validate() error {
	if k.Limit > 5 {
		return errors.Join(&contracts.ConfigError{Key: "limit", Message: "at most 5"})
	}
	return nil
}

func TestFileReference(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/token"
	if err := os.WriteFile(path, []byte("file-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := config.New(t.Context(), config.Options{Environ: []string{"PLBA_APP__TOKEN=${file:" + path + "}"}})
	if err != nil {
		t.Fatal(err)
	}
	if v := m.Raw("app.token"); v != "file-secret-value" || !m.IsSecret("app.token") {
		t.Fatalf("resolved %v, secret %v", v, m.IsSecret("app.token"))
	}
	if ref, ok := m.SecretRef("app.token"); !ok || ref != "${file:"+path+"}" {
		t.Fatalf("SecretRef = %q %v", ref, ok)
	}
	_, err = config.New(t.Context(), config.Options{Environ: []string{"PLBA_APP__TOKEN=${file:" + dir + "/missing}"}})
	if !errors.Is(err, config.ErrInvalid) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing file: %v", err)
	}
}
