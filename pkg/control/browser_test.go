package control_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/plba/plba/internal/browsertest"
	"github.com/plba/plba/pkg/contracts"
	"github.com/plba/plba/pkg/control"
	"github.com/plba/plba/pkg/runtime"
)

// panelModule contributes a panel the way an application does, with words
// the page does not know: a read action with rows and a mutating row
// action that asks for a note.
type panelModule struct {
	mu      sync.Mutex
	flagged map[string]string
}

func (*panelModule) Name() string                                       { return "items" }
func (*panelModule) Register(context.Context, contracts.Registry) error { return nil }

func (p *panelModule) Actions() []contracts.ActionSpec {
	return []contracts.ActionSpec{
		{Name: "items.list", Summary: "items", Handle: func(context.Context, json.RawMessage) (any, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			rows := []map[string]any{}
			for _, id := range []string{"item-1", "item-2"} {
				st := "open"
				if p.flagged[id] != "" {
					st = "flagged"
				}
				rows = append(rows, map[string]any{"id": id, "state": st, "tags": []string{"a<b>", "c"}, "note": p.flagged[id]})
			}
			return map[string]any{"items": rows}, nil
		}},
		{Name: "items.flag", Summary: "flag an item", Mutating: true, Handle: func(_ context.Context, raw json.RawMessage) (any, error) {
			var req struct{ ID, Note string }
			if err := json.Unmarshal(raw, &req); err != nil || req.ID == "" || req.Note == "" {
				return nil, contracts.ErrInvalidParams
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			p.flagged[req.ID] = req.Note
			return map[string]string{"id": req.ID}, nil
		}},
	}
}

func (*panelModule) Panels() []contracts.Panel {
	return []contracts.Panel{{
		ID: "items.all", Title: "Items", Action: "items.list", Rows: "items", Key: "id",
		Columns: []contracts.PanelColumn{{Field: "id", Label: "Item"}, {Field: "state", Label: "State", Format: contracts.PanelState,
			Tones: map[string]string{"flagged": "warn"}}, {Field: "tags", Label: "Tags", Format: contracts.PanelList}, {Field: "note", Label: "Note"}},
		RowActions: []contracts.PanelRowAction{{Label: "Flag", Action: "items.flag", FromRow: map[string]string{"id": "id"},
			Input: &contracts.PanelInput{Param: "note", Label: "Why", Required: true}, When: map[string][]string{"state": {"open"}}}},
	}}
}

// The status page as a person sees it: a real headless Chromium loads it
// from the running control plane; the script fills the workers, the queue
// with its dead letter, the outcomes and a module's panel from the actions;
// a payload is peeked at (the token typed into the page's dialog); a row
// action of the panel runs; nothing is written to the console (no script
// error, no Content-Security-Policy violation); the page fits a phone.
func TestStatusPageInChromium(t *testing.T) {
	b := browsertest.Start(t, 1280, 900)
	logging, _ := runtime.NewLogging(&bytes.Buffer{}, runtime.LogConfig{Level: "error"})
	outcomes := control.NewOutcomes(0)
	m := runtime.NewManager(runtime.Options{Logging: logging, QueueObserver: outcomes.Observer})
	items := &panelModule{flagged: map[string]string{}}
	mods := []contracts.ApplicationModule{failModule{}, items}
	if err := m.Register(mods...); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Stop(context.Background(), true)
	waitDeadLetter(t, m)
	so := control.LocalOptions(m)
	so.Build, so.Outcomes, so.Modules = "browser-test", outcomes, mods
	svc, err := control.NewService(so)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := control.Listen("127.0.0.1:0", control.NewHTTPHandler(control.HTTPOptions{Service: svc, Token: token}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	url := "http://" + srv.Addr() + "/?refresh=0.5"

	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'sha256-") || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "connect-src 'self'") || csp != control.PageCSP() {
		t.Errorf("Content-Security-Policy %q", csp)
	}

	ctx, cancel := context.WithTimeout(b.Ctx, 45*time.Second)
	defer cancel()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v\nconsole: %v", what, err, b.Errors(false))
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return strings.TrimSpace(s)
	}
	do("load", chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`#workers tr[data-key="pool:job"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#workers tr[data-key="source:oneshot"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dlq-jobs tr[data-id="job-1"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#p-items_all tr[data-key="item-1"]`)))
	if got := text(`#queues tr[data-key="jobs"] td:nth-child(6)`); got != "1" {
		t.Errorf("dead count of jobs = %q, want 1", got)
	}
	if got := text(`#outcomes tbody tr td:nth-child(6)`); got != "dead-lettered" {
		t.Errorf("outcome = %q", got)
	}
	if got := text(`#p-items_all tr[data-key="item-1"] td:nth-child(3)`); got != "a<b>; c" {
		t.Errorf("list column = %q (values must be text, never markup)", got)
	}
	if got := text("#f-build"); got != "browser-test" {
		t.Errorf("build = %q", got)
	}

	// Peek needs the token: the page asks for it once and keeps it in
	// memory; the payload comes back redacted.
	do("peek", chromedp.Click(chromedp.CSS(`#dlq-jobs tr[data-id="job-1"] button.peek`)),
		chromedp.WaitVisible(chromedp.CSS("#token-dialog[open] #token-input")),
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS(`#token-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#peek-dialog[open]")))
	if p := text("#peek-payload"); !strings.Contains(p, "customer mail") || strings.Contains(p, "hunter2") {
		t.Errorf("peeked payload %q", p)
	}
	do("close peek", chromedp.Click(chromedp.CSS("#peek-dialog button[data-close]")),
		chromedp.WaitNotPresent(chromedp.CSS("#peek-dialog[open]")))

	// The outcomes filter.
	do("filter", chromedp.SendKeys(chromedp.CSS("#outcome-filter"), "no-such-task"),
		chromedp.WaitVisible(chromedp.CSS("#outcomes-empty")))
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("outcome-filter").value = ""`)); err != nil {
		t.Fatal(err)
	}
	do("unfilter", chromedp.SendKeys(chromedp.CSS("#outcome-filter"), "job-1"),
		chromedp.WaitNotVisible(chromedp.CSS("#outcomes-empty")))
	if got := text("#outcome-count"); got != "1 of 1 shown" {
		t.Errorf("outcome count %q", got)
	}

	// The panel's row action, by keyboard only: Enter on the button asks
	// for the note, Enter submits it; the module's action gets the row's
	// key and the row updates without a reload.
	do("row action", chromedp.Focus(chromedp.CSS(`#p-items_all tr[data-key="item-2"] button`)), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS("#input-dialog[open] #input-value")),
		chromedp.KeyEvent("looks odd\r"),
		chromedp.WaitNotPresent(chromedp.CSS("#input-dialog[open]")))
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector('#p-items_all tr[data-key="item-2"] td:nth-child(4)').textContent === "looks odd"`)); err != nil {
		t.Fatalf("flagged row never showed: %v", err)
	}
	items.mu.Lock()
	note := items.flagged["item-2"]
	items.mu.Unlock()
	if note != "looks odd" {
		t.Errorf("items.flag got note %q", note)
	}
	if hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#p-items_all tr[data-key="item-2"] button').hidden`)); !hidden {
		t.Error("the Flag button shows on a flagged row (When)")
	}
	// The keyboard focus did not fall back to the page's start when the
	// button it was on went away.
	if in, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("p-items_all").contains(document.activeElement)`)); !in {
		t.Error("the focus left the panel when its button was hidden")
	}
	// The token never left the page's memory.
	if stored, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie + location.href`)); strings.Contains(stored, token) {
		t.Errorf("the token is stored outside the page's memory: %s", stored)
	}

	// The chart arithmetic on known numbers: two metrics snapshots 10 s
	// apart (two series of plba.tasks, two of plba.routine.duration whose
	// buckets add up), 20 more tasks → 2/s; bucket deltas [0,10,10,0] over
	// bounds [1ms,10ms,100ms] → p50 10 ms, p95 91 ms (interpolated).
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const snap = (t, a, b, h1, h2) => ({ time: t,
			counters: [{ name: "plba.tasks", attributes: { outcome: "succeeded" }, value: a }, { name: "plba.tasks", attributes: { outcome: "retried" }, value: b }, { name: "other", value: 99 }],
			histograms: [{ name: "plba.routine.duration", bounds: [0.001, 0.01, 0.1], counts: h1 }, { name: "plba.routine.duration", bounds: [0.001, 0.01, 0.1], counts: h2 }] });
		const c = window.plbaCharts;
		const s = c.metricsSeries([c.toSample(snap("2026-01-01T00:00:00Z", 8, 2, [1, 1, 0, 0], [0, 1, 0, 0])),
			c.toSample(snap("2026-01-01T00:00:10Z", 25, 5, [1, 6, 5, 0], [0, 6, 5, 0]))]);
		return [s.tp[0].v, s.p50[0].v.toFixed(4), s.p95[0].v.toFixed(4), c.percentile([1, 2], [0, 0, 0], 0.5)].join(" ");
	})()`))
	if err != nil || got != "2 0.0100 0.0910 " {
		t.Errorf("chart arithmetic: %q, %v; want \"2 0.0100 0.0910 \"", got, err)
	}

	// A phone: nothing wider than the screen but the tables' own scroll
	// boxes.
	do("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 390 {
		t.Errorf("page is %d px wide at a 390 px viewport", w)
	}
	// This service has no metrics (as with platform.telemetry.metrics.
	// enabled: false): the page asked once, got not_supported (the one
	// failed request the browser logs) and says where its charts come from.
	if got := text("#metrics-source"); !strings.Contains(got, "estimated from the recent outcomes") {
		t.Errorf("metrics source note %q", got)
	}
	b.CheckNoErrors(t, false, "/api/v1/metrics")
}

// badPanels names an action nobody serves.
type badPanels struct{ panelModule }

func (*badPanels) Panels() []contracts.Panel {
	return []contracts.Panel{{ID: "x", Title: "X", Action: "items.nope", Key: "id"}}
}

// A panel must name actions the service serves: a typo fails at start, not
// on the page; the panels action lists what the modules contribute.
func TestPanelsAreChecked(t *testing.T) {
	ok := &panelModule{flagged: map[string]string{}}
	svc, err := control.NewService(control.Options{Modules: []contracts.ApplicationModule{ok}})
	if err != nil {
		t.Fatal(err)
	}
	var res control.PanelsResult
	if err := svc.Do(context.Background(), control.Call{Action: "panels"}).Decode(&res); err != nil || len(res.Panels) != 1 ||
		res.Panels[0].RowActions[0].Input.Param != "note" {
		t.Fatalf("panels: %v %+v", err, res)
	}
	bad := &badPanels{panelModule{flagged: map[string]string{}}}
	if _, err := control.NewService(control.Options{Modules: []contracts.ApplicationModule{bad}}); err == nil || !strings.Contains(err.Error(), `unknown action "items.nope"`) {
		t.Fatalf("NewService with a panel on an unknown action: %v", err)
	}
}
