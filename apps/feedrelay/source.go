package feedrelay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/plba/plba/pkg/contracts"
)

// TaskKind is the kind of the tasks the source publishes.
const TaskKind = "feedrelay.entry"

// Source polls the feeds with conditional GETs and publishes one task per
// entry it has not published before. It is the same in a long-lived process
// (polled every Interval) and in the Lambda poller (polled once per
// scheduled invocation); what it remembers is in the StateStore.
type Source struct {
	cfg    Config
	client *http.Client
	state  StateStore
	log    *slog.Logger
	now    func() time.Time
}

// NewSource returns a source over the configured feeds.
func NewSource(cfg Config, client *http.Client, state StateStore, log *slog.Logger) *Source {
	if client == nil {
		client = &http.Client{}
	}
	if log == nil {
		log = slog.Default()
	}
	return &Source{cfg: cfg, client: client, state: state, log: log, now: time.Now}
}

// Name implements contracts.TaskSource.
func (s *Source) Name() string { return "feedrelay" }

// Poll fetches every feed once. A feed that fails does not stop the others;
// the errors are joined.
func (s *Source) Poll(ctx context.Context, pub contracts.Publisher) (int, error) {
	var total int
	var errs []error
	for _, feed := range s.cfg.FeedURLs() {
		n, err := s.pollFeed(ctx, feed, pub)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// EntryTaskID is the task id of an entry: stable across polls, so the
// webhook's Idempotency-Key is too.
func EntryTaskID(feed, id string) string {
	h := sha256.Sum256([]byte(feed + "\x00" + id))
	return "entry-" + hex.EncodeToString(h[:12])
}

func (s *Source) pollFeed(ctx context.Context, feed string, pub contracts.Publisher) (int, error) {
	st, err := s.state.Load(ctx, feed)
	if err != nil {
		return 0, err
	}
	first := st.CheckedAt.IsZero()
	st.CheckedAt = s.now().UTC()
	fail := func(err error) (int, error) {
		st.Error = err.Error()
		if serr := s.state.Save(ctx, feed, st); serr != nil {
			s.log.Warn("feed state not saved", "feed", feed, "err", serr)
		}
		return 0, err
	}

	entries, etag, lastMod, notModified, err := s.fetch(ctx, feed, st)
	if err != nil {
		return fail(err)
	}
	st.Error = ""
	if notModified {
		return 0, s.state.Save(ctx, feed, st)
	}
	seen := map[string]bool{}
	for _, id := range st.Seen {
		seen[id] = true
	}
	// Oldest first: feeds list the newest entry on top.
	slices.Reverse(entries)
	var keep []string
	published := 0
	var pubErr error
	for _, e := range entries {
		if seen[e.ID] || (first && s.cfg.SkipExisting) {
			keep = append(keep, e.ID)
			continue
		}
		if pubErr != nil {
			continue // not published: stays unseen for the next poll
		}
		payload, err := json.Marshal(e)
		if err != nil {
			return fail(err)
		}
		t := contracts.Task{ID: EntryTaskID(feed, e.ID), Kind: TaskKind, Payload: payload,
			Attributes: map[string]string{contracts.AttrSourceRef: feed}}
		if err := pub.Publish(ctx, t); err != nil {
			pubErr = fmt.Errorf("feedrelay: publish %s: %w", e.ID, err)
			continue
		}
		keep = append(keep, e.ID)
		published++
	}
	st.Seen = keep
	st.Published += published
	if pubErr == nil {
		// Only now: a 304 on the next poll must not hide entries that
		// were never published.
		st.ETag, st.LastModified = etag, lastMod
	} else {
		st.ETag, st.LastModified = "", ""
		st.Error = pubErr.Error()
	}
	if err := s.state.Save(ctx, feed, st); err != nil {
		return published, err
	}
	if published > 0 {
		s.log.Info("feed polled", "feed", feed, "entries", len(entries), "published", published)
	}
	return published, pubErr
}

// fetch GETs the feed with its validators. A 304 returns notModified.
func (s *Source) fetch(ctx context.Context, feed string, st FeedState) (entries []Entry, etag, lastMod string, notModified bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, feed, nil)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("feedrelay: %s: %w", feed, err)
	}
	req.Header.Set("User-Agent", "plba-feedrelay/1")
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.8")
	if st.ETag != "" {
		req.Header.Set("If-None-Match", st.ETag)
	}
	if st.LastModified != "" {
		req.Header.Set("If-Modified-Since", st.LastModified)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("feedrelay: fetch %s: %w", feed, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, st.ETag, st.LastModified, true, nil
	case resp.StatusCode != http.StatusOK:
		return nil, "", "", false, fmt.Errorf("feedrelay: fetch %s: HTTP %s", feed, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, s.cfg.MaxFeedBytes+1))
	if err != nil {
		return nil, "", "", false, fmt.Errorf("feedrelay: fetch %s: %w", feed, err)
	}
	if int64(len(body)) > s.cfg.MaxFeedBytes {
		return nil, "", "", false, fmt.Errorf("feedrelay: fetch %s: larger than max_feed_bytes (%d)", feed, s.cfg.MaxFeedBytes)
	}
	entries, err = ParseFeed(feed, body)
	if err != nil {
		return nil, "", "", false, fmt.Errorf("feedrelay: %s: %w", feed, err)
	}
	return entries, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), false, nil
}

// FeedHealth reports each feed's last fetch from the state store, so that
// the control function, which never polls, shows what the poller saw.
func FeedHealth(cfg Config, state StateStore) contracts.HealthContributor {
	return contracts.HealthFunc("feedrelay-feeds", func(ctx context.Context) contracts.Health {
		var failing, never []string
		for _, f := range cfg.FeedURLs() {
			st, err := state.Load(ctx, f)
			switch {
			case err != nil:
				return contracts.Down("state store: " + err.Error())
			case st.CheckedAt.IsZero():
				never = append(never, f)
			case st.Error != "":
				failing = append(failing, st.Error)
			}
		}
		n := len(cfg.FeedURLs())
		switch {
		case len(failing) == n:
			return contracts.Down(fmt.Sprintf("every feed failed its last fetch: %s", failing[0]))
		case len(failing) > 0:
			return contracts.Degraded(fmt.Sprintf("%d of %d feeds failed their last fetch: %s", len(failing), n, failing[0]))
		case len(never) > 0:
			return contracts.Up(fmt.Sprintf("%d of %d feeds not fetched yet", len(never), n))
		}
		return contracts.Up(fmt.Sprintf("%d feeds fetched", n))
	})
}
