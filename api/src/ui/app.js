// tritium's status page: apps, one app, deploy, the cluster and charts,
// from the REST API, live through the event stream (polling when it is
// down). Plain browser JavaScript, no build step, nothing from outside the
// binary. Everything shown is set with textContent (never innerHTML), so
// names and messages cannot inject markup.
"use strict";

// ------------------------------------------------------------ state

const PAGE = 100; // rows per table page
const EVENTS_KEPT = 500; // recent events kept for the app pages
const QUEUE_MS = 5000; // the queue (reasons change without events)
const POLL_MS = 5000; // data of the view when the stream is down
const RESYNC_MS = 60000; // the apps table while the stream is up
const SEARCH_MS = 150; // a search is asked this long after the last key

const S = {
  token: sessionStorage.getItem("tritium-token") || "",
  // null: not known yet (no buttons); true/false from the API's answers.
  canWrite: null,
  // The apps table as the API last answered it (GET /v1/api/app/rows:
  // one page of rows and the counts of every app); the API searches,
  // filters and pages, so the page never holds every app.
  rows: null,
  rowsGen: 0,
  queue: [],
  queueAt: 0,
  // app -> [{t, refused}] samples of the queue's refusal counters, for
  // "in the last minute" (the API counts since the app began waiting).
  queueHist: new Map(),
  largest: null,
  events: [], // {t, e}
  // app -> {current, specs: Map(version -> spec)}: older versions' specs
  // asked of the API (GET /v1/api/app/{id}/versions/{v}), dropped when
  // the app's version changes (a rollback changes a kept one's count).
  specs: new Map(),
  live: false,
  dirty: new Set(),
  route: null,
};

// ------------------------------------------------------------ helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = String(v);
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of kids.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function txt(v) {
  return v === null || v === undefined ? "" : String(v);
}

function enc(s) {
  return encodeURIComponent(s);
}

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  if (s < 172800) return Math.round(s / 3600) + " h";
  return Math.round(s / 86400) + " d";
}

function num(n, digits) {
  if (n === null || n === undefined) return "";
  const d = digits === undefined ? 2 : digits;
  return Number.isInteger(n) ? String(n) : n.toFixed(d).replace(/\.?0+$/, "");
}

// 1234567 -> "1.2M", 3456 -> "3.5k", 12.34 -> "12.3".
function short(n) {
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (n / 1e3).toFixed(0) + "k";
  if (a >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return num(n, 1);
}

function plural(n, one, many) {
  return n + " " + (n === 1 ? one : many || one + "s");
}

function cls(s) {
  return String(s).replace(/ /g, "-");
}

function flash(message, error) {
  const f = document.getElementById("flash");
  f.textContent = message;
  f.className = error ? "error" : "";
  f.hidden = !message;
}

function headers(extra) {
  const hs = Object.assign({}, extra || {});
  if (S.token) hs.Authorization = "Bearer " + S.token;
  return hs;
}

// One request: {status, body} (body parsed when JSON). Never throws for
// an HTTP status; a network failure is status 0.
const CALL_TIMEOUT_MS = 35000;

async function call(method, path, body) {
  const init = { method, headers: headers(), cache: "no-store" };
  if (body !== undefined) {
    init.body = body;
    init.headers["Content-Type"] = "application/json";
  }
  // Every request ends: one the browser or the network holds for good
  // would otherwise stall the view's refreshes behind it (at most one load
  // runs at a time). The API's own request deadline is 30 s.
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), CALL_TIMEOUT_MS);
  init.signal = ctl.signal;
  let r, text;
  try {
    r = await fetch(path, init);
    text = await r.text();
  } catch (e) {
    const why = ctl.signal.aborted ? "no answer within " + CALL_TIMEOUT_MS / 1000 + " s" : e.message;
    return { status: 0, body: { error: "the API is unreachable: " + why } };
  } finally {
    clearTimeout(timer);
  }
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (_) {
    parsed = { error: text };
  }
  if (r.status === 401) needToken();
  return { status: r.status, body: parsed };
}

async function get(path) {
  const r = await call("GET", path);
  if (r.status !== 200) {
    const why = r.body && r.body.error ? r.body.error : "HTTP " + r.status;
    throw new Error(path.split("?")[0] + ": " + why);
  }
  return r.body;
}

function needToken() {
  document.getElementById("auth").hidden = false;
  document.getElementById("conn").textContent = "this API needs a token";
}

function setWrite(can) {
  if (S.canWrite === can) return;
  S.canWrite = can;
  document.body.dataset.write = can ? "yes" : "no";
  document.getElementById("who").textContent = can ? "" : "read-only";
  for (const el of document.querySelectorAll(".write-only")) el.hidden = !can;
  render();
}

// Whether this token may change things, from the API's own answer: a
// POST that names no app is refused with 400 by the route when the token
// may write, and with 403 before it when it may not. It changes nothing.
async function probeWrite() {
  const r = await call("POST", "/v1/api/app/restart");
  if (r.status === 401 || r.status === 0) return;
  setWrite(r.status !== 403);
}

// ------------------------------------------------------------ apps list

// The page of the apps table the filters ask for, with the counts of
// every app: one small answer whatever the number of apps and tasks. An
// answer to an older search is dropped.
async function loadRows() {
  const gen = ++S.rowsGen;
  const st = ui.apps;
  const q = new URLSearchParams({ q: st.q.trim(), status: st.status, agent: st.agent.trim(), offset: String(st.page * PAGE), limit: String(PAGE) });
  const r = await get("/v1/api/app/rows?" + q);
  if (gen !== S.rowsGen) return false;
  if (r.matched > 0 && r.rows.length === 0 && st.page > 0) {
    // The page is past the end (apps went away): the last page.
    st.page = Math.max(0, Math.ceil(r.matched / PAGE) - 1);
    return loadRows();
  }
  S.rows = r;
  return true;
}

// Marks for the tests and bench/ui_200k.py: when the apps table was first
// on screen, and when the whole view (the waiting apps too) was (ms since
// navigation).
function markLoaded(key) {
  renderSoon(() => {
    if (!document.body.dataset[key]) document.body.dataset[key] = String(Math.round(performance.now()));
  });
}

// The spec of version v of app a: the current one from the app itself,
// older ones from the API, kept for the 50 apps seen last.
function versionSpec(a, v) {
  if (v === a.version) return a.spec;
  const c = S.specs.get(a.name);
  return c && c.current === a.version ? c.specs.get(v) : undefined;
}

async function loadVersionSpec(a, v) {
  if (v === null || versionSpec(a, v) !== undefined) return;
  let c = S.specs.get(a.name);
  if (!c || c.current !== a.version) {
    S.specs.delete(a.name);
    if (S.specs.size >= 50) S.specs.delete(S.specs.keys().next().value);
    S.specs.set(a.name, (c = { current: a.version, specs: new Map() }));
  }
  const r = await call("GET", "/v1/api/app/" + enc(a.name) + "/versions/" + v);
  // A version dropped meanwhile: null (shown as such).
  c.specs.set(v, r.status === 200 ? r.body.spec : null);
}

