package driver

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// ErrMalformed is wrapped when a stored message is not a task envelope.
// It is the one such error of every backend.
var ErrMalformed = errors.New("malformed message")

// AttrMalformed is set to "true" on the task of a dead letter whose stored
// message was not a task envelope; its Payload is the raw message.
const AttrMalformed = "plba.malformed"

// EnvelopeVersion is the envelope's "plba" field.
const EnvelopeVersion = 1

// Envelope is a task as every backend stores it, JSON:
// {"plba":1,"id":…,"kind":…,"payload":base64,"attrs":{…},"enqueued_at":RFC 3339}.
// The attempt count is never in it: backends keep it beside the body
// (Redis hash field, SQS receive count), so a redelivery does not
// re-encode the body. A backend that carries some attributes elsewhere
// (SQS message attributes) leaves them out of Attrs.
type Envelope struct {
	Version    int               `json:"plba"`
	ID         string            `json:"id"`
	Kind       string            `json:"kind"`
	Payload    []byte            `json:"payload,omitempty"`
	Attrs      map[string]string `json:"attrs,omitempty"`
	EnqueuedAt time.Time         `json:"enqueued_at,omitzero"`
}

// NewEnvelope returns the envelope of t with attrs as its attributes.
func NewEnvelope(t contracts.Task, attrs map[string]string) Envelope {
	return Envelope{Version: EnvelopeVersion, ID: t.ID, Kind: t.Kind, Payload: t.Payload, Attrs: attrs, EnqueuedAt: t.EnqueuedAt.UTC()}
}

// Encode returns the envelope of t (all its attributes) as JSON.
func Encode(t contracts.Task) ([]byte, error) {
	b, err := json.Marshal(NewEnvelope(t, t.Attributes))
	if err != nil {
		return nil, fmt.Errorf("encode task %s: %w", t.ID, err)
	}
	return b, nil
}

// DecodeEnvelope parses body; anything that is not a version-1 envelope
// with an id yields an error wrapping [ErrMalformed].
func DecodeEnvelope(body string) (Envelope, error) {
	env, ok := decodeFast(body)
	if !ok {
		env = Envelope{}
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			return Envelope{}, fmt.Errorf("%w: body is not a task envelope: %v", ErrMalformed, err)
		}
	}
	if env.Version != EnvelopeVersion || env.ID == "" {
		return Envelope{}, fmt.Errorf("%w: body is not a task envelope (version %d, id %q)", ErrMalformed, env.Version, env.ID)
	}
	return env, nil
}

// Decode parses body into a task (Attempt left 0).
func Decode(body string) (contracts.Task, error) {
	env, err := DecodeEnvelope(body)
	if err != nil {
		return contracts.Task{}, err
	}
	return contracts.Task{ID: env.ID, Kind: env.Kind, Payload: env.Payload, Attributes: env.Attrs, EnqueuedAt: env.EnqueuedAt}, nil
}

// EnvelopeSize is the size of t's envelope without JSON escapes: the figure
// the portable type checks against size limits on every Publish without
// encoding (so the in-memory hot path does not allocate). Drivers that
// encode check the exact size again.
func EnvelopeSize(t *contracts.Task) int {
	const overhead = len(`{"plba":1,"id":"","kind":"","payload":"","attrs":{},"enqueued_at":"2006-01-02T15:04:05.999999999Z"}`)
	n := overhead + len(t.ID) + len(t.Kind) + (len(t.Payload)+2)/3*4
	for k, v := range t.Attributes {
		n += len(k) + len(v) + len(`"":"",`)
	}
	return n
}
