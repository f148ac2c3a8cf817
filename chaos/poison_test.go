package chaos_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

// buildMain builds a main package of the repository (race detector on).
func buildMain(t *testing.T, pkg string, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	} else {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = testsvc.Root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// files counts the entries of dir whose names start with prefix.
func files(t *testing.T, dir, prefix string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if strings.HasPrefix(e.Name(), prefix) {
			n++
		}
	}
	return n
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// Scenario 4, local mode: a poison task (its routine always fails) reaches
// the dead letters after exactly platform.queue.max_attempts runs while
// the other tasks flow past it; the real process, its in-memory queue.
func TestChaosPoisonLocal(t *testing.T) {
	n := size(t, 200, 2000)
	out := t.TempDir()
	bin := buildMain(t, "./chaos/testdata/poisonapp")
	cmd := exec.Command(bin, "run", "--listen", "off", "--set", "platform.queue.max_attempts=4",
		"--set", "platform.routines.backoff_min=10ms", "--set", "platform.routines.backoff_max=50ms", "--set", "platform.log.level=warn")
	cmd.Env = append(os.Environ(), "POISON_TASKS="+strconv.Itoa(n), "POISON_ID=t-7", "POISON_OUT="+out)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	deadline := time.Now().Add(time.Minute)
	for !(files(t, out, "done-") == n-1 && exists(out, "settled-t-7-dead-lettered")) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // a real process writing files: nothing to await but the files
	}
	took := time.Since(start)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	done, attempts := files(t, out, "done-"), files(t, out, "attempt-t-7-")
	f := figures{name: "poison-local", tasks: n, recover: took, bound: 30 * time.Second,
		lost: n - 1 - done, extra: fmt.Sprintf("poison_runs=%d (max_attempts 4) dead_lettered=%v", attempts, exists(out, "settled-t-7-dead-lettered"))}
	if attempts != 4 || !exists(out, "settled-t-7-dead-lettered") {
		f.stranded = 1
	}
	report(t, f)
}

// Scenario 4, split mode: the same over the SQS server — the poller and
// worker bootstraps under the Runtime API emulator, an event source
// mapping played by the test; the poison record is listed until the
// redrive's last receive, then dead-lettered, while the rest are deleted.
func TestChaosPoisonSplit(t *testing.T) {
	n := size(t, 50, 500)
	endpoint := sqstest.Endpoint(t)
	client := sqstest.NewClient(endpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 3, VisibilityTimeout: time.Second})
	bin := buildMain(t, "./pkg/lambda/testdata/e2efn", "lambda.norpc", "plba_lambda", "validator_novalidatefn")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := func(fn string) *emulator.Emulator {
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bin, FunctionName: fn, Timeout: 20 * time.Second, Stdout: io.Discard, Stderr: io.Discard,
			Env: map[string]string{"PLBA_FN": fn, "AWS_ENDPOINT_URL_SQS": endpoint, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
				"PLBA_QUEUE_WORK_URL": pair.URL, "PLBA_QUEUE_WORK_DLQ_URL": pair.DeadLetterURL, "PLBA_MAX_RECEIVE_COUNT": "3",
				"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "true", "E2E_TASKS": strconv.Itoa(n), "E2E_FAIL": "t-7", "E2E_OUT": out}})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	began := time.Now()
	if _, err := start("poller").Invoke(ctx, []byte(`{}`)); err != nil {
		t.Fatalf("poller: %v", err)
	}
	worker := start("worker")
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	poisonReceives := 0
	for time.Since(began) < time.Minute && !(files(t, out, "done-") >= n-1 && exists(out, "settled-t-7-dead-lettered")) {
		recs, err := esm.Poll(ctx, worker.Invoke)
		if err != nil {
			t.Fatalf("worker invocation failed: %v", err)
		}
		for _, r := range recs {
			if strings.Contains(*r.Message.Body, `"t-7"`) {
				poisonReceives++
			}
		}
	}
	f := figures{name: "poison-split-sqs", tasks: n, recover: time.Since(began), bound: 45 * time.Second,
		lost:  n - 1 - files(t, out, "done-"),
		extra: fmt.Sprintf("poison_receives=%d (maxReceiveCount 3) dead_lettered=%v", poisonReceives, exists(out, "settled-t-7-dead-lettered"))}
	// Each task's routine ran once for effect (one done file per id, by name).
	if poisonReceives != 3 || !exists(out, "settled-t-7-dead-lettered") {
		f.stranded = 1
	}
	report(t, f)
}
