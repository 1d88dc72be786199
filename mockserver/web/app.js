// The headshot-mock page: a client of the admin API (/__mock/), nothing more.
// Live by long polling GET journal/summaries?after=SEQ&wait=S (fetch, so an admin token can be
// sent as a Bearer header); every other view is re-read when the journal moves.

const BASE = new URL(".", location.href); // .../__mock/
const WAIT = 3; // seconds a summaries call may wait for news
const PAGE = 50; // journal rows per page
const TOKEN_KEY = "headshot-mock-admin-token";

const $ = (selector, root = document) => root.querySelector(selector);
const state = {
  summaries: [], // every entry seen, oldest first, without bodies
  last: 0,
  page: 0,
  providers: {},
  scenarios: {},
  tab: "requests",
  open: null, // seq of the entry in the detail
  statuses: new Set(),
};

// -- the admin API ------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let tokenAsked = null;
function askToken() {
  tokenAsked ??= new Promise((resolve) => {
    const dialog = $("#token-dialog");
    const form = $("#token-form");
    form.addEventListener(
      "submit",
      (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $("#token-input").value);
        dialog.close();
        tokenAsked = null;
        resolve();
      },
      { once: true },
    );
    dialog.showModal();
    $("#token-input").focus();
  });
  return tokenAsked;
}

async function api(path, { method = "GET", body } = {}) {
  for (;;) {
    const headers = { accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.authorization = `Bearer ${token}`;
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET") {
      headers["content-type"] = "application/json";
      init.body = JSON.stringify(body ?? {});
    }
    const response = await fetch(new URL(path, BASE), init);
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      await askToken();
      continue;
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, data?.detail ? `${data.title}: ${data.detail}` : response.statusText);
    }
    return data;
  }
}

function say(text, { error = false } = {}) {
  const box = $("#message");
  box.textContent = text;
  box.hidden = !text;
  box.classList.toggle("error", error);
}

// A user's action clears the last message before it runs; a background refresh (`quiet`) leaves a
// confirmation standing and clears only an error it has recovered from.
async function act(work, { quiet = false } = {}) {
  try {
    if (!quiet) say("");
    await work();
    if (quiet && $("#message").classList.contains("error")) say("");
  } catch (error) {
    say(error.message, { error: true });
  }
}

// -- small DOM helpers --------------------------------------------------------------------------
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function options(select, values, { keep = true, first } = {}) {
  const current = select.value;
  select.replaceChildren(...(first ? [el("option", { value: "" }, first)] : []));
  for (const value of values) {
    const [v, label] = Array.isArray(value) ? value : [value, value];
    select.append(el("option", { value: v }, label));
  }
  if (keep && [...select.options].some((o) => o.value === current)) select.value = current;
}

const clockTime = (unix) => (unix == null ? "–" : new Date(unix * 1000).toISOString().replace("T", " ").slice(0, 19));
const shortTime = (iso) => (iso ? iso.slice(11, 23) : "");
const ms = (value) => (value == null ? "" : `${Number(value).toFixed(1)} ms`);
const statusClass = (status) => (status == null ? "s-none" : `s-${String(status)[0]}xx`);

// -- requests -----------------------------------------------------------------------------------
function filters() {
  const form = $("#filters");
  return {
    provider: form.provider.value,
    operation: form.operation.value,
    status: form.status.value,
    scenario: form.scenario.value,
    kind: form.kind.value,
    violations: form.violations.checked,
  };
}

function matching() {
  const f = filters();
  const out = [];
  for (let i = state.summaries.length - 1; i >= 0; i--) {
    const e = state.summaries[i];
    if (f.provider && e.provider !== f.provider) continue;
    if (f.operation && e.operation !== f.operation) continue;
    if (f.status && String(e.status) !== f.status) continue;
    if (f.scenario && e.scenario !== f.scenario) continue;
    if (f.kind && e.kind !== f.kind) continue;
    if (f.violations && !e.finding_count) continue;
    out.push(e);
  }
  return out;
}

