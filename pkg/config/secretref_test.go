package config_test

import (
	"errors"
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
