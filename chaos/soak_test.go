package chaos_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/apps/mailorderbot/demodata"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// Soak tolerances: the long-lived process's figures at the end may exceed
// those at the start (measured once the flow is steady) by this much and
// still count as flat. Goroutines: a leak of one per restart or per cycle
// shows as dozens to hundreds over ten minutes. Live heap: the race
// detector's shadow memory and the GC's pacing move it by a few MiB either
// way; a leak per message (thousands of messages) goes beyond.
const (
	soakGoroutineSlack = 10
	soakHeapFactor     = 1.5
	soakHeapSlack      = 4 << 20
)

// TestChaosSoak (CHAOS_LONG=1 only): ten minutes of steady mail flow into
// one mailbox worked by two `plba run` sharing a Redis queue and a DynamoDB
// store. One process (L) runs throughout; the other (R) is stopped every
// 75 s, alternately with SIGKILL and SIGTERM, and started again at once. L's
// goroutines and live heap (control action "runtime") are read once the
// flow is steady and again at the end, after the flow drained: they must be
// flat within the tolerances above. Every mail must end \Seen, without a
// mark left and without a second reply. PLBA_CHAOS_SOAK overrides the
// duration (e.g. 2m, to try the test itself).
func TestChaosSoak(t *testing.T) {
	if mode(t) != "long" {
		t.Skip("the soak runs with CHAOS_LONG=1 make chaos")
	}
	dur := 10 * time.Minute
	if s := os.Getenv("PLBA_CHAOS_SOAK"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PLBA_CHAOS_SOAK: %v", err)
		}
		dur = d
	}
	const (
		perSecond    = 5
		restartEvery = 75 * time.Second
		warmup       = 60 * time.Second
	)
	redisAddr := testsvc.Require(t, testsvc.Redis)
	dynamo := testsvc.Require(t, testsvc.DynamoDB)
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	addr, user, pass := dovecottest.Dovecot(t)
	mb := seed(t, ctx, addr, user, pass, 50)
	r := startReplies(t)
	stamp := time.Now().UnixNano()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctlAddr := ln.Addr().String()
	_ = ln.Close() // the port is free for L; a clash would fail L's start loudly

	config := func(control string) string {
		extra := fmt.Sprintf(`platform:
  queue: { backend: redis, lease: 5s, redis: { addr: %q, prefix: "soak-%d" } }
`, redisAddr, stamp)
		cfg := botConfig(t, mb, r, filepath.Join(t.TempDir(), "unused.db"), "")
		return rewrite(t, cfg, map[string]string{
			"store: { driver: sqlite, path:": fmt.Sprintf("store: { driver: dynamodb, table: soak-%d, endpoint: \"http://%s\", region: us-east-1 } #", stamp, dynamo),
			`control: { listen: "off" }`:     control,
		}, extra)
	}
	cfgL := config(fmt.Sprintf(`control: { listen: %q, token_file: %q }`, ctlAddr, filepath.Join(t.TempDir(), "token")))
	cfgR := config(`control: { listen: "off" }`)
	env := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}

	long := startPlba(t, cfgL, env...)
	other := startPlba(t, cfgR, env...)

	// Steady flow: perSecond mails a second for dur, on one connection.
	app := mb.dial(t, ctx)
	defer app.Close()
	rnd := rand.New(rand.NewPCG(uint64(stamp), 17))
	next := mb.n
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var startFigs control.RuntimeFigures
	var measured bool
	restarts, kills := 0, 0
	lastRestart := start
	for time.Since(start) < dur {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
		var msgs [][]byte
		for range perSecond {
			next++
			s := demodata.GenerateSample(next, rnd)
			mb.want[s.MessageID] = s.Want
			msgs = append(msgs, s.Raw)
		}
		if _, err := imaptest.AppendMessages(ctx, app, "INBOX", msgs); err != nil {
			t.Fatalf("append: %v", err)
		}
		mb.n = next
		if !measured && time.Since(start) >= warmup {
			startFigs = runtimeFigures(t, ctlAddr, long)
			measured = true
		}
		if time.Since(lastRestart) >= restartEvery {
			sig := syscall.SIGTERM
			if restarts%2 == 0 {
				sig = syscall.SIGKILL
				kills++
			}
			other.kill(t, sig)
			other = startPlba(t, cfgR, env...)
			restarts++
			lastRestart = time.Now()
		}
	}
	flowEnd := time.Now()
	took, _, _ := mb.waitAllSeen(t, ctx, 2*time.Minute)
	endFigs := runtimeFigures(t, ctlAddr, long)

	f := figures{name: "soak", bound: time.Minute}
	f.recover = took
	if took == 0 {
		f.recover = time.Since(flowEnd)
	}
	seen, marked := mb.flags(t, ctx)
	f.tasks = mb.n
	f.stranded = mb.n - seen
	f.marksLeft = marked
	var total int
	f.duplicated, total = r.duplicates()
	if f.lost = dynamoLost(t, ctx, dynamo, fmt.Sprintf("soak-%d", stamp), mb); f.lost < 0 {
		t.Error("the store could not be read: lost unknown")
	}
	other.kill(t, syscall.SIGTERM)
	long.kill(t, syscall.SIGTERM)
	published := redisPublished(ctx, redisAddr, fmt.Sprintf("soak-%d", stamp))
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	f.extra = fmt.Sprintf("duration=%s restarts=%d (kill9 %d, sigterm %d) replies=%d published=%d goroutines=%d->%d heap_live=%.1f->%.1fMiB (tolerance +%d goroutines, x%.1f+%dMiB)",
		dur, restarts, kills, restarts-kills, total, published, startFigs.Goroutines, endFigs.Goroutines,
		mib(startFigs.HeapLiveBytes), mib(endFigs.HeapLiveBytes), soakGoroutineSlack, soakHeapFactor, soakHeapSlack>>20)
	report(t, f)
	if !measured {
		t.Fatalf("the soak ran %s, shorter than its warm-up %s: nothing to compare", dur, warmup)
	}
	if endFigs.Goroutines > startFigs.Goroutines+soakGoroutineSlack {
		t.Errorf("goroutines grew: %d at the start, %d at the end", startFigs.Goroutines, endFigs.Goroutines)
	}
	if float64(endFigs.HeapLiveBytes) > soakHeapFactor*float64(startFigs.HeapLiveBytes)+soakHeapSlack {
		t.Errorf("live heap grew: %.1f MiB at the start, %.1f MiB at the end", mib(startFigs.HeapLiveBytes), mib(endFigs.HeapLiveBytes))
	}
}

// runtimeFigures reads the control action "runtime" of the process whose
// control plane listens on addr.
func runtimeFigures(t *testing.T, addr string, p *proc) control.RuntimeFigures {
	t.Helper()
	for attempt := 0; ; attempt++ {
		resp, err := http.Get("http://" + addr + control.APIPrefix + "runtime")
		if err == nil {
			var body struct {
				Result control.RuntimeFigures `json:"result"`
			}
			err = json.NewDecoder(resp.Body).Decode(&body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return body.Result
			}
			err = fmt.Errorf("status %d: %v", resp.StatusCode, err)
		}
		if attempt == 20 {
			t.Fatalf("control action runtime at %s: %v; stderr:\n%s", addr, err, p.stderr.String())
		}
		time.Sleep(250 * time.Millisecond) // the control plane may still be starting: no event to await from outside
	}
}
