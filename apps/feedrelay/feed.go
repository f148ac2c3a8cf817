package feedrelay

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/net/html/charset"
)

// Entry is one feed item as delivered to the webhook.
type Entry struct {
	// Feed is the feed's URL.
	Feed string `json:"feed"`
	// ID is the item's guid (RSS) or id (Atom), else its link, else its
	// title: what identifies it across fetches.
	ID        string `json:"id"`
	Title     string `json:"title"`
	Link      string `json:"link,omitempty"`
	Summary   string `json:"summary,omitempty"`
	Published string `json:"published,omitempty"`
}

// ErrNotAFeed is returned for documents that are neither RSS nor Atom.
var ErrNotAFeed = errors.New("feedrelay: not an RSS or Atom feed")

type rssDoc struct {
	XMLName xml.Name `xml:"rss"`
	Items   []struct {
		GUID        string `xml:"guid"`
		Title       string `xml:"title"`
		Link        string `xml:"link"`
		Description string `xml:"description"`
		PubDate     string `xml:"pubDate"`
	} `xml:"channel>item"`
}

type atomDoc struct {
	XMLName xml.Name `xml:"feed"`
	Entries []struct {
		ID    string `xml:"id"`
		Title string `xml:"title"`
		Links []struct {
			Href string `xml:"href,attr"`
			Rel  string `xml:"rel,attr"`
		} `xml:"link"`
		Summary   string `xml:"summary"`
		Content   string `xml:"content"`
		Updated   string `xml:"updated"`
		Published string `xml:"published"`
	} `xml:"entry"`
}

// ParseFeed reads an RSS 2.0 or Atom 1.0 document (any charset its XML
// declaration names) into entries, in document order. Items without any
// identifying field are skipped.
func ParseFeed(feedURL string, body []byte) ([]Entry, error) {
	root, err := rootElement(body)
	if err != nil {
		return nil, err
	}
	var out []Entry
	add := func(e Entry) {
		e.Feed = feedURL
		e.Title, e.Link, e.ID = strings.TrimSpace(e.Title), strings.TrimSpace(e.Link), strings.TrimSpace(e.ID)
		e.Summary = strings.TrimSpace(e.Summary)
		if e.ID == "" {
			e.ID = e.Link
		}
		if e.ID == "" {
			e.ID = e.Title
		}
		if e.ID != "" {
			out = append(out, e)
		}
	}
	switch root {
	case "rss":
		var d rssDoc
		if err := decode(body, &d); err != nil {
			return nil, err
		}
		for _, it := range d.Items {
			add(Entry{ID: it.GUID, Title: it.Title, Link: it.Link, Summary: it.Description, Published: it.PubDate})
		}
	case "feed":
		var d atomDoc
		if err := decode(body, &d); err != nil {
			return nil, err
		}
		for _, it := range d.Entries {
			e := Entry{ID: it.ID, Title: it.Title, Summary: it.Summary, Published: it.Published}
			if e.Summary == "" {
				e.Summary = it.Content
			}
			if e.Published == "" {
				e.Published = it.Updated
			}
			for _, l := range it.Links {
				if l.Rel == "" || l.Rel == "alternate" {
					e.Link = l.Href
					break
				}
			}
			add(e)
		}
	default:
		return nil, fmt.Errorf("%w: root element <%s>", ErrNotAFeed, root)
	}
	return out, nil
}

func newDecoder(body []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.CharsetReader = charset.NewReaderLabel
	d.Strict = false // real feeds carry HTML entities like &nbsp;
	d.Entity = xml.HTMLEntity
	return d
}

func rootElement(body []byte) (string, error) {
	d := newDecoder(body)
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("%w: empty document", ErrNotAFeed)
		}
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrNotAFeed, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			return se.Name.Local, nil
		}
	}
}

func decode(body []byte, v any) error {
	if err := newDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrNotAFeed, err)
	}
	return nil
}
