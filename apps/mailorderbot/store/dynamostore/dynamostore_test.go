package dynamostore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.uber.org/goleak"

	"github.com/plba/plba/apps/mailorderbot/domain"
	"github.com/plba/plba/apps/mailorderbot/store"
	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
	"github.com/plba/plba/apps/mailorderbot/store/storetest"
	"github.com/plba/plba/internal/testsvc"
)

func TestMain(m *testing.M) {
	// The SDK's HTTP transport keeps idle keep-alive connections.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

var seq atomic.Int64

func newTable(t *testing.T) (*dynamostore.Store, *dynamodb.Client) {
	t.Helper()
	addr := testsvc.Require(t, testsvc.DynamoDB)
	ctx := context.Background()
	client, err := dynamostore.NewClient(ctx, dynamostore.ClientConfig{Endpoint: "http://" + addr})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("orders-test-%d-%d", time.Now().UnixNano(), seq.Add(1))
	s, err := dynamostore.New(client, name)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTable(ctx); err != nil {
		t.Fatalf("EnsureTable on an existing table: %v", err)
	}
	t.Cleanup(func() {
		if _, err := client.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("delete table: %v", err)
		}
	})
	return s, client
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.OrderStore {
		s, _ := newTable(t)
		return s
	})
}

func TestPing(t *testing.T) {
	s, client := newTable(t)
	if err := s.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	missing, _ := dynamostore.New(client, "no-such-table")
	if err := missing.Ping(context.Background()); err == nil {
		t.Fatal("Ping of a missing table succeeded")
	}
}

func TestReplySavedAsSent(t *testing.T) {
	s, _ := newTable(t)
	ctx := context.Background()
	o := storetest.Order("sent@example.com", domain.StatusAccepted, 1)
	r := storetest.Reply(o)
	r.SentAt = time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)
	if _, err := s.Save(ctx, o, r); err != nil {
		t.Fatal(err)
	}
	pending, err := s.PendingReplies(ctx, 0)
	if err != nil || len(pending) != 0 {
		t.Fatalf("PendingReplies = %d, %v; a sent reply is not pending", len(pending), err)
	}
}
