package feedrelay_test

import (
	"errors"
	"testing"

	"github.com/plba/plba/apps/feedrelay"
)

func TestParseRSS(t *testing.T) {
	doc := `<?xml version="1.0" encoding="windows-1251"?>
<rss version="2.0"><channel><title>t</title>
<item><guid isPermaLink="false">g-2</guid><title>` + "\xcf\xf0\xe8\xe2\xe5\xf2" + `</title><link>https://e/2</link><description>two&nbsp;&amp; more</description><pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate></item>
<item><title>no guid</title><link>https://e/1</link></item>
<item><description>nothing to identify me</description></item>
</channel></rss>`
	es, err := feedrelay.ParseFeed("https://e/rss", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("%d entries: %+v", len(es), es)
	}
	if e := es[0]; e.ID != "g-2" || e.Title != "Привет" || e.Summary != "two\u00a0& more" || e.Feed != "https://e/rss" || e.Published == "" {
		t.Errorf("first entry %+v", e)
	}
	if e := es[1]; e.ID != "https://e/1" || e.Link != "https://e/1" {
		t.Errorf("an item without guid is identified by its link: %+v", e)
	}
}

func TestParseAtom(t *testing.T) {
	doc := `<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
<entry><id>tag:e,2026:1</id><title>One</title><link rel="self" href="https://e/self"/><link href="https://e/1"/><content type="html">&lt;p&gt;hi&lt;/p&gt;</content><updated>2026-12-01T10:00:00Z</updated></entry>
</feed>`
	es, err := feedrelay.ParseFeed("https://e/atom", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].ID != "tag:e,2026:1" || es[0].Link != "https://e/1" || es[0].Summary != "<p>hi</p>" || es[0].Published != "2026-12-01T10:00:00Z" {
		t.Errorf("entries %+v", es)
	}
}

func TestParseRejectsOtherDocuments(t *testing.T) {
	for _, doc := range []string{"", "<html><body>moved</body></html>", "not xml at all"} {
		if _, err := feedrelay.ParseFeed("u", []byte(doc)); !errors.Is(err, feedrelay.ErrNotAFeed) {
			t.Errorf("%q: err = %v", doc, err)
		}
	}
}