async function loadQueue() {
  const q = await get("/v1/api/app/queue");
  S.queue = q.queue || [];
  const now = Date.now();
  for (const e of S.queue) {
    if (!e.why) continue;
    let h = S.queueHist.get(e.app);
    if (!h) S.queueHist.set(e.app, (h = []));
    h.push({ t: now, refused: e.why.refused || {} });
    while (h.length > 2 && now - h[1].t > 60000) h.shift();
  }
  for (const app of [...S.queueHist.keys()]) {
    if (!S.queue.some((e) => e.app === app)) S.queueHist.delete(app);
  }
  S.queueAt = now;
  if (S.queue.some((e) => e.why)) {
    try {
      const a = await get("/v1/api/agents?limit=0");
      S.largest = a.largest_offered;
    } catch (_) {
      S.largest = null;
    }
  }
}

// ------------------------------------------------------------ reasons

const UNITS = { cpus: ["cpu", "cpus"], mem: "MB of memory", disk: "MB of disk", gpus: ["gpu", "gpus"] };

function need(spec, r) {
  const res = (spec && spec.resources) || {};
  if (r === "cpus") return res.cpu;
  if (r === "mem") return res.mem;
  if (r === "gpus") return res.gpus || 0;
  if (r === "disk") return res.disk === undefined ? 0 : typeof res.disk === "number" ? res.disk : res.disk.size;
  return null;
}

function amount(n, r) {
  const u = UNITS[r];
  if (Array.isArray(u)) return num(n) + " " + (n === 1 ? u[0] : u[1]);
  return num(n) + " " + u;
}

// Refusals for `reason` in the last minute, from the samples this page
// took; `null` when it has not watched long enough.
function lastMinute(app, reason) {
  const h = S.queueHist.get(app);
  if (!h || h.length < 2) return null;
  const first = h[0];
  const last = h[h.length - 1];
  const span = (last.t - first.t) / 1000;
  if (span < 50) return null;
  return (last.refused[reason] || 0) - (first.refused[reason] || 0);
}

// The queue entry in words: one line of what waits, then one per reason,
// most refusals first.
function reasons(e, app) {
  const spec = app && app.spec;
  const lines = [];
  const head = plural(e.pending, "instance") + (e.pending === 1 ? " waits" : " wait");
  if (e.backoff_seconds) {
    lines.push(head + ": backing off after " + plural(e.failures, "failure") + "; the next launch in " + ago(e.backoff_seconds));
  }
  const drain = Object.entries(e.draining || {});
  if (drain.length) {
    const n = drain.reduce((s, [, c]) => s + c, 0);
    lines.push(plural(n, "task") + " to move off " + plural(drain.length, "agent") + " draining for maintenance");
  }
  const w = e.why;
  if (!w) {
    if (e.pending > 0 && !e.backoff_seconds) lines.push(head + ": no offer has been examined for it yet");
    return lines;
  }
  const refused = Object.entries(w.refused || {}).sort((a, b) => b[1] - a[1]);
  if (refused.length === 0 && e.pending > 0 && !e.backoff_seconds) {
    lines.push(head + ": " + plural(w.offers_considered, "offer") + " examined, none refused yet");
  }
  refused.forEach(([r, count], i) => {
    let what;
    if (r in UNITS) {
      const n = need(spec, r);
      what = "no agent has " + (n === null ? r : amount(n, r)) + " free";
      const big = S.largest && S.largest[r];
      if (big) what += " (largest free: " + num(big.amount) + " on " + (big.hostname || big.agent_id) + ")";
    } else if (r === "ports") {
      what = "no agent offers the ports it needs";
    } else if (r === "role") {
      what = "the offers are for other roles than " + ((spec && spec.role) || "its role");
    } else if (r === "unique") {
      what = "the agents that fit already run an instance (one per agent)";
    } else if (r === "maintenance") {
      what = "the agents that fit are draining for maintenance";
    } else if (r === "scalars") {
      what = "no agent offers the named scalar resources it needs";
    } else {
      const m = /^filters\[(\d+)\]$/.exec(r);
      const d = m && w.filters ? w.filters[Number(m[1])] : null;
      what = "no agent meets the constraint " + (d || r);
    }
    const minute = lastMinute(e.app, r);
    const counted = minute === null
      ? plural(count, "offer") + " refused for " + r + " since it began waiting"
      : plural(minute, "offer") + " refused for " + r + " in the last minute";
    lines.push((i === 0 ? head + ": " : "") + what + "; " + counted);
  });
  if (w.near_miss) {
    const n = w.near_miss;
    lines.push("closest: " + (n.hostname || n.agent_id) + ", which failed " + (n.failed || []).join(", "));
  }
  if (w.last_offer_seconds_ago !== null && w.last_offer_seconds_ago > 60) {
    lines.push("no offer for " + ago(w.last_offer_seconds_ago) + " (the master sends none that this role may use)");
  }
  return lines;
}

function reasonList(e, app) {
  return h("ul", { class: "reason", dataset: { app: e.app } }, reasons(e, app).map((l) => h("li", { text: l })));
}

// ------------------------------------------------------------ tables

// A table of rows with a pager: `rows` are arrays of cells (text or
// nodes), shown PAGE at a time.
function pagedTable(id, head, rows, state, numeric) {
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.page = Math.min(state.page || 0, pages - 1);
  const start = state.page * PAGE;
  const body = h("tbody");
  if (rows.length === 0) body.appendChild(h("tr", {}, h("td", { class: "muted", text: "none" })));
  for (const r of rows.slice(start, start + PAGE)) {
    body.appendChild(h("tr", r.attrs || {}, r.cells.map((c, i) => {
      const td = h("td", { class: (r.cls && r.cls[i]) || (numeric && numeric[i] ? "num" : null) });
      if (c instanceof Node) td.appendChild(c);
      else td.textContent = txt(c);
      return td;
    })));
  }
  const table = h("table", { id }, h("thead", {}, h("tr", {}, head.map((t, i) => h("th", { class: numeric && numeric[i] ? "num" : null, text: t })))), body);
  const wrap = h("div", {}, table);
  if (pages > 1) {
    const go = (p) => () => { state.page = p; render(); };
    wrap.appendChild(h("div", { class: "pager" },
      h("button", { type: "button", disabled: state.page === 0, onclick: go(state.page - 1) }, "‹ previous"),
      h("span", { text: (start + 1) + "–" + Math.min(rows.length, start + PAGE) + " of " + rows.length }),
      h("button", { type: "button", disabled: state.page >= pages - 1, onclick: go(state.page + 1) }, "next ›")));
  }
  return wrap;
}

// ------------------------------------------------------------ views

const views = {};
const ui = { apps: { page: 0, q: "", status: "", agent: "" }, agents: { page: 0, q: "", draining: false }, tasks: { page: 0, q: "" }, charts: { range: 900 } };

function filterBox(state, key, placeholder) {
  const input = h("input", { type: "search", placeholder, value: state[key], dataset: { filter: key } });
  input.addEventListener("input", () => {
    state[key] = input.value;
    state.page = 0;
    renderSoon(() => {
      const again = document.querySelector('input[data-filter="' + key + '"]');
      if (again) {
        again.focus();
        again.setSelectionRange(again.value.length, again.value.length);
      }
    });
  });
  return input;
}

