package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/plba/plba/apps/mailorderbot"
	"github.com/plba/plba/apps/mailorderbot/demo"
	"github.com/plba/plba/apps/mailorderbot/parts"
	"github.com/plba/plba/internal/browsertest"
	"github.com/plba/plba/internal/syncio"
	"github.com/plba/plba/internal/testsvc"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/runner"
	"github.com/plba/plba/pkg/source/imapsource/imaptest"
)

// poisonHeader marks the test's mail that the routine dead-letters while
// the test wants it to.
const poisonHeader = "X-Plba-Test: poison"

// The status page of `plba run` in demo mode, in a real headless Chromium,
// through the page alone (clicks and typing; the Go side only appends mail
// to the demo mailbox and reads what the page shows):
//
//   - a new order mail of the demo generator appears without a reload;
//   - an order in review is accepted from the bot's review panel (the token
//     typed once into the page);
//   - a dead letter is peeked at and redriven, and leaves the list;
//   - pausing the IMAP source stops it: the page, `plba status` and the
//     status action agree, a mail appended meanwhile waits, and after
//     resume it is processed;
//   - a screenshot is saved; the page logs no console error; updates move
//     nothing on the page (layout shift);
//   - when the process stops, the page says it is gone.
func TestStatusPageDemo(t *testing.T) {
	b := browsertest.Start(t, 1280, 1000)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "control.token")

	var poison atomic.Bool
	poison.Store(true)
	a := app()
	a.Modules = func(env runner.ModuleEnv) []contracts.ApplicationModule {
		return []contracts.ApplicationModule{mailorderbot.New(mailorderbot.Options{Demo: env.Demo, DemoInterval: 400 * time.Millisecond,
			Progress: env.Stdout, Parts: parts.All})}
	}
	a.Middleware = []contracts.RoutineMiddleware{func(next contracts.Routine) contracts.Routine {
		return contracts.RoutineFunc(func(ctx context.Context, task contracts.Task) error {
			if poison.Load() && bytes.Contains(task.Payload, []byte(poisonHeader)) {
				return contracts.Permanent(errors.New("test poison: this mail cannot be processed yet"))
			}
			return next.Run(ctx, task)
		})
	}}
	a.Signals = func(chan<- os.Signal) func() { return func() {} }

	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	var out, errw syncio.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runner.Run(runCtx, a, []string{"run", "--demo", "--listen", "127.0.0.1:0",
			"--set", "apps.mailorderbot.store.path=" + filepath.Join(dir, "orders.db"),
			"--set", "platform.control.token_file=" + tokenFile}, &out, &errw)
	}()
	defer func() {
		stopRun()
		<-done
	}()
	base := waitLog(t, &errw, done, regexp.MustCompile(`msg="status page: open (http://\S+/) in a browser"`))
	imapAddr := waitLog(t, &errw, done, regexp.MustCompile(`msg="demo mode: [^"]*".* addr=(\S+)`))
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))

	ctx, cancel := context.WithTimeout(b.Ctx, 50*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nconsole: %v\nlog:\n%s", what, err, b.Errors(false), errw.String())
		}
	}
	until := func(what, js string) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
			t.Fatalf("waiting until %s: %v\nconsole: %v\nlog:\n%s", what, err, b.Errors(false), errw.String())
		}
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return s
	}
	mail := func(raw []byte) {
		t.Helper()
		c, err := imaptest.Login(ctx, imapAddr, demo.User, demo.Password)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := imaptest.AppendMessages(ctx, c, "INBOX", [][]byte{raw}); err != nil {
			t.Fatal(err)
		}
	}
	const orders, review, dlq = "#p-mailorderbot_orders", "#p-mailorderbot_review", "#dlq-orders"
	row := func(panel, key string) string { return fmt.Sprintf(`%s tr[data-key=%q]`, panel, key) }

	// 1. The page fills itself from the actions; the demo's next mail
	// shows up without a reload.
	do("load", chromedp.Navigate(base+"?refresh=0.5"),
		chromedp.WaitVisible(chromedp.CSS(row("#workers", "source:imap"))),
		chromedp.WaitVisible(chromedp.CSS(orders+" tbody tr")))
	eval(`window.plbaNoReload = "still the same document"; ""`)
	// Layout shifts from here on (the first fill is over) are updates
	// moving things. Rows entering a list's own scroll box move the rows
	// below them inside that box only; what counts is anything outside
	// those boxes moving (input-caused shifts are excluded, as browsers do).
	eval(`window.plbaShift = []; new PerformanceObserver((l) => { for (const e of l.getEntries()) { if (e.hadRecentInput) continue;
		for (const s of e.sources) { const n = s.node && (s.node.nodeType === 1 ? s.node : s.node.parentElement);
			if (n && !n.closest(".scroll")) window.plbaShift.push((n.id || n.tagName) + " " + JSON.stringify(s.previousRect) + " -> " + JSON.stringify(s.currentRect)); } } }).observe({type: "layout-shift"}); ""`)
	seen := eval(`JSON.stringify(Array.from(document.querySelectorAll("` + orders + ` tbody tr")).map((tr) => tr.dataset.key))`)
	until("a new generated order appears", `Array.from(document.querySelectorAll("`+orders+` tbody tr")).some((tr) => tr.dataset.key.startsWith("gen-") && !`+seen+`.includes(tr.dataset.key))`)
	if got := eval(`String(window.plbaNoReload)`); got != "still the same document" {
		t.Fatalf("the page reloaded (marker %q)", got)
	}

	// 2. An order in review and a dead letter arrive; the page shows both
	// with their buttons, and the charts fill from the metrics action
	// (throughput from counter deltas between polls, latency from
	// histogram bucket deltas). That is the README's picture: the page's
	// top, every box scrolled to its start, the whole page at 3/4 scale
	// (PNG, 960 px wide, a modest file).
	mail(reviewMail("review-1@test.plba.local"))
	mail(imaptest.Message("poison-1@test.plba.local", "Order 77", "ABC-123 x 1\r\n"+poisonHeader))
	do("review and dead letter", chromedp.WaitVisible(chromedp.CSS(row(review, "review-1@test.plba.local"))),
		chromedp.WaitVisible(chromedp.CSS(dlq+" tbody tr")))
	until("the charts have data from the metrics action", `document.querySelector("#chart-tp path.s1").getAttribute("d").length > 0 &&
		document.querySelector("#chart-lat path.s2").getAttribute("d").length > 0 &&
		document.getElementById("metrics-source").textContent.startsWith("Throughput and latency from the metrics action")`)
	eval(`window.scrollTo(0, 0); document.querySelectorAll(".scroll").forEach((e) => { e.scrollTop = 0; }); ""`)
	shot, err := chromedp.Run(ctx, chromedp.ScreenshotScale(chromedp.CSS("body"), 0.75))
	if err != nil {
		t.Fatal(err)
	}
	saveScreenshot(t, "status-page.png", shot)

	// 3. The order in review, accepted from the bot's panel: the page
	// asks for the token once.
	do("accept", chromedp.Click(chromedp.CSS(row(review, "review-1@test.plba.local")+" button")),
		chromedp.WaitVisible(chromedp.CSS("#token-dialog[open] #token-input")),
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(row(review, "review-1@test.plba.local"))))
	until("the accepted order shows as accepted", `(document.querySelector('`+row(orders, "review-1@test.plba.local")+` td:nth-child(3)') || {}).textContent === "accepted"`)

	// The dead letter: peeked at (the token is known now), redriven from
	// the page; it leaves the list and is then processed.
	do("peek", chromedp.Click(chromedp.CSS(dlq+" tbody tr button.peek")),
		chromedp.WaitVisible(chromedp.CSS("#peek-dialog[open]")))
	if p := eval(`document.getElementById("peek-payload").textContent`); !strings.Contains(p, "poison-1@test.plba.local") {
		t.Errorf("peeked payload lacks the message: %q", p)
	}
	do("close peek", chromedp.Click(chromedp.CSS("#peek-dialog button[data-close]")), chromedp.WaitNotPresent(chromedp.CSS("#peek-dialog[open]")))
	poison.Store(false)
	do("redrive", chromedp.Click(chromedp.CSS(dlq+" button.redrive")))
	until("the dead letter leaves the list and the order is stored",
		`document.querySelectorAll("`+dlq+` tbody tr").length === 0 && !!document.querySelector('`+row(orders, "poison-1@test.plba.local")+`')`)

	// 4. Pause the source from the page; the page, `plba status` and the
	// status action agree, and a mail waits until resume.
	do("pause", chromedp.Click(chromedp.CSS(row("#workers", "source:imap")+" button.pause")))
	until("the page shows the source paused", `document.querySelector('`+row("#workers", "source:imap")+` td:nth-child(3)').textContent === "paused"`)
	if st := cliWorkerState(t, a, base, "source:imap"); st != "paused" {
		t.Errorf("plba status says source:imap is %q, the page says paused", st)
	}
	mail(imaptest.Message("paused-1@test.plba.local", "Order while paused", "ABC-124 x 1"))
	// Three page updates later (a running IDLE source takes milliseconds),
	// the mail is still not an order.
	until("three more updates", `(() => { const t = document.getElementById("last-update").textContent; window.plbaTicks = (window.plbaLast !== t) ? (window.plbaTicks || 0) + 1 : (window.plbaTicks || 0); window.plbaLast = t; return window.plbaTicks >= 4; })()`)
	if eval(`String(!!document.querySelector('`+row(orders, "paused-1@test.plba.local")+`'))`) != "false" {
		t.Error("a mail was processed while the source was paused")
	}
	do("resume", chromedp.Click(chromedp.CSS(row("#workers", "source:imap")+" button.pause")))
	until("the page shows the source running", `document.querySelector('`+row("#workers", "source:imap")+` td:nth-child(3)').textContent === "running"`)
	until("the waiting mail is processed after resume", `!!document.querySelector('`+row(orders, "paused-1@test.plba.local")+`')`)
	if st := cliWorkerState(t, a, base, "source:imap"); st != "running" {
		t.Errorf("plba status says source:imap is %q after resume", st)
	}

	// 5. No console errors; no layout shift from the updates.
	if shifts := eval(`window.plbaShift.join("\n")`); shifts != "" {
		t.Errorf("updates moved the page's layout:\n%s", shifts)
	}
	// A phone: the page is no wider than the screen (tables scroll in
	// their own boxes).
	do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	if w := eval(`String(document.documentElement.scrollWidth)`); w != "390" {
		t.Errorf("the page is %s px wide at a 390 px viewport", w)
	}
	eval(`document.getElementById("s-outcomes").scrollIntoView(); ""`)
	if shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot()); err == nil {
		saveScreenshot(t, "status-page-phone.png", shot)
	}
	b.CheckNoErrors(t, false)

	// 6. The process stops: the page says so (failed requests are the
	// browser's own log entries now, not page errors).
	stopRun()
	if code := <-done; code != runner.ExitOK {
		t.Errorf("run exited with %d", code)
	}
	done <- runner.ExitOK // for the deferred wait
	until("the page says the process is gone", `!document.getElementById("gone").hidden && document.getElementById("conn-text").textContent === "Process gone"`)
	b.CheckNoErrors(t, true)
}

