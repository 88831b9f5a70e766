// The PAGI console: hash-routed pages over the planner's public API. Every value shown comes
// from the API and is inserted as text (never as HTML).

const KEY_STORE = "pagi-console-key";
const CLIP = 1200;
const KBS = ["Mind-KB", "Domain-KB", "Body-KB", "Soul-KB"];  // until config.json says
const page = document.getElementById("page");
let leaving = [];  // clean-ups of the current page (open streams, timers)

// ---- small helpers -------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function badge(text) { return el("span", { class: `badge ${String(text).toLowerCase()}` }, text); }

function clipped(text) {
  const full = typeof text === "string" ? text : JSON.stringify(text, null, 2);
  const pre = el("pre", {}, full.length > CLIP ? full.slice(0, CLIP) + " …" : full);
  if (full.length <= CLIP) return pre;
  const more = el("button", { type: "button", class: "quiet" }, `Show all (${full.length} characters)`);
  more.addEventListener("click", () => { pre.textContent = full; more.remove(); });
  return el("div", {}, pre, more);
}

function notice(message, kind = "error") {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.className = kind === "info" ? "info" : "";
  box.hidden = !message;
}

function key() { return sessionStorage.getItem(KEY_STORE) || ""; }

function askForKey(reason) {
  if (reason) notice(reason);
  const dialog = document.getElementById("key-dialog");
  document.getElementById("key-input").value = key();
  if (!dialog.open) dialog.showModal();
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (key()) headers["X-API-Key"] = key();
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  let reply;
  try {
    reply = await fetch(path, { ...options, headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  } catch (err) {
    throw new ApiError(0, `The planner cannot be reached (${err.message}).`);
  }
  const text = await reply.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { error: text }; }
  if (reply.status === 401) {
    askForKey("The planner refused the API key: enter the key set in PAGI_API_KEY.");
    throw new ApiError(401, "API key missing or wrong.");
  }
  if (reply.status === 429) {
    const wait = reply.headers.get("Retry-After");
    throw new ApiError(429, `The planner is busy (queue full); try again${wait ? ` in ${wait} s` : ""}.`);
  }
  if (!reply.ok) {
    const detail = body && (body.error || body.message || body.detail);
    throw new ApiError(reply.status, `${reply.status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
  return body;
}

// What the planner tells the pages (public, no secret): the Jaeger UI, the knowledge bases a
// run may search. Fetched once per page load.
let configReply = null;
function consoleConfig() {
  configReply ??= fetch("/console/config.json").then(r => r.json()).catch(() => ({}));
  return configReply;
}

async function guarded(work) {
  try { notice(""); return await work(); } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    notice(err.message || String(err));
    return undefined;
  }
}

// Server-Sent Events over fetch, so the API key travels in a header; reconnects with
// Last-Event-ID until the run's terminal event or until the page is left.
function followEvents(runId, onEvent, onState) {
  const controller = new AbortController();
  let last = 0;
  let done = false;
  (async () => {
    while (!done && !controller.signal.aborted) {
      try {
        const headers = { Accept: "text/event-stream" };
        if (key()) headers["X-API-Key"] = key();
        if (last) headers["Last-Event-ID"] = String(last);
        const reply = await fetch(`/runs/${encodeURIComponent(runId)}/events`,
          { headers, signal: controller.signal });
        if (reply.status === 401) { askForKey("The planner refused the API key."); return; }
        if (reply.status === 404) { onState("not found"); return; }
        onState("live");
        const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done: ended } = await reader.read();
          if (ended) break;
          buffer += value;
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            const event = parseEvent(block);
            if (!event) continue;
            last = event.id ?? last;
            onEvent(event);
            if (event.type.startsWith("run.") && TERMINAL.has(event.type)) done = true;
          }
        }
      } catch (err) {
        if (controller.signal.aborted) return;
      }
      if (!done) { onState("reconnecting"); await new Promise(r => setTimeout(r, 1000)); }
    }
    onState(done ? "finished" : "closed");
  })();
  return () => controller.abort();
}

const TERMINAL = new Set(["run.succeeded", "run.failed", "run.cancelled", "run.max_turns"]);

function parseEvent(block) {
  let id = null, type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const at = line.indexOf(":");
    const field = at < 0 ? line : line.slice(0, at);
    const value = at < 0 ? "" : line.slice(at + 1).replace(/^ /, "");
    if (field === "id") id = Number(value);
    else if (field === "event") type = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length && type === "message") return null;
  let payload = data.join("\n");
  try { payload = JSON.parse(payload); } catch { /* kept as text */ }
  return { id, type, data: payload };
}

// ---- Run: start one and watch it -------------------------------------------------------

function runPage(runId) {
  const kbs = el("fieldset", { class: "kbs", id: "run-kbs" }, el("legend", { class: "muted" }, "Knowledge bases searched"));
  const form = el("form", { class: "card", id: "run-form" },
    el("label", {}, "Prompt", el("textarea", { id: "prompt", required: true,
      placeholder: "Search the web for the latest Python release" })),
    el("div", { class: "row" },
      el("label", {}, "Session id", el("input", { id: "session", value: sessionStorage.getItem("pagi-session") || `console-${Math.random().toString(36).slice(2, 8)}` })),
      el("label", {}, "Namespace", el("input", { id: "run-namespace", placeholder: "(none: the plain knowledge bases)",
        value: sessionStorage.getItem("pagi-namespace") || "" })),
      el("div", {}, el("button", { type: "submit", id: "start" }, "Start run"))),
    kbs);
  const kept = JSON.parse(sessionStorage.getItem("pagi-kbs") || "null");  // the last run's choice
  consoleConfig().then(config => kbs.append(...(config.knowledge_bases || KBS).map(kb =>
    el("label", { class: "inline" }, el("input", { type: "checkbox", value: kb, checked: !kept || kept.includes(kb), class: "run-kb" }), kb))));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const session = document.getElementById("session").value.trim();
    const namespace = document.getElementById("run-namespace").value.trim();
    const boxes = [...kbs.querySelectorAll("input.run-kb")];
    const chosen = boxes.filter(b => b.checked).map(b => b.value);
    if (!chosen.length) { notice("Choose at least one knowledge base."); return; }
    sessionStorage.setItem("pagi-session", session);
    sessionStorage.setItem("pagi-namespace", namespace);
    sessionStorage.setItem("pagi-kbs", JSON.stringify(chosen));
    const body = { prompt: document.getElementById("prompt").value, session_id: session };
    if (namespace) body.namespace = namespace;
    if (chosen.length < boxes.length) body.knowledge_bases = chosen;  // all: the default set
    const started = await guarded(() => api("/runs", { method: "POST", body }));
    if (started) location.hash = `#/run/${started.run_id}`;
  });
  page.replaceChildren(el("h1", {}, "Run an agent"), el("section", { class: "card" }, form));
  if (runId) page.append(timeline(runId));
}

// The run's status as each event leaves it (terminal events carry their own).
const STATUS_AFTER = {
  "run.queued": "queued", "run.started": "running", "tool.approval_required": "waiting_approval",
  "tool.approved": "queued", "tool.rejected": "queued",
};

function timeline(runId) {
  // The badge is the run's status (from the API, then as the events move it); the stream's
  // own state (live, reconnecting) is shown beside it.
  const status = el("span", { id: "run-status" }, badge("unknown"));
  const stream = el("span", { id: "stream-state", class: "muted" }, "connecting");
  let moves = 0;  // events that set the status: an API answer older than one is stale
  const showStatus = (value) => { status.dataset.status = value; status.replaceChildren(badge(value)); };
  const fetchStatus = () => {
    const asked = moves;
    api(`/runs/${encodeURIComponent(runId)}`).then(run => { if (moves === asked) showStatus(run.status); }).catch(() => {});
  };
  const cancel = el("button", { type: "button", class: "danger", id: "cancel" }, "Cancel run");
  const events = el("div", { id: "events" });
  const final = el("div", { id: "final" });
  let delta = null;
  cancel.addEventListener("click", () => guarded(async () => {
    await api(`/runs/${encodeURIComponent(runId)}/cancel`, { method: "POST" });
    notice("Cancel requested.", "info");
  }));
  const stop = followEvents(runId, (event) => {
    if (event.type === "plan.delta") {
      if (!delta) { delta = el("pre", { class: "delta" }); events.append(card(event, delta)); }
      // A retry or fallback upstream starts the answer over: drop what was shown so far.
      if (event.data.reset) delta.textContent = "";
      delta.textContent += event.data.delta ?? "";
      return;
    }
    if (event.type === "plan.received") delta = null;
    events.append(card(event, eventBody(runId, event)));
    if (STATUS_AFTER[event.type]) { moves += 1; showStatus(STATUS_AFTER[event.type]); }
    if (TERMINAL.has(event.type)) {
      cancel.disabled = true;
      moves += 1;
      showStatus(event.data?.status || event.type.slice(4));
      final.replaceChildren(finalPlan(event));
    }
  }, (state) => {
    stream.textContent = state;
    if (state === "live") fetchStatus();  // (re)connected: start from what the API says
  });
  leaving.push(stop);
  return el("section", { class: "card", id: "run-view", "data-run": runId },
    el("div", { class: "row" }, el("h2", {}, "Run ", el("code", {}, runId), " ", status, " ", stream), el("div", {}, cancel)),
    events, final);
}

function card(event, body) {
  return el("div", { class: "event", "data-type": event.type },
    el("header", {}, el("span", { class: "muted" }, `#${event.id ?? ""}`),
      el("span", { class: "type" }, event.type), summary(event)), body);
}

function summary(event) {
  const d = event.data || {};
  const bits = [];
  if (d.turn !== undefined) bits.push(`turn ${d.turn}`);
  if (d.latency_ms !== undefined) bits.push(`${d.latency_ms} ms`);
  if (d.model) bits.push(d.model);
  if (d.status && !event.type.startsWith("run.")) bits.push(d.status);
  return el("span", { class: "muted" }, bits.join(" · "));
}

function eventBody(runId, event) {
  const d = event.data || {};
  switch (event.type) {
    case "context.retrieved": return contextBody(d);
    case "plan.received": return clipped(prettyJson(d.plan));
    case "tool.started": return el("div", {}, el("strong", {}, d.name || d.tool), clipped(d.args ?? {}));
    case "tool.finished": return clipped(d.output ?? d.error ?? "");
    case "tool.approval_required": return approvalForm(runId, d);
    default: return TERMINAL.has(event.type) ? el("p", {}, d.reason || d.error || "") : clipped(d);
  }
}

function contextBody(d) {
  const where = `${(d.knowledge_bases || []).join(", ")}${d.namespace ? ` in namespace ${d.namespace}` : ""}`;
  return el("div", {}, el("p", {}, `${d.history_messages ?? 0} history messages, ${d.matches ?? 0} matches from ${where}`),
    (d.retrieved || []).map(m => el("div", { class: "match" },
      el("header", {}, badge(m.knowledge_base), el("span", { class: "muted" }, ` distance ${m.distance} · ${m.source || ""}`)),
      clipped(m.text))));
}

function prettyJson(text) {
  try { return JSON.stringify(JSON.parse(text), null, 2); } catch { return String(text ?? ""); }
}

function approvalForm(runId, d) {
  const args = el("textarea", { class: "approval-args" }, JSON.stringify(d.args ?? {}, null, 2));
  const reason = el("input", { class: "reject-reason", placeholder: "Reason for rejecting" });
  const result = el("p", { class: "muted" });
  const decide = (path, body) => guarded(async () => {
    await api(`/runs/${encodeURIComponent(runId)}/${path}`, { method: "POST", body });
    result.textContent = path === "approve" ? "Approved." : "Rejected.";
    form.querySelectorAll("button").forEach(b => { b.disabled = true; });
  });
  const form = el("div", { class: "approval" },
    el("p", {}, "The tool call ", el("strong", {}, d.tool || d.name), " waits for your decision."),
    el("label", {}, "Arguments (edit before approving)", args),
    el("div", { class: "row" },
      el("button", { type: "button", class: "approve", onclick: () => {
        let edited;
        try { edited = JSON.parse(args.value); } catch { notice("The arguments are not valid JSON."); return; }
        decide("approve", { call_id: d.call_id, args: edited });
      } }, "Approve"),
      reason,
      el("button", { type: "button", class: "quiet reject", onclick: () =>
        decide("reject", { call_id: d.call_id, reason: reason.value || "rejected in the console" }) }, "Reject")),
    result);
  return form;
}

function finalPlan(event) {
  const d = event.data || {};
  if (event.type !== "run.succeeded") return el("p", { class: "muted" }, `Run ${event.type.slice(4)}${d.reason ? `: ${d.reason}` : ""}${d.error ? `: ${d.error}` : ""}`);
  let plan = null;
  try { plan = JSON.parse(d.result); } catch { /* not JSON: shown as text */ }
  const steps = plan && Array.isArray(plan.steps) ? plan.steps : null;
  return el("section", { class: "final-plan" }, el("h2", {}, "Final plan"),
    steps ? el("ol", { class: "steps" }, steps.map(s => el("li", {}, typeof s === "string" ? s : JSON.stringify(s))))
      : clipped(d.result ?? ""));
}

// ---- Runs: list and detail ---------------------------------------------------------------

async function runsPage(params) {
  const status = params.get("status") || "";
  const before = params.get("before") || "";
  const filter = el("select", { id: "status-filter", "aria-label": "Status" },
    ["", "queued", "running", "waiting_approval", "succeeded", "failed", "cancelled", "max_turns"]
      .map(s => el("option", { value: s, selected: s === status }, s || "any status")));
  filter.addEventListener("change", () => { location.hash = `#/runs?status=${filter.value}`; });
  const table = el("div", { class: "table-wrap" }, el("div", { class: "empty" }, "Loading…"));
  page.replaceChildren(el("h1", {}, "Runs"), el("div", { class: "row" }, el("label", {}, "Filter", filter)), table);
  const query = new URLSearchParams({ limit: "20" });
  if (status) query.set("status", status);
  if (before) query.set("before", before);
  const reply = await guarded(() => api(`/runs?${query}`));
  if (!reply) return;
  const runs = reply.runs || [];
  if (!runs.length) { table.replaceChildren(el("div", { class: "empty" }, "No runs yet. Start one on the Run page.")); return; }
  table.replaceChildren(el("table", {},
    el("thead", {}, el("tr", {}, ["Run", "Status", "Session", "Created", "Turns"].map(h => el("th", {}, h)))),
    el("tbody", {}, runs.map(r => el("tr", {},
      el("td", {}, el("a", { href: `#/runs/${r.run_id}` }, r.run_id)), el("td", {}, badge(r.status)),
      el("td", {}, r.session_id), el("td", {}, r.created_at), el("td", {}, r.turns))))));
  if (runs.length === 20) {
    const next = new URLSearchParams({ status, before: runs[runs.length - 1].run_id });
    page.append(el("p", {}, el("a", { href: `#/runs?${next}` }, "Older runs →")));
  }
}

async function runDetailPage(runId) {
  page.replaceChildren(el("h1", {}, "Run detail"));
  const run = await guarded(() => api(`/runs/${encodeURIComponent(runId)}`));
  if (!run) return;
  const config = await consoleConfig();
  const trace = config.jaeger_ui_url
    ? el("a", { href: `${config.jaeger_ui_url.replace(/\/$/, "")}/trace/${run.trace_id}`, target: "_blank", rel: "noopener" }, run.trace_id)
    : el("code", {}, run.trace_id);
  page.append(el("section", { class: "card" },
    el("p", {}, "Status ", badge(run.status), " · session ", el("code", {}, run.session_id), " · trace ", trace),
    el("p", { class: "muted" }, `created ${run.created_at}, started ${run.started_at ?? "-"}, finished ${run.finished_at ?? "-"}, ${run.turns} turns`),
    el("p", { class: "muted", id: "run-knowledge" }, `searches ${(run.knowledge_bases || []).join(", ")}${run.namespace ? ` in namespace ${run.namespace}` : ""}`)));
  page.append(timeline(runId));
  const audit = await guarded(() => api(`/audit?trace_id=${encodeURIComponent(run.trace_id)}`));
  if (audit) page.append(el("h2", {}, "Audit rows"), el("div", { class: "table-wrap" }, el("table", { id: "audit" },
    el("thead", {}, el("tr", {}, ["Time", "Event", "Data"].map(h => el("th", {}, h)))),
    el("tbody", {}, audit.rows.map(row => el("tr", {}, el("td", {}, row.timestamp), el("td", {}, row.event_type), el("td", {}, clipped(row.data))))))));
}

// ---- Sessions ------------------------------------------------------------------------------

function sessionsPage(params) {
  const input = el("input", { id: "session-id", value: params.get("id") || sessionStorage.getItem("pagi-session") || "" });
  const list = el("div", { id: "history" });
  const form = el("form", { class: "row" }, el("label", {}, "Session id", input), el("div", {}, el("button", { type: "submit" }, "Show history")));
  form.addEventListener("submit", (event) => { event.preventDefault(); location.hash = `#/sessions?id=${encodeURIComponent(input.value.trim())}`; });
  page.replaceChildren(el("h1", {}, "Sessions"), el("section", { class: "card" }, form), list);
  if (!params.get("id")) { list.append(el("div", { class: "empty" }, "Enter a session id to see its history, newest last.")); return; }
  guarded(async () => {
    const reply = await api(`/sessions/${encodeURIComponent(params.get("id"))}/history?limit=200`);
    const messages = reply.messages || [];
    list.replaceChildren(messages.length ? el("div", {}, messages.map(m => el("div", { class: "event message" },
      el("header", {}, badge(m.role), el("span", { class: "muted" }, m.stored_at || "")), clipped(m.content))))
      : el("div", { class: "empty" }, "This session has no history yet."));
  });
}

// ---- Knowledge -------------------------------------------------------------------------

function knowledgePage() {
  const query = el("input", { id: "rag-query", required: true, placeholder: "how do I plan well" });
  const namespace = el("input", { id: "rag-namespace", placeholder: "(none)" });
  const topK = el("input", { id: "rag-top-k", type: "number", min: "1", max: "20", value: "3" });
  const checks = KBS.map(kb => el("label", { class: "inline" }, el("input", { type: "checkbox", value: kb, checked: true, class: "kb" }), kb));
  const matches = el("div", { id: "matches" });
  const search = el("form", { class: "card" }, el("h2", {}, "RAG playground"),
    el("div", { class: "row" }, el("label", {}, "Query", query), el("label", {}, "Namespace", namespace), el("label", {}, "Top k", topK)),
    el("div", { class: "row" }, checks), el("button", { type: "submit" }, "Search"), matches);
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(async () => {
      const kbs = [...search.querySelectorAll("input.kb:checked")].map(c => c.value);
      const reply = await api("/knowledge/search", { method: "POST", body: { query: query.value, top_k: Number(topK.value), knowledge_bases: kbs, namespace: namespace.value.trim() } });
      matches.replaceChildren(reply.matches.length ? el("div", {}, reply.matches.map(m => el("div", { class: "event match" },
        el("header", {}, badge(m.knowledge_base), el("span", { class: "muted" }, `distance ${m.distance} · ${m.source || m.id}`)), clipped(m.text))))
        : el("div", { class: "empty" }, "No matches."));
    });
  });
  const file = el("input", { id: "ingest-file", type: "file", accept: ".txt,.md,.markdown,text/plain,text/markdown" });
  const kb = el("select", { id: "ingest-kb" }, KBS.map(k => el("option", { value: k, selected: k === "Domain-KB" }, k)));
  const progress = el("p", { id: "ingest-progress", class: "muted" });
  const ingest = el("form", { class: "card" }, el("h2", {}, "Add a document"),
    el("div", { class: "row" }, el("label", {}, "Text or markdown file", file), el("label", {}, "Knowledge base", kb)),
    el("button", { type: "submit" }, "Ingest"), progress);
  ingest.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { notice("Choose a file first."); return; }
    guarded(async () => {
      progress.textContent = `Reading ${chosen.name}…`;
      const text = await chosen.text();
      progress.textContent = `Embedding and storing ${chosen.name} (${text.length} characters)…`;
      const reply = await api("/knowledge/documents", { method: "POST", body: { knowledge_base: kb.value, source: chosen.name, text } });
      progress.textContent = `Stored ${chosen.name} in ${kb.value}: ${JSON.stringify(reply)}`;
    });
  });
  const playbooks = el("div", { id: "playbooks" }, el("div", { class: "empty" }, "Loading playbooks…"));
  page.replaceChildren(el("h1", {}, "Knowledge"), search, ingest, el("section", { class: "card" }, el("h2", {}, "Playbooks learned (Mind-KB)"), playbooks));
  guarded(async () => {
    const reply = await api("/knowledge/search", { method: "POST", body: { query: "playbook steps", top_k: 20, knowledge_bases: ["Mind-KB"] } });
    playbooks.replaceChildren(reply.matches.length ? el("div", {}, reply.matches.map(m => el("div", { class: "event" }, el("header", {}, el("code", {}, m.id)), clipped(m.text))))
      : el("div", { class: "empty" }, "No playbooks yet: they are learned from runs that used tools."));
  });
}