function findingText(e) {
  if (e.kind === "webhook") return e.error ?? e.state ?? "";
  const n = e.finding_count ?? 0;
  if (!n) return "";
  return `${n} ${n === 1 ? "finding" : "findings"}${e.rejected ? " (rejected)" : ""}`;
}

function row(e) {
  const label = e.kind === "webhook" ? `Open webhook attempt ${e.seq}` : `Open request ${e.seq}`;
  return el(
    "tr",
    { "data-seq": e.seq, class: [e.finding_count ? "has-findings" : "", state.open === e.seq ? "current" : ""].join(" ") },
    el("td", {}, el("button", { type: "button", class: "open", "aria-label": label, "data-seq": e.seq }, `#${e.seq}`)),
    el("td", {}, shortTime(e.time)),
    el("td", {}, e.provider),
    el("td", {}, e.kind === "webhook" ? el("span", { class: "tag" }, "webhook") : null, " ", e.operation),
    el("td", {}, e.scenario ?? ""),
    el("td", { class: statusClass(e.status) }, e.status ?? "–"),
    el("td", { class: "findings" }, findingText(e)),
    el("td", { class: "num" }, ms(e.duration_ms ?? e.latency_ms)),
  );
}

function renderRequests() {
  const rows = matching();
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const slice = rows.slice(state.page * PAGE, (state.page + 1) * PAGE);
  const body = $("#requests tbody");
  const focused = document.activeElement?.closest?.("#requests tbody tr")?.dataset.seq;
  body.replaceChildren(...slice.map(row));
  if (focused) $(`#requests tbody tr[data-seq="${focused}"] button`)?.focus();
  const total = state.summaries.length;
  $("#requests-count").textContent =
    rows.length === total ? `${total} entries` : `${rows.length} of ${total} entries match`;
  $("#page-info").textContent = `Page ${state.page + 1} of ${pages}`;
  $("#page-newer").disabled = state.page === 0;
  $("#page-older").disabled = state.page >= pages - 1;
}

function refreshFilterChoices() {
  const form = $("#filters");
  const provider = form.provider.value;
  const ops = new Set();
  for (const [pid, info] of Object.entries(state.providers)) {
    if (!provider || provider === pid) info.operations.forEach((op) => ops.add(op));
  }
  for (const e of state.summaries) if (e.kind === "webhook" && (!provider || e.provider === provider)) ops.add(e.operation);
  options(form.operation, [...ops].sort(), { first: "any" });
  const names = new Set();
  for (const [pid, book] of Object.entries(state.scenarios)) {
    if (!provider || provider === pid) Object.keys(book).forEach((n) => names.add(n));
  }
  names.add("invalid_request");
  options(form.scenario, [...names].sort(), { first: "any" });
  options(form.status, [...state.statuses].sort(), { first: "any" });
}

function addSummaries(list) {
  let newStatus = false;
  for (const e of list) {
    state.summaries.push(e);
    const s = String(e.status ?? "");
    if (s && !state.statuses.has(s)) {
      state.statuses.add(s);
      newStatus = true;
    }
  }
  if (newStatus) refreshFilterChoices();
}

// -- the detail of one entry ---------------------------------------------------------------------
function pathOf(parent, key) {
  if (typeof key === "number") return `${parent}[${key}]`;
  return parent ? `${parent}.${key}` : key;
}

