package control

import (
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
)

// The status page is one static document: HTML, CSS and JavaScript
// embedded in the binary and inlined into one response, so it works
// offline and loads nothing from elsewhere. It holds no data: its script
// calls the control plane's actions (GET /api/v1/status, outcomes,
// metrics, dlq.list, panels and the panels' actions; POST for pause,
// resume, restart, dlq.peek, dlq.redrive and module row actions) like any
// other client, so the page and the CLI can never disagree.
//
// The Content-Security-Policy allows exactly the inline style and script
// by their SHA-256 hashes (no 'unsafe-inline'), fetches to this origin
// only, no frames, no forms, no plug-ins: an injected <script> or
// attribute handler would not run even if a value escaped the page's
// text-only rendering.

//go:embed page/index.html page/page.css page/page.js
var pageFiles embed.FS

type builtPage struct {
	html []byte
	csp  string
}

var (
	pageOnce sync.Once
	pageDoc  builtPage
)

// statusPage assembles the page once; only handlers that serve it call
// this, so binaries that never do (the Lambda functions) do not keep it
// alive.
func statusPage() builtPage {
	pageOnce.Do(func() { pageDoc = buildPage(pageFiles) })
	return pageDoc
}

func buildPage(fs embed.FS) builtPage {
	read := func(name string) string {
		b, err := fs.ReadFile(name)
		if err != nil {
			panic("control: embedded page file " + name + ": " + err.Error()) // embedded at build time
		}
		return string(b)
	}
	css, js := read("page/page.css"), read("page/page.js")
	doc := strings.NewReplacer("/*PAGE_CSS*/", css, "/*PAGE_JS*/", js).Replace(read("page/index.html"))
	hash := func(s string) string {
		sum := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := strings.Join([]string{
		"default-src 'none'",
		"script-src " + hash(js),
		"style-src " + hash(css),
		"connect-src 'self'",
		"img-src data:",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
	return builtPage{html: []byte(doc), csp: csp}
}

// PageCSP is the Content-Security-Policy the status page is served with.
func PageCSP() string { return statusPage().csp }

func (h *httpHandler) page(w http.ResponseWriter, r *http.Request) {
	p := statusPage()
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Security-Policy", p.csp)
	// The page never needs to be framed (clickjacking), sniffed, or to
	// tell other sites where it was.
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(p.html)
}
