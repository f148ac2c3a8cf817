package controlfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/lambda/controlfn"
	"github.com/plba/plba/pkg/queue"
	"github.com/plba/plba/pkg/queue/memqueue"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type cfg struct {
	User     string           `json:"user"`
	Password contracts.Secret `json:"password"`
}

func fixture(t *testing.T) (*controlfn.Handler, *queue.Queue) {
	t.Helper()
	q := memqueue.New(memqueue.Options{Name: "orders"})
	t.Cleanup(func() { _ = q.Close() })
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if err := q.Publish(ctx, contracts.Task{ID: id, Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		d, err := q.Consume(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := q.DeadLetter(ctx, d, errors.New("bad")); err != nil {
			t.Fatal(err)
		}
	}
	h := controlfn.New(controlfn.Options{
		Queues: map[string]controlfn.Queue{"orders": q},
		Health: []contracts.HealthContributor{
			contracts.HealthFunc("imap", func(context.Context) contracts.Health { return contracts.Up("connected") }),
			contracts.HealthFunc("store", func(context.Context) contracts.Health { return contracts.Degraded("slow") }),
			contracts.HealthFunc("panics", func(context.Context) contracts.Health { panic("oops") }),
			contracts.HealthFunc("hangs", func(ctx context.Context) contracts.Health { <-ctx.Done(); return contracts.Up("late") }),
		},
		Build:         "v1.2.3",
		ConfigVersion: "cfg-42",
		Config:        cfg{User: "bot", Password: "hunter2"},
		HealthTimeout: 100 * time.Millisecond,
	})
	return h, q
}

func call(t *testing.T, h *controlfn.Handler, req string) (controlfn.Response, string) {
	t.Helper()
	resp, err := h.Handle(context.Background(), json.RawMessage(req))
	if err != nil {
		t.Fatalf("Handle(%s): %v", req, err)
	}
	raw, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(raw)
}

func TestStatus(t *testing.T) {
	h, _ := fixture(t)
	resp, raw := call(t, h, `{"action":"status"}`)
	if !resp.OK || resp.Status == nil {
		t.Fatalf("status: %s", raw)
	}
	st := resp.Status
	if st.Build != "v1.2.3" || st.ConfigVersion != "cfg-42" {
		t.Errorf("build/config version: %s", raw)
	}
	if strings.Contains(raw, "hunter2") || !strings.Contains(string(st.Config), contracts.Redacted) {
		t.Errorf("config not redacted: %s", st.Config)
	}
	if len(st.Queues) != 1 || st.Queues[0].Ready != 1 || st.Queues[0].Dead != 2 {
		t.Errorf("queues %+v", st.Queues)
	}
	want := map[string]contracts.HealthState{"imap": contracts.HealthUp, "store": contracts.HealthDegraded, "panics": contracts.HealthDown, "hangs": contracts.HealthDown}
	for _, c := range st.Health {
		if c.State != want[c.Name] {
			t.Errorf("health %s = %s, want %s", c.Name, c.State, want[c.Name])
		}
	}
	if len(st.Health) != 4 || st.State != contracts.HealthDown {
		t.Errorf("overall %s with %d contributors", st.State, len(st.Health))
	}
	if !strings.Contains(raw, `"state":"down"`) {
		t.Errorf("states are not readable in JSON: %s", raw)
	}
}

func TestRedrive(t *testing.T) {
	h, q := fixture(t)
	resp, raw := call(t, h, `{"action":"redrive-dlq","limit":1}`)
	if !resp.OK || resp.Redriven["orders"] != 1 {
		t.Fatalf("redrive 1: %s", raw)
	}
	resp, raw = call(t, h, `{"action":"redrive-dlq"}`)
	if !resp.OK || resp.Redriven["orders"] != 1 {
		t.Fatalf("redrive rest: %s", raw)
	}
	s, _ := q.Stats(context.Background())
	if s.Dead != 0 || s.Ready != 3 {
		t.Fatalf("after redrive %+v", s)
	}
	resp, raw = call(t, h, `{"action":"redrive-dlq","queue":"nope"}`)
	if resp.OK || !strings.Contains(resp.Error, `unknown queue "nope"`) {
		t.Fatalf("redrive of an unknown queue: %s", raw)
	}
}

func TestBadRequests(t *testing.T) {
	h, _ := fixture(t)
	for _, req := range []string{`{"action":"explode"}`, `{}`, `not json`, `[1,2]`} {
		resp, raw := call(t, h, req)
		if resp.OK || resp.Error == "" || !strings.Contains(resp.Error, "status") {
			t.Errorf("%s → %s, want ok=false and an error naming the actions", req, raw)
		}
	}
}