// ---- System ------------------------------------------------------------------------------

const series = { requests: [], p50: [], inflight: [] };

function sparkline(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart"); svg.setAttribute("viewBox", "0 0 100 30"); svg.setAttribute("preserveAspectRatio", "none");
  if (values.length > 1) {
    const max = Math.max(...values, 1e-9);
    const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
    line.setAttribute("fill", "none"); line.setAttribute("stroke", "#2457c5"); line.setAttribute("stroke-width", "1.5");
    line.setAttribute("points", values.map((v, i) => `${(i / (values.length - 1)) * 100},${30 - (v / max) * 28}`).join(" "));
    svg.append(line);
  }
  return svg;
}

function metricsFigures(text) {
  let requests = 0, inflight = 0;
  const buckets = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const [name, value] = [line.slice(0, line.lastIndexOf(" ")), Number(line.slice(line.lastIndexOf(" ") + 1))];
    if (name.startsWith("http_requests_total")) requests += value;
    if (name.startsWith("pagi_runs_in_flight") || name.startsWith("agent_runs_in_flight")) inflight += value;
    const bucket = name.match(/^http_request_duration_seconds_bucket\{.*le="([^"]+)"/);
    if (bucket) buckets.push([bucket[1] === "+Inf" ? Infinity : Number(bucket[1]), value]);
  }
  const merged = new Map();
  for (const [le, count] of buckets) merged.set(le, (merged.get(le) || 0) + count);
  const sorted = [...merged.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.length ? sorted[sorted.length - 1][1] : 0;
  const p50 = (sorted.find(([, c]) => c >= total / 2) || [0])[0];
  return { requests, inflight, p50: Number.isFinite(p50) ? p50 * 1000 : 0 };
}