views.apps = async function () {
  // The table first (drawn as soon as it is in), the queue beside it.
  const queue = Date.now() - S.queueAt > QUEUE_MS ? loadQueue() : null;
  if (await loadRows()) {
    markLoaded("firstPageMs");
    render();
  }
  if (queue) await queue;
  markLoaded("appsLoadedMs");
};

// A search or filter changed: the first page of what it matches, asked
// once the typing stops.
let searchTimer = null;

function searchSoon() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    loadRows().then((fresh) => fresh && renderSoon(), (e) => flash("error: " + e.message, true));
  }, SEARCH_MS);
}

// Every status an app can have (the API's AppStatus).
const STATUSES = ["deploying", "running", "updating", "rolling back", "crash-looping", "deleting", "finished", "failed"];

views.apps.draw = function () {
  const st = ui.apps;
  const r = S.rows;
  const statusSel = h("select", { dataset: { filter: "status" }, onchange: (ev) => { st.status = ev.target.value; st.page = 0; searchSoon(); } },
    h("option", { value: "", text: "every status" }),
    STATUSES.map((s) => h("option", { value: s, text: s + (r ? " (" + (r.statuses[s] || 0) + ")" : ""), selected: s === st.status })));
  const search = (key, placeholder) => {
    const box = filterBox(st, key, placeholder);
    box.addEventListener("input", searchSoon);
    return box;
  };
  const toolbar = h("div", { class: "toolbar" }, search("q", "search by name"), statusSel, search("agent", "agent id or host"),
    S.canWrite ? h("a", { href: "#/deploy" }, h("button", { type: "button", class: "write-only" }, "Deploy an app")) : null);
  if (!r) return [h("h2", {}, "Apps", h("span", { class: "muted", id: "apps-count", text: " loading…" })), toolbar];
  const rows = r.rows.map((a) => ({
    attrs: { dataset: { app: a.name } },
    cells: [h("a", { href: "#/app/" + enc(a.name), text: a.name }), a.status, a.running, a.instances, a.version, a.tasks, a.pending ? plural(a.pending, "pending") : ""],
    cls: [null, cls(a.status)],
  }));
  return [
    h("div", { class: "cards" },
      card("apps", r.total), card("running tasks", r.running), card("instances asked", r.instances), card("waiting", r.pending)),
    h("h2", {}, "Apps", h("span", { class: "muted", id: "apps-count", text: " " + r.matched + " shown" + (r.matched === r.total ? "" : " of " + r.total) })),
    toolbar,
    serverTable("apps", ["app", "status", "running", "instances", "version", "tasks", "queue"], rows, r.matched, st, [0, 0, 1, 1, 1, 1, 0]),
    h("h2", {}, "Waiting"),
    queueTable(),
  ];
};

// A table of one page the API chose (`total` rows in all), with a pager
// that asks for the next.
function serverTable(id, head, rows, total, state, numeric) {
  const wrap = pagedTable(id, head, rows, { page: 0 }, numeric);
  const pages = Math.max(1, Math.ceil(total / PAGE));
  if (pages > 1) {
    const start = state.page * PAGE;
    const go = (p) => () => { state.page = p; loadRows().then((fresh) => fresh && render(), (e) => flash("error: " + e.message, true)); };
    wrap.appendChild(h("div", { class: "pager" },
      h("button", { type: "button", disabled: state.page === 0, onclick: go(state.page - 1) }, "‹ previous"),
      h("span", { text: (start + 1) + "–" + Math.min(total, start + PAGE) + " of " + total }),
      h("button", { type: "button", disabled: state.page >= pages - 1, onclick: go(state.page + 1) }, "next ›")));
  }
  return wrap;
}

function queueTable() {
  const body = h("tbody");
  if (S.queue.length === 0) body.appendChild(h("tr", {}, h("td", { class: "muted", text: "none" })));
  for (const e of S.queue.slice(0, 200)) {
    const app = e.resources ? { spec: { resources: e.resources } } : null;
    body.appendChild(h("tr", { dataset: { app: e.app } },
      h("td", {}, h("a", { href: "#/app/" + enc(e.app), text: e.app })),
      h("td", { class: "num", text: e.pending }),
      h("td", { class: cls(e.status), text: e.status }),
      h("td", {}, reasonList(e, app))));
  }
  const t = h("table", { id: "queue" }, h("thead", {}, h("tr", {}, ["app", "pending", "status", "why"].map((x) => h("th", { text: x })))), body);
  return S.queue.length > 200 ? h("div", {}, t, h("p", { class: "muted", text: "the first 200 of " + S.queue.length })) : t;
}

function card(label, value) {
  return h("div", { class: "card" }, h("b", { text: value }), h("span", { class: "muted", text: label }));
}

function sum(list, f) {
  let n = 0;
  for (const x of list) n += f(x) || 0;
  return n;
}

// ------------------------------------------------------------ one app

const versionsUi = { page: 0 }; // the versions table's pager
const appState = { name: null, app: null, deployment: null, queue: null, versions: null, diff: null, error: null, writable: null, taskAfter: [] };

views.app = async function (name) {
  if (appState.name !== name) {
    Object.assign(appState, { name, app: null, deployment: null, queue: null, versions: null, diff: null, error: null, writable: null, taskAfter: [] });
    ui.tasks = { page: 0, q: "" };
    versionsUi.page = 0;
  }
  const after = appState.taskAfter.length ? "&task_after=" + enc(appState.taskAfter[appState.taskAfter.length - 1]) : "";
  const r = await call("GET", "/v1/api/app?name=" + enc(name) + "&tasks=all&task_limit=1000" + after);
  if (r.status === 404) {
    appState.app = null;
    appState.error = "no app " + name + " (deleted?)";
    return;
  }
  if (r.status !== 200) throw new Error((r.body && r.body.error) || "HTTP " + r.status);
  appState.app = r.body;
  appState.error = null;
  const [deps, queue, versions] = await Promise.all([get("/v1/api/deployments"), get("/v1/api/app/queue?name=" + enc(name)), call("GET", "/v1/api/app/" + enc(name) + "/versions")]);
  appState.versions = versions.status === 200 ? versions.body : null;
  await loadDiffSpecs();
  appState.deployment = (deps.deployments || []).find((d) => d.app === name) || null;
  appState.queue = (queue.queue || [])[0] || null;
  if (appState.queue && appState.queue.why) {
    const now = Date.now();
    let hst = S.queueHist.get(name);
    if (!hst) S.queueHist.set(name, (hst = []));
    hst.push({ t: now, refused: appState.queue.why.refused || {} });
    while (hst.length > 2 && now - hst[1].t > 60000) hst.shift();
    if (!S.largest) {
      try { S.largest = (await get("/v1/api/agents?limit=0")).largest_offered; } catch (_) { /* optional */ }
    }
  }
  if (appState.writable === null) {
    // A token may be allowed some apps only: ask about this one (no task
    // named: 400 when allowed, 403 when not; nothing changes).
    const p = await call("POST", "/v1/api/app/kill?name=" + enc(name));
    appState.writable = p.status !== 403 && p.status !== 401 && p.status !== 0;
  }
};

function canWriteApp() {
  return appState.writable === true;
}

