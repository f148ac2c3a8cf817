package feedrelay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// Deliverer is the routine: it POSTs an entry to the webhook.
//
//   - 2xx: delivered (ack);
//   - 408, 425, 429, 5xx, or no response: retried after the endpoint's
//     Retry-After, else webhook.retry_after;
//   - any other status: the endpoint refuses the entry; dead-lettered at
//     once (control's redrive sends it again once the endpoint is fixed).
type Deliverer struct {
	cfg    WebhookConfig
	client *http.Client

	mu      sync.Mutex
	lastErr string
	lastAt  time.Time
	okCount int
}

// NewDeliverer returns the routine.
func NewDeliverer(cfg WebhookConfig, client *http.Client) *Deliverer {
	if client == nil {
		client = &http.Client{}
	}
	return &Deliverer{cfg: cfg, client: client}
}

// ErrRefused is wrapped by the error of a delivery the endpoint refused.
var ErrRefused = errors.New("feedrelay: webhook refused the entry")

// Run implements contracts.Routine.
func (d *Deliverer) Run(ctx context.Context, t contracts.Task) error {
	err := d.post(ctx, t)
	d.mu.Lock()
	d.lastAt = time.Now()
	if err != nil {
		d.lastErr = err.Error()
	} else {
		d.lastErr = ""
		d.okCount++
	}
	d.mu.Unlock()
	return err
}

func (d *Deliverer) post(ctx context.Context, t contracts.Task) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(t.Payload))
	if err != nil {
		return contracts.Permanent(fmt.Errorf("feedrelay: webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "plba-feedrelay/1")
	// The receiver can drop a second delivery of the same entry.
	req.Header.Set("Idempotency-Key", t.ID)
	req.Header.Set("X-Feedrelay-Attempt", strconv.Itoa(t.Attempt))
	if !d.cfg.Token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+d.cfg.Token.Reveal())
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return contracts.Retry(fmt.Errorf("feedrelay: webhook: %w", err), d.cfg.RetryAfter)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests, code >= 500:
		return contracts.Retry(fmt.Errorf("feedrelay: webhook: HTTP %s", resp.Status), retryAfter(resp.Header.Get("Retry-After"), d.cfg.RetryAfter))
	default:
		return contracts.Permanent(fmt.Errorf("%w: HTTP %s", ErrRefused, resp.Status))
	}
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped
// at an hour; def when absent or unreadable.
func retryAfter(h string, def time.Duration) time.Duration {
	if h == "" {
		return def
	}
	var d time.Duration
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if at, err := http.ParseTime(h); err == nil {
		d = time.Until(at)
	} else {
		return def
	}
	return min(max(d, time.Second), time.Hour)
}

// Health reports the last delivery of this process.
func (d *Deliverer) Health(context.Context) contracts.Health {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.lastAt.IsZero():
		return contracts.Up("no delivery yet")
	case d.lastErr != "":
		return contracts.Degraded("last delivery failed: " + d.lastErr)
	}
	return contracts.Up(fmt.Sprintf("%d delivered, last at %s", d.okCount, d.lastAt.UTC().Format(time.RFC3339)))
}

// Name implements contracts.HealthContributor.
func (d *Deliverer) Name() string { return "feedrelay-webhook" }