async function systemPage() {
  page.replaceChildren(el("h1", {}, "System"), el("div", { class: "grid", id: "services" }, el("div", { class: "empty" }, "Checking services…")),
    el("h2", {}, "Live figures"), el("div", { class: "grid", id: "figures" }),
    el("h2", {}, "Latest notifications"), el("div", { id: "notifications" }));
  const refresh = async () => {
    const reply = await guarded(() => api("/system"));
    if (!reply) return;
    const planner = reply.planner || {};
    const memory = reply.memory || {};
    const cards = [
      serviceCard("planner", planner.status || "ok", [["breakers", Object.entries(planner.breakers || {}).map(([k, v]) => `${k}: ${v}`).join(", ")], ["notifications (Redis)", planner.notifications]]),
      ...Object.entries(reply.grpc || {}).map(([name, state]) => serviceCard(name, state, facts(name, reply))),
    ];
    document.getElementById("services").replaceChildren(...cards);
    const latest = reply.notifications;
    document.getElementById("notifications").replaceChildren(
      typeof latest === "string" ? el("div", { class: "empty" }, `Notifications ${latest}`)
        : !latest || !latest.length ? el("div", { class: "empty" }, "No notifications yet.")
          : el("div", { class: "table-wrap" }, el("table", {},
            el("thead", {}, el("tr", {}, ["Status", "Trace", "Session", "Time"].map(h => el("th", {}, h)))),
            el("tbody", {}, latest.map(({ payload: p }) => el("tr", {},
              el("td", {}, badge(String(p.status || p.type || "result").toLowerCase())), el("td", {}, el("code", {}, p.trace_id || "")),
              el("td", {}, p.session_id || ""), el("td", {}, p.timestamp || "")))))));
    const text = await fetch("/metrics").then(r => r.text()).catch(() => "");
    const figures = metricsFigures(text);
    for (const name of Object.keys(series)) { series[name].push(figures[name]); if (series[name].length > 30) series[name].shift(); }
    document.getElementById("figures").replaceChildren(
      figureCard("HTTP requests (total)", figures.requests.toFixed(0), series.requests),
      figureCard("Request latency p50 (ms, all time)", figures.p50.toFixed(1), series.p50),
      figureCard("Runs in flight", figures.inflight.toFixed(0), series.inflight));
  };
  await refresh();
  const timer = setInterval(refresh, 5000);
  leaving.push(() => clearInterval(timer));
}