async function act(what, method, path, body, then) {
  flash(what + "…");
  const r = await call(method, path, body);
  if (r.status >= 200 && r.status < 300) {
    flash(what + ": done");
    if (then) then(r);
    refreshNow();
    return r;
  }
  if (r.status === 403) appState.writable = false;
  flash(what + " refused (" + r.status + "): " + ((r.body && r.body.error) || ""), true);
  render();
  return r;
}

views.app.draw = function (name) {
  const a = appState.app;
  if (!a) return [h("h2", { text: name }), h("p", { class: "muted", text: appState.error || "loading…" })];
  const out = [];
  out.push(h("h2", { id: "app-title" }, a.name + " ", h("span", { class: "badge " + cls(a.status), id: "app-status", text: a.status })));
  out.push(h("div", { class: "kv" },
    h("span", { text: "version " + a.version }),
    h("span", { text: a.running + " of " + a.instances + " running" }),
    a.spec && a.spec.healthcheck ? h("span", { text: a.healthy + " healthy" }) : h("span", { class: "muted", text: "no health check" }),
    h("span", { text: a.ready + " ready" }),
    h("span", { text: plural(a.tasks_total, "task") + " in all" }),
    a.failures ? h("span", { class: "bad", text: plural(a.failures, "failure") }) : null,
    a.rolled_back ? h("span", { class: "warn", text: "last update rolled back" }) : null,
    a.waiting ? h("span", { class: "warn", text: a.waiting }) : null));
  if (canWriteApp()) {
    const n = h("input", { type: "number", min: 0, value: a.instances, id: "scale-to", style: "width:6em" });
    out.push(h("div", { class: "toolbar", id: "actions" },
      h("label", {}, "instances ", n),
      h("button", { type: "button", id: "scale", onclick: () => scale(a, n.value) }, "Scale"),
      h("button", { type: "button", id: "restart", onclick: () => confirm("Restart every task of " + a.name + "?") && act("restart " + a.name, "POST", "/v1/api/app/restart?name=" + enc(a.name)) }, "Restart"),
      h("a", { href: "#/deploy/" + enc(a.name) }, h("button", { type: "button", id: "edit" }, "Edit spec")),
      h("button", { type: "button", id: "delete", class: "danger", onclick: () => confirm("Delete " + a.name + " and kill its tasks?") && act("delete " + a.name, "DELETE", "/v1/api/app?name=" + enc(a.name), undefined, () => { location.hash = "#/"; }) }, "Delete")));
  }
  if (appState.queue) {
    out.push(h("h3", { text: "Waiting" }), reasonList(appState.queue, a));
  }
  out.push(h("h3", { text: "Deployment" }));
  const d = appState.deployment;
  if (!d) {
    out.push(h("p", { class: "muted", text: a.previous_version ? "replacing version " + a.previous_version : "none in progress" }));
  } else {
    const pct = d.steps_total ? Math.round((100 * d.steps_done) / d.steps_total) : 0;
    const steps = h("ol", { id: "deploy-steps" },
      h("li", { text: "start version " + d.to_version + " (replacing " + d.from_version + ")" + (d.started ? ", " + new Date(d.started * 1000).toLocaleTimeString() : "") }),
      d.canary !== null ? h("li", { text: "canary: " + plural(d.canary, "instance") + (d.state === "canary-waiting" ? " ready, waiting for a resume" + (d.canary_timeout_seconds ? " (rolled back in " + ago(d.canary_timeout_seconds) + ")" : "") : "") }) : null,
      h("li", { text: d.steps_done + " of " + d.steps_total + " instances of version " + d.to_version + " ready" }),
      h("li", { text: "stop version " + d.from_version + "'s tasks" }));
    out.push(h("div", { id: "deployment" },
      h("span", { class: "badge " + cls(d.state), text: d.state }), " ",
      h("span", { class: "progress" }, h("span", { style: "width:" + pct + "%" })), " " + pct + "%",
      steps,
      canWriteApp() ? h("div", { class: "toolbar" },
        d.state !== "paused" ? h("button", { type: "button", id: "pause", onclick: () => act("pause", "POST", "/v1/api/deployments/" + enc(a.name) + "/pause") }, "Pause") : null,
        d.state === "paused" || d.state === "canary-waiting" ? h("button", { type: "button", id: "resume", onclick: () => act("resume", "POST", "/v1/api/deployments/" + enc(a.name) + "/resume") }, "Resume") : null,
        d.state !== "rolling-back" ? h("button", { type: "button", id: "abort", class: "danger", onclick: () => confirm("Abort and roll back to version " + d.from_version + "?") && act("abort", "POST", "/v1/api/deployments/" + enc(a.name) + "/abort") }, "Abort (roll back)") : null) : null));
  }
  out.push(h("h3", { text: "Tasks" }), tasksTable(a));
  out.push(h("h3", { text: "Versions" }), versions(a));
  out.push(h("h3", { text: "Recent events" }), recentEvents(a.name));
  return out;
};

async function scale(a, value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    flash("instances must be a whole number, 0 or more", true);
    return;
  }
  const spec = Object.assign({}, a.spec, { instances: n });
  await act("scale " + a.name + " to " + n, "PUT", "/v1/api/app", JSON.stringify(spec));
}

function tasksTable(a) {
  const st = ui.tasks;
  const q = st.q.trim().toLowerCase();
  const now = Date.now() / 1000;
  const tasks = (a.tasks || []).filter((t) => !q || [t.id, t.state, t.agent_id, t.host].some((v) => String(v).toLowerCase().includes(q)));
  const rows = tasks.map((t) => ({
    attrs: { dataset: { task: t.id } },
    cells: [t.id, t.state, t.version, t.healthy === null ? "" : t.healthy ? "healthy" : "unhealthy", t.ready ? "ready" : "", t.agent_id, t.host, (t.ports || []).join(", "), t.started_at ? ago(now - t.started_at) : "", t.message || "",
      canWriteApp() && !t.killing ? h("button", { type: "button", class: "danger", onclick: () => confirm("Kill " + t.id + "? (it is replaced)") && act("kill " + t.id, "POST", "/v1/api/app/kill?name=" + enc(a.name) + "&task=" + enc(t.id)) }, "kill") : t.killing ? "killing" : ""],
    cls: [null, t.state, t.version === a.version ? null : "warn", t.healthy === false ? "bad" : "ok"],
  }));
  const counts = Object.entries(a.task_states || {}).map(([s, n]) => s.replace("TASK_", "").toLowerCase() + " " + n).join(", ");
  const out = [h("div", { class: "toolbar" }, filterBox(st, "q", "filter by id, state, agent, host"), h("span", { class: "muted", text: counts }))];
  out.push(pagedTable("tasks", ["task", "state", "version", "health", "ready", "agent", "host", "ports", "age", "last message", ""], rows, st));
  if (a.next_task || appState.taskAfter.length) {
    out.push(h("div", { class: "pager" },
      h("button", { type: "button", disabled: !appState.taskAfter.length, onclick: () => { appState.taskAfter.pop(); refreshNow(); } }, "‹ earlier tasks"),
      h("span", { class: "muted", text: "1,000 tasks per page from the API" }),
      h("button", { type: "button", disabled: !a.next_task, onclick: () => { appState.taskAfter.push(a.next_task); refreshNow(); } }, "later tasks ›")));
  }
  return h("div", {}, out);
}

