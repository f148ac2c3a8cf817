package lambda

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
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

// OpenQueues opens an sqsqueue.Queue for every logical name, configured from
// platform.queue (max attempts) and the SQS backend's own section
// platform.queue.sqs (URLs, dead-letter URLs), sharing client.
func OpenQueues(client sqsqueue.API, names []string, qc runtime.QueueConfig, sc sqsqueue.Config, log *slog.Logger) (map[string]*sqsqueue.Queue, error) {
	out := make(map[string]*sqsqueue.Queue, len(names))
	for _, name := range names {
		url, dlq, err := sc.Queue(name)
		if err != nil {
			return nil, fmt.Errorf("lambda: %w", err)
		}
		if dlq == "" {
			return nil, fmt.Errorf("lambda: platform.queue.sqs.dlq_urls.%s: no dead-letter queue URL for queue %q (set it, or platform.queue.sqs.dlq_url)", name, name)
		}
		q, err := sqsqueue.New(sqsqueue.Options{
			Client: client, QueueURL: url, DeadLetterURL: dlq, Name: name, Logger: log,
			MaxAttempts:         qc.MaxAttempts,
			ReadyCountsInFlight: sc.ReadyCountsInFlight,
		})
		if err != nil {
			return nil, fmt.Errorf("lambda: queue %q: %w", name, err)
		}
		out[name] = q
	}
	return out, nil
}

// legacyEnv returns environ with the variables earlier stacks set
// (PLBA_QUEUE_URL, PLBA_QUEUE_<NAME>_URL, PLBA_MAX_RECEIVE_COUNT, ...)
// added under the configuration keys they stand for, so that the validated
// configuration is the one owner of every queue setting and a stack
// deployed before still starts. A variable set under its configuration
// name wins.
func legacyEnv(environ []string) []string {
	have := map[string]bool{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		have[name] = true
	}
	out := append([]string(nil), environ...)
	add := func(name, val string) {
		if !have[name] {
			have[name] = true
			out = append(out, name+"="+val)
		}
	}
	fixed := map[string]string{
		"PLBA_QUEUE_URL":                  "PLBA_PLATFORM__QUEUE__SQS__URL",
		"PLBA_DLQ_URL":                    "PLBA_PLATFORM__QUEUE__SQS__DLQ_URL",
		"PLBA_MAX_RECEIVE_COUNT":          "PLBA_PLATFORM__QUEUE__MAX_ATTEMPTS",
		"PLBA_SQS_READY_COUNTS_IN_FLIGHT": "PLBA_PLATFORM__QUEUE__SQS__READY_COUNTS_IN_FLIGHT",
		"PLBA_WORKER_QUEUE":               "PLBA_PLATFORM__LAMBDA__WORKER__QUEUE",
		"PLBA_WORKER_CONCURRENCY":         "PLBA_PLATFORM__LAMBDA__WORKER__CONCURRENCY",
	}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if to, ok := fixed[name]; ok {
			add(to, val)
			continue
		}
		rest, ok := strings.CutPrefix(name, "PLBA_QUEUE_")
		if !ok || strings.Contains(rest, "__") {
			continue
		}
		if q, ok := strings.CutSuffix(rest, "_DLQ_URL"); ok && q != "" {
			add("PLBA_PLATFORM__QUEUE__SQS__DLQ_URLS__"+q, val)
		} else if q, ok := strings.CutSuffix(rest, "_URL"); ok && q != "" {
			add("PLBA_PLATFORM__QUEUE__SQS__URLS__"+q, val)
		}
	}
	return out
}

func environOrOS(environ []string) []string {
	if environ == nil {
		return os.Environ()
	}
	return environ
}

func getenvFrom(environ []string) func(string) string {
	return func(name string) string {
		for i := len(environ) - 1; i >= 0; i-- {
			if n, v, ok := strings.Cut(environ[i], "="); ok && n == name {
				return v
			}
		}
		return ""
	}
}
