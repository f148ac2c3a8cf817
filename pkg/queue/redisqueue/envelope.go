package redisqueue

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// AttrMalformed is set to "true" on the task of a dead letter whose stored
// entry was not a task envelope; its Payload is the raw entry.
const AttrMalformed = "plba.malformed"

// ErrMalformed is wrapped when a stored entry is not a task envelope.
var ErrMalformed = errors.New("malformed entry")

const envelopeVersion = 1

// envelope is a task as stored in Redis (field "body" of its message hash).
// The attempt count is not in it: it changes on every delivery and lives in
// the hash's own "attempt" field, so scripts never re-encode the body.
type envelope struct {
	Version    int               `json:"v"`
	ID         string            `json:"id"`
	Kind       string            `json:"kind"`
	Payload    []byte            `json:"payload,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	EnqueuedAt time.Time         `json:"enqueued_at"`
}

func encode(t contracts.Task) ([]byte, error) {
	b, err := json.Marshal(envelope{Version: envelopeVersion, ID: t.ID, Kind: t.Kind, Payload: t.Payload, Attrs: t.Attributes, EnqueuedAt: t.EnqueuedAt.UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	return b, nil
}

func decode(body string) (contracts.Task, error) {
	var e envelope
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return contracts.Task{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if e.Version != envelopeVersion {
		return contracts.Task{}, fmt.Errorf("%w: envelope version %d, want %d", ErrMalformed, e.Version, envelopeVersion)
	}
	if e.ID == "" {
		return contracts.Task{}, fmt.Errorf("%w: envelope without id", ErrMalformed)
	}
	return contracts.Task{ID: e.ID, Kind: e.Kind, Payload: e.Payload, Attributes: e.Attrs, EnqueuedAt: e.EnqueuedAt}, nil
}
