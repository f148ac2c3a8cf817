package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/apps/feedrelay/feedrelaytest"
	"github.com/plba/plba/internal/appmanifest"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
	plbacontrol "github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/lambda/emulator"
	"github.com/plba/plba/pkg/lambda/pollerfn"
	"github.com/plba/plba/pkg/queue/sqsqueue/sqstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// bootstrap builds the function the manifest names, for this machine, with
// the Lambda build's tags (what `make lambdas-host` builds).
func bootstrap(t *testing.T, fn string) string {
	t.Helper()
	root := testsvc.Root(t)
	app, err := appmanifest.Read(filepath.Join(root, "apps", "feedrelay"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), fn, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", appmanifest.LambdaTags, "-trimpath", "-o", out, app.Mains[fn])
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", fn, err, b)
	}
	return out
}

func stateTable(t *testing.T, ctx context.Context, endpoint string) string {
	t.Helper()
	sc := feedrelay.StateConfig{Endpoint: endpoint, Table: fmt.Sprintf("feedrelay-e2e-%d", time.Now().UnixNano())}
	c, err := feedrelay.NewDynamoClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	// The layout plba.app.yaml declares: partition key pk (S).
	if _, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(sc.Table), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(sc.Table)})
	})
	if err := dynamodb.NewTableExistsWaiter(c, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 50 * time.Millisecond }).
		Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(sc.Table)}, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	return sc.Table
}

