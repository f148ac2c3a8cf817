package runner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/redisqueue"
	"github.com/plba/plba/pkg/queue/sqsqueue"
	"github.com/plba/plba/pkg/runtime"
)

// queueFactory returns the queue factory for the configured backend.
func queueFactory(ctx context.Context, qc runtime.QueueConfig, log *slog.Logger) (runtime.QueueFactory, func(), error) {
	switch qc.Backend {
	case "", "memory":
		return runtime.MemoryQueues(qc.Capacity, qc.MaxAttempts), func() {}, nil
	case "sqs":
		cfg, err := awsconfig.Load(ctx, qc.SQS.Region)
		if err != nil {
			return nil, nil, fmt.Errorf("sqs: load AWS configuration: %w", err)
		}
		client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
			if qc.SQS.Endpoint != "" {
				o.BaseEndpoint = &qc.SQS.Endpoint
			}
		})
		return func(_ context.Context, name string) (contracts.TaskQueue, error) {
			url, ok := qc.SQS.URLs[name]
			if !ok {
				return nil, configError{fmt.Errorf("platform.queue.sqs.urls.%s: no SQS queue URL for queue %q", name, name)}
			}
			return sqsqueue.New(sqsqueue.Options{
				Client: client, QueueURL: url, DeadLetterURL: qc.SQS.DLQURLs[name], Name: name,
				MaxAttempts: qc.MaxAttempts, WaitTime: qc.SQS.WaitTime, Logger: log,
			})
		}, func() {}, nil
	case "redis":
		if qc.Redis.Addr == "" {
			return nil, nil, configError{fmt.Errorf("platform.queue.redis.addr: required for the redis backend")}
		}
		client := redis.NewClient(&redis.Options{Addr: qc.Redis.Addr})
		return func(_ context.Context, name string) (contracts.TaskQueue, error) {
			lease := qc.Lease
			if lease == 0 {
				lease = 30 * time.Second
			}
			return redisqueue.New(redisqueue.Options{Client: client, Name: name, Prefix: qc.Redis.Prefix, Capacity: qc.Capacity,
				MaxAttempts: qc.MaxAttempts, Lease: lease, Logger: log})
		}, func() { _ = client.Close() }, nil
	default:
		return nil, nil, configError{fmt.Errorf("platform.queue.backend: %q is not supported (memory, sqs, redis)", qc.Backend)}
	}
}
