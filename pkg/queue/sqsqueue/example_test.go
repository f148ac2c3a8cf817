package sqsqueue_test

import (
	"context"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/sqsqueue"
)

// A queue on SQS: publish, consume, settle. The same calls work on every
// contracts.TaskQueue.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // AWS_ENDPOINT_URL_SQS for a local server
	if err != nil {
		log.Fatal(err)
	}
	q, err := sqsqueue.New(sqsqueue.Options{
		Client:        sqs.NewFromConfig(cfg),
		QueueURL:      "https://sqs.eu-central-1.amazonaws.com/123456789012/orders",
		DeadLetterURL: "https://sqs.eu-central-1.amazonaws.com/123456789012/orders-dlq",
		MaxAttempts:   5,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer q.Close()
	if err := q.Publish(ctx, contracts.Task{ID: "order-1", Kind: "mail.order", Payload: []byte(`{}`)}); err != nil {
		log.Fatal(err)
	}
	d, err := q.Consume(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Task.ID, d.Task.Attempt)
	if err := q.Ack(ctx, d); err != nil { // or Nack(ctx, d, time.Minute), DeadLetter(ctx, d, reason)
		log.Fatal(err)
	}
}
