package feedrelay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/plba/plba/apps/feedrelay"
)

func TestDefaultsNeedFeedsAndWebhook(t *testing.T) {
	err := feedrelay.DefaultConfig().Validate()
	if !errors.Is(err, feedrelay.ErrInvalidConfig) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"apps.feedrelay.feeds: must list at least one feed URL", "apps.feedrelay.webhook.url: must be set"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
	c := feedrelay.DefaultConfig()
	c.Feeds = "https://a.example/feed.xml, https://b.example/atom\nhttps://c.example/rss"
	c.Webhook.URL = "https://hooks.example/in"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.FeedURLs(); len(got) != 3 || got[2] != "https://c.example/rss" {
		t.Errorf("FeedURLs = %q", got)
	}
}

func TestValidateReportsEachKey(t *testing.T) {
	c := feedrelay.DefaultConfig()
	c.Feeds = "ftp://x/feed https://a/f https://a/f"
	c.Webhook.URL = "hooks"
	c.Interval = 0
	c.Workers = 0
	c.State.Driver = "dynamodb"
	err := c.Validate()
	for _, want := range []string{
		`feeds: "ftp://x/feed" is not an http(s) URL`, `feeds: "https://a/f" is listed twice`,
		`webhook.url: "hooks" is not an http(s) URL`, "interval: 0s must be at least 1s",
		"workers: 0 must be between 1 and 256", "state.table: required for the dynamodb driver",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v lacks %q", err, want)
		}
	}
}

func TestValidateSchedule(t *testing.T) {
	c := feedrelay.DefaultConfig()
	c.Feeds, c.Webhook.URL = "https://a.example/f", "https://h.example/in"
	c.Schedule = "0 25 * * *"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "apps.feedrelay.schedule: schedule: invalid cron expression") {
		t.Errorf("bad hour: %v", err)
	}
	c.Schedule, c.Interval, c.CatchUp = "@hourly", time.Hour, time.Minute
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "interval: 1h0m0s must not exceed catch_up (1m0s)") {
		t.Errorf("interval above catch_up: %v", err)
	}
	c.Interval = 30 * time.Second
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}
