package demodata_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/plba/plba/apps/mailorderbot/catalog"
	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/handler"
	"github.com/plba/plba/apps/mailorderbot/mailparse"
)

func outcome(t *testing.T, raw []byte) (*mailparse.Request, domain.Order) {
	t.Helper()
	req, err := mailparse.ParseBytes(raw, mailparse.Options{})
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, raw)
	}
	return req, handler.Evaluate(req, catalog.Demo(), handler.Policy{MaxLines: handler.DefaultMaxLines})
}

func TestSamples(t *testing.T) {
	s := demodata.Samples()
	if len(s) != 10 || len(demodata.Messages()) != 10 {
		t.Fatalf("%d samples, want 10", len(s))
	}
	seen := map[domain.Status]int{}
	for _, sm := range s {
		req, o := outcome(t, sm.Raw)
		if o.Status != sm.Want || req.MessageID != sm.MessageID {
			t.Errorf("%s: status %s (reasons %q) id %q; want %s %q", sm.Name, o.Status, o.Reasons, req.MessageID, sm.Want, sm.MessageID)
		}
		if len(req.Warnings) > 0 {
			t.Errorf("%s: warnings %q", sm.Name, req.Warnings)
		}
		seen[o.Status]++
	}
	if seen[domain.StatusAccepted] == 0 || seen[domain.StatusRejected] == 0 || seen[domain.StatusIgnored] == 0 {
		t.Fatalf("samples must cover every outcome: %v", seen)
	}
}

func TestGenerate(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	ids := map[string]bool{}
	seen := map[domain.Status]int{}
	for n := range 300 {
		sm := demodata.GenerateSample(n, rnd)
		req, o := outcome(t, sm.Raw)
		if o.Status != sm.Want {
			t.Fatalf("generated %d: status %s (reasons %q), want %s\n%s", n, o.Status, o.Reasons, sm.Want, sm.Raw)
		}
		if len(req.Warnings) > 0 || req.MessageID != sm.MessageID || ids[sm.MessageID] {
			t.Fatalf("generated %d: warnings %q id %q (dup %v)", n, req.Warnings, req.MessageID, ids[sm.MessageID])
		}
		ids[sm.MessageID] = true
		seen[o.Status]++
	}
	for _, st := range []domain.Status{domain.StatusAccepted, domain.StatusRejected, domain.StatusIgnored} {
		if seen[st] < 20 {
			t.Errorf("only %d %s of 300: %v", seen[st], st, seen)
		}
	}
	a := demodata.Generate(7, rand.New(rand.NewPCG(9, 9)))
	b := demodata.Generate(7, rand.New(rand.NewPCG(9, 9)))
	if string(a) != string(b) {
		t.Fatal("same n and seed must give the same message")
	}
}

func ExampleGenerateSample() {
	s := demodata.GenerateSample(1, rand.New(rand.NewPCG(1, 1)))
	fmt.Println(s.Name, len(s.Raw) > 0)
	// Output: generated-1 true
}