// TestSplitDeployment runs the feed relay as the stack deploys it: the
// poller, worker and control bootstraps (built from plba.app.yaml's mains
// with the Lambda tags) under the Runtime API emulator, a real
// SQS-compatible server between them (the test plays the event source
// mapping), the state in a DynamoDB-compatible table, a real feed and a
// real webhook. The poller publishes each entry once and a second
// scheduled poll costs a 304; the worker delivers, a 503 comes back after
// its Retry-After, a 400 is dead-lettered on its first receive; control
// shows the dead letter and the feeds' health (from the table: control
// never polls), and redrives it.
func TestSplitDeployment(t *testing.T) {
	sqsEndpoint := sqstest.Endpoint(t)
	dynamo := "http://" + testsvc.Require(t, testsvc.DynamoDB)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := sqstest.NewClient(sqsEndpoint, nil)
	pair := sqstest.CreatePair(t, client, sqstest.PairOptions{MaxReceiveCount: 3, VisibilityTimeout: 5 * time.Second})
	table := stateTable(t, ctx, dynamo)
	feed := feedrelaytest.NewFeed(t, "e1", "e2", "bad")
	hook := feedrelaytest.NewWebhook(t)
	hook.Fail["e2"] = []int{503}
	hook.Fail["bad"] = []int{400}

	// What the stack sets (docs/deploy.md) plus the test's endpoints; the
	// token is a plain value here, a ${ssm:...} reference on AWS.
	env := map[string]string{
		"AWS_ENDPOINT_URL_SQS": sqsEndpoint, "AWS_REGION": "us-east-1",
		"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_EC2_METADATA_DISABLED": "true",
		"PLBA_QUEUE_URL": pair.URL, "PLBA_DLQ_URL": pair.DeadLetterURL, "PLBA_MAX_RECEIVE_COUNT": "3",
		"PLBA_SQS_READY_COUNTS_IN_FLIGHT":     "true",
		"PLBA_APPS__FEEDRELAY__FEEDS":         feed.URL,
		"PLBA_APPS__FEEDRELAY__WEBHOOK__URL":  hook.URL,
		"PLBA_APPS__FEEDRELAY__SKIP_EXISTING": "false",
		"PLBA_APPS__FEEDRELAY__STATE__DRIVER": "dynamodb", "PLBA_APPS__FEEDRELAY__STATE__TABLE": table,
		"PLBA_APPS__FEEDRELAY__STATE__ENDPOINT": dynamo,
	}
	start := func(fn string, extra map[string]string) *emulator.Emulator {
		e2 := map[string]string{}
		for k, v := range env {
			e2[k] = v
		}
		for k, v := range extra {
			e2[k] = v
		}
		e, err := emulator.Start(ctx, emulator.Options{Bootstrap: bootstrap(t, fn), FunctionName: "feedrelay-e2e-" + fn, Env: e2,
			Timeout: 30 * time.Second, Stdout: io.Discard, Stderr: io.Discard})
		if err != nil {
			t.Fatalf("start %s: %v", fn, err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	}
	schedule := []byte(`{"source":"plba.schedule","stage":"e2e"}`) // the stack's rule input

	poller := start("poller", nil)
	var sum pollerfn.Summary
	invokeJSON(t, ctx, poller, schedule, &sum)
	if sum.Published["feedrelay"] != 3 || len(sum.Errors) != 0 {
		t.Fatalf("first poll: %+v", sum)
	}
	invokeJSON(t, ctx, poller, schedule, &sum)
	if sum.Published["feedrelay"] != 0 || len(sum.Errors) != 0 {
		t.Fatalf("second poll: %+v", sum)
	}
	if full, nm := feed.Counts(); full != 1 || nm != 1 {
		t.Errorf("feed: %d full responses and %d 304s, want 1 and 1", full, nm)
	}

	worker := start("worker", map[string]string{"PLBA_APPS__FEEDRELAY__WEBHOOK__TOKEN": "tok"})
	esm := sqstest.EventSourceMapping{Client: client, QueueURL: pair.URL}
	listed := map[string]int{}
	for deadline := time.Now().Add(60 * time.Second); ; {
		got := hook.Delivered()
		if slices.Contains(got, "e1") && slices.Contains(got, "e2") && len(hook.Deliveries()) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered in time: %+v", hook.Deliveries())
		}
		recs, err := esm.Poll(ctx, worker.Invoke)
		if err != nil {
			t.Fatalf("worker invocation failed (a record must never fail the batch): %v", err)
		}
		for _, r := range recs {
			if r.Listed {
				listed[aws.ToString(r.Message.MessageId)]++
			}
		}
	}
	byID := map[string][]feedrelaytest.Delivery{}
	for _, d := range hook.Deliveries() {
		byID[d.Entry.ID] = append(byID[d.Entry.ID], d)
		if d.Auth != "Bearer tok" {
			t.Errorf("delivery without the token: %+v", d)
		}
	}
	if len(byID["e1"]) != 1 || len(byID["bad"]) != 1 || len(byID["e2"]) != 2 || byID["e2"][1].At.Sub(byID["e2"][0].At) < time.Second {
		t.Errorf("deliveries %+v: want e1 once, bad once (400, dead-lettered), e2 twice at least 1s apart", byID)
	}
	if len(listed) != 1 {
		t.Errorf("%d records listed as failures, want 1 (e2's 503; bad is dead-lettered, not retried)", len(listed))
	}

	control := start("control", nil)
	var st plbacontrol.Response
	invokeJSON(t, ctx, control, []byte(`{"action":"status"}`), &st)
	var status plbacontrol.StatusResult
	if err := st.Decode(&status); err != nil || len(status.Queues) != 1 || status.Queues[0].Dead != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	var feeds *plbacontrol.ComponentHealth
	for i, h := range status.Health.Components {
		if h.Name == "feedrelay-feeds" {
			feeds = &status.Health.Components[i]
		}
	}
	if feeds == nil || feeds.State != contracts.HealthUp || feeds.Message != "1 feeds fetched" {
		t.Errorf("feeds health %+v, want up from the poller's state in the table", feeds)
	}
	var rd plbacontrol.Response
	invokeJSON(t, ctx, control, []byte(`{"action":"dlq.redrive","queue":"`+feedrelay.Queue+`","limit":10}`), &rd)
	var rr plbacontrol.RedriveResult
	if err := rd.Decode(&rr); err != nil || rr.Redriven != 1 {
		t.Fatalf("redrive %+v %v", rd, err)
	}
}

func invokeJSON(t *testing.T, ctx context.Context, e *emulator.Emulator, req []byte, out any) {
	t.Helper()
	raw, err := e.Invoke(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: response %s: %v", req, raw, err)
	}
}
