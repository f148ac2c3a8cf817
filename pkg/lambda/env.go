package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/queue/sqsqueue"
)

// NewSQSClient loads the AWS configuration with [awsconfig.Load] (the SDK's
// default chain; in builds tagged plba_lambda only the environment Lambda
// sets: AWS_REGION and the role's AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN) and returns an SQS client. AWS_ENDPOINT_URL_SQS points
// it at an SQS-compatible server. Build it once per cold start.
func NewSQSClient(ctx context.Context) (*sqs.Client, error) {
	cfg, err := awsconfig.Load(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("lambda: load AWS config: %w", err)
	}
	return sqs.NewFromConfig(cfg), nil
}

// EnvName is the environment variable fragment for a logical queue name.
func EnvName(queue string) string {
	b := []byte(strings.ToUpper(queue))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// QueueOptions returns the sqsqueue options for logical queue name from the
// environment (see the package documentation); getenv nil means os.Getenv.
func QueueOptions(name string, getenv func(string) string) (sqsqueue.Options, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	n := EnvName(name)
	url := first(getenv("PLBA_QUEUE_"+n+"_URL"), getenv("PLBA_QUEUE_URL"))
	dlq := first(getenv("PLBA_QUEUE_"+n+"_DLQ_URL"), getenv("PLBA_DLQ_URL"))
	if url == "" || dlq == "" {
		return sqsqueue.Options{}, fmt.Errorf("lambda: queue %q: set PLBA_QUEUE_%s_URL and PLBA_QUEUE_%s_DLQ_URL (or PLBA_QUEUE_URL and PLBA_DLQ_URL)", name, n, n)
	}
	o := sqsqueue.Options{QueueURL: url, DeadLetterURL: dlq, Name: name}
	// local-aws-sqs counts in-flight messages as available (see sqsqueue).
	o.ReadyCountsInFlight = getenv("PLBA_SQS_READY_COUNTS_IN_FLIGHT") == "true"
	return o, nil
}

// OpenQueues opens an sqsqueue.Queue for every logical name, configured from
// the environment, sharing client.
func OpenQueues(client sqsqueue.API, names []string, getenv func(string) string, log *slog.Logger) (map[string]*sqsqueue.Queue, error) {
	out := make(map[string]*sqsqueue.Queue, len(names))
	for _, name := range names {
		o, err := QueueOptions(name, getenv)
		if err != nil {
			return nil, err
		}
		o.Client = client
		o.Logger = log
		q, err := sqsqueue.New(o)
		if err != nil {
			return nil, fmt.Errorf("lambda: queue %q: %w", name, err)
		}
		out[name] = q
	}
	return out, nil
}

// MaxReceiveCount reads PLBA_MAX_RECEIVE_COUNT (0 when unset).
func MaxReceiveCount(getenv func(string) string) (int, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv("PLBA_MAX_RECEIVE_COUNT")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("lambda: PLBA_MAX_RECEIVE_COUNT=%q: want a positive integer", v)
	}
	return n, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
