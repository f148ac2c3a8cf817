package schedule_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/source/schedule"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParse(t *testing.T) {
	for _, bad := range []string{"", "* * * *", "61 * * * *", "@every 5m", "CRON_TZ=Europe/Berlin 0 9 * * *", "0 9 * * mon-xyz"} {
		if _, err := schedule.Parse(bad, nil); !errors.Is(err, schedule.ErrInvalid) {
			t.Errorf("Parse(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	s, err := schedule.Parse("0 9 * * mon-fri", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Friday 2026-12-04 09:00 → Monday 2026-12-07 09:00.
	if got := s.Next(at("2026-12-04T09:00:00Z")); !got.Equal(at("2026-12-07T09:00:00Z")) {
		t.Errorf("Next = %v", got)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	s, _ = schedule.Parse("@daily", berlin)
	if got := s.Next(at("2026-12-01T12:00:00Z")); !got.Equal(at("2026-12-01T23:00:00Z")) {
		t.Errorf("@daily in Berlin after noon UTC = %v, want 23:00 UTC", got)
	}
}

func TestTickerWindow(t *testing.T) {
	s, _ := schedule.Parse("*/15 * * * *", nil)
	tk := schedule.NewTicker(s, 20*time.Minute)
	// A cold start at 10:31: 10:15 and 10:30 are within 20 minutes.
	due := tk.Due(at("2026-12-01T10:31:00Z"))
	if !slices.EqualFunc(due, []time.Time{at("2026-12-01T10:15:00Z"), at("2026-12-01T10:30:00Z")}, time.Time.Equal) {
		t.Fatalf("due %v", due)
	}
	tk.Done(due[1])
	if due := tk.Due(at("2026-12-01T10:44:59Z")); len(due) != 0 {
		t.Errorf("nothing new before 10:45, got %v", due)
	}
	if due := tk.Due(at("2026-12-01T10:45:00Z")); len(due) != 1 || !due[0].Equal(at("2026-12-01T10:45:00Z")) {
		t.Errorf("due at 10:45: %v", due)
	}
	// Down for two hours: only the window's ticks run.
	if due := tk.Due(at("2026-12-01T12:31:00Z")); len(due) != 2 || !due[0].Equal(at("2026-12-01T12:15:00Z")) {
		t.Errorf("after an outage: %v", due)
	}
	every, _ := schedule.Parse("* * * * *", nil)
	if due := schedule.NewTicker(every, 24*time.Hour).Due(at("2026-12-01T10:00:00Z")); len(due) != schedule.MaxTicksPerPoll {
		t.Errorf("%d ticks, want the cap %d", len(due), schedule.MaxTicksPerPoll)
	}
}

type recorder struct {
	tasks []contracts.Task
	fail  bool
}

func (r *recorder) Publish(_ context.Context, t contracts.Task) error {
	if r.fail {
		return errors.New("queue down")
	}
	r.tasks = append(r.tasks, t)
	return nil
}

func TestSourcePublishesEachTickOnce(t *testing.T) {
	s, _ := schedule.Parse("0 * * * *", nil)
	now := at("2026-12-01T10:00:30Z")
	src, err := schedule.NewSource(schedule.Options{Name: "digest", Schedule: s, CatchUp: time.Minute, Kind: "digest", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{fail: true}
	if n, err := src.Poll(context.Background(), r); n != 0 || err == nil {
		t.Fatalf("failed publish: %d, %v", n, err)
	}
	r.fail = false
	if n, err := src.Poll(context.Background(), r); n != 1 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	if n, _ := src.Poll(context.Background(), r); n != 0 {
		t.Errorf("the tick was published twice")
	}
	task := r.tasks[0]
	if task.ID != "digest@2026-12-01T10:00:00Z" || task.Kind != "digest" || string(task.Payload) != "2026-12-01T10:00:00Z" ||
		task.Attr(schedule.AttrTick) != "2026-12-01T10:00:00Z" || task.Attr(contracts.AttrDedupID) != task.ID {
		t.Errorf("task %+v", task)
	}
}

type counting struct{ polls int }

func (c *counting) Name() string { return "inner" }
func (c *counting) Poll(context.Context, contracts.Publisher) (int, error) {
	c.polls++
	return 0, nil
}

func TestGate(t *testing.T) {
	s, _ := schedule.Parse("0 9 * * *", nil)
	now := at("2026-12-01T08:59:00Z")
	inner := &counting{}
	g := schedule.Gate(inner, schedule.NewTicker(s, 10*time.Minute), func() time.Time { return now })
	ctx := context.Background()
	for _, step := range []struct {
		now   string
		polls int
	}{{"2026-12-01T08:59:00Z", 0}, {"2026-12-01T09:00:05Z", 1}, {"2026-12-01T09:05:00Z", 1}, {"2026-12-02T09:01:00Z", 2}} {
		now = at(step.now)
		if _, err := g.Poll(ctx, &recorder{}); err != nil {
			t.Fatal(err)
		}
		if inner.polls != step.polls {
			t.Errorf("at %s: inner polled %d times, want %d", step.now, inner.polls, step.polls)
		}
	}
	if g.Name() != "inner" {
		t.Errorf("name %q", g.Name())
	}
	if _, ok := g.(contracts.Settler); !ok {
		t.Error("the gate does not pass settlement through")
	}
}
