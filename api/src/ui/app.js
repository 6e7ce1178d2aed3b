// tritium's status page: apps, tasks and the queue from the REST API,
// updated live from the event stream and refreshed every few seconds.
// Plain browser JavaScript, no build step. Everything shown is set with
// textContent (never innerHTML), so app names cannot inject markup.
"use strict";

const REFRESH_MS = 5000;

let token = sessionStorage.getItem("tritium-token") || "";
// Events arrive in bursts (a deployment is many task changes): at most one
// refresh runs, and at most one more follows it, however many events came.
// (No timer: this also works while a headless browser's clock is paused.)
let refreshing = false;
let again = false;

function headers() {
  return token ? { Authorization: "Bearer " + token } : {};
}

async function get(path) {
  const r = await fetch(path, { headers: headers(), cache: "no-store" });
  if (r.status === 401) {
    document.getElementById("auth").style.display = "block";
    throw new Error("a token is needed");
  }
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}

function row(tbody, cells, cls) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    td.textContent = c === null || c === undefined ? "" : String(c);
    if (cls && cls[i]) td.className = cls[i];
    tr.appendChild(td);
  });
  tbody.appendChild(tr);
}

function fill(id, rows) {
  const tbody = document.querySelector("#" + id + " tbody");
  tbody.replaceChildren();
  if (rows.length === 0) {
    row(tbody, ["none"], ["muted"]);
    return;
  }
  rows.forEach((r) => row(tbody, r.cells, r.cls));
}

function why(w) {
  if (w === null || w === undefined) return "";
  if (typeof w === "string") return w;
  if (Array.isArray(w)) return w.map(why).join("; ");
  return Object.entries(w)
    .map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v))
    .join(", ");
}

async function refresh() {
  try {
    const [all, queue] = await Promise.all([
      get("/v1/api/app/all?limit=1000&tasks=all"),
      get("/v1/api/app/queue"),
    ]);
    const apps = all.apps || [];
    fill("apps", apps.map((a) => ({
      cells: [a.name, a.status, a.running, a.instances, a.version],
      cls: [null, String(a.status).replace(/ /g, "-")],
    })));
    const tasks = [];
    apps.forEach((a) => (a.tasks || []).forEach((t) => tasks.push({
      cells: [t.id, a.name, t.state, t.agent_id, t.host],
    })));
    fill("tasks", tasks);
    fill("queue", (queue.queue || []).map((q) => ({
      cells: [q.app, q.pending, q.status, why(q.why)],
    })));
    document.getElementById("updated").textContent = new Date().toLocaleTimeString();
    document.body.dataset.loaded = "1";
  } catch (e) {
    document.getElementById("conn").textContent = "error: " + e.message;
  }
}

function soon() {
  if (refreshing) {
    again = true;
    return;
  }
  refreshing = true;
  refresh().finally(() => {
    refreshing = false;
    if (again) {
      again = false;
      soon();
    }
  });
}

function connected(how) {
  document.getElementById("conn").textContent = "live (" + how + ")";
}

// EventSource cannot send an Authorization header: with a token, the
// stream is read with fetch instead (same server-sent events format).
async function streamWithToken() {
  for (;;) {
    try {
      const r = await fetch("/v1/api/events", { headers: headers() });
      if (!r.ok || !r.body) throw new Error("HTTP " + r.status);
      connected("stream");
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
          if (block.split("\n").some((l) => l.startsWith("data:"))) soon();
        }
      }
    } catch (e) {
      document.getElementById("conn").textContent = "reconnecting: " + e.message;
    }
    await new Promise((res) => setTimeout(res, 2000));
  }
}

function stream() {
  if (token) {
    streamWithToken();
    return;
  }
  const es = new EventSource("/v1/api/events");
  es.onopen = () => connected("events");
  es.onerror = () => { document.getElementById("conn").textContent = "reconnecting…"; };
  ["app", "task", "change"].forEach((t) => es.addEventListener(t, soon));
  es.onmessage = soon;
}

document.getElementById("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token").value.trim();
  sessionStorage.setItem("tritium-token", token);
  location.reload();
});

soon();
stream();
setInterval(soon, REFRESH_MS);
