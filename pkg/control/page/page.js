
// PLBA status page. Everything shown comes from the control plane's
// actions (GET /api/v1/ACTION for reads, POST with a JSON body for the
// rest), the same ones the CLI calls: there is no second set of counters.
// Values are written with textContent only; nothing received is parsed as
// HTML. The control token lives in this closure and nowhere else: not in
// localStorage, sessionStorage, cookies or the URL.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  // ?refresh=SECONDS sets the poll interval (0.5 to 60; default 2).
  const every = Math.round(1000 * Math.min(60, Math.max(0.5, Number(params.get("refresh")) || 2)));
  const SPAN = 5 * 60 * 1000; // charts show at most the last five minutes
  const MIN_SPAN = 30 * 1000; // and at least half a minute
  const WINDOW = 60 * 1000; // percentiles over a sliding minute

  let token = "";
  let access = {}; // action name -> "read" | "read-sensitive" | "mutate"
  let hasMetrics = false;
  let panels = [];
  let lastOK = 0;
  let gone = false;
  let timer = 0;
  let busy = false;
  let outcomes = [];
  const samples = []; // metrics snapshots: {t, tasks, bounds, counts}

  // ---- helpers ----------------------------------------------------------

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function setText(e, s) {
    s = s == null ? "" : String(s);
    if (e.textContent !== s) e.textContent = s;
  }
  function setClass(e, cls) {
    if (e.className !== cls) e.className = cls;
  }
  function pad(n) { return String(n).padStart(2, "0"); }
  function clock(d) { return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }
  function fmtTime(s) {
    if (!s) return "";
    const d = new Date(s);
    if (isNaN(d)) return String(s);
    const today = new Date();
    if (d.toDateString() === today.toDateString()) return clock(d);
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + clock(d);
  }
  function fmtSeconds(s) {
    if (s == null || !isFinite(s)) return "—";
    if (s < 0.001) return (s * 1e6).toFixed(0) + " µs";
    if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : s < 0.1 ? 1 : 0) + " ms";
    return s.toFixed(s < 10 ? 2 : 1) + " s";
  }
  function fmtRate(r) {
    if (r == null || !isFinite(r)) return "—";
    return (r < 10 ? r.toFixed(2) : r.toFixed(1));
  }
  function fmtNum(v) { return v == null ? "" : String(v); }
  function tone(state) {
    switch (state) {
      case "running": case "up": case "succeeded": return "good";
      case "paused": case "degraded": case "starting": case "stopping": case "retry": case "idle": return "warn";
      case "failed": case "down": case "dead-lettered": case "stopped": return "bad";
    }
    if (String(state).includes("panic")) return "bad";
    return "";
  }
  function badge(cell, text, t) {
    let b = cell.firstElementChild;
    if (!b || !b.classList.contains("badge")) {
      cell.textContent = "";
      b = el("span", "badge");
      cell.append(b);
    }
    setClass(b, "badge" + (t ? " " + t : ""));
    setText(b, text);
  }

  let toastTimer = 0;
  function announce(msg) {
    const t = $("announce");
    t.textContent = msg;
    t.classList.add("show");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => t.classList.remove("show"), 4000);
  }

  // syncRows keeps one child (a <tr>, an <li>) per key, in the order of
  // items, reusing elements (and so the focus of a button in them) across
  // updates.
  function syncRows(tbody, items, keyOf, make, update) {
    const old = new Map();
    for (const tr of Array.from(tbody.children)) old.set(tr.dataset.key, tr);
    const seen = new Set();
    let prev = null;
    for (const it of items) {
      const k = String(keyOf(it));
      if (seen.has(k)) continue;
      seen.add(k);
      let tr = old.get(k);
      if (!tr) {
        tr = make(it);
        tr.dataset.key = k;
      }
      update(tr, it);
      const want = prev ? prev.nextElementSibling : tbody.firstElementChild;
      if (want !== tr) tbody.insertBefore(tr, want);
      prev = tr;
    }
    for (const [k, tr] of old) {
      if (seen.has(k)) continue;
      // A row that leaves while it holds the keyboard focus (an order just
      // accepted) hands it to the next row's button, or to its box.
      if (tr.contains(document.activeElement)) {
        const next = tr.nextElementSibling || tr.previousElementSibling;
        const target = (next && next.querySelector("button:not([hidden])")) || tbody.closest("[tabindex]");
        tr.remove();
        if (target) target.focus();
        continue;
      }
      tr.remove();
    }
  }
  function cells(tr, n) {
    while (tr.cells.length < n) tr.insertCell();
    return tr.cells;
  }

  // ---- transport ---------------------------------------------------------

  class Gone extends Error {}

  // call runs one action. Reads go out as GET with query parameters
  // (scalars only); everything else, and reads with nested parameters, as
  // POST with a JSON body, which the server's cross-site checks require.
  // The token is sent only to actions that need it.
  async function call(action, p, post) {
    p = p || {};
    // Actions that act() runs (post) always carry the token; reads only
    // when the actions list marks them sensitive.
    const needs = post || (access[action] !== undefined && access[action] !== "read");
    const flat = Object.values(p).every((v) => v === null || typeof v !== "object");
    const init = { headers: { "Accept": "application/json" }, cache: "no-store", credentials: "same-origin", signal: AbortSignal.timeout(10000) };
    let url = "/api/v1/" + encodeURIComponent(action);
    if (post || needs || !flat) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(p);
    } else {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(p)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
      const qs = q.toString();
      if (qs) url += "?" + qs;
    }
    if (needs && token) init.headers["Authorization"] = "Bearer " + token;
    let res;
    try {
      res = await fetch(url, init);
    } catch (e) {
      throw new Gone(e && e.name === "TimeoutError" ? "no answer within 10 s" : "connection refused or lost");
    }
    let body;
    try {
      body = await res.json();
    } catch (e) {
      return { ok: false, error: { code: "failed", message: "HTTP " + res.status + ": not a JSON answer" } };
    }
    if (!body || typeof body !== "object") return { ok: false, error: { code: "failed", message: "empty answer" } };
    return body;
  }

  // ---- token -------------------------------------------------------------

  function showToken() {
    setText($("token-state"), token ? "Token set" : "No token");
    $("token-forget").hidden = !token;
    setText($("token-set"), token ? "Change token" : "Enter token");
  }
  function ask(dialog, form, focus) {
    return new Promise((resolve) => {
      const d = $(dialog);
      const f = form ? $(form) : null;
      const done = (v) => {
        d.removeEventListener("close", onClose);
        if (f) f.removeEventListener("submit", onSubmit);
        if (d.open) d.close();
        resolve(v);
      };
      const onClose = () => done(null);
      const onSubmit = (ev) => {
        ev.preventDefault();
        const inp = $(focus);
        if (inp.required && !inp.value.trim()) { inp.focus(); return; }
        done(inp.value);
      };
      d.addEventListener("close", onClose);
      if (f) f.addEventListener("submit", onSubmit);
      d.showModal();
      if (focus) $(focus).focus();
    });
  }
  async function askToken() {
    $("token-input").value = "";
    const v = await ask("token-dialog", "token-form", "token-input");
    $("token-input").value = "";
    if (v && v.trim()) token = v.trim();
    showToken();
    return token;
  }
  for (const b of document.querySelectorAll("dialog [data-close]")) {
    b.addEventListener("click", () => b.closest("dialog").close());
  }
  $("token-set").addEventListener("click", askToken);
  $("token-forget").addEventListener("click", () => { token = ""; showToken(); announce("Token forgotten."); });

  // act runs an action that needs the token, asking for it first, and
  // once more if the server refuses it.
  async function act(action, p, label) {
    if (gone) { announce("The process is gone; nothing was sent."); return null; }
    for (let tries = 0; tries < 2; tries++) {
      if (!token && !(await askToken())) { announce(label + ": cancelled (no token)."); return null; }
      let r;
      try {
        r = await call(action, p, true);
      } catch (e) {
        setGone(e.message);
        return null;
      }
      if (!r.ok && r.error && r.error.code === "unauthorized") {
        token = "";
        showToken();
        announce("The token was refused; enter it again.");
        continue;
      }
      announce(r.ok ? label + ": done." : label + " failed: " + (r.error ? r.error.message : "unknown error"));
      refreshSoon();
      return r;
    }
    return null;
  }

  // ---- connection state ---------------------------------------------------

  function setGone(why) {
    setText($("gone-text"), "No answer since " + (lastOK ? clock(new Date(lastOK)) : "the page loaded") + " (" + why + ").");
    if (gone) return;
    gone = true;
    $("gone").hidden = false;
    document.body.classList.add("is-gone");
    setClass($("conn-dot"), "dot gone");
    setText($("conn-text"), "Process gone");
    for (const b of document.querySelectorAll("main button")) b.disabled = true;
  }
  function setLive() {
    lastOK = Date.now();
    setText($("last-update"), clock(new Date(lastOK)));
    $("last-update").dateTime = new Date(lastOK).toISOString();
    if (gone) {
      gone = false;
      $("gone").hidden = true;
      document.body.classList.remove("is-gone");
      for (const b of document.querySelectorAll("main button")) b.disabled = false;
    }
    setClass($("conn-dot"), "dot live");
    setText($("conn-text"), "Live · every " + every / 1000 + " s");
  }

  // ---- rendering: status ---------------------------------------------------

  function renderStatus(st) {
    setText($("app-state"), st.state || st.deployment || "—");
    setClass($("app-state"), "badge " + tone(st.state));
    const h = st.health || {};
    setText($("app-health"), h.status || "—");
    $("app-health").title = "health " + (h.status || "unknown") + (h.ready === false ? ", not ready" : ", ready");
    setText($("health-ready"), h.ready === false ? "not ready" : h.ready ? "ready" : "");
    setClass($("health-ready"), "badge " + (h.ready === false ? "warn" : h.ready ? "good" : ""));
    setClass($("app-health"), "badge " + tone(h.status));
    setText($("f-uptime"), st.uptime || "—");
    setText($("f-modules"), (st.modules || []).join(", ") || "—");
    setText($("f-config"), st.config_version || "—");
    setText($("f-build"), st.build || "—");

    const comps = h.components || [];
    const ul = $("health-list");
    syncRows(ul, comps, (c) => c.name,
      () => { const li = el("li"); li.append(el("span", "badge"), el("span", "name"), el("span", "msg")); return li; },
      (li, c) => {
        setText(li.children[0], c.state); setClass(li.children[0], "badge " + tone(c.state));
        setText(li.children[1], c.name); setText(li.children[2], c.message || "");
        li.title = c.message || "";
      });

    syncRows($("queues").tBodies[0], st.queues || [], (q) => q.name, () => document.createElement("tr"), (tr, q) => {
      const c = cells(tr, 9);
      setText(c[0], q.name); setText(c[1], q.backend);
      [q.ready, q.in_flight, q.delayed, q.dead, q.published, q.acked, q.nacked].forEach((v, i) => {
        setClass(c[i + 2], "n"); setText(c[i + 2], fmtNum(v || 0));
      });
      setClass(c[5], (q.dead > 0) ? "n err" : "n");
    });

    syncRows($("workers").tBodies[0], st.workers || [], (w) => w.name, makeWorkerRow, updateWorkerRow);
    return st;
  }

  function makeWorkerRow(w) {
    const tr = document.createElement("tr");
    const c = cells(tr, 10);
    setClass(c[0], "id");
    setClass(c[1], "nowrap");
    setClass(c[8], "err line");
    setClass(c[9], "act");
    const pause = el("button", "pause", "Pause");
    pause.type = "button";
    pause.addEventListener("click", () => {
      const name = tr.dataset.key;
      const resume = pause.dataset.mode === "resume";
      act(resume ? "resume" : "pause", { name }, (resume ? "Resume " : "Pause ") + name);
    });
    const restart = el("button", "restart", "Restart");
    restart.type = "button";
    restart.addEventListener("click", () => act("restart", { name: tr.dataset.key }, "Restart " + tr.dataset.key));
    c[9].append(pause, restart);
    return tr;
  }
  function updateWorkerRow(tr, w) {
    const c = tr.cells;
    setText(c[0], w.name);
    setText(c[1], w.kind || "");
    badge(c[2], w.state, tone(w.state));
    [w.in_flight, w.succeeded, w.failed, w.published, w.restarts].forEach((v, i) => { setClass(c[i + 3], "n"); setText(c[i + 3], fmtNum(v || 0)); });
    setText(c[8], w.last_error || "");
    if (c[8].title !== (w.last_error || "")) c[8].title = w.last_error || "";
    const pause = c[9].querySelector(".pause");
    const mode = w.state === "paused" ? "resume" : "pause";
    if (pause.dataset.mode !== mode) {
      pause.dataset.mode = mode;
      setText(pause, mode === "resume" ? "Resume" : "Pause");
    }
    pause.setAttribute("aria-label", (mode === "resume" ? "Resume " : "Pause ") + w.name);
    c[9].querySelector(".restart").setAttribute("aria-label", "Restart " + w.name);
  }

  // ---- rendering: outcomes --------------------------------------------------

  function renderOutcomes() {
    const q = $("outcome-filter").value.trim().toLowerCase();
    const kind = $("outcome-kind").value;
    const rows = outcomes.filter((o) => {
      if (kind && !(o.outcome || "").includes(kind)) return false;
      if (!q) return true;
      return [o.id, o.kind, o.queue, o.error, o.outcome].some((s) => (s || "").toLowerCase().includes(q));
    }).slice(0, 100);
    syncRows($("outcomes").tBodies[0], rows, (o) => o.queue + "\u0000" + o.id + "\u0000" + o.attempt + "\u0000" + o.at,
      () => {
        const tr = document.createElement("tr");
        const c = cells(tr, 8);
        setClass(c[0], "t"); setClass(c[2], "id"); setClass(c[4], "n"); setClass(c[6], "n"); setClass(c[7], "err");
        return tr;
      },
      (tr, o) => {
        const c = tr.cells;
        setText(c[0], fmtTime(o.at)); setText(c[1], o.queue); setText(c[2], o.id); setText(c[3], o.kind);
        setText(c[4], fmtNum(o.attempt)); badge(c[5], o.outcome, tone(o.outcome));
        setText(c[6], fmtSeconds((o.duration_ns || 0) / 1e9)); setText(c[7], o.error || "");
      });
    $("outcomes-empty").hidden = rows.length > 0;
    setText($("outcome-count"), (q || kind) ? rows.length + " of " + outcomes.length + " shown" : outcomes.length + " recent");
  }
  $("outcome-filter").addEventListener("input", renderOutcomes);
  $("outcome-kind").addEventListener("change", renderOutcomes);

  // ---- rendering: dead letters ----------------------------------------------

  function dlqBlock(queue) {
    const id = "dlq-" + queue.replace(/[^A-Za-z0-9_-]/g, "_");
    let box = document.getElementById(id);
    if (box) return box;
    box = el("div", "dlq-q");
    box.id = id;
    box.dataset.queue = queue;
    const head = el("div", "dlq-head");
    const h = el("h3");
    h.id = id + "-h";
    const redrive = el("button", "redrive", "Redrive all");
    redrive.type = "button";
    redrive.setAttribute("aria-label", "Redrive all dead letters of queue " + queue);
    redrive.addEventListener("click", () => act("dlq.redrive", { queue }, "Redrive " + queue));
    head.append(h, redrive);
    const table = el("table");
    table.setAttribute("aria-labelledby", h.id);
    const thead = table.createTHead().insertRow();
    for (const [t, n] of [["ID"], ["Kind"], ["Attempts", 1], ["Reason"], ["At"], ["Origin"], [""]]) {
      const th = el("th", n ? "n" : "", t);
      th.scope = "col";
      if (!t) th.append(el("span", "sr", "Actions"));
      thead.append(th);
    }
    table.createTBody();
    const empty = el("p", "empty", "No dead letters.");
    const err = el("p", "empty err");
    err.hidden = true;
    box.append(head, table, empty, err);
    $("dlq").append(box);
    return box;
  }
  function renderDLQ(queue, r) {
    const box = dlqBlock(queue);
    const [h, redrive] = box.querySelector(".dlq-head").children;
    const err = box.querySelector(".err");
    if (!r.ok) {
      setText(h, queue);
      err.hidden = false;
      setText(err, r.error ? r.error.message : "unavailable");
      box.querySelector("table").hidden = true;
      box.querySelector(".empty:not(.err)").hidden = true;
      redrive.hidden = true;
      return;
    }
    err.hidden = true;
    const list = r.result.dead_letters || [];
    setText(h, queue + " · " + list.length + (list.length === 1 ? " dead letter" : " dead letters"));
    redrive.hidden = false;
    redrive.disabled = gone || list.length === 0;
    box.querySelector("table").hidden = list.length === 0;
    box.querySelector(".empty:not(.err)").hidden = list.length > 0;
    syncRows(box.querySelector("tbody"), list, (d) => d.origin + "\u0000" + d.id, () => {
      const tr = document.createElement("tr");
      const c = cells(tr, 7);
      setClass(c[0], "id"); setClass(c[2], "n"); setClass(c[3], "err"); setClass(c[4], "t"); setClass(c[6], "act");
      const peek = el("button", "peek", "Peek");
      peek.type = "button";
      peek.addEventListener("click", () => doPeek(queue, tr.dataset.id));
      c[6].append(peek);
      return tr;
    }, (tr, d) => {
      const c = tr.cells;
      tr.dataset.id = d.id;
      setText(c[0], d.id); setText(c[1], d.kind); setText(c[2], fmtNum(d.attempts)); setText(c[3], d.reason || "");
      setText(c[4], fmtTime(d.at)); setText(c[5], d.origin || "");
      c[6].firstChild.setAttribute("aria-label", "Peek at dead letter " + d.id);
    });
  }
  async function doPeek(queue, id) {
    const r = await act("dlq.peek", { queue, id, max_bytes: 16384 }, "Peek " + id);
    if (!r || !r.ok) return;
    const p = r.result;
    const meta = $("peek-meta");
    meta.textContent = "";
    const add = (k, v) => { if (v !== undefined && v !== null && v !== "") meta.append(el("dt", "", k), el("dd", "", String(v))); };
    add("Queue", queue); add("ID", p.id); add("Kind", p.kind); add("Attempts", p.attempts); add("Reason", p.reason);
    add("Origin", p.origin); add("Size", p.payload_bytes + " bytes" + (p.truncated ? " (cut)" : "") + (p.encoding === "base64" ? ", base64" : ""));
    for (const [k, v] of Object.entries(p.attributes || {})) add(k, v);
    setText($("peek-payload"), p.payload || "");
    $("peek-dialog").showModal();
  }

  // ---- rendering: module panels ----------------------------------------------

  function buildPanels() {
    const root = $("panels");
    const links = $("panel-links");
    for (const p of panels) {
      const sid = "p-" + p.id.replace(/[^A-Za-z0-9_-]/g, "_");
      const sec = el("section", "panel");
      sec.id = sid;
      sec.setAttribute("aria-labelledby", sid + "-h");
      const h = el("h2", "", p.title);
      h.id = sid + "-h";
      sec.append(h);
      if (p.description) sec.append(el("p", "desc", p.description));
      const wrap = el("div", "scroll tall");
      wrap.tabIndex = 0; // a scrolling box is reachable by keyboard
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-labelledby", sid + "-h");
      const table = el("table");
      table.setAttribute("aria-labelledby", h.id);
      const hr = table.createTHead().insertRow();
      for (const col of p.columns) {
        const th = el("th", col.format === "number" ? "n" : "", col.label);
        th.scope = "col";
        hr.append(th);
      }
      if ((p.row_actions || []).length) {
        const th = el("th");
        th.scope = "col";
        th.append(el("span", "sr", "Actions"));
        hr.append(th);
      }
      table.createTBody();
      const empty = el("p", "empty", p.empty || "Nothing to show.");
      const err = el("p", "empty err");
      err.hidden = true;
      wrap.append(table, empty, err);
      sec.append(wrap);
      root.append(sec);
      const a = el("a", "", p.title);
      a.href = "#" + sid;
      links.append(a);
      p._sec = sec;
    }
  }
  function rowsOf(p, result) {
    let rows = p.rows ? (result || {})[p.rows] : result;
    return Array.isArray(rows) ? rows : [];
  }
  function cellValue(col, v) {
    switch (col.format) {
      case "time": return fmtTime(v);
      case "list": return Array.isArray(v) ? v.join("; ") : fmtNum(v);
      default: return v == null ? "" : (typeof v === "object" ? JSON.stringify(v) : String(v));
    }
  }
  function renderPanel(p, r) {
    const sec = p._sec;
    const table = sec.querySelector("table");
    const empty = sec.querySelector(".empty:not(.err)");
    const err = sec.querySelector(".err");
    if (!r.ok) {
      err.hidden = false;
      setText(err, r.error ? r.error.message : "unavailable");
      return;
    }
    err.hidden = true;
    const rows = rowsOf(p, r.result);
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    const ras = p.row_actions || [];
    const n = p.columns.length + (ras.length ? 1 : 0);
    syncRows(table.tBodies[0], rows, (row) => row[p.key], (row) => {
      const tr = document.createElement("tr");
      const c = cells(tr, n);
      p.columns.forEach((col, i) => {
        if (col.format === "number") setClass(c[i], "n");
        else if (col.format === "time") setClass(c[i], "t");
        else if (col.field === p.key) setClass(c[i], "id");
      });
      if (ras.length) {
        setClass(c[n - 1], "act");
        for (const ra of ras) {
          const b = el("button", "", ra.label);
          b.type = "button";
          b.addEventListener("click", () => rowAction(p, ra, tr._row));
          c[n - 1].append(b);
        }
      }
      return tr;
    }, (tr, row) => {
      tr._row = row;
      p.columns.forEach((col, i) => {
        const v = row[col.field];
        if (col.format === "state") {
          badge(tr.cells[i], cellValue(col, v), (col.tones || {})[v] || "");
        } else {
          setText(tr.cells[i], cellValue(col, v));
        }
      });
      if (ras.length) {
        const bs = tr.cells[n - 1].children;
        ras.forEach((ra, i) => {
          const show = Object.entries(ra.when || {}).every(([f, vals]) => vals.includes(String(row[f])));
          if (!show && bs[i] === document.activeElement) {
            // The button goes away under the keyboard focus: keep the
            // focus in the panel.
            bs[i].hidden = true;
            (tr.querySelector("button:not([hidden])") || tr.closest("[tabindex]")).focus();
          }
          bs[i].hidden = !show;
          bs[i].setAttribute("aria-label", ra.label + " " + row[p.key]);
        });
      }
    });
  }
  async function rowAction(p, ra, row) {
    const req = Object.assign({}, ra.fixed || {});
    for (const [param, field] of Object.entries(ra.from_row || {})) req[param] = row[field];
    const what = ra.label + " " + row[p.key];
    if (ra.input) {
      setText($("input-title"), what);
      setText($("input-label"), ra.input.label);
      setText($("input-ok"), ra.label);
      const inp = $("input-value");
      inp.value = "";
      inp.required = !!ra.input.required;
      const v = await ask("input-dialog", "input-form", "input-value");
      if (v === null) return;
      req[ra.input.param] = v.trim();
    } else if (ra.confirm) {
      setText($("input-title"), what);
      setText($("input-label"), ra.confirm);
      setText($("input-ok"), ra.label);
      const inp = $("input-value");
      inp.value = "";
      inp.required = false;
      if ((await ask("input-dialog", "input-form", "input-value")) === null) return;
    }
    await act(ra.action, req, what);
  }

  // ---- charts ---------------------------------------------------------------

  // percentile of a histogram (bucket counts, upper bounds in seconds),
  // interpolated inside the bucket; the overflow bucket reports its lower
  // bound.
  function percentile(bounds, counts, q) {
    const total = counts.reduce((a, b) => a + b, 0);
    if (total <= 0) return null;
    const target = q * total;
    let cum = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i];
      if (c > 0 && cum + c >= target) {
        if (i >= bounds.length) return bounds[bounds.length - 1];
        const lo = i === 0 ? 0 : bounds[i - 1];
        return lo + (bounds[i] - lo) * ((target - cum) / c);
      }
      cum += c;
    }
    return bounds[bounds.length - 1];
  }
  function sampleQuantile(sorted, q) {
    if (!sorted.length) return null;
    const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
    return sorted[i];
  }

  // From the metrics action: counters are cumulative, so throughput is the
  // difference of plba.tasks between two polls over the time between them,
  // and the latency percentiles come from the difference of the
  // plba.routine.duration buckets over the last minute.
  function toSample(m) {
    const t = Date.parse(m.time) || Date.now();
    let tasks = 0;
    for (const c of m.counters || []) if (c.name === "plba.tasks") tasks += c.value || 0;
    let bounds = null;
    let counts = null;
    for (const h of m.histograms || []) {
      if (h.name !== "plba.routine.duration" || !Array.isArray(h.bounds) || !Array.isArray(h.counts)) continue;
      if (!bounds) { bounds = h.bounds.slice(); counts = new Array(h.counts.length).fill(0); }
      if (h.bounds.length !== bounds.length || h.counts.length !== counts.length) continue; // other bucket layout
      h.counts.forEach((v, i) => { counts[i] += v; });
    }
    return { t, tasks, bounds, counts };
  }
  function addMetrics(m) {
    const smp = toSample(m);
    const { t, tasks } = smp;
    const last = samples[samples.length - 1];
    if (last && (tasks < last.tasks || t <= last.t)) samples.length = 0; // the process restarted
    samples.push(smp);
    while (samples.length > 2 && samples[1].t < t - SPAN - WINDOW) samples.shift();
  }
  function metricsSeries(samples) {
    const tp = [], p50 = [], p95 = [];
    let j = 0;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1], b = samples[i];
      tp.push({ t: b.t, v: (b.tasks - a.tasks) / ((b.t - a.t) / 1000) });
      while (samples[j].t < b.t - WINDOW && j < i - 1) j++;
      const base = samples[j];
      let q50 = null, q95 = null;
      if (b.counts && base.counts && base.counts.length === b.counts.length) {
        const d = b.counts.map((v, k) => Math.max(0, v - base.counts[k]));
        q50 = percentile(b.bounds, d, 0.5);
        q95 = percentile(b.bounds, d, 0.95);
      }
      p50.push({ t: b.t, v: q50 });
      p95.push({ t: b.t, v: q95 });
    }
    const now = samples.length ? samples[samples.length - 1].t : Date.now();
    // Counters are only known since the page opened: the time axis grows
    // with them, from half a minute to five.
    const span = samples.length ? Math.min(SPAN, Math.max(MIN_SPAN, now - samples[0].t)) : MIN_SPAN;
    return { tp, p50, p95, now, span };
  }

  // Fallback, only where the deployment has no metrics action: the same
  // figures estimated from the ring of recent outcomes (at most 256 per
  // queue), labelled as such on the page.
  function outcomeSeries() {
    const now = Date.now();
    const bin = Math.max(every, 5000);
    const list = outcomes.map((o) => ({ t: Date.parse(o.at), d: (o.duration_ns || 0) / 1e9 })).filter((o) => o.t >= now - SPAN - WINDOW);
    const tp = [], p50 = [], p95 = [];
    for (let end = now - SPAN + bin; end <= now; end += bin) {
      const inBin = list.filter((o) => o.t > end - bin && o.t <= end).length;
      tp.push({ t: end, v: inBin / (bin / 1000) });
      const win = list.filter((o) => o.t > end - WINDOW && o.t <= end).map((o) => o.d).sort((a, b) => a - b);
      p50.push({ t: end, v: sampleQuantile(win, 0.5) });
      p95.push({ t: end, v: sampleQuantile(win, 0.95) });
    }
    return { tp, p50, p95, now, span: SPAN };
  }

  function niceMax(v, floor) {
    const m = Math.max(v, floor);
    const p = Math.pow(10, Math.floor(Math.log10(m)));
    for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= m) return k * p;
    return 10 * p;
  }
  function pathOf(series, now, span, max) {
    let d = "";
    let pen = false;
    for (const pt of series) {
      if (pt.v == null || !isFinite(pt.v) || pt.t < now - span) { pen = false; continue; }
      const x = (300 * (pt.t - (now - span)) / span).toFixed(1);
      const y = (78 - 76 * Math.min(1, pt.v / max)).toFixed(1);
      d += (pen ? "L" : "M") + x + " " + y;
      pen = true;
    }
    return d;
  }
  function lastValue(series) {
    for (let i = series.length - 1; i >= 0; i--) if (series[i].v != null) return series[i].v;
    return null;
  }
  function renderCharts() {
    const s = hasMetrics ? metricsSeries(samples) : outcomeSeries();
    const tpMax = niceMax(Math.max(0, ...s.tp.map((p) => p.v || 0)), 1);
    const tpSvg = $("chart-tp");
    tpSvg.querySelector("path.s1").setAttribute("d", pathOf(s.tp, s.now, s.span, tpMax));
    const tpNow = lastValue(s.tp);
    setText($("tp-now"), fmtRate(tpNow) + " /s");
    setText($("tp-max"), "max " + tpMax + " /s");

    const latVals = s.p95.map((p) => p.v || 0);
    const latMax = niceMax(Math.max(0, ...latVals), 0.001);
    const latSvg = $("chart-lat");
    latSvg.querySelector("path.s1").setAttribute("d", pathOf(s.p50, s.now, s.span, latMax));
    latSvg.querySelector("path.s2").setAttribute("d", pathOf(s.p95, s.now, s.span, latMax));
    const a = lastValue(s.p50), b = lastValue(s.p95);
    setText($("lat-p50"), fmtSeconds(a));
    setText($("lat-p95"), fmtSeconds(b));
    setText($("lat-max"), "max " + fmtSeconds(latMax));
    setText(latSvg.querySelector("desc"), "p50 " + fmtSeconds(a) + ", p95 " + fmtSeconds(b) + " over the last minute.");
    const spanText = s.span >= 60000 ? "last " + Math.round(s.span / 60000) + " min" : "last " + Math.round(s.span / 1000) + " s";
    setText($("tp-span"), spanText);
    setText($("lat-span"), spanText + " · 1 min window");
    setText(tpSvg.querySelector("desc"), "Now " + fmtRate(tpNow) + " tasks per second; scale up to " + tpMax + " per second over the " + spanText + ".");
    setText($("metrics-source"), hasMetrics
      ? "Throughput and latency from the metrics action (plba.tasks, plba.routine.duration), since this page opened."
      : "No metrics action in this deployment: throughput and latency are estimated from the recent outcomes (at most 256 per queue).");
  }

  // The chart arithmetic, for the browser test to check against known
  // numbers (it holds no state and no token).
  Object.defineProperty(window, "plbaCharts", { value: Object.freeze({ percentile, toSample, metricsSeries }) });

  // ---- the poll loop --------------------------------------------------------

  async function refresh() {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      const st = await call("status");
      if (!st.ok) throw new Error(st.error ? st.error.message : "status failed");
      const status = renderStatus(st.result);
      const queues = (status.queues || []).map((q) => q.name);
      const jobs = [
        call("outcomes", { limit: hasMetrics ? 100 : 256 }).then((r) => {
          if (r.ok) { outcomes = r.result.outcomes || []; renderOutcomes(); }
        }),
      ];
      if (hasMetrics) {
        jobs.push(call("metrics").then((r) => {
          if (r.ok) addMetrics(r.result);
          else if (r.error && r.error.code === "not_supported") hasMetrics = false; // metrics turned off
        }));
      }
      for (const q of queues) jobs.push(call("dlq.list", { queue: q, limit: 50 }).then((r) => renderDLQ(q, r)));
      for (const p of panels) jobs.push(call(p.action, p.params || {}).then((r) => renderPanel(p, r)));
      await Promise.all(jobs);
      for (const box of Array.from($("dlq").children)) if (!queues.includes(box.dataset.queue)) box.remove();
      renderCharts();
      setLive();
    } catch (e) {
      if (e instanceof Gone) {
        setGone(e.message);
      } else {
        setClass($("conn-dot"), "dot err");
        setText($("conn-text"), "Error: " + e.message);
      }
    } finally {
      busy = false;
      timer = setTimeout(refresh, again ? 0 : gone ? Math.max(every, 3000) : every);
      again = false;
    }
  }
  let soon = 0;
  let again = false;
  function refreshSoon() {
    clearTimeout(soon);
    soon = setTimeout(() => { if (busy) again = true; else refresh(); }, 100);
  }

  async function start() {
    showToken();
    try {
      const a = await call("actions");
      if (a.ok) for (const x of a.result.actions || []) access[x.name] = x.access;
      // The metrics action may exist and still answer not_supported
      // (platform.telemetry.metrics.enabled: false): ask once.
      if (access["metrics"]) {
        const m = await call("metrics");
        hasMetrics = m.ok;
        if (m.ok) addMetrics(m.result);
      }
      const p = await call("panels");
      if (p.ok) panels = p.result.panels || [];
      buildPanels();
    } catch (e) {
      setGone(e.message);
      timer = setTimeout(start, Math.max(every, 3000));
      return;
    }
    refresh();
  }
  start();
})();
