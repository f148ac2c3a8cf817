package feedrelay_test

import (
	"errors"
	"strings"
	"testing"

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