// JSON as text with the values findings point at marked; returns a <pre>.
function jsonView(value, findings = []) {
  const marks = new Map();
  for (const f of findings) {
    const list = marks.get(f.field) ?? [];
    list.push(f.message);
    marks.set(f.field, list);
  }
  const pre = el("pre", { class: "json" });
  const write = (node, path, indent) => {
    const pad = "  ".repeat(indent);
    const wrap = (content) => {
      const found = marks.get(path);
      if (!found) return content;
      return el("mark", { title: found.join("\n"), "data-field": path }, content);
    };
    if (node === null || typeof node !== "object") {
      return wrap(el("span", { class: `j-${node === null ? "null" : typeof node}` }, JSON.stringify(node)));
    }
    const isArray = Array.isArray(node);
    const keys = isArray ? node.map((_, i) => i) : Object.keys(node);
    if (!keys.length) return wrap(isArray ? "[]" : "{}");
    const frag = el("span");
    frag.append(isArray ? "[\n" : "{\n");
    keys.forEach((key, i) => {
      const child = pathOf(path, key);
      frag.append(pad + "  ");
      if (!isArray) frag.append(marks.has(child) ? el("mark", { title: marks.get(child).join("\n") }, JSON.stringify(key)) : el("span", { class: "j-key" }, JSON.stringify(key)), ": ");
      frag.append(write(node[key], child, indent + 1));
      frag.append(i < keys.length - 1 ? ",\n" : "\n");
    });
    frag.append(pad + (isArray ? "]" : "}"));
    return wrap(frag);
  };
  pre.append(write(value, "", 0));
  return pre;
}

function imageUrls(value, out = []) {
  if (typeof value === "string") {
    const at = value.indexOf("/__mock/files/");
    if (at >= 0) out.push(new URL(`files/${value.slice(at + "/__mock/files/".length)}`, BASE).href);
  } else if (value && typeof value === "object") {
    for (const child of Object.values(value)) imageUrls(child, out);
  }
  return [...new Set(out)];
}

const shellQuote = (text) => `'${String(text).replaceAll("'", "'\\''")}'`;
const SKIP_HEADERS = new Set(["host", "content-length", "connection", "accept-encoding", "user-agent"]);

function curlSnippet(e) {
  const url = `${location.origin}${e.path}${e.query ? `?${e.query}` : ""}`;
  const lines = [`curl -X ${e.method} ${shellQuote(url)}`];
  for (const [name, value] of Object.entries(e.request.headers)) {
    if (!SKIP_HEADERS.has(name)) lines.push(`  -H ${shellQuote(`${name}: ${value}`)}`);
  }
  if (e.request.body !== null && e.request.body !== undefined && typeof e.request.body === "object") {
    lines.push(`  --data-raw ${shellQuote(JSON.stringify(e.request.body))}`);
  }
  return `# Values the journal redacted read *** here: put your own back.\n${lines.join(" \\\n")}\n`;
}

function py(value, indent = 0) {
  const pad = "    ".repeat(indent);
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) {
    if (!value.length) return "[]";
    return `[\n${value.map((v) => `${pad}    ${py(v, indent + 1)},`).join("\n")}\n${pad}]`;
  }
  const keys = Object.keys(value);
  if (!keys.length) return "{}";
  return `{\n${keys.map((k) => `${pad}    ${JSON.stringify(k)}: ${py(value[k], indent + 1)},`).join("\n")}\n${pad}}`;
}

function pytestSnippet(e) {
  const info = state.providers[e.provider];
  const mount = info ? new URL(info.base_url).pathname.replace(/\/$/, "") : "";
  const path = mount && e.path.startsWith(mount) ? e.path.slice(mount.length) || "/" : e.path;
  const name = `test_${e.operation.replace(/[^A-Za-z0-9]+/g, "_")}_${(e.requested_scenario || e.scenario).replace(/[^A-Za-z0-9]+/g, "_")}`;
  const args = [JSON.stringify(path + (e.query ? `?${e.query}` : ""))];
  const body = e.request.body;
  if (body !== null && body !== undefined && typeof body === "object") args.push(`json=${py(body, 2)}`);
  if (e.scenario_source !== "header" && e.requested_scenario && e.requested_scenario !== "success") {
    args.push(`headers={"X-Mock-Scenario": ${JSON.stringify(e.requested_scenario)}}`);
  } else if (e.request.headers["x-mock-scenario"]) {
    args.push(`headers={"X-Mock-Scenario": ${JSON.stringify(e.request.headers["x-mock-scenario"])}}`);
  }
  return [
    "from headshot_mock import MockSession",
    "",
    "",
    `def ${name}() -> None:`,
    "    # Values the journal redacted read *** here: put your own back.",
    `    with MockSession(level=${JSON.stringify(e.level)}, providers=(${JSON.stringify(e.provider)},)) as mock:`,
    `        client = mock.client(${JSON.stringify(e.provider)})`,
    `        response = client.${e.method.toLowerCase()}(${args.join(", ")})`,
    `        assert response.status_code == ${e.status}`,
    `        mock.assert_called(${JSON.stringify(e.operation)}, times=1)`,
    "",
  ].join("\n");
}

