// Package browsertest starts Debian's headless Chromium for tests of the
// control plane's status page, driven over the DevTools protocol with
// chromedp, and records what the page writes to its console.
//
// Under CI=true a missing chromium fails the test; elsewhere it skips,
// naming the install command (internal/testsvc).
package browsertest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/plba/plba/internal/testsvc"
)

// Browser is one headless Chromium with one tab.
type Browser struct {
	// Ctx runs actions in the tab: chromedp.Do(b.Ctx, …).
	Ctx context.Context

	cancel func()
	done   chan struct{}

	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

// Start launches Chromium with a window of width×height CSS pixels and
// a fresh profile, and stops it when the test ends.
func Start(t testing.TB, width, height int) *Browser {
	t.Helper()
	bin := testsvc.RequireBinary(t, "chromium", "chromium")
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height), chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("hide-scrollbars", true))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &Browser{Ctx: ctx, done: make(chan struct{})}
	b.cancel = func() { cancel(); acancel() }
	// Start the browser and the tab now, so that the console subscription
	// below sees every message of the first page.
	if err := chromedp.Do(ctx); err != nil {
		b.cancel()
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		defer close(b.done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	t.Cleanup(b.Close)
	return b
}

// Close stops the browser and waits for the console reader.
func (b *Browser) Close() {
	b.cancel()
	<-b.done
}

// Messages returns what the page wrote to its console so far: console API
// calls, uncaught exceptions and browser log entries (failed requests,
// Content-Security-Policy violations).
func (b *Browser) Messages() []chromedp.ConsoleMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]chromedp.ConsoleMessage(nil), b.msgs...)
}

// Errors returns the console messages of type error and the exceptions,
// formatted; ignoreNetwork leaves out failed requests (the browser log's
// "network" source), which a test that stops the server expects, and
// expected leaves out failed requests of URLs with these suffixes.
func (b *Browser) Errors(ignoreNetwork bool, expected ...string) []string {
	var out []string
	for _, m := range b.Messages() {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		if m.Source == "network" && (ignoreNetwork || slices.ContainsFunc(expected, func(s string) bool { return strings.HasSuffix(m.URL, s) })) {
			continue
		}
		s := fmt.Sprintf("%s %s", m.Type, m.Text)
		if m.Source != "" {
			s += " (" + m.Source + ")"
		}
		if m.URL != "" {
			s += fmt.Sprintf(" at %s:%d", m.URL, m.Line+1)
		}
		out = append(out, s)
	}
	return out
}

// CheckNoErrors fails the test for every console error and exception
// that Errors returns.
func (b *Browser) CheckNoErrors(t testing.TB, ignoreNetwork bool, expected ...string) {
	t.Helper()
	if errs := b.Errors(ignoreNetwork, expected...); len(errs) > 0 {
		t.Errorf("the page logged %d console error(s):\n%s", len(errs), strings.Join(errs, "\n"))
	}
}
