package feedrelay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FeedState is what the relay remembers about one feed between polls (and
// between Lambda invocations).
type FeedState struct {
	// ETag and LastModified are the last 200 response's validators, sent
	// back as If-None-Match and If-Modified-Since.
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
	// Seen are the IDs of the entries of the last document that were
	// published (or skipped); entries that dropped out of the feed are
	// forgotten, so the set never outgrows the feed.
	Seen []string `json:"seen,omitempty"`
	// CheckedAt is the last fetch; Error its failure, if it failed.
	CheckedAt time.Time `json:"checked_at"`
	Error     string    `json:"error,omitempty"`
	// Published counts entries published since the state began.
	Published int `json:"published"`
}

// StateStore keeps FeedState per feed URL. Load of an unknown feed returns
// the zero state and no error.
type StateStore interface {
	Load(ctx context.Context, feed string) (FeedState, error)
	Save(ctx context.Context, feed string, st FeedState) error
	Close() error
}

// MemoryState is a StateStore in memory.
type MemoryState struct {
	mu sync.Mutex
	m  map[string]FeedState
}

// NewMemoryState returns an empty store.
func NewMemoryState() *MemoryState { return &MemoryState{m: map[string]FeedState{}} }

// Load implements StateStore.
func (s *MemoryState) Load(_ context.Context, feed string) (FeedState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[feed], nil
}

// Save implements StateStore.
func (s *MemoryState) Save(_ context.Context, feed string, st FeedState) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[feed] = st
	return nil
}

// Close implements StateStore.
func (s *MemoryState) Close() error { return nil }

// FileState is a StateStore in one JSON file, rewritten atomically
// (temporary file and rename) on every Save.
type FileState struct {
	path string
	mem  *MemoryState
}

// OpenFileState reads path if it exists.
func OpenFileState(path string) (*FileState, error) {
	s := &FileState{path: path, mem: NewMemoryState()}
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("feedrelay: state: %w", err)
	default:
		if err := json.Unmarshal(b, &s.mem.m); err != nil {
			return nil, fmt.Errorf("feedrelay: state %s: %w", path, err)
		}
	}
	return s, nil
}

// Load implements StateStore.
func (s *FileState) Load(ctx context.Context, feed string) (FeedState, error) {
	return s.mem.Load(ctx, feed)
}

// Save implements StateStore.
func (s *FileState) Save(ctx context.Context, feed string, st FeedState) error {
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	s.mem.m[feed] = st
	b, err := json.MarshalIndent(s.mem.m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("feedrelay: state: %w", err)
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("feedrelay: state: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("feedrelay: state: %w", err)
	}
	return nil
}

// Close implements StateStore.
func (s *FileState) Close() error { return nil }