// waitLog waits for re in the run's log and returns its first group.
func waitLog(t *testing.T, errw *syncio.Buffer, done chan int, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := re.FindStringSubmatch(errw.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("run exited with %d:\n%s", code, errw.String())
		case <-deadline:
			t.Fatalf("no %s in the log:\n%s", re, errw.String())
		case <-tick.C: // a log written by the process under test: nothing to await but the text
		}
	}
}

// cliWorkerState runs `plba status --url BASE --json` and returns the
// state of one worker.
func cliWorkerState(t *testing.T, a runner.App, base, name string) string {
	t.Helper()
	var out, errw bytes.Buffer
	if code := runner.Run(context.Background(), a, []string{"status", "--url", strings.TrimSuffix(base, "/"), "--json"}, &out, &errw); code != runner.ExitOK {
		t.Fatalf("plba status: exit %d: %s", code, errw.String())
	}
	var st struct {
		Workers []contracts.WorkerStatus `json:"workers"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatalf("plba status --json: %v\n%s", err, out.String())
	}
	for _, w := range st.Workers {
		if w.Name == name {
			return string(w.State)
		}
	}
	t.Fatalf("plba status lists no %s:\n%s", name, out.String())
	return ""
}

// reviewMail is an order with a PDF attachment beside its lines: the bot
// keeps the lines and asks a person (status review).
func reviewMail(id string) []byte {
	return fmt.Appendf(nil, "From: Dana Fox <dana@example.com>\r\nTo: orders@demo.plba.local\r\nSubject: Order\r\n"+
		"Date: Mon, 02 Mar 2026 12:00:00 +0000\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"ABC-123 x 2\r\nThe rest is in the attached PDF.\r\n--b\r\nContent-Type: application/pdf; name=\"po.pdf\"\r\n"+
		"Content-Disposition: attachment; filename=\"po.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n", id)
}

// saveScreenshot keeps a screenshot in $TMPDIR/plba-screenshots and, with
// PLBA_UPDATE_SCREENSHOT=1 (make screenshot), refreshes the README's
// docs/img/status-page.png.
func saveScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dst := []string{filepath.Join(os.TempDir(), "plba-screenshots", name)}
	if os.Getenv("PLBA_UPDATE_SCREENSHOT") == "1" && name == "status-page.png" {
		dst = append(dst, filepath.Join(testsvc.Root(t), "docs", "img", name))
	}
	for _, p := range dst {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s (%d bytes)", p, len(png))
	}
}