function snippet(title, id, text) {
  const area = el("textarea", { id, readonly: true, rows: Math.min(16, text.split("\n").length + 1), spellcheck: "false" }, text);
  const copy = el(
    "button",
    {
      type: "button",
      onclick: async (event) => {
        try {
          await navigator.clipboard.writeText(text);
          event.target.textContent = "Copied";
        } catch {
          area.select();
          event.target.textContent = "Press Ctrl+C";
        }
        setTimeout(() => (event.target.textContent = `Copy ${title}`), 2000);
      },
    },
    `Copy ${title}`,
  );
  return el("div", { class: "snippet" }, el("label", { for: id }, title), area, copy);
}

function findingsView(e) {
  if (!e.findings?.length) return el("p", { class: "ok" }, "No validation findings.");
  const docs = state.providers[e.provider]?.docs?.[e.operation] ?? [];
  return el(
    "div",
    {},
    el(
      "ul",
      { class: "finding-list" },
      e.findings.map((f) =>
        el("li", { class: `finding level-${f.level}` }, el("strong", {}, `${f.location}${f.field ? `.${f.field}` : ""}`), ` (${f.level}): ${f.message}`),
      ),
    ),
    docs.length
      ? el("p", { class: "docs" }, "The provider's documentation: ", docs.flatMap((url, i) => [i ? ", " : "", el("a", { href: url, rel: "noreferrer", target: "_blank" }, new URL(url).hostname + new URL(url).pathname)]))
      : null,
  );
}

