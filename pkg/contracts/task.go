package contracts

import "time"

// Well-known task attribute keys. Attribute keys starting with "plba." are
// reserved for the runtime.
const (
	// AttrTraceParent and AttrTraceState carry W3C trace context.
	AttrTraceParent = "traceparent"
	AttrTraceState  = "tracestate"
	// AttrSource names the source that produced the task; settlement hooks
	// are looked up by it.
	AttrSource = "plba.source"
	// AttrSourceRef identifies the task's origin inside its source (for IMAP:
	// mailbox, UIDVALIDITY and UID). It is opaque to the runtime.
	AttrSourceRef = "plba.source_ref"
	// AttrGroup and AttrDedupID map to FIFO message group and deduplication
	// ids where a backend has them.
	AttrGroup   = "plba.group"
	AttrDedupID = "plba.dedup_id"
)

// Task is one unit of work. It is a plain value: copying it is cheap and the
// payload is never interpreted by the runtime.
type Task struct {
	// ID identifies the task across redeliveries. Sources should derive it from
	// the origin (so the same event yields the same ID); the queue assigns one
	// when it is empty.
	ID string
	// Kind selects the routine that handles the task.
	Kind string
	// Payload is the task body, opaque to the runtime.
	Payload []byte
	// Attributes carry trace context and source references.
	Attributes map[string]string
	// Attempt is the delivery count, 1 on the first delivery. Set by the
	// queue on consume; ignored on publish.
	Attempt int
	// EnqueuedAt is when the task was first published. Set by the queue.
	EnqueuedAt time.Time
}

// Attr returns the attribute value for key, or "" when unset.
func (t Task) Attr(key string) string { return t.Attributes[key] }

// WithAttr returns a copy of t whose attributes also hold key=value. The
// original attribute map is not modified.
func (t Task) WithAttr(key, value string) Task {
	m := make(map[string]string, len(t.Attributes)+1)
	for k, v := range t.Attributes {
		m[k] = v
	}
	m[key] = value
	t.Attributes = m
	return t
}
