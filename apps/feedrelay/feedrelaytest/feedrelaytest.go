// Package feedrelaytest has the real HTTP servers the feed relay's tests
// run against: an Atom feed that honours conditional GETs and a webhook
// that records deliveries and fails the ones it is told to.
package feedrelaytest

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/plba/plba/apps/feedrelay"
)

// Feed is an Atom feed server. Its ETag changes with its entries.
type Feed struct {
	URL string

	mu          sync.Mutex
	entries     []string // ids, oldest first
	version     int
	full, notMo int
	requests    []time.Time
}

// NewFeed serves ids as entries (the last one newest).
func NewFeed(t testing.TB, ids ...string) *Feed {
	f := &Feed{entries: ids, version: 1}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	f.URL = srv.URL + "/feed.atom"
	return f
}

// Add appends an entry.
func (f *Feed) Add(id string) {
	f.mu.Lock()
	f.entries = append(f.entries, id)
	f.version++
	f.mu.Unlock()
}

// Counts returns the 200 and 304 responses so far.
func (f *Feed) Counts() (full, notModified int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full, f.notMo
}

// Requests returns when each request arrived.
func (f *Feed) Requests() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.requests...)
}

func (f *Feed) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, time.Now())
	etag := fmt.Sprintf(`"v%d"`, f.version)
	if r.Header.Get("If-None-Match") == etag {
		f.notMo++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	f.full++
	w.Header().Set("ETag", etag)
	w.Header().Set("Content-Type", "application/atom+xml")
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<feed xmlns="http://www.w3.org/2005/Atom"><title>test</title>`)
	for i := len(f.entries) - 1; i >= 0; i-- { // newest first, as feeds do
		id := html.EscapeString(f.entries[i])
		fmt.Fprintf(&b, `<entry><id>%s</id><title>Entry %s</title><link href="https://example.org/%s"/><updated>2026-12-01T00:00:%02dZ</updated><summary>about %s</summary></entry>`,
			id, id, id, i%60, id)
	}
	b.WriteString(`</feed>`)
	_, _ = io.WriteString(w, b.String())
}

// Delivery is one POST the webhook received.
type Delivery struct {
	Entry   feedrelay.Entry
	Key     string
	Auth    string
	Attempt string
	Status  int
	At      time.Time
}

// Webhook records deliveries. Fail maps an entry id to the statuses its
// attempts get, in order (then 204).
type Webhook struct {
	URL string

	mu    sync.Mutex
	Fail  map[string][]int
	got   []Delivery
	notif chan struct{}
}

// NewWebhook starts the server.
func NewWebhook(t testing.TB) *Webhook {
	h := &Webhook{Fail: map[string][]int{}, notif: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(srv.Close)
	h.URL = srv.URL + "/hook"
	return h
}

func (h *Webhook) serve(w http.ResponseWriter, r *http.Request) {
	var e feedrelay.Entry
	if err := json.NewDecoder(r.Body).Decode(&e); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusUnprocessableEntity)
		return
	}
	h.mu.Lock()
	status := http.StatusNoContent
	if q := h.Fail[e.ID]; len(q) > 0 {
		status, h.Fail[e.ID] = q[0], q[1:]
	}
	h.got = append(h.got, Delivery{Entry: e, Key: r.Header.Get("Idempotency-Key"), Auth: r.Header.Get("Authorization"),
		Attempt: r.Header.Get("X-Feedrelay-Attempt"), Status: status, At: time.Now()})
	h.mu.Unlock()
	select {
	case h.notif <- struct{}{}:
	default:
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(status)
}

// Deliveries returns what arrived so far.
func (h *Webhook) Deliveries() []Delivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Delivery(nil), h.got...)
}

// Delivered returns the ids accepted (2xx), in order.
func (h *Webhook) Delivered() []string {
	var ids []string
	for _, d := range h.Deliveries() {
		if d.Status < 300 {
			ids = append(ids, d.Entry.ID)
		}
	}
	return ids
}

// WaitFor waits until cond holds on the deliveries, or fails the test
// after timeout.
func (h *Webhook) WaitFor(t testing.TB, timeout time.Duration, what string, cond func([]Delivery) bool) {
	t.Helper()
	deadline := time.After(timeout)
	for !cond(h.Deliveries()) {
		select {
		case <-h.notif:
		case <-deadline:
			t.Fatalf("webhook: %s not seen within %s; got %+v", what, timeout, h.Deliveries())
		}
	}
}