function facts(name, reply) {
  if (name === "memory") {
    const memory = reply.memory || {};
    return [["health", memory.status], ["ingestion", memory.ingestion ? memory.ingestion.state : "-"]];
  }
  if (name === "sandbox") {
    const sandbox = reply.sandbox || {};
    return [["isolation", sandbox.isolation || sandbox.status], ["running", sandbox.executions_running]];
  }
  return [];
}

function serviceCard(name, state, facts) {
  return el("section", { class: "card service", "data-service": name },
    el("h2", {}, name, " ", badge(state || "unknown")),
    el("dl", {}, facts.filter(([, v]) => v !== undefined && v !== "").map(([k, v]) => [el("dt", { class: "muted" }, k), el("dd", {}, v)])));
}

function figureCard(title, value, values) {
  return el("section", { class: "card" }, el("div", { class: "muted" }, title), el("strong", {}, value), sparkline(values));
}

// ---- routing -----------------------------------------------------------------------------

function route() {
  for (const stop of leaving) stop();
  leaving = [];
  notice("");
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  const name = parts[0] || "run";
  document.querySelectorAll("nav a").forEach(a => a.toggleAttribute("aria-current", a.dataset.page === name));
  document.querySelectorAll("nav a[aria-current]").forEach(a => a.setAttribute("aria-current", "page"));
  if (name === "run") runPage(parts[1]);
  else if (name === "runs" && parts[1]) runDetailPage(parts[1]);
  else if (name === "runs") runsPage(params);
  else if (name === "sessions") sessionsPage(params);
  else if (name === "knowledge") knowledgePage();
  else if (name === "system") systemPage();
  else page.replaceChildren(el("div", { class: "empty" }, "No such page."));
  page.focus();
}

document.getElementById("key-button").addEventListener("click", () => askForKey(""));
document.getElementById("key-form").addEventListener("submit", () => {
  sessionStorage.setItem(KEY_STORE, document.getElementById("key-input").value.trim());
  notice("Key saved for this tab.", "info");
  route();
});
document.getElementById("key-clear").addEventListener("click", () => {
  sessionStorage.removeItem(KEY_STORE);
  document.getElementById("key-dialog").close();
  notice("Key forgotten.", "info");
});
window.addEventListener("hashchange", route);
route();
