package sqsqueue

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/plba/plba/pkg/config/awsconfig"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
)

// Config is the backend's own section, platform.queue.sqs.
type Config struct {
	// URLs maps a module's queue name to its SQS queue URL.
	URLs map[string]string `koanf:"urls" json:"urls,omitempty"`
	// DLQURLs maps a queue name to its dead-letter queue URL.
	DLQURLs map[string]string `koanf:"dlq_urls" json:"dlq_urls,omitempty"`
	// URL and DLQURL serve every queue name that URLs and DLQURLs do not
	// list (a deployment with one queue, as the CDK stack makes).
	URL    string `koanf:"url" json:"url,omitempty"`
	DLQURL string `koanf:"dlq_url" json:"dlq_url,omitempty"`
	// ReadyCountsInFlight: see [Options].ReadyCountsInFlight.
	ReadyCountsInFlight bool `koanf:"ready_counts_in_flight" json:"ready_counts_in_flight,omitempty"`
	// Endpoint overrides the SQS endpoint (SQS-compatible servers).
	Endpoint string `koanf:"endpoint" json:"endpoint,omitempty"`
	Region   string `koanf:"region" json:"region,omitempty"`
	// WaitTime for long polls (0–20s); 0: [Options] default.
	WaitTime time.Duration `koanf:"wait_time" json:"wait_time" validate:"gte=0,lte=20s"`
}

// Queue returns the queue and dead-letter URLs for queue name, or an error
// naming the key when the queue URL is missing.
func (c Config) Queue(name string) (url, dlq string, err error) {
	url, dlq = c.URLs[name], c.DLQURLs[name]
	if url == "" {
		url = c.URL
	}
	if dlq == "" {
		dlq = c.DLQURL
	}
	if url == "" {
		return "", "", fmt.Errorf("%w: platform.queue.sqs.urls.%s: no SQS queue URL for queue %q (set it, or platform.queue.sqs.url for every queue)", queue.ErrInvalidSettings, name, name)
	}
	return url, dlq, nil
}

// The "sqs" backend: one SQS client for every queue of the process.
func init() {
	queue.Register("sqs", func(ctx context.Context, s queue.Settings) (queue.Backend, error) {
		var c Config
		if err := s.DecodeSection(&c); err != nil {
			return nil, err // names the key and its source
		}
		cfg, err := awsconfig.Load(ctx, c.Region)
		if err != nil {
			return nil, fmt.Errorf("sqs: load AWS configuration: %w", err)
		}
		client := sqs.NewFromConfig(cfg, func(o *sqs.Options) {
			if c.Endpoint != "" {
				o.BaseEndpoint = &c.Endpoint
			}
		})
		return queue.BackendFunc{OpenFunc: func(_ context.Context, name string) (contracts.TaskQueue, error) {
			url, dlq, err := c.Queue(name)
			if err != nil {
				return nil, err
			}
			return Open(Options{Client: client, QueueURL: url, DeadLetterURL: dlq, Name: name, MaxAttempts: s.MaxAttempts,
				WaitTime: c.WaitTime, ReadyCountsInFlight: c.ReadyCountsInFlight, Logger: s.Logger})
		}}, nil
	})
}
