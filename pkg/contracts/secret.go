package contracts

import "log/slog"

// Redacted is what a [Secret] prints as.
const Redacted = "[REDACTED]"

// Secret holds a sensitive string (a password, a token). Every way of
// printing it — fmt verbs, JSON, text marshalling, slog — yields
// [Redacted]; only Reveal returns the value. Config structs use it for every
// field that must never reach logs, status pages or errors.
type Secret string

// Reveal returns the secret value. Call it only where the value is used.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer (covers %s, %v and %q).
func (s Secret) String() string { return Redacted }

// GoString covers %#v.
func (s Secret) GoString() string { return Redacted }

// MarshalText covers encoding/json, YAML and anything text-based.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue covers log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }
