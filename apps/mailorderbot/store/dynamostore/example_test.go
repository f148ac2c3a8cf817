package dynamostore_test

import (
	"context"
	"log"

	"github.com/plba/plba/apps/mailorderbot/store/dynamostore"
)

// A store on a local DynamoDB-compatible server (scripts/services/dynamodb.sh
// start), creating its table on first use. Against AWS, leave Endpoint empty
// and let the CDK stack create the table from TableSchema.
func ExampleNew() {
	ctx := context.Background()
	client, err := dynamostore.NewClient(ctx, dynamostore.ClientConfig{Endpoint: "http://127.0.0.1:18000"})
	if err != nil {
		log.Fatal(err)
	}
	s, err := dynamostore.New(client, "orders")
	if err != nil {
		log.Fatal(err)
	}
	if err := s.EnsureTable(ctx); err != nil {
		log.Fatal(err)
	}
}