// The two versions the diff shows: the operator's choice while both are
// kept, else the version an update in progress replaces (or the newest
// older one kept) and the current one.
function diffPair() {
  const a = appState.app;
  const kept = ((appState.versions && appState.versions.versions) || []).map((v) => v.version);
  const d = appState.diff;
  if (d && kept.includes(d.from) && kept.includes(d.to)) return d;
  const older = kept.filter((v) => v !== a.version);
  const from = a.previous_version && kept.includes(a.previous_version) ? a.previous_version : older.length ? older[0] : null;
  return { from, to: a.version };
}

async function loadDiffSpecs() {
  const a = appState.app;
  if (!a || !appState.versions) return;
  const p = diffPair();
  await Promise.all([loadVersionSpec(a, p.from), loadVersionSpec(a, p.to)]);
}

function versions(a) {
  const list = appState.versions;
  if (!list) return h("p", { class: "muted", text: "versions unavailable" });
  const now = Date.now() / 1000;
  const p = diffPair();
  const pick = (which) => h("select", { id: "diff-" + which, onchange: async (ev) => {
    appState.diff = Object.assign({}, diffPair(), { [which]: Number(ev.target.value) });
    await loadDiffSpecs();
    render(true);
  } }, list.versions.map((v) => h("option", { value: v.version, selected: v.version === p[which] }, "version " + v.version + (v.current ? " (current)" : ""))));
  const rows = list.versions.map((v) => ({
    attrs: { dataset: { version: v.version } },
    cells: [v.version, v.time === null ? "unknown" : new Date(v.time * 1000).toLocaleString() + " (" + ago(now - v.time) + " ago)", v.cause + (v.redeployed_from ? " from version " + v.redeployed_from : ""), v.current ? "current" : v.rolled_back ? "rolled back" : "",
      canWriteApp() && !v.current ? h("button", { type: "button", class: "deploy-version", onclick: () => confirm("Deploy version " + v.version + "'s spec again, as a new version at " + plural(a.instances, "instance") + "?") && act("deploy version " + v.version + " of " + a.name, "POST", "/v1/api/app/" + enc(a.name) + "/versions/" + v.version + "/deploy") }, "deploy again") : ""],
    cls: [null, null, null, v.current ? "ok" : v.rolled_back ? "bad" : null],
  }));
  const out = [h("p", { class: "muted", text: plural(list.versions.length, "version") + " kept (at most " + list.max_versions + "; the oldest are dropped first)" + (a.previous_version ? "; version " + a.version + " is replacing " + a.previous_version : "") })];
  out.push(h("div", { class: "versions" }, pagedTable("versions", ["version", "made", "cause", "", ""], rows, versionsUi)));
  if (p.from === null) {
    out.push(h("p", { class: "muted", text: "one version only: nothing to compare" }));
  } else {
    const from = versionSpec(a, p.from);
    const to = versionSpec(a, p.to);
    out.push(h("div", { class: "toolbar" }, "changes from ", pick("from"), " to ", pick("to")));
    out.push(h("div", { id: "version-diff", dataset: { from: p.from, to: p.to } },
      from === undefined || to === undefined ? h("p", { class: "muted", text: "loading…" })
        : from === null || to === null ? h("p", { class: "muted", text: "that version is no longer kept" })
          : diffView(from, to)));
  }
  out.push(h("details", {}, h("summary", { text: "spec of version " + a.version }), h("pre", { id: "spec", text: JSON.stringify(a.spec, null, 2) })));
  return h("div", {}, out);
}

// A line diff of two documents (longest common subsequence, bounded).
function diffLines(a, b) {
  const x = a.split("\n").slice(0, 400);
  const y = b.split("\n").slice(0, 400);
  const m = x.length;
  const n = y.length;
  const L = Array.from({ length: m + 1 }, () => new Uint16Array(n + 1));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0;
  let j = 0;
  while (i < m && j < n) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
    else if (L[i + 1][j] >= L[i][j + 1]) out.push(["-", x[i++]]);
    else out.push(["+", y[j++]]);
  }
  while (i < m) out.push(["-", x[i++]]);
  while (j < n) out.push(["+", y[j++]]);
  return out;
}

// A document with every object's keys in one order (the API writes some
// views field by field and others through a sorted map), so a diff shows
// changes, not orderings.
function canon(v) {
  if (Array.isArray(v)) return v.map(canon);
  if (v === null || typeof v !== "object") return v;
  const out = {};
  for (const k of Object.keys(v).sort()) out[k] = canon(v[k]);
  return out;
}

function diffView(from, to) {
  const d = diffLines(JSON.stringify(canon(from), null, 2), JSON.stringify(canon(to), null, 2));
  if (!d.some(([k]) => k !== " ")) return h("p", { class: "muted", text: "no change" });
  return h("pre", { class: "diff" }, d.filter(([k], i) => k !== " " || d.slice(Math.max(0, i - 2), i + 3).some(([k2]) => k2 !== " ")).map(([k, l]) => h("div", { class: k === "+" ? "add" : k === "-" ? "del" : null, text: k + " " + l })));
}

function recentEvents(app) {
  const mine = S.events.filter((x) => x.e.app === app).slice(-50).reverse();
  if (mine.length === 0) return h("p", { class: "muted", text: "none among the last " + EVENTS_KEPT + " events" });
  return h("ul", { class: "events" }, mine.map((x) => {
    const e = x.e;
    const what = e.type === "task" ? e.task + " " + e.state + (e.host ? " on " + e.host : "") + (e.message ? ": " + e.message : "") : e.event + (e.version ? " (version " + e.version + ")" : "");
    return h("li", { text: new Date(x.t).toLocaleTimeString() + "  " + what });
  }));
}

// ------------------------------------------------------------ deploy

const deployState = { name: null, text: null, error: null, busy: false };

const TEMPLATE = { name: "", instances: 1, resources: { cpu: 0.1, mem: 64 }, command: { cmd: "" } };

views.deploy = async function (name) {
  if (deployState.name === (name || "") && deployState.text !== null) return;
  deployState.name = name || "";
  deployState.error = null;
  if (name) {
    const a = await get("/v1/api/app?name=" + enc(name) + "&tasks=none");
    deployState.base = a.spec;
    deployState.text = JSON.stringify(a.spec, null, 2);
  } else {
    deployState.base = null;
    deployState.text = JSON.stringify(TEMPLATE, null, 2);
  }
};

