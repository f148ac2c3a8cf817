package feedrelay_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/plba/plba/apps/feedrelay"
	"github.com/plba/plba/apps/feedrelay/feedrelaytest"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
)

// publisher records tasks; failAfter > 0 fails every Publish after that
// many.
type publisher struct {
	ids       []string
	failAfter int
}

func (p *publisher) Publish(_ context.Context, t contracts.Task) error {
	if p.failAfter > 0 && len(p.ids) >= p.failAfter {
		return errors.New("queue full")
	}
	p.ids = append(p.ids, t.ID)
	return nil
}

func config(feed string) feedrelay.Config {
	c := feedrelay.DefaultConfig()
	c.Feeds, c.Webhook.URL = feed, "http://127.0.0.1:1/hook"
	return c
}

// A Publish that fails leaves the rest unseen and drops the validators, so
// the next poll refetches in full instead of being told 304.
func TestPollAfterPublishFailure(t *testing.T) {
	ctx := context.Background()
	feed := feedrelaytest.NewFeed(t, "a", "b", "c")
	st := feedrelay.NewMemoryState()
	src := feedrelay.NewSource(config(feed.URL), nil, st, nil)

	p := &publisher{failAfter: 1}
	n, err := src.Poll(ctx, p)
	if n != 1 || err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("poll: %d, %v", n, err)
	}
	s, _ := st.Load(ctx, feed.URL)
	if s.ETag != "" || len(s.Seen) != 1 || s.Error == "" {
		t.Errorf("state after a failed publish: %+v", s)
	}
	p.failAfter = 0
	if n, err := src.Poll(ctx, p); n != 2 || err != nil {
		t.Fatalf("second poll: %d, %v", n, err)
	}
	if n, err := src.Poll(ctx, p); n != 0 || err != nil {
		t.Fatalf("third poll: %d, %v", n, err)
	}
	if full, nm := feed.Counts(); full != 2 || nm != 1 {
		t.Errorf("feed served %d full and %d 304 responses, want 2 and 1", full, nm)
	}
	want := []string{feedrelay.EntryTaskID(feed.URL, "a"), feedrelay.EntryTaskID(feed.URL, "b"), feedrelay.EntryTaskID(feed.URL, "c")}
	if fmt.Sprint(p.ids) != fmt.Sprint(want) {
		t.Errorf("published %v, want %v (oldest first, each once)", p.ids, want)
	}
	h := feedrelay.FeedHealth(config(feed.URL), st).Health(ctx)
	if h.State != contracts.HealthUp {
		t.Errorf("health %+v", h)
	}
}

func TestSkipExistingAndFeedHealth(t *testing.T) {
	ctx := context.Background()
	feed := feedrelaytest.NewFeed(t, "old1", "old2")
	cfg := config(feed.URL + " http://127.0.0.1:1/down.xml")
	cfg.SkipExisting = true
	st := feedrelay.NewMemoryState()
	src := feedrelay.NewSource(cfg, nil, st, nil)
	p := &publisher{}
	if n, err := src.Poll(ctx, p); n != 0 || err == nil {
		t.Fatalf("poll: %d, %v (want nothing published and the unreachable feed's error)", n, err)
	}
	h := feedrelay.FeedHealth(cfg, st).Health(ctx)
	if h.State != contracts.HealthDegraded || !strings.Contains(h.Message, "1 of 2 feeds failed") {
		t.Errorf("health %+v", h)
	}
	feed.Add("new")
	if n, _ := src.Poll(ctx, p); n != 1 || p.ids[0] != feedrelay.EntryTaskID(feed.URL, "new") {
		t.Errorf("second poll published %v", p.ids)
	}
}

// DynamoState against the DynamoDB-compatible test server, on a table of
// the layout plba.app.yaml declares.
func TestDynamoState(t *testing.T) {
	addr := testsvc.Require(t, testsvc.DynamoDB)
	ctx := context.Background()
	sc := feedrelay.StateConfig{Driver: feedrelay.DriverDynamoDB, Endpoint: "http://" + addr, Table: fmt.Sprintf("feedrelay-%d", time.Now().UnixNano())}
	c, err := feedrelay.NewDynamoClient(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
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
	st, err := feedrelay.OpenState(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := st.Load(ctx, "https://x/feed"); err != nil || !s.CheckedAt.IsZero() {
		t.Fatalf("unknown feed: %+v, %v", s, err)
	}
	want := feedrelay.FeedState{ETag: `"v1"`, Seen: []string{"a", "b"}, CheckedAt: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), Published: 2}
	if err := st.Save(ctx, "https://x/feed", want); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load(ctx, "https://x/feed")
	if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("loaded %+v, %v; want %+v", got, err, want)
	}
}
