package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/apps/feedrelay/feedrelaytest"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/pkg/runner"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// running is one `feedrelay run` in this process, stopped by a signal.
type running struct {
	sig  chan<- os.Signal
	done chan int
	errw *syncio.Buffer
}

func start(t *testing.T, args ...string) *running {
	t.Helper()
	sigc := make(chan chan<- os.Signal, 1)
	a := app()
	a.Signals = func(c chan<- os.Signal) func() { sigc <- c; return func() {} }
	r := &running{done: make(chan int, 1), errw: &syncio.Buffer{}}
	go func() {
		r.done <- runner.Run(context.Background(), a, append([]string{"run", "--listen", "off"}, args...), &syncio.Buffer{}, r.errw)
	}()
	select {
	case r.sig = <-sigc:
	case code := <-r.done:
		t.Fatalf("run exited at once with %d: %s", code, r.errw)
	}
	return r
}

func (r *running) stop(t *testing.T) {
	t.Helper()
	r.sig <- syscall.SIGTERM
	select {
	case code := <-r.done:
		if code != runner.ExitOK {
			t.Fatalf("exit %d: %s", code, r.errw)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("run did not stop: %s", r.errw)
	}
}

// TestRunEndToEnd runs the relay as its local main does, against a real
// feed server and a real webhook: every entry arrives once, a 503 is
// retried after the endpoint's Retry-After, a 400 is dead-lettered after
// one attempt, an unchanged feed costs a 304, an entry added later is
// delivered, and a restart with the same state file delivers nothing
// again.
func TestRunEndToEnd(t *testing.T) {
	feed := feedrelaytest.NewFeed(t, "e1", "e2", "e3", "bad")
	hook := feedrelaytest.NewWebhook(t)
	hook.Fail["e2"] = []int{503}
	hook.Fail["bad"] = []int{400, 400, 400}
	state := filepath.Join(t.TempDir(), "state.json")
	args := []string{
		"--set", "apps.feedrelay.feeds=" + feed.URL,
		"--set", "apps.feedrelay.webhook.url=" + hook.URL,
		"--set", "apps.feedrelay.webhook.token=s3cret",
		"--set", "apps.feedrelay.interval=1s",
		"--set", "apps.feedrelay.state.path=" + state,
		"--set", "platform.log.level=warn",
	}
	r := start(t, args...)
	hook.WaitFor(t, 30*time.Second, "e1, e2, e3", func(ds []feedrelaytest.Delivery) bool {
		got := hook.Delivered()
		return slices.Contains(got, "e1") && slices.Contains(got, "e2") && slices.Contains(got, "e3")
	})
	// An unchanged feed is not fetched in full again.
	deadline := time.Now().Add(20 * time.Second)
	for _, nm := feed.Counts(); nm == 0; _, nm = feed.Counts() {
		if time.Now().After(deadline) {
			t.Fatal("no conditional GET answered 304")
		}
		time.Sleep(50 * time.Millisecond)
	}
	feed.Add("e4")
	hook.WaitFor(t, 30*time.Second, "e4", func([]feedrelaytest.Delivery) bool { return slices.Contains(hook.Delivered(), "e4") })
	r.stop(t)

	ds := hook.Deliveries()
	byID := map[string][]feedrelaytest.Delivery{}
	for _, d := range ds {
		byID[d.Entry.ID] = append(byID[d.Entry.ID], d)
		if d.Auth != "Bearer s3cret" || d.Key != feedrelay.EntryTaskID(feed.URL, d.Entry.ID) || d.Entry.Feed != feed.URL {
			t.Errorf("delivery %+v: want the bearer token, the entry's idempotency key and its feed", d)
		}
	}
	// Order across workers is not fixed; once each is what counts.
	if got := hook.Delivered(); len(got) != 4 || !slices.Equal(slices.Sorted(slices.Values(got)), []string{"e1", "e2", "e3", "e4"}) {
		t.Errorf("delivered %v, want e1..e4 once each", got)
	}
	if e2 := byID["e2"]; len(e2) != 2 || e2[0].Status != 503 || e2[1].At.Sub(e2[0].At) < time.Second || e2[1].Attempt != "2" {
		t.Errorf("e2 deliveries %+v: want a 503, then attempt 2 at least 1s (Retry-After) later", e2)
	}
	if bad := byID["bad"]; len(bad) != 1 || bad[0].Status != 400 {
		t.Errorf("bad deliveries %+v: want one 400 and no retry (dead-lettered)", bad)
	}
	if e1 := byID["e1"]; len(e1) != 1 || e1[0].Entry.Title != "Entry e1" || e1[0].Entry.Link != "https://example.org/e1" {
		t.Errorf("e1 deliveries %+v", e1)
	}

	// Restart on the same state: the feed changed meanwhile (e5), only e5
	// is new.
	before := len(hook.Deliveries())
	feed.Add("e5")
	r = start(t, args...)
	hook.WaitFor(t, 30*time.Second, "e5", func([]feedrelaytest.Delivery) bool { return slices.Contains(hook.Delivered(), "e5") })
	_, nm := feed.Counts()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, n := feed.Counts(); n > nm {
			break // a poll after e5's: nothing else is coming
		}
		if time.Now().After(deadline) {
			t.Fatal("no 304 after the restart")
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.stop(t)
	if after := hook.Deliveries()[before:]; len(after) != 1 || after[0].Entry.ID != "e5" {
		t.Errorf("after the restart: %+v, want only e5", after)
	}
}

// TestRunOnSchedule: with a cron schedule the feed is fetched once per
// tick although the source is polled every second. The first poll fetches
// (the current minute's tick is within catch_up); in a 3.5 s window an
// ungated relay would fetch three or four times, two of them in the same
// minute.
func TestRunOnSchedule(t *testing.T) {
	feed := feedrelaytest.NewFeed(t, "e1")
	hook := feedrelaytest.NewWebhook(t)
	r := start(t,
		"--set", "apps.feedrelay.feeds="+feed.URL,
		"--set", "apps.feedrelay.webhook.url="+hook.URL,
		"--set", "apps.feedrelay.interval=1s",
		"--set", "apps.feedrelay.schedule=* * * * *",
		"--set", "apps.feedrelay.catch_up=2m",
		"--set", "apps.feedrelay.state.driver=memory",
		"--set", "platform.log.level=warn",
	)
	hook.WaitFor(t, 30*time.Second, "e1", func([]feedrelaytest.Delivery) bool { return slices.Contains(hook.Delivered(), "e1") })
	<-time.After(3500 * time.Millisecond) // an observation window: the gate must keep the feed quiet
	r.stop(t)
	minutes := map[time.Time]int{}
	for _, at := range feed.Requests() {
		minutes[at.UTC().Truncate(time.Minute)]++
	}
	for m, n := range minutes {
		if n > 1 {
			t.Errorf("%d fetches in the minute of %s, want one per tick", n, m.Format(time.TimeOnly))
		}
	}
}