// The line of the JSON text that holds `field` (a path like
// `resources.cpu`, `[1].name`, `health_checks[0].path`), found by a small
// scanner of the document; the first line when it is not in the text.
function lineOf(text, field) {
  const want = [];
  for (const part of field.match(/[^.[\]]+|\[\d+\]/g) || []) want.push(part.startsWith("[") ? Number(part.slice(1, -1)) : part);
  const stack = []; // {type: "o"|"a", key, index}
  let line = 1;
  let i = 0;
  const path = () => stack.map((s) => (s.type === "a" ? s.index : s.key));
  const matches = (p) => p.length === want.length && p.every((v, k) => v === want[k]);
  let best = 1;
  let bestDepth = -1;
  const consider = () => {
    const p = path();
    let d = 0;
    while (d < p.length && d < want.length && p[d] === want[d]) d++;
    if (d === p.length && d > bestDepth) { best = line; bestDepth = d; }
    return matches(p);
  };
  while (i < text.length) {
    const c = text[i];
    if (c === "\n") { line++; i++; continue; }
    if (c === "{" || c === "[") {
      stack.push({ type: c === "{" ? "o" : "a", key: null, index: 0, expectKey: c === "{" });
      i++;
      if (c === "[" && consider()) return line;
      continue;
    }
    if (c === "}" || c === "]") { stack.pop(); i++; continue; }
    if (c === ",") {
      const top = stack[stack.length - 1];
      if (top && top.type === "a") { top.index++; if (consider()) return line; }
      if (top && top.type === "o") top.expectKey = true;
      i++;
      continue;
    }
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top && top.type === "o" && top.expectKey) {
        try { top.key = JSON.parse(text.slice(i, j + 1)); } catch (_) { top.key = text.slice(i + 1, j); }
        top.expectKey = false;
        if (consider()) return line;
      }
      i = j + 1;
      continue;
    }
    i++;
  }
  return best;
}

views.deploy.draw = function (name) {
  if (!S.canWrite) {
    return [h("h2", { text: name ? "Edit " + name : "Deploy an app" }), h("p", { class: "muted", text: S.canWrite === false ? "this token is read-only" : "checking what this token may do…" })];
  }
  const ta = h("textarea", { id: "spec-json", spellcheck: "false", "aria-label": "app spec (JSON)" });
  ta.value = deployState.text;
  const gutter = h("div", { class: "gutter", "aria-hidden": "true" });
  const editor = h("div", { class: "editor", id: "editor" }, gutter, ta);
  const drawGutter = () => {
    const lines = ta.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: lines }, (_, k) => h("div", { class: deployState.error && deployState.error.line === k + 1 ? "bad" : null, text: k + 1 })));
    gutter.scrollTop = ta.scrollTop;
  };
  const marks = [];
  const err = deployState.error;
  let errBox = null;
  if (err) {
    const mark = h("div", { class: "line-mark", style: "top:" + (5 + (err.line - 1) * 18 - ta.scrollTop) + "px" });
    marks.push(mark);
    errBox = h("div", { class: "field-error", id: "field-error", dataset: { field: err.field, line: err.line } },
      (err.field ? err.field + " (line " + err.line + "): " : "") + err.message);
    editor.appendChild(mark);
  }
  ta.addEventListener("input", () => { deployState.text = ta.value; drawGutter(); updateDiff(); });
  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; for (const m of marks) m.style.top = 5 + (err.line - 1) * 18 - ta.scrollTop + "px"; });
  drawGutter();
  const diffBox = h("div", { id: "deploy-diff" });
  const updateDiff = () => {
    if (!deployState.base) return;
    try {
      diffBox.replaceChildren(h("h3", { text: "Changes" }), diffView(deployState.base, JSON.parse(ta.value)));
    } catch (_) {
      diffBox.replaceChildren();
    }
  };
  updateDiff();
  const submit = h("button", { type: "submit", id: "deploy-submit", disabled: deployState.busy }, name ? "Update " + name : "Create");
  const form = h("form", { id: "deploy-form", onsubmit: (ev) => { ev.preventDefault(); deploy(ta.value, name); } },
    h("p", { class: "muted", text: "The app spec as JSON (see the REST API's /v1/api/openapi.json). Errors are shown at their field." }),
    editor, errBox, h("div", { class: "toolbar" }, submit, name ? h("a", { href: "#/app/" + enc(name), text: "back to " + name }) : null), diffBox);
  if (err) {
    queueMicrotask(() => {
      const lineStart = ta.value.split("\n").slice(0, err.line - 1).join("\n").length + (err.line > 1 ? 1 : 0);
      ta.focus();
      ta.setSelectionRange(lineStart, lineStart);
      ta.scrollTop = Math.max(0, (err.line - 5) * 18);
    });
  }
  return [h("h2", { text: name ? "Edit " + name : "Deploy an app" }), form];
};

async function deploy(text, name) {
  deployState.text = text;
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    const line = m ? text.slice(0, Number(m[1])).split("\n").length : 1;
    deployState.error = { field: "", line, message: "not JSON: " + e.message };
    render(true);
    return;
  }
  deployState.busy = true;
  deployState.error = null;
  const r = await call(name ? "PUT" : "POST", "/v1/api/app", text);
  deployState.busy = false;
  if (r.status === 200 || r.status === 201) {
    flash((name ? "updated " : "created ") + doc.name);
    deployState.text = null;
    deployState.name = null;
    location.hash = "#/app/" + enc(doc.name);
    return;
  }
  const b = r.body || {};
  const field = b.field || "";
  // A refusal of the document as a whole may still name its line.
  const at = /line (\d+)/.exec(b.error || "");
  const line = field ? lineOf(text, field) : at ? Number(at[1]) : 1;
  deployState.error = { field, line, message: b.error || "HTTP " + r.status };
  flash("refused (" + r.status + ")", true);
  render(true);
}

// ------------------------------------------------------------ cluster

const clusterState = { agents: null, total: 0, at: 0 };

views.cluster = async function () {
  const v = await get("/v1/api/agents?limit=10000");
  clusterState.agents = v.agents || [];
  clusterState.total = v.total;
  clusterState.largest = v.largest_offered;
  clusterState.at = Date.now();
};

function bar(used, of) {
  const pct = of > 0 ? Math.min(100, (100 * used) / of) : 0;
  return h("span", { class: "bar", title: Math.round(pct) + "%" }, h("span", { style: "width:" + pct + "%" }));
}

views.cluster.draw = function () {
  if (!clusterState.agents) return [h("p", { class: "muted", id: "view-error", text: S.viewError || "loading…" })];
  const st = ui.agents;
  const q = st.q.trim().toLowerCase();
  const all = clusterState.agents;
  const list = all.filter((a) => (!st.draining || (a.maintenance && a.maintenance.draining)) && (!q || [a.agent_id, a.hostname || "", ...Object.entries(a.attributes).map(([k, v]) => k + ":" + v)].some((s) => s.toLowerCase().includes(q))));
  const rows = list.map((a) => {
    const off = a.offered;
    const m = a.maintenance;
    const apps = Object.entries(a.apps || {});
    return {
      attrs: { dataset: { agent: a.agent_id } },
      cells: [a.agent_id, a.hostname || "",
        h("span", { class: "kv" }, Object.entries(a.attributes).map(([k, v]) => h("span", { text: k + ":" + v }))),
        off ? num(off.cpus) + " cpus, " + num(off.mem, 0) + " MB" : "not read",
        h("span", {}, num(a.used.cpus) + " cpus, " + num(a.used.mem, 0) + " MB", off ? bar(a.used.cpus, a.used.cpus + off.cpus) : null),
        a.tasks,
        h("span", {}, apps.slice(0, 5).map(([n, c], i) => [i ? ", " : "", h("a", { href: "#/app/" + enc(n), text: n }), " ×" + c]), apps.length > 5 ? " …" : ""),
        ago(a.last_offer_seconds_ago),
        m ? (m.draining ? "draining" : "scheduled") + " from " + new Date(m.window_start * 1000).toLocaleString() : ""],
      cls: [null, null, null, null, null, "num", null, null, m && m.draining ? "warn" : null],
    };
  });
  const L = clusterState.largest || {};
  const cb = h("input", { type: "checkbox", checked: st.draining, onchange: (ev) => { st.draining = ev.target.checked; st.page = 0; render(); } });
  return [
    h("div", { class: "cards" },
      card("agents", clusterState.total),
      card("tasks of tritium", sum(all, (a) => a.tasks)),
      card("cpus used by tritium", num(sum(all, (a) => a.used.cpus))),
      card("cpus offered (last read)", num(sum(all, (a) => a.offered && a.offered.cpus))),
      card("draining", all.filter((a) => a.maintenance && a.maintenance.draining).length),
      card("largest cpu offer", L.cpus ? num(L.cpus.amount) + " on " + (L.cpus.hostname || L.cpus.agent_id) : "none")),
    h("h2", {}, "Agents", h("span", { class: "muted", text: " " + list.length + " shown" + (clusterState.total > all.length ? " (the first " + all.length + " of " + clusterState.total + ")" : "") })),
    h("div", { class: "toolbar" }, filterBox(st, "q", "filter by id, host, attribute"), h("label", {}, cb, " draining only")),
    pagedTable("agents", ["agent", "host", "attributes", "offered", "used by tritium", "tasks", "apps", "last offer", "maintenance"], rows, st),
    h("p", { class: "muted", text: "Offered: what the agent's last offer held when tritium read it (offers that arrive while nothing waits are declined unread)." }),
  ];
};

