package dynamostore_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
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

// TestOldItemsRead: an item exactly as the version before review wrote it
// (no rres, no raw) is read, listed and refused by Resolve as not in review.
func TestOldItemsRead(t *testing.T) {
	s, client := newTable(t)
	ctx := context.Background()
	doc := `{"key":"old@example.com","status":"rejected","customer":{"address":"a@example.com"},"lines":[{"sku":"ZZZ-999","qty":1,"unit_price":{"amount":0,"currency":""},"total":{"amount":0,"currency":""}}],"total":{"amount":0,"currency":""},"reasons":["unknown SKU \"ZZZ-999\""],"created_at":"2026-01-05T10:00:00Z"}`
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.Table()), Item: map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "old@example.com"}, "st": &types.AttributeValueMemberS{Value: "rejected"},
		"ca": &types.AttributeValueMemberN{Value: "1767607200000000000"}, "doc": &types.AttributeValueMemberS{Value: doc},
		"rfrom": &types.AttributeValueMemberS{Value: "orders@shop.example"}, "rto": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "a@example.com"}}},
		"rraw": &types.AttributeValueMemberB{Value: []byte("Subject: x\r\n\r\n")}, "rca": &types.AttributeValueMemberN{Value: "1767607200000000000"},
		"op": &types.AttributeValueMemberS{Value: "pending"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Get(ctx, "old@example.com")
	if err != nil || o.Status != domain.StatusRejected || o.Resolution != nil || len(o.Candidates) != 0 {
		t.Fatalf("old item: %+v, %v", o, err)
	}
	if l, err := s.List(ctx, store.Filter{}); err != nil || len(l) != 1 {
		t.Fatalf("List = %d, %v", len(l), err)
	}
	if err := s.Resolve(ctx, o, nil); !errors.Is(err, store.ErrNotReview) {
		t.Fatalf("Resolve old rejected item: %v", err)
	}
	if _, err := s.Raw(ctx, o.Key); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Raw of an old item: %v", err)
	}
	if n, err := s.PurgeRaw(ctx, time.Now()); err != nil || n != 0 {
		t.Fatalf("PurgeRaw = %d, %v", n, err)
	}
}
