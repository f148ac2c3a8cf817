package chaos_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/source/imapsource/dovecottest"
)

// Scenario 6: two plba processes on one mailbox share a Redis queue and a
// DynamoDB store; one is killed with SIGKILL mid-burst. The survivor
// processes everything (the dead one's deliveries come back after their
// lease), no message is processed twice for effect (one reply each), and
// marks never make the survivor publish a message the queue still holds.
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
  queue: { backend: redis, lease: 5s, redis: { addr: %q, prefix: "chaos-%d" } }
`, redisAddr, stamp)
	cfg := botConfig(t, mb, r, filepath.Join(t.TempDir(), "unused.db"), "")
	// The store is shared: DynamoDB (dynalite), one table for both.
	cfg = rewrite(t, cfg, map[string]string{
		"store: { driver: sqlite, path:": fmt.Sprintf("store: { driver: dynamodb, table: chaos-%d, endpoint: \"http://%s\", region: us-east-1 } #", stamp, dynamo),
	}, extra)
	env := []string{"AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_REGION=us-east-1"}
	a := startPlba(t, cfg, env...)
	b := startPlba(t, cfg, env...)
	time.Sleep(1500 * time.Millisecond) // a random point of the burst: the kill's timing is the point
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
	f.duplicated, _ = r.duplicates()
	_, total := r.duplicates()
	f.extra = fmt.Sprintf("replies=%d", total)
	report(t, f)
}
