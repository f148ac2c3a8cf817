package sqsqueue

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/queue/driver"
)

// Message attribute names this package reads and writes.
const (
	// AttrKind carries the task kind as a message attribute.
	AttrKind = "plba.kind"
	// AttrReason is set on dead-lettered messages: why the task was given up.
	AttrReason = "plba.reason"
	// AttrDeadAt is set on dead-lettered messages: when (RFC 3339).
	AttrDeadAt = "plba.dead_at"
	// AttrMalformed marks, in [contracts.DeadLetter] tasks, a message whose
	// body was not a task envelope.
	AttrMalformed = driver.AttrMalformed
)

const (
	maxMessageAttributes = 10
	// publishAttributeBudget leaves two message attributes free for
	// AttrReason and AttrDeadAt when a message is dead-lettered.
	publishAttributeBudget = maxMessageAttributes - 2
	maxReasonBytes         = 1024
)

// ErrMalformed is wrapped by [Decode] when a message body is not a task
// envelope; it is [driver.ErrMalformed], the same for every backend.
var ErrMalformed = driver.ErrMalformed

// Encoded is a task ready to send: the body, its message attributes and its
// size as SQS counts it.
type Encoded struct {
	Body       string
	Attributes map[string]types.MessageAttributeValue
	Size       int
}

// Encode turns a task into a message. Attributes go into message attributes
// while SQS allows them (see the package documentation), the rest into the
// body. It does not check a size limit; see [Encoded].Size.
func Encode(task contracts.Task) (Encoded, error) {
	env := driver.NewEnvelope(task, nil)
	attrs := make(map[string]types.MessageAttributeValue, min(len(task.Attributes)+1, publishAttributeBudget))
	size := 0
	put := func(k, v string) {
		attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		size += len(k) + len("String") + len(v)
	}
	if task.Kind != "" && validAttrValue(task.Kind) {
		put(AttrKind, task.Kind)
	}
	// Trace context first: it is what consoles and the Lambda worker read
	// before anything else.
	keys := slices.Sorted(maps.Keys(task.Attributes))
	slices.SortStableFunc(keys, func(a, b string) int { return rank(a) - rank(b) })
	for _, k := range keys {
		v := task.Attributes[k]
		if len(attrs) < publishAttributeBudget && validAttrName(k) && v != "" && validAttrValue(v) && !reservedAttr(k) {
			put(k, v)
			continue
		}
		if env.Attrs == nil {
			env.Attrs = map[string]string{}
		}
		env.Attrs[k] = v
	}
	body, err := json.Marshal(env)
	if err != nil {
		return Encoded{}, fmt.Errorf("sqsqueue: encode task %s: %w", task.ID, err)
	}
	return Encoded{Body: string(body), Attributes: attrs, Size: size + len(body)}, nil
}

func rank(k string) int {
	switch k {
	case contracts.AttrTraceParent:
		return 0
	case contracts.AttrTraceState:
		return 1
	}
	return 2
}

// reservedAttr reports names this package writes itself; a task attribute
// of that name travels in the body so it cannot be confused with ours.
func reservedAttr(k string) bool {
	return k == AttrKind || k == AttrReason || k == AttrDeadAt || k == AttrMalformed
}

// Decode turns a message body and its String message attributes back into
// a task. Attempt and EnqueuedAt are left for the caller (they come from
// system attributes). A body that is not an envelope yields an error
// wrapping [ErrMalformed].
func Decode(body string, attrs map[string]string) (contracts.Task, error) {
	env, err := driver.DecodeEnvelope(body)
	if err != nil {
		return contracts.Task{}, err
	}
	t := contracts.Task{ID: env.ID, Kind: env.Kind, Payload: env.Payload, EnqueuedAt: env.EnqueuedAt}
	n := len(env.Attrs) + len(attrs)
	if n > 0 {
		t.Attributes = make(map[string]string, n)
	}
	for k, v := range attrs {
		if !reservedAttr(k) {
			t.Attributes[k] = v
		}
	}
	maps.Copy(t.Attributes, env.Attrs)
	return t, nil
}

// validAttrName follows SQS's rules for message attribute names.
func validAttrName(k string) bool {
	if k == "" || len(k) > 256 || k[0] == '.' || k[len(k)-1] == '.' || strings.Contains(k, "..") {
		return false
	}
	lk := strings.ToLower(k)
	if strings.HasPrefix(lk, "aws.") || strings.HasPrefix(lk, "amazon.") {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validAttrValue follows SQS's allowed characters (XML 1.0 characters).
func validAttrValue(v string) bool {
	for _, r := range v {
		switch {
		case r == 0x9 || r == 0xA || r == 0xD:
		case r >= 0x20 && r <= 0xD7FF:
		case r >= 0xE000 && r <= 0xFFFD:
		case r >= 0x10000 && r <= 0x10FFFF:
		default:
			return false // includes utf8.RuneError from invalid UTF-8
		}
	}
	return true
}

// fifoID returns v when SQS accepts it as a group or deduplication id, its
// SHA-256 otherwise.
func fifoID(v string) string {
	ok := v != "" && len(v) <= 128
	for i := 0; ok && i < len(v); i++ {
		ok = v[i] >= '!' && v[i] <= '~'
	}
	if ok {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return hex.EncodeToString(sum[:])
}

// stringAttrs flattens String and Number message attributes.
func stringAttrs(in map[string]types.MessageAttributeValue) map[string]string {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if v.StringValue != nil {
			out[k] = *v.StringValue
		}
	}
	return out
}

func msToTime(s string) time.Time {
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