function headersView(headers) {
  return el("dl", { class: "headers" }, Object.entries(headers).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

async function openDetail(seq) {
  state.open = seq;
  const panel = $("#detail");
  const body = $("#detail-body");
  panel.hidden = false;
  document.body.classList.add("with-detail");
  body.replaceChildren(el("p", {}, "Loading…"));
  let e;
  try {
    e = await api(`journal/${seq}`);
  } catch (error) {
    body.replaceChildren(el("p", { class: "error" }, error.message));
    return;
  }
  for (const tr of document.querySelectorAll("#requests tbody tr")) tr.classList.toggle("current", Number(tr.dataset.seq) === seq);
  if (e.kind === "webhook") {
    $("#detail-title").textContent = `Webhook attempt #${e.seq}`;
    body.replaceChildren(
      factList([
        ["Event", e.operation], ["Provider", e.provider], ["URL", e.path], ["State", e.state],
        ["Status", e.status ?? "–"], ["Error", e.error ?? "–"], ["Latency", ms(e.latency_ms)],
        ["Delivery", `#${e.delivery}, attempt ${e.attempt}`],
      ]),
      el("p", {}, el("button", { type: "button", onclick: () => { selectTab("webhooks"); } }, "Show in Webhooks")),
    );
    panel.focus();
    return;
  }
  $("#detail-title").textContent = `${e.method} ${e.operation} #${e.seq}`;
  const bodyFindings = e.findings.filter((f) => f.location === "body");
  const images = imageUrls(e.response.body);
  const parts = [
    factList([
      ["Provider", e.provider],
      ["Path", `${e.path}${e.query ? `?${e.query}` : ""}`],
      ["Scenario", `${e.scenario} (chosen by ${e.scenario_source}${e.requested_scenario !== e.scenario ? `; asked ${e.requested_scenario}` : ""})`],
      ["Status", e.status],
      ["Level", e.level],
      ["Latency", ms(e.duration_ms)],
      ["Time", e.time],
    ]),
    el("h3", {}, "Validation findings"),
    findingsView(e),
    el("h3", {}, "Request"),
    headersView(e.request.headers),
    jsonView(e.request.body, bodyFindings),
    el("h3", {}, "Response"),
    jsonView(e.response.body),
    images.length
      ? el("div", {}, el("h3", {}, "Generated images"), el("ul", { class: "thumbs" }, images.map((src, i) =>
          el("li", {}, el("a", { href: src, target: "_blank", rel: "noreferrer" },
            el("img", { src, alt: `Generated image ${i + 1} of request ${e.seq}`, loading: "lazy", onerror: (ev) => ev.target.replaceWith(el("span", { class: "not-ready" }, `image ${i + 1}: not ready yet (its job has not finished) or expired`)) }))))))
      : null,
    el("h3", {}, "Replay"),
    snippet("curl", "snippet-curl", curlSnippet(e)),
    snippet("pytest", "snippet-pytest", pytestSnippet(e)),
  ];
  body.replaceChildren(...parts.filter(Boolean));
  panel.focus();
}

function factList(pairs) {
  return el("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? ""))]));
}

function closeDetail() {
  const seq = state.open;
  state.open = null;
  $("#detail").hidden = true;
  document.body.classList.remove("with-detail");
  for (const tr of document.querySelectorAll("#requests tbody tr.current")) tr.classList.remove("current");
  $(`#requests tbody tr[data-seq="${seq}"] button`)?.focus();
}

// Redraws ``box`` only when ``data`` changed, keeping the focused control (found again by id).
const drawn = new Map();
function redraw(box, data, build) {
  const key = JSON.stringify(data);
  if (drawn.get(box.id) === key) return;
  drawn.set(box.id, key);
  const focused = box.contains(document.activeElement) ? document.activeElement.id : null;
  box.replaceChildren(build());
  if (focused) document.getElementById(focused)?.focus();
}

// -- jobs ---------------------------------------------------------------------------------------
function timeline(job) {
  const steps = [];
  let at = 0;
  for (const phase of job.phases ?? []) {
    steps.push([phase.state, `from ${at.toFixed(1)} s`]);
    at += phase.seconds;
  }
  steps.push([job.final ?? "never ends (stuck)", job.final ? `at ${at.toFixed(1)} s` : ""]);
  const current = job.state ?? (job.done ? job.final : job.phases?.[0]?.state);
  return el("ol", { class: "timeline", "aria-label": `Timeline of job ${job.id}` }, steps.map(([name, when], i) =>
    el("li", { "aria-current": name === current && (i < steps.length - 1 ? !job.done : job.done) ? "step" : null }, el("span", { class: "phase" }, name), " ", el("small", {}, when))));
}

const finishChoice = new Map(); // job key -> the end state chosen in its form

async function renderJobs() {
  const { jobs } = await api("jobs");
  redraw($("#jobs"), jobs, () => jobsTable(jobs));
}

function jobsTable(jobs) {
  if (!jobs.length) return el("p", { class: "empty" }, "No job yet: start an async operation (a processing scenario).");
  const rows = [...jobs].reverse().map((job) => {
    const finals = state.providers[job.provider]?.final_states ?? [];
    const id = `finish-${job.provider}-${job.id}`.replace(/[^A-Za-z0-9_-]/g, "_");
    const key = `${job.provider}/${job.id}`;
    const select = el("select", { id, name: "state", onchange: () => finishChoice.set(key, select.value) }, el("option", { value: "" }, job.final ? `its own (${job.final})` : "choose a state"), finals.map((s) => el("option", { value: s }, s)));
    select.value = finishChoice.get(key) ?? "";
    const form = el("form", {
      class: "finish",
      onsubmit: (event) => {
        event.preventDefault();
        act(async () => {
          const chosen = select.value;
          await api(`jobs/${encodeURIComponent(job.provider)}/${encodeURIComponent(job.id)}/finish`, { method: "POST", body: chosen ? { state: chosen } : {} });
          await refresh();
        });
      },
    }, el("label", { for: id }, `End job ${job.id} as`), select, el("button", { type: "submit", id: `${id}-go`, disabled: job.done ? true : null }, "Finish now"));
    return el("tr", { "data-job": `${job.provider}/${job.id}` },
      el("th", { scope: "row" }, job.id),
      el("td", {}, job.provider),
      el("td", {}, job.operation),
      el("td", {}, job.scenario),
      el("td", { class: `job-state ${job.done ? "done" : "running"}` }, job.done ? `${job.state ?? job.final} (done)` : job.state ?? "running"),
      el("td", {}, timeline(job), el("small", {}, `created ${clockTime(job.created_at)}${job.finished_at ? `, finished ${clockTime(job.finished_at)}` : ""}; ${job.polls ?? 0} polls`)),
      el("td", {}, form));
  });
  return el("div", { class: "scroll" }, el("table", { class: "grid", id: "jobs-table" },
    el("caption", { class: "visually-hidden" }, "Jobs, newest first"),
    el("thead", {}, el("tr", {}, ["Job", "Provider", "Operation", "Scenario", "State", "Timeline", "Finish"].map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows)));
}

// -- webhooks -----------------------------------------------------------------------------------
async function verdictInto(box, delivery) {
  try {
    const v = await api(`webhooks/deliveries/${delivery.id}/signature`);
    box.replaceChildren(el("span", { class: `verdict v-${v.verdict}` }, v.verdict), " ", v.detail);
  } catch (error) {
    box.textContent = error.message;
  }
}

function payload(text) {
  try {
    return jsonView(JSON.parse(text));
  } catch {
    return el("pre", {}, text);
  }
}

async function renderWebhooks() {
  const [{ deliveries }, { endpoints }] = await Promise.all([api("webhooks/deliveries"), api("webhooks/endpoints")]);
  const open = new Set([...document.querySelectorAll("#deliveries details[open]")].map((d) => d.dataset.id));
  redraw($("#deliveries"), deliveries, () => !deliveries.length ? el("p", { class: "empty" }, "Nothing sent yet.") :
    el("ul", { class: "deliveries" }, [...deliveries].reverse().map((d) => {
      const last = d.attempts.at(-1);
      const verdict = el("p", { class: "verdict-line" }, "Checking the signature…");
      const details = el("details", { "data-id": d.id, open: open.has(String(d.id)) || null, ontoggle: (ev) => ev.target.open && verdictInto(verdict, d) },
        el("summary", { id: `delivery-${d.id}` }, `#${d.id} ${d.event} → ${d.url} `, el("span", { class: `state st-${d.state}` }, d.state), ` ${d.attempts.length}/${d.max_attempts} attempts`, last ? `, last ${last.status ?? last.error}` : "", d.copy ? ` (copy ${d.copy})` : ""),
        el("h4", {}, "Signature"), verdict,
        d.error ? el("p", { class: "error" }, d.error) : null,
        el("h4", {}, "Attempts"),
        d.attempts.length
          ? el("table", { class: "grid attempts" }, el("thead", {}, el("tr", {}, ["#", "At", "Status", "Error", "Latency"].map((h) => el("th", { scope: "col" }, h)))),
              el("tbody", {}, d.attempts.map((a, i) => el("tr", {}, el("td", {}, i + 1), el("td", {}, a.at), el("td", { class: statusClass(a.status) }, a.status ?? "–"), el("td", {}, a.error ?? ""), el("td", { class: "num" }, ms(a.latency_ms))))))
          : el("p", {}, "None yet."),
        el("h4", {}, "Headers"), headersView(d.headers),
        el("h4", {}, "Payload"), payload(d.body));
      if (details.open) verdictInto(verdict, d);
      return el("li", {}, details);
    })));
  redraw($("#endpoints"), endpoints, () => endpoints.length
    ? el("ul", {}, endpoints.map((e) => el("li", {}, `#${e.id} ${e.provider}: ${e.url} (${e.events ? e.events.join(", ") : "every event"})`)))
    : el("p", { class: "empty" }, "None registered (ModelsLab sends to each request's webhook URL)."));
}

// -- scenarios ----------------------------------------------------------------------------------
function ruleChoices() {
  const provider = $("#rule-provider").value;
  options($("#rule-operation"), state.providers[provider]?.operations ?? [], { first: "any operation" });
  options($("#rule-scenario"), Object.entries(state.scenarios[provider] ?? {}).map(([n, s]) => [n, `${n}: ${s}`]));
}

async function renderScenarios() {
  const [{ rules }, { defaults }] = await Promise.all([api("rules"), api("defaults")]);
  redraw($("#rules"), rules, () => rules.length
    ? el("div", { class: "scroll" }, el("table", { class: "grid", id: "rules-table" },
        el("caption", { class: "visually-hidden" }, "Rules, in the order they are consumed"),
        el("thead", {}, el("tr", {}, ["Rule", "Provider", "Operation", "Scenario", "Calls left"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rules.map((r) => el("tr", {}, el("th", { scope: "row" }, `#${r.id}`), el("td", {}, r.provider), el("td", {}, r.operation ?? "any"), el("td", {}, r.scenario), el("td", {}, r.remaining ?? "every call"))))))
    : el("p", { class: "empty" }, "No rule queued: calls answer their default scenario."));
  const box = $("#defaults");
  if (box.contains(document.activeElement)) return; // do not redraw under the user's hand
  box.replaceChildren(...defaults.map((d) => {
    const id = `default-${d.provider}`;
    const select = el("select", { id, onchange: () => act(async () => {
      await api("defaults", { method: "POST", body: { provider: d.provider, scenario: select.value || null } });
      say(`${d.provider} now answers ${select.value || d.server_default} by default.`);
    }) }, el("option", { value: "" }, `server default (${d.server_default})`), Object.keys(state.scenarios[d.provider] ?? {}).map((n) => el("option", { value: n }, n)));
    select.value = d.scenario === d.server_default ? "" : d.scenario;
    return el("div", { class: "default" }, el("label", { for: id }, d.provider), select);
  }));
}

// -- tabs, clock, refresh -----------------------------------------------------------------------
const TABS = ["requests", "jobs", "webhooks", "scenarios"];

function selectTab(name, { focus = false } = {}) {
  state.tab = name;
  for (const tab of TABS) {
    const button = $(`#tab-${tab}`);
    button.setAttribute("aria-selected", String(tab === name));
    button.tabIndex = tab === name ? 0 : -1;
    $(`#panel-${tab}`).hidden = tab !== name;
  }
  if (focus) $(`#tab-${name}`).focus();
  refresh();
}

async function renderClock() {
  const clock = await api("clock");
  $("#clock-now").textContent = `${clockTime(clock.now)} UTC${clock.offset ? ` (+${clock.offset} s)` : ""}`;
}

let refreshing = Promise.resolve();
function refresh() {
  refreshing = refreshing.then(() =>
    act(async () => {
      await renderClock();
      if (state.tab === "jobs") await renderJobs();
      if (state.tab === "webhooks") await renderWebhooks();
      if (state.tab === "scenarios") await renderScenarios();
    }, { quiet: true }),
  );
  return refreshing;
}

async function feed() {
  const started = performance.now();
  let first = true;
  let all = false; // the first call brings the newest entries only, to paint at once
  for (;;) {
    try {
      const query = first ? `after=0&limit=${PAGE * 4}` : all ? `after=${state.last}&wait=${WAIT}` : "after=0";
      const data = await api(`journal/summaries?${query}`);
      if (!first && !all) {
        all = true;
        state.summaries = [];
        state.statuses.clear();
        state.last = 0;
        if (data.summaries.length) {
          addSummaries(data.summaries);
          state.last = data.summaries.at(-1).seq;
        }
        refreshFilterChoices();
        renderRequests();
        document.body.dataset.loadedMs = (performance.now() - started).toFixed(1);
        $("#status").textContent = `Live: ${state.summaries.length} entries`;
        continue;
      }
      if (all && data.last_seq < state.last) {
        // The journal was cleared or the mock reset: start over.
        state.summaries = [];
        state.statuses.clear();
        state.last = 0;
        refreshFilterChoices();
        renderRequests();
        continue;
      }
      if (data.summaries.length) {
        addSummaries(data.summaries);
        state.last = data.summaries.at(-1).seq;
      }
      if (first || data.summaries.length) renderRequests();
      if (first) {
        first = false;
        await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
        const paint = performance.now() - started;
        document.body.dataset.firstPaintMs = paint.toFixed(1);
        document.body.dataset.live = "true";
      }
      $("#status").textContent = `Live: ${state.summaries.length} entries`;
      refresh();
    } catch (error) {
      $("#status").textContent = `Not connected (${error.message}); retrying…`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

function wire() {
  const tablist = $('[role="tablist"]');
  for (const tab of TABS) $(`#tab-${tab}`).addEventListener("click", () => selectTab(tab));
  tablist.addEventListener("keydown", (event) => {
    const at = TABS.indexOf(state.tab);
    const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -at, End: TABS.length - 1 - at };
    if (!(event.key in moves)) return;
    event.preventDefault();
    selectTab(TABS[(at + moves[event.key] + TABS.length) % TABS.length], { focus: true });
  });

  const form = $("#filters");
  form.addEventListener("change", (event) => {
    if (event.target.name === "provider") refreshFilterChoices();
    state.page = 0;
    renderRequests();
  });
  form.addEventListener("reset", () => setTimeout(() => { refreshFilterChoices(); state.page = 0; renderRequests(); }));
  form.addEventListener("submit", (event) => event.preventDefault());
  $("#page-newer").addEventListener("click", () => { state.page -= 1; renderRequests(); });
  $("#page-older").addEventListener("click", () => { state.page += 1; renderRequests(); });

  const body = $("#requests tbody");
  body.addEventListener("click", (event) => {
    const button = event.target.closest("button.open");
    if (button) openDetail(Number(button.dataset.seq));
  });
  body.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    const tr = event.target.closest("tr");
    const next = event.key === "ArrowDown" ? tr?.nextElementSibling : tr?.previousElementSibling;
    if (next) {
      event.preventDefault();
      next.querySelector("button.open").focus();
    }
  });
  $("#detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.open !== null && !$("#token-dialog").open) closeDetail();
  });

  $("#clock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      await api("clock", { method: "POST", body: { advance: Number($("#clock-seconds").value) } });
      await refresh();
    });
  });
  $("#rule-provider").addEventListener("change", ruleChoices);
  $("#rule-forever").addEventListener("change", (event) => ($("#rule-times").disabled = event.target.checked));
  $("#rule-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const rule = {
        provider: $("#rule-provider").value,
        operation: $("#rule-operation").value || null,
        scenario: $("#rule-scenario").value,
        times: $("#rule-forever").checked ? null : Number($("#rule-times").value),
      };
      const added = await api("rules", { method: "POST", body: rule });
      say(`Rule #${added.id} queued: ${added.remaining ?? "every"} call(s) of ${added.provider} ${added.operation ?? "(any operation)"} answer ${added.scenario}.`);
      await refresh();
    });
  });
  $("#rules-clear").addEventListener("click", () => act(async () => { await api("rules", { method: "DELETE" }); await refresh(); }));
  $("#reset").addEventListener("click", () => act(async () => { await api("reset", { method: "POST" }); closeDetail(); await refresh(); }));
}

async function start() {
  wire();
  for (;;) {
    try {
      [state.providers, state.scenarios] = await Promise.all([api("providers"), api("scenarios")]);
      break;
    } catch (error) {
      $("#status").textContent = `Not connected (${error.message}); retrying…`;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  const ids = Object.keys(state.providers);
  options($("#f-provider"), ids, { first: "any" });
  options($("#rule-provider"), ids);
  ruleChoices();
  refreshFilterChoices();
  feed();
}

start();
