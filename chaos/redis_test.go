package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// Scenario 6: two plba processes on one mailbox share a Redis queue and a
// DynamoDB store; one is killed with SIGKILL mid-burst. The survivor
// processes everything (the dead one's deliveries come back after their
// lease), no message is processed twice for effect (one reply each), and
// marks never make the survivor publish a message the queue still holds.
//
// The first process starts alone and marks the burst; the queue's capacity
// (40, against 400 mails in a cycle's batch) keeps it in its publish loop,
// between marking the batch and publishing all of it, when it is killed
// (once a tenth of the burst is \Seen): the marks
// it leaves without a task are recovered by the survivor (recover_after,
// docs/faults.md), and the survivor's own cycles run out of their publish
// window and leave the rest to the same recovery.
func TestChaosTwoProcessesRedis(t *testing.T) {
	n := size(t, 400, 2000)
	redisAddr := testsvc.Require(t, testsvc.Redis)
	dynamo := testsvc.Require(t, testsvc.DynamoDB)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	addr, user, pass := dovecottest.Dovecot(t)
	mb := seed(t, ctx, addr, user, pass, n)
	r := startReplies(t)
	stamp := time.Now().UnixNano()
	extra := fmt.Sprintf(`platform:
  queue: { backend: redis, lease: 5s, capacity: 40, redis: { addr: %q, prefix: "chaos-%d" } }
`, redisAddr, stamp)
	cfg := botConfig(t, mb, r, filepath.Join(t.TempDir(), "unused.db"), "")
	// The store is shared: DynamoDB (dynalite), one table for both.
	cfg = rewrite(t, cfg, map[string]string{
		"store: { driver: sqlite, path:": fmt.Sprintf("store: { driver: dynamodb, table: chaos-%d, endpoint: \"http://%s\", region: us-east-1 } #", stamp, dynamo),
	}, extra)
	env := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}
	// A starts first and marks the burst; B starts once A's marks show, so
	// the kill lands on the process that owns the marks.
	a := startPlba(t, cfg, env...)
	for _, marked := mb.flags(t, ctx); marked <= 0; _, marked = mb.flags(t, ctx) {
		if ctx.Err() != nil {
			t.Fatalf("no marks from the first process; stderr:\n%s", a.stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the server from outside: no event to await
	}
	b := startPlba(t, cfg, env...)
	// Kill A once a tenth of the burst is done: its first cycle marked the
	// whole burst, and the queue's capacity keeps it publishing until
	// about nine tenths are done, so the kill lands between mark and
	// publish on any machine speed (a fixed delay let a fast machine
	// finish the burst first).
	seenAtKill := 0
	for seenAtKill < n/10 {
		if ctx.Err() != nil {
			t.Fatalf("a tenth of the burst not done; stderr:\n%s", a.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the server from outside: no event to await
		seenAtKill, _ = mb.flags(t, ctx)
	}
	a.kill(t, syscall.SIGKILL)
	killed := time.Now()
	took, _, _ := mb.waitAllSeen(t, ctx, 2*time.Minute)
	f := figures{name: "two-processes-redis-kill9", bound: 45 * time.Second}
	f.recover = time.Since(killed)
	if took == 0 {
		f.recover = 2 * time.Minute
	}
	b.kill(t, syscall.SIGTERM)
	f.tasks = n
	seen, marked := mb.flags(t, ctx)
	f.stranded = n - seen
	f.marksLeft = marked
	var total int
	f.duplicated, total = r.duplicates()
	if f.lost = dynamoLost(t, ctx, dynamo, fmt.Sprintf("chaos-%d", stamp), mb); f.lost < 0 {
		t.Error("the store could not be read: lost unknown")
	}
	// Copies published beyond one per mail: the recovery's republishes of
	// marks with no task, and two cycles whose conditional marks the server
	// let both win (Dovecot's concurrent-STORE window; docs/faults.md);
	// the outbox keeps replies single.
	published := redisPublished(ctx, redisAddr, fmt.Sprintf("chaos-%d", stamp))
	recovered := lines(b.stderr.String(), "in-flight mark has no task in the queue")
	f.extra = fmt.Sprintf("seen_at_kill=%d replies=%d published=%d recover_logs=%d", seenAtKill, total, published, recovered)
	if f.stranded > 0 || f.marksLeft > 0 {
		st := b.stderr.String()
		if len(st) > 6000 {
			st = st[len(st)-6000:]
		}
		t.Logf("survivor's log (end):\n%s", st)
		rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
		defer rdb.Close()
		for _, k := range []string{"ready", "inflight", "delayed", "dead"} {
			ks, _ := rdb.Keys(ctx, fmt.Sprintf("chaos-%d:{*}:%s", stamp, k)).Result()
			for _, kk := range ks {
				typ, _ := rdb.Type(ctx, kk).Result()
				var n int64
				if typ == "list" {
					n, _ = rdb.LLen(ctx, kk).Result()
				} else {
					n, _ = rdb.ZCard(ctx, kk).Result()
				}
				t.Logf("redis %s: %d", kk, n)
			}
		}
	}
	report(t, f)
	if recovered == 0 {
		t.Errorf("the survivor recovered no lost mark: the kill did not land between mark and publish, so the scenario proved nothing")
	}
}