// ------------------------------------------------------------ charts

const chartState = { data: null, at: 0 };

views.charts = async function () {
  chartState.data = await get("/v1/api/charts");
  chartState.at = Date.now();
};

const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#57606a"];

// Down-sample a series to at most `width` points: each point is the mean
// (or max) of its bucket; nulls are skipped.
function bucket(values, size, how) {
  const out = [];
  for (let i = 0; i < values.length; i += size) {
    let acc = null;
    let n = 0;
    for (let k = i; k < Math.min(values.length, i + size); k++) {
      const v = values[k];
      if (v === null || v === undefined) continue;
      acc = acc === null ? v : how === "max" ? Math.max(acc, v) : acc + v;
      n++;
    }
    out.push(acc === null ? null : how === "max" ? acc : acc / n);
  }
  return out;
}

function chart(id, title, unit, series, step, start) {
  const W = 800;
  const H = 150;
  const pad = 40;
  let max = 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  const top = max > 0 ? max * 1.1 : 1;
  const n = Math.max(1, ...series.map((s) => s.values.length));
  const x = (i) => pad + ((W - pad - 5) * i) / Math.max(1, n - 1);
  const y = (v) => H - 20 - ((H - 30) * v) / top;
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title);
  const el = (tag, attrs, text) => {
    const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  el("line", { x1: pad, y1: H - 20, x2: W - 5, y2: H - 20, stroke: "#d0d7de" });
  el("line", { x1: pad, y1: 10, x2: W - 5, y2: 10, stroke: "#eaeef2" });
  el("text", { x: pad - 4, y: 14, "text-anchor": "end", "font-size": 10, fill: "#57606a" }, short(top));
  el("text", { x: pad - 4, y: H - 20, "text-anchor": "end", "font-size": 10, fill: "#57606a" }, "0");
  const t0 = new Date(start * 1000);
  const t1 = new Date((start + (n - 1) * step) * 1000);
  el("text", { x: pad, y: H - 5, "font-size": 10, fill: "#57606a" }, t0.toLocaleTimeString());
  el("text", { x: W - 5, y: H - 5, "text-anchor": "end", "font-size": 10, fill: "#57606a" }, t1.toLocaleTimeString());
  series.forEach((s, k) => {
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (v === null) { pen = false; return; }
      // A lone point is drawn as a dot (a zero-length segment, round cap).
      d += pen ? "L" + x(i).toFixed(1) + " " + y(v).toFixed(1) : "M" + x(i).toFixed(1) + " " + y(v).toFixed(1) + "l0.01 0";
      pen = true;
    });
    if (d) el("path", { d, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.5, "stroke-linecap": "round", "stroke-linejoin": "round", "data-series": s.name });
  });
  let total = 0;
  for (const v of series[0] ? series[0].values : []) total += v || 0;
  return h("div", { class: "chart", id, dataset: { total: String(total * (series[0] && series[0].perBucket ? series[0].perBucket : 1)), points: String(n) } },
    h("h3", { text: title + " (" + unit + ")" }),
    h("div", { class: "legend" }, series.map((s, k) => h("span", {}, h("span", { class: "swatch", style: "background:" + COLORS[k % COLORS.length] }), s.name))),
    svg);
}

views.charts.draw = function () {
  const d = chartState.data;
  if (!d) return [h("p", { class: "muted", id: "view-error", text: S.viewError || "loading…" })];
  const st = ui.charts;
  const len = d.offers_received.length;
  const keep = Math.min(len, st.range);
  const from = len - keep;
  const size = Math.max(1, Math.ceil(keep / 300));
  const cut = (a) => a.slice(from);
  const mean = (a) => bucket(cut(a), size, "mean");
  const max = (a) => bucket(cut(a), size, "max");
  const start = d.start + from;
  const step = size;
  const per = size > 1 ? "per second, mean of " + size + " s" : "per second";
  const sel = h("select", { id: "chart-range", onchange: (ev) => { st.range = Number(ev.target.value); render(); } },
    [[300, "last 5 minutes"], [900, "last 15 minutes"], [3600, "last hour"]].map(([v, t]) => h("option", { value: v, text: t, selected: v === st.range })));
  const out = [h("div", { class: "toolbar" }, sel, h("span", { class: "muted", text: "from the engine's ring of one-second samples (GET /v1/api/charts), refreshed every 5 s" }))];
  const offers = [{ name: "received", values: mean(d.offers_received), perBucket: size }, { name: "declined", values: mean(d.offers_declined) }];
  out.push(chart("chart-offers", "Offers", per, offers, step, start));
  out.push(chart("chart-placements", "Placements", per, [{ name: "tasks launched", values: mean(d.placements), perBucket: size }], step, start));
  out.push(chart("chart-turns", "Engine loop turn", "µs", [{ name: "mean", values: mean(d.turn_mean_us) }, { name: "max", values: max(d.turn_max_us) }], step, start));
  out.push(chart("chart-offer-latency", "Offer answered after", "µs", [{ name: "mean", values: mean(d.offer_answer_mean_us) }, { name: "max", values: max(d.offer_answer_max_us) }], step, start));
  const p = d.pending;
  const pkeep = Math.min(p.total.length, Math.ceil(keep / p.interval_seconds));
  const pfrom = p.total.length - pkeep;
  const pending = [{ name: "all apps", values: p.total.slice(pfrom) }].concat(Object.entries(p.apps).map(([name, v]) => ({ name, values: v.slice(pfrom) })));
  out.push(chart("chart-pending", "Pending instances", "every " + p.interval_seconds + " s; the apps with the most", pending, p.interval_seconds, p.start + pfrom * p.interval_seconds));
  return out;
};

