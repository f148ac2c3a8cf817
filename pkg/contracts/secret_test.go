package contracts_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/plba/plba/pkg/contracts"
)

func TestSecretNeverPrints(t *testing.T) {
	const pw = "hunter2"
	s := contracts.Secret(pw)
	type cfg struct {
		Password contracts.Secret
	}
	var outs []string
	for _, f := range []string{"%s", "%v", "%q", "%#v", "%+v"} {
		outs = append(outs, fmt.Sprintf(f, s), fmt.Sprintf(f, cfg{s}))
	}
	j, err := json.Marshal(cfg{s})
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "pw", s, "cfg", cfg{s})
	outs = append(outs, buf.String())
	for _, o := range outs {
		if strings.Contains(o, pw) {
			t.Errorf("secret leaked: %s", o)
		}
	}
	if s.Reveal() != pw {
		t.Fatalf("Reveal = %q", s.Reveal())
	}
}
