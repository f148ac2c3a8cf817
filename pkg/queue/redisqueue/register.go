package redisqueue

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue"
)

// Config is the backend's own section, platform.queue.redis.
type Config struct {
	// Addr is host:port of the Redis server. Required.
	Addr string `koanf:"addr" json:"addr,omitempty"`
	// Prefix starts every key, so several deployments share one Redis.
	Prefix string `koanf:"prefix" json:"prefix,omitempty"`
}

// The "redis" backend: one client for every queue of the process.
func init() {
	queue.Register("redis", func(_ context.Context, s queue.Settings) (queue.Backend, error) {
		var c Config
		if err := s.DecodeSection(&c); err != nil {
			return nil, err // names the key and its source
		}
		if c.Addr == "" {
			return nil, fmt.Errorf("%w: platform.queue.redis.addr: required for the redis backend", queue.ErrInvalidSettings)
		}
		client := redis.NewClient(&redis.Options{Addr: c.Addr})
		return queue.BackendFunc{
			OpenFunc: func(_ context.Context, name string) (contracts.TaskQueue, error) {
				return New(Options{Client: client, Name: name, Prefix: c.Prefix, Capacity: s.Capacity,
					MaxAttempts: s.MaxAttempts, Lease: s.Lease, Logger: s.Logger})
			},
			CloseFunc: client.Close,
		}, nil
	})
}