// ------------------------------------------------------------ routing and refresh

function parseRoute() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [head, ...rest] = hash.split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  if (head === "app" && arg) return { view: "app", arg };
  if (head === "deploy") return { view: "deploy", arg };
  if (head === "cluster") return { view: "cluster" };
  if (head === "charts") return { view: "charts" };
  return { view: "apps" };
}

let rendering = false;
let renderAgain = false;
let afterRender = [];

// Draw the current view from what is loaded (no requests). The deploy
// form is drawn again only when asked (`force`): data arriving in the
// background must not take the editor from someone typing in it.
function render(force) {
  const route = S.route || parseRoute();
  if (route.view === "deploy" && !force && document.getElementById("spec-json")) return;
  const main = document.getElementById("view");
  const v = views[route.view];
  let nodes;
  try {
    nodes = v.draw(route.arg);
  } catch (e) {
    nodes = [h("p", { class: "bad", text: "this view failed: " + e.message })];
  }
  main.replaceChildren(...nodes.filter(Boolean));
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.nav === route.view || (route.view === "app" && a.dataset.nav === "apps"));
  document.body.dataset.view = route.view;
  const cbs = afterRender;
  afterRender = [];
  for (const f of cbs) f();
}

function renderSoon(then) {
  if (then) afterRender.push(then);
  if (rendering) { renderAgain = true; return; }
  rendering = true;
  requestAnimationFrame(() => {
    rendering = false;
    render();
    if (renderAgain) { renderAgain = false; renderSoon(); }
  });
}

function stamp() {
  document.getElementById("updated").textContent = new Date().toLocaleTimeString();
}

// Load the current view's data, then draw it. At most one load runs, and
// at most one more follows it however many asked meanwhile.
let loading = false;
let loadAgain = false;

async function refreshNow() {
  if (loading) { loadAgain = true; return; }
  loading = true;
  try {
    S.route = parseRoute();
    await views[S.route.view](S.route.arg);
    S.viewError = null;
    stamp();
    document.body.dataset.loaded = "1";
    if (S.live) document.getElementById("conn").textContent = "live (" + S.live + ")";
  } catch (e) {
    S.viewError = e.message;
    flash("error: " + e.message, true);
  } finally {
    loading = false;
    render(true);
    if (loadAgain) { loadAgain = false; refreshNow(); }
  }
}

// An event: note it, and bring what it is about up to date (that app's
// row; the open app page) a little later, once per burst.
let flushTimer = null;

// A replayed event (`recent`: from before the stream opened): kept for
// the app pages with the time the API took it; nothing to bring up to
// date.
function onRecent(data) {
  let r;
  try { r = JSON.parse(data); } catch (_) { return; }
  if (!r || !r.event || !r.event.app) return;
  S.events.push({ t: r.at, e: r.event });
  if (S.events.length > EVENTS_KEPT) S.events.splice(0, S.events.length - EVENTS_KEPT);
  const route = S.route || parseRoute();
  if (route.view === "app" && route.arg === r.event.app) renderSoon();
}

function onEvent(data) {
  let e;
  try { e = JSON.parse(data); } catch (_) { return; }
  if (!e || !e.app) return;
  S.events.push({ t: Date.now(), e });
  if (S.events.length > EVENTS_KEPT) S.events.splice(0, S.events.length - EVENTS_KEPT);
  S.dirty.add(e.app);
  if (!flushTimer && !flushing) flushTimer = setTimeout(flush, 250);
}

// One flush at a time; events that come meanwhile wait for the next.
let flushing = false;

async function flush() {
  flushTimer = null;
  flushing = true;
  try {
    await flushDirty();
  } finally {
    flushing = false;
    if (S.dirty.size && !flushTimer) flushTimer = setTimeout(flush, 1000);
  }
}

async function flushDirty() {
  const names = [...S.dirty];
  S.dirty.clear();
  const route = S.route || parseRoute();
  if (route.view === "app" && names.includes(route.arg)) {
    refreshNow();
    return;
  }
  if (route.view === "apps") {
    // The page of the table and the counts again: one small answer
    // however many apps changed.
    await Promise.all([loadRows().catch(() => false), loadQueue().catch(() => {})]);
    stamp();
    renderSoon();
  }
}

// The stream replays the last events it kept (the app pages show them):
// what the page had is replaced by them.
const EVENTS_URL = "/v1/api/events?recent=" + EVENTS_KEPT;

function connected(how) {
  S.events = [];
  S.live = how;
  document.getElementById("conn").textContent = "live (" + how + ")";
}

function disconnected(why) {
  S.live = false;
  document.getElementById("conn").textContent = "polling (" + why + ")";
}

// EventSource cannot send an Authorization header: with a token, the
// stream is read with fetch instead (same server-sent events format).
async function streamWithToken() {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(EVENTS_URL, { headers: headers(), cache: "no-store" });
      if (r.status === 401) needToken();
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      connected("stream");
      attempt = 0;
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let end;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const lines = block.split("\n");
          const data = lines.filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
          if (data && lines.includes("event: recent")) onRecent(data);
          else if (data) onEvent(data);
        }
        if (buf.length > 1 << 20) throw new Error("an event larger than 1 MiB");
      }
      throw new Error("the stream ended");
    } catch (e) {
      disconnected(e.message);
    }
    await new Promise((res) => setTimeout(res, Math.min(30000, 1000 * 2 ** Math.min(attempt, 5))));
  }
}

function stream() {
  if (S.token) {
    streamWithToken();
    return;
  }
  const es = new EventSource(EVENTS_URL);
  es.onopen = () => { connected("events"); refreshNow(); };
  es.onerror = () => disconnected("reconnecting");
  for (const t of ["app", "task", "change"]) es.addEventListener(t, (m) => onEvent(m.data));
  es.addEventListener("recent", (m) => onRecent(m.data));
  es.onmessage = (m) => onEvent(m.data);
}

// Polling: the open view's data every few seconds while the stream is
// down, the queue and the charts always (they change without events),
// and the apps table now and then while the stream is up (heals a
// missed event).
let lastResync = Date.now();

function tick() {
  const route = S.route || parseRoute();
  if (route.view === "apps") {
    const table = !S.live || Date.now() - lastResync > RESYNC_MS;
    if (table) lastResync = Date.now();
    Promise.all([table ? loadRows().catch(() => false) : false, loadQueue().catch(() => {})]).then(() => renderSoon());
  } else if (route.view !== "deploy") refreshNow();
}

document.getElementById("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  S.token = document.getElementById("token").value.trim();
  sessionStorage.setItem("tritium-token", S.token);
  location.reload();
});
document.getElementById("token-clear").addEventListener("click", () => {
  sessionStorage.removeItem("tritium-token");
  location.reload();
});
document.getElementById("token-button").addEventListener("click", () => {
  const f = document.getElementById("auth");
  f.hidden = !f.hidden;
});
window.addEventListener("hashchange", () => { flash(""); S.route = parseRoute(); render(true); refreshNow(); });

for (const el of document.querySelectorAll(".write-only")) el.hidden = true;
S.route = parseRoute();
render();
refreshNow();
probeWrite();
stream();
// The page's only interval timer (the tests stop it by this name).
const pollTimer = setInterval(tick, POLL_MS);
