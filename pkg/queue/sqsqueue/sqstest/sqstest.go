// Package sqstest helps tests talk to the SQS-compatible test server
// (scripts/services/sqs.sh, internal/testsvc.SQS): a client, uniquely named
// queue pairs with a redrive policy that are deleted after the test, and an
// HTTP middleware that counts SQS API calls by action.
package sqstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/internal/testsvc"
)

// Counter is an http.RoundTripper that counts SQS API calls by action
// (the X-Amz-Target header of the JSON protocol, e.g. "SendMessageBatch").
type Counter struct {
	Next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

// RoundTrip counts the call and passes it on.
func (c *Counter) RoundTrip(r *http.Request) (*http.Response, error) {
	action := r.Header.Get("X-Amz-Target")
	action = action[strings.LastIndexByte(action, '.')+1:]
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[action]++
	c.mu.Unlock()
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(r)
}

// Count returns the calls of action so far ("" : all calls).
func (c *Counter) Count(action string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if action == "" {
		t := 0
		for _, n := range c.n {
			t += n
		}
		return t
	}
	return c.n[action]
}

// Reset forgets the counts.
func (c *Counter) Reset() {
	c.mu.Lock()
	c.n = nil
	c.mu.Unlock()
}

// Endpoint returns the test server's URL, skipping (or failing under
// CI=true) when it is not running.
func Endpoint(t testing.TB) string {
	t.Helper()
	return "http://" + testsvc.Require(t, testsvc.SQS)
}

// NewClient returns a client for the server at endpoint with dummy
// credentials; counter, if not nil, sees every request.
func NewClient(endpoint string, counter *Counter) *sqs.Client {
	hc := &http.Client{Timeout: 60 * time.Second}
	if counter != nil {
		hc.Transport = counter
	}
	return sqs.New(sqs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   hc,
	})
}

// Pair is a queue and its dead-letter queue.
type Pair struct {
	URL, DeadLetterURL string
	Name               string
}

// PairOptions configure [CreatePair].
type PairOptions struct {
	// FIFO makes both queues FIFO.
	FIFO bool
	// MaxReceiveCount of the redrive policy; default 5.
	MaxReceiveCount int
	// VisibilityTimeout of the queue; default 30s.
	VisibilityTimeout time.Duration
}

// CreatePair creates a uniquely named queue with a dead-letter queue and a
// redrive policy, and deletes both when the test ends.
func CreatePair(t testing.TB, c *sqs.Client, o PairOptions) Pair {
	t.Helper()
	if o.MaxReceiveCount == 0 {
		o.MaxReceiveCount = 5
	}
	if o.VisibilityTimeout == 0 {
		o.VisibilityTimeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "plba-" + strings.NewReplacer("/", "-", " ", "-", "#", "-").Replace(t.Name())
	if len(name) > 50 {
		name = name[:50]
	}
	name += "-" + hex.EncodeToString(b[:])
	suffix := ""
	attrs := map[string]string{}
	if o.FIFO {
		suffix = ".fifo"
		attrs[string(types.QueueAttributeNameFifoQueue)] = "true"
	}
	dlq, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq" + suffix), Attributes: attrs})
	if err != nil {
		t.Fatalf("sqstest: create dead-letter queue: %v", err)
	}
	t.Cleanup(func() { deleteQueue(c, *dlq.QueueUrl) })
	a, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatalf("sqstest: dead-letter queue ARN: %v", err)
	}
	main := map[string]string{
		string(types.QueueAttributeNameRedrivePolicy): fmt.Sprintf(`{"deadLetterTargetArn":%q,"maxReceiveCount":"%d"}`,
			a.Attributes[string(types.QueueAttributeNameQueueArn)], o.MaxReceiveCount),
		string(types.QueueAttributeNameVisibilityTimeout): fmt.Sprint(int(o.VisibilityTimeout / time.Second)),
	}
	for k, v := range attrs {
		main[k] = v
	}
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + suffix), Attributes: main})
	if err != nil {
		t.Fatalf("sqstest: create queue: %v", err)
	}
	t.Cleanup(func() { deleteQueue(c, *q.QueueUrl) })
	return Pair{URL: *q.QueueUrl, DeadLetterURL: *dlq.QueueUrl, Name: name + suffix}
}

func deleteQueue(c *sqs.Client, url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = c.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(url)})
}
