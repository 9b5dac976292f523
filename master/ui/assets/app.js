// Yard's web UI: one page, hash routes, plain DOM (no framework, nothing from the network).
// Every page reads the master's JSON endpoints under /ui/api/ and redraws itself every two
// seconds; the events page follows the live stream (Server-Sent Events). Text is always set as
// text, never as HTML.

const REFRESH_MS = 2000;
const main = document.getElementById("main");
let timer;
let stream;

/** h("td", {class: "x"}, "text", child): an element with attributes and children. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick") el.addEventListener("click", v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Number.POSITIVE_INFINITY)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path) {
  const res = await fetch(`/ui/api/${path}`, { credentials: "same-origin" });
  if (res.ok) return (res.headers.get("content-type") ?? "").includes("json") ? res.json() : res.text();
  let message = `${res.status} ${res.statusText}`;
  try {
    message = (await res.json()).error.message;
  } catch {}
  throw new ApiError(res.status, message);
}

const q = (params) => new URLSearchParams(params).toString();
const ago = (s) => {
  if (!s) return "";
  const d = Math.max(0, Date.now() / 1000 - s);
  if (d < 60) return `${Math.floor(d)} s ago`;
  if (d < 3600) return `${Math.floor(d / 60)} min ago`;
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`;
  return `${Math.floor(d / 86400)} d ago`;
};
const mib = (n) => (n >= 1024 ? `${(n / 1024).toFixed(1)} GiB` : `${Math.round(n)} MiB`);
const bytes = (n) => {
  const v = Number(n ?? 0);
  if (v >= 1 << 30) return `${(v / (1 << 30)).toFixed(1)} GiB`;
  if (v >= 1 << 20) return `${(v / (1 << 20)).toFixed(1)} MiB`;
  if (v >= 1 << 10) return `${(v / (1 << 10)).toFixed(1)} KiB`;
  return `${v} B`;
};
const pct = (x) => `${Math.round(x * 1000) / 10} %`;
const stateName = (s) => String(s ?? "").replace(/^TASK_/, "");

function badge(text, kind) {
  return h("span", { class: `badge ${kind ?? ""}` }, text);
}

const GOOD = new Set(["ACTIVE", "CONNECTED", "RUNNING", "SUCCEEDED", "DONE", "FINISHED"]);
const WARN = new Set([
  "DRAINING",
  "DRAINED",
  "DISCONNECTED",
  "STAGING",
  "STARTING",
  "PAUSED",
  "KILLING",
  "WAITING_PROMOTION",
  "ROLLING_BACK",
  "FETCHING",
  "VERIFYING",
  "PENDING",
  "UNREACHABLE",
]);
const BAD = new Set(["LOST", "FAILED", "ERROR", "KILLED", "ROLLED_BACK", "ABORTED", "INACTIVE", "GONE"]);
function stateBadge(state) {
  const s = stateName(state);
  return badge(s || "?", GOOD.has(s) ? "ok" : WARN.has(s) ? "warn" : BAD.has(s) ? "bad" : "");
}

/** A bar of used (and offered) out of total, with its figures under it. */
function bar(used, total, label, offered = 0, cls = "") {
  const b = h("span", { class: `bar ${cls}` });
  const u = h("span", { class: "used" });
  u.style.width = `${total > 0 ? Math.min(100, (used / total) * 100) : 0}%`;
  b.append(u);
  if (offered > 0) {
    const o = h("span", { class: "offered" });
    o.style.left = u.style.width;
    o.style.width = `${Math.min(100, (offered / total) * 100)}%`;
    b.append(o);
  }
  return h("div", {}, b, h("span", { class: "barlabel" }, label));
}

function table(headers, rows, empty) {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        headers.map((x) => h("th", {}, x)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          {},
          r.map((c) => h("td", {}, c)),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ pages

async function overview() {
  const o = await api("overview");
  const agents = o.agents ?? [];
  const frameworks = o.frameworks ?? [];
  const total = { cpus: 0, mem: 0, cpusUsed: 0, memUsed: 0 };
  for (const a of agents) {
    total.cpus += a.info?.resources?.cpus ?? 0;
    total.mem += a.info?.resources?.mem ?? 0;
    total.cpusUsed += a.allocated?.cpus ?? 0;
    total.memUsed += a.allocated?.mem ?? 0;
  }
  const rows = agents.map((a) => {
    const r = a.info?.resources ?? {};
    const al = a.allocated ?? {};
    const of = a.offered ?? {};
    const flags = [stateBadge(a.status)];
    if (a.conditions?.diskPressure) flags.push(" ", badge("DISK PRESSURE", "bad"));
    return [
      h("strong", {}, a.info?.hostname ?? ""),
      h("code", {}, a.info?.id ?? ""),
      flags,
      bar(al.cpus ?? 0, r.cpus ?? 0, `${+(al.cpus ?? 0).toFixed(2)} / ${r.cpus ?? 0} cpus`, of.cpus ?? 0),
      bar(al.mem ?? 0, r.mem ?? 0, `${mib(al.mem ?? 0)} / ${mib(r.mem ?? 0)}`, of.mem ?? 0),
      bar(al.disk ?? 0, r.disk ?? 0, `${mib(al.disk ?? 0)} / ${mib(r.disk ?? 0)}`, of.disk ?? 0),
      a.runningTasks ?? 0,
      ago(a.lastHeartbeat),
    ];
  });
  const card = (n, l) =>
    h("div", { class: "card" }, h("div", { class: "n" }, n), h("div", { class: "l" }, l));
  return [
    h("h1", {}, "Cluster overview"),
    h(
      "div",
      { class: "cards" },
      card(agents.filter((a) => a.status === "ACTIVE").length + ` / ${agents.length}`, "agents active"),
      card(frameworks.filter((f) => f.status === "CONNECTED").length, "frameworks connected"),
      card(o.activeTasks ?? 0, "active tasks"),
      card(pct(total.cpus ? total.cpusUsed / total.cpus : 0), "cpus allocated"),
      card(pct(total.mem ? total.memUsed / total.mem : 0), "memory allocated"),
      card(o.masterVersion ?? "", `master, up ${ago(o.startedAt).replace(" ago", "")}`),
    ),
    h("h2", {}, "Agents"),
    h(
      "p",
      { class: "muted" },
      "Bars: allocated to tasks (dark) and offered to frameworks (light), of the agent's total.",
    ),
    table(
      ["Host", "Agent", "State", "CPU", "Memory", "Disk", "Tasks", "Heartbeat"],
      rows,
      "No agent has registered.",
    ),
  ];
}

async function frameworks() {
  const o = await api("overview");
  const rows = (o.frameworks ?? []).map((f) => [
    h("strong", {}, f.info?.name ?? ""),
    h("code", {}, f.info?.id ?? ""),
    f.info?.role ?? "",
    [stateBadge(f.status), f.suppressed ? [" ", badge("SUPPRESSED", "warn")] : null],
    bar(f.dominantShare ?? 0, 1, pct(f.dominantShare ?? 0)),
    `${+(f.allocated?.cpus ?? 0).toFixed(2)} cpus, ${mib(f.allocated?.mem ?? 0)}`,
    f.activeTasks ?? 0,
    f.principal ?? "",
    f.info?.endpoint ? h("code", {}, f.info.endpoint) : "",
  ]);
  return [
    h("h1", {}, "Frameworks"),
    h(
      "p",
      { class: "muted" },
      "Dominant share: the largest fraction of any resource the framework holds; DRF offers next to the lowest.",
    ),
    table(
      ["Name", "Id", "Role", "State", "Dominant share", "Allocated", "Tasks", "Principal", "Endpoint"],
      rows,
      "No framework has subscribed.",
    ),
  ];
}

function steps(d) {
  if (!d?.steps) return null;
  const targets = d.stepTargets ?? [];
  return h(
    "div",
    { class: "steps" },
    Array.from({ length: d.steps }, (_, i) => {
      const n = i + 1;
      const ended = ["SUCCEEDED"].includes(d.state);
      const cls = ended || n < d.step ? "done" : n === d.step ? "current" : "";
      return h("span", { class: `step ${cls}`, "data-step": n }, `step ${n}: ${targets[i] ?? "?"}`);
    }),
  );
}

function deploymentSummary(d) {
  if (!d) return h("span", { class: "muted" }, "no deployment");
  return h(
    "span",
    {},
    stateBadge(d.state),
    ` step ${d.step ?? 0}/${d.steps ?? 0}`,
    d.rollingBack ? " (rolling back)" : "",
  );
}

async function apps() {
  const res = await api("apps");
  const rows = (res.apps ?? []).map((a) => [
    h("a", { href: `#/apps/${encodeURIComponent(a.name)}` }, a.name),
    a.revision ?? 0,
    `${(a.tasks ?? []).filter((t) => !t.stopping).length} / ${a.instances ?? 0}`,
    deploymentSummary(a.deployment),
    a.release || a.image || "",
    ago(a.updatedAt),
  ]);
  return [
    h("h1", {}, "Apps"),
    table(
      ["App", "Revision", "Instances", "Rollout", "Release / image", "Updated"],
      rows,
      "No app yet: deploy one with yardctl deploy -f app.yaml.",
    ),
  ];
}

function explanation(e) {
  if (!e) return null;
  const w = e.work;
  const parts = [];
  if (w) {
    parts.push(
      h(
        "p",
        {},
        h("strong", {}, `${w.waiting ?? 0} waiting`),
        w.needs ? ` — each needs ${w.needs.cpus ?? 0} cpus, ${mib(w.needs.mem ?? 0)}` : "",
        w.since ? `, since ${ago(w.since)}` : "",
      ),
    );
    if (w.message) parts.push(h("p", {}, w.message));
    if ((w.reasons ?? []).length)
      parts.push(
        h(
          "div",
          {},
          "Offers declined: ",
          (w.reasons ?? []).map((r) =>
            h("span", { class: "reason", "data-reason": r.code }, `${r.code} ×${r.offers ?? 0}`),
          ),
        ),
      );
  }
  const o = e.offers;
  if (o) {
    parts.push(
      h(
        "p",
        { class: "muted" },
        `Framework ${e.frameworkName || e.frameworkId}: `,
        o.active ? "active" : "inactive",
        o.suppressed ? ", suppressed" : "",
        `, dominant share ${pct(o.dominantShare ?? 0)}, ${o.outstandingOffers ?? 0} offers outstanding`,
        o.lastOfferAt ? `, last offer ${ago(o.lastOfferAt)}` : "",
      ),
    );
    if ((o.agents ?? []).length)
      parts.push(
        h(
          "div",
          {},
          "Agents not offered now: ",
          o.agents.map((a) =>
            h("span", { class: "reason", "data-reason": a.reason }, `${a.reason} ×${a.agents ?? 0}`),
          ),
        ),
      );
  }
  if (parts.length === 0) return null;
  return [h("h2", {}, "Why pending"), h("div", { class: "panel", id: "why" }, parts)];
}

async function app(name) {
  const res = await api(`app?${q({ name })}`);
  const a = res.app;
  const d = a.deployment;
  const waves = (d?.waves ?? []).map((w) => [
    `steps ${w.step}–${w.through}`,
    stateBadge(w.state),
    bar(
      Number(w.agentsDone ?? 0),
      Number(w.agents ?? 0),
      `${w.agentsDone ?? 0}/${w.agents ?? 0} agents, ${bytes(w.downloaded)} of ${bytes(w.size)}`,
      0,
      w.state === "DONE" ? "done" : w.state === "FAILED" ? "failed" : "",
    ),
    w.waited ? "its step waited" : "",
  ]);
  const tasks = (a.tasks ?? []).map((t) => [
    h("a", { href: `#/tasks/${encodeURIComponent(t.taskId)}` }, h("code", {}, t.taskId)),
    t.revision ?? 0,
    stateBadge(t.state),
    t.health ?? "",
    t.ready ? "ready" : "",
    t.stopping ? "stopping" : "",
    t.agentId ? h("code", {}, t.agentId) : "",
    t.message ?? "",
  ]);
  const history = (res.history?.revisions ?? [])
    .slice()
    .reverse()
    .map((r) => [
      r.number,
      r.release || r.image || "",
      r.deploymentState ?? "",
      r.changeCause ?? "",
      ago(r.createdAt),
    ]);
  return [
    h("h1", {}, `App ${a.name}`),
    h(
      "dl",
      { class: "kv panel" },
      h("dt", {}, "Revision"),
      h("dd", {}, a.revision ?? 0),
      h("dt", {}, "Instances"),
      h("dd", {}, a.instances ?? 0),
      h("dt", {}, "Release / image"),
      h("dd", {}, a.release || a.image || ""),
      h("dt", {}, "Rollout"),
      h("dd", { id: "rollout-state" }, d ? `${d.state} step ${d.step}/${d.steps}` : "none"),
      d?.message ? [h("dt", {}, "Message"), h("dd", {}, d.message)] : null,
      d?.failure ? [h("dt", {}, "Failure"), h("dd", {}, d.failure)] : null,
    ),
    d ? [h("h2", {}, `Rollout ${d.fromRevision ?? 0} → ${d.toRevision ?? 0}`), steps(d)] : null,
    waves.length ? [h("h2", {}, "Staging"), table(["Wave", "State", "Agents", ""], waves, "")] : null,
    explanation(res.explanation),
    h("h2", {}, "Instances"),
    table(["Task", "Rev", "State", "Health", "", "", "Agent", "Message"], tasks, "No instance runs."),
    h("h2", {}, "History"),
    table(["Revision", "Release / image", "Deployment", "Cause", "Created"], history, "No revision."),
  ];
}

async function releases() {
  const res = await api("releases");
  const rows = (res.releases ?? []).map((r) => {
    const ref = `${r.name}@${r.version}`;
    return [
      h("a", { href: `#/releases/${encodeURIComponent(ref)}` }, ref),
      r.kind ?? "",
      bytes(r.size),
      h("code", {}, (r.sha256 ?? "").slice(0, 16)),
      r.corrupt ? badge("CORRUPT", "bad") : badge("OK", "ok"),
      ago(r.createdAt),
    ];
  });
  return [
    h("h1", {}, "Releases"),
    table(
      ["Release", "Kind", "Size", "sha256", "State", "Pushed"],
      rows,
      "No release: push one with yardctl release push.",
    ),
  ];
}

async function release(ref) {
  const s = await api(`release?${q({ name: ref })}`);
  const r = s.release ?? {};
  const rows = (s.agents ?? []).map((f) => [
    f.hostname || "",
    h("code", {}, f.agentId),
    stateBadge(f.state),
    bar(
      Number(f.downloaded ?? 0),
      Number(f.size ?? r.size ?? 0),
      `${bytes(f.downloaded)} of ${bytes(f.size ?? r.size)}`,
      0,
      f.state === "DONE" ? "done" : f.state === "FAILED" ? "failed" : "",
    ),
    f.downloadRate ? `${bytes(f.downloadRate)}/s` : "",
    f.error ?? "",
    ago(f.updatedAt),
  ]);
  return [
    h("h1", {}, `Release ${ref}`),
    h(
      "dl",
      { class: "kv panel" },
      h("dt", {}, "Size"),
      h("dd", {}, bytes(r.size)),
      h("dt", {}, "sha256"),
      h("dd", {}, h("code", {}, r.sha256 ?? "")),
      h("dt", {}, "Seeded by the master"),
      h("dd", {}, s.seeded ? "yes" : "no"),
    ),
    h("h2", {}, "Staging on agents"),
    table(
      ["Host", "Agent", "State", "Progress", "Rate", "Error", "Updated"],
      rows,
      "No agent was asked to fetch it yet.",
    ),
  ];
}

async function tasks() {
  const showEnded = sessionStorage.getItem("tasks.ended") === "1";
  const res = await api(`tasks?${q({ terminal: showEnded ? "1" : "0" })}`);
  const waiting = (res.waiting ?? []).map((p) => [
    `${p.work.kind}/${p.work.name}`,
    p.frameworkName || p.frameworkId,
    p.work.waiting ?? 0,
    [
      (p.work.reasons ?? []).map((r) =>
        h("span", { class: "reason", "data-reason": r.code }, `${r.code} ×${r.offers ?? 0}`),
      ),
      p.work.message ?? "",
    ],
    ago(p.work.since),
    p.work.kind === "app" ? h("a", { href: `#/apps/${encodeURIComponent(p.work.name)}` }, "app") : "",
  ]);
  const rows = (res.tasks ?? []).map((t) => [
    h(
      "a",
      { href: `#/tasks/${encodeURIComponent(t.info?.taskId)}/${encodeURIComponent(t.frameworkId)}` },
      h("code", {}, t.info?.taskId),
    ),
    t.info?.name ?? "",
    t.frameworkName || t.frameworkId,
    stateBadge(t.status?.state),
    t.info?.agentId ? h("code", {}, t.info.agentId) : "",
    t.status?.message ?? "",
    ago(t.status?.timestamp || t.createdAt),
  ]);
  const toggle = h("label", {}, h("input", { type: "checkbox", checked: showEnded }), " show ended tasks");
  toggle.querySelector("input").addEventListener("change", (ev) => {
    sessionStorage.setItem("tasks.ended", ev.target.checked ? "1" : "0");
    render();
  });
  return [
    h("h1", {}, "Tasks"),
    h("h2", {}, "Waiting for resources"),
    table(["Work", "Framework", "Waiting", "Why", "Since", ""], waiting, "Nothing waits."),
    h("h2", {}, "Tasks"),
    h("div", { class: "toolbar" }, toggle),
    table(["Task", "Name", "Framework", "State", "Agent", "Message", "Updated"], rows, "No task."),
  ];
}

async function task(id, frameworkId) {
  const why = await api(`explain?${q({ kind: "task", name: id, framework_id: frameworkId ?? "" })}`);
  const fw = frameworkId || why.frameworkId || "";
  const list = await api(`tasks?${q({ terminal: "1", framework_id: fw })}`);
  const t = (list.tasks ?? []).find((x) => x.info?.taskId === id);
  const logBox = h("pre", { class: "log", id: "log" }, "");
  const showLog = async (stream) => {
    logBox.textContent = "reading…";
    try {
      const text = await api(`logs?${q({ task: id, framework_id: fw, stream, tail: 65536 })}`);
      logBox.textContent = text || `(${stream} is empty)`;
    } catch (err) {
      logBox.textContent = `cannot read ${stream}: ${err.message}`;
    }
  };
  return [
    h("h1", {}, `Task ${id}`),
    h(
      "dl",
      { class: "kv panel" },
      h("dt", {}, "State"),
      h("dd", {}, t ? stateBadge(t.status?.state) : badge("NOT LAUNCHED", "warn")),
      h("dt", {}, "Framework"),
      h("dd", {}, why.frameworkName || fw),
      h("dt", {}, "Agent"),
      h("dd", {}, t?.info?.agentId ?? why.agentId ?? ""),
      t
        ? [
            h("dt", {}, "Resources"),
            h("dd", {}, `${t.info?.resources?.cpus ?? 0} cpus, ${mib(t.info?.resources?.mem ?? 0)}`),
            h("dt", {}, "Message"),
            h("dd", {}, t.status?.message ?? ""),
            h("dt", {}, "Reason"),
            h("dd", {}, t.status?.reason ?? ""),
          ]
        : null,
    ),
    explanation(why),
    t
      ? [
          h("h2", {}, "Logs"),
          h(
            "div",
            { class: "toolbar" },
            h("button", { class: "small", type: "button", onclick: () => showLog("stdout") }, "stdout"),
            h("button", { class: "small", type: "button", onclick: () => showLog("stderr") }, "stderr"),
            h("span", { class: "muted" }, "the last 64 KiB; follow with yardctl logs -f"),
          ),
          logBox,
        ]
      : null,
  ];
}

function events() {
  const filter = h("input", {
    type: "search",
    placeholder: "filter by type, task, agent…",
    id: "event-filter",
  });
  const state = h("span", { class: "muted", id: "event-state" }, "connecting…");
  const body = h("tbody", { id: "events" });
  const view = [
    h("h1", {}, "Events"),
    h("div", { class: "toolbar" }, filter, state),
    h(
      "table",
      {},
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["#", "Time", "Type", "Subject", "Detail"].map((x) => h("th", {}, x)),
        ),
      ),
      body,
    ),
  ];
  const matches = (tr) => !filter.value || tr.textContent.toLowerCase().includes(filter.value.toLowerCase());
  filter.addEventListener("input", () => {
    for (const tr of body.children) tr.hidden = !matches(tr);
  });
  stream = new EventSource("/ui/api/events");
  stream.addEventListener("open", () => {
    state.textContent = "live";
  });
  stream.addEventListener("error", () => {
    state.textContent = "reconnecting…";
  });
  stream.addEventListener("gap", (m) => {
    body.prepend(
      h(
        "tr",
        {},
        h(
          "td",
          { colspan: 5, class: "muted" },
          `older events are gone; the oldest kept is ${JSON.parse(m.data).firstIndex}`,
        ),
      ),
    );
  });
  stream.addEventListener("cluster", (m) => {
    const e = JSON.parse(m.data);
    const subject = [
      e.agentId && `agent ${e.agentId}`,
      e.frameworkId && `framework ${e.frameworkId}`,
      e.taskId && `task ${e.taskId}`,
    ]
      .filter(Boolean)
      .join(", ");
    const detail = [
      e.taskState && stateName(e.taskState),
      e.principal,
      e.action,
      e.object,
      e.result,
      e.message,
    ]
      .filter(Boolean)
      .join(" · ");
    const tr = h(
      "tr",
      { "data-type": e.type },
      h("td", {}, e.index),
      h("td", {}, new Date(e.timestamp * 1000).toLocaleTimeString()),
      h("td", {}, badge(e.type, e.type === "AUDIT" ? "info" : "")),
      h("td", {}, subject),
      h("td", {}, detail),
    );
    tr.hidden = !matches(tr);
    body.prepend(tr);
    while (body.children.length > 2000) body.lastChild.remove();
  });
  return view;
}

// ------------------------------------------------------------------ routing

const ROUTES = [
  [/^#\/overview$/, "overview", overview],
  [/^#\/frameworks$/, "frameworks", frameworks],
  [/^#\/apps$/, "apps", apps],
  [/^#\/apps\/([^/]+)$/, "apps", app],
  [/^#\/releases$/, "releases", releases],
  [/^#\/releases\/([^/]+)$/, "releases", release],
  [/^#\/tasks$/, "tasks", tasks],
  [/^#\/tasks\/([^/]+)(?:\/([^/]*))?$/, "tasks", task],
];

function banner(text) {
  const b = document.getElementById("banner");
  b.textContent = text ?? "";
  b.hidden = !text;
}

let drawing = false;
/** A redraw was asked for while one was under way. */
let again = false;
/** The page changed while its data was read: draw the new one instead. */
class Moved extends Error {}
async function render() {
  clearTimeout(timer);
  const hash = location.hash || "#/overview";
  for (const a of document.querySelectorAll("nav a"))
    a.classList.toggle("active", hash.startsWith(`#/${a.dataset.page}`));
  if (hash === "#/events") {
    if (!stream) main.replaceChildren(...events());
    return;
  }
  if (stream) {
    stream.close();
    stream = undefined;
  }
  const route = ROUTES.find(([re]) => re.test(hash));
  if (!route) {
    location.hash = "#/overview";
    return;
  }
  const args = route[0]
    .exec(hash)
    .slice(1)
    .map((x) => (x === undefined ? undefined : decodeURIComponent(x)));
  if (drawing) {
    again = true;
    return;
  }
  drawing = true;
  try {
    const view = await route[2](...args);
    if ((location.hash || "#/overview") !== hash) throw new Moved();
    // Keep what the operator was reading (the log box, the scroll) on a page that redraws.
    const log = document.getElementById("log");
    const y = window.scrollY;
    main.replaceChildren(...[view].flat(3).filter(Boolean));
    const fresh = document.getElementById("log");
    if (log && fresh && location.hash === hash) fresh.textContent = log.textContent;
    window.scrollTo(0, y);
    banner();
  } catch (err) {
    if (err instanceof Moved) {
      drawing = false;
      return render();
    }
    if (err.status === 401) {
      main.replaceChildren(
        h("h1", {}, "Not logged in"),
        h("p", {}, err.message),
        h("p", {}, "Run ", h("code", {}, "yardctl ui"), " and open the URL it prints."),
      );
      document.getElementById("who").textContent = "";
      drawing = false;
      return;
    }
    banner(err.message);
  }
  drawing = false;
  if (again) {
    again = false;
    return render();
  }
  timer = setTimeout(render, REFRESH_MS);
}

async function whoami() {
  try {
    const me = await api("whoami");
    document.getElementById("who").textContent = `${me.principal} (${me.kind})`;
    document.getElementById("logout").hidden = false;
  } catch {}
}

document.getElementById("logout").addEventListener("click", async () => {
  await fetch("/ui/logout", { method: "POST", credentials: "same-origin" });
  location.reload();
});
window.addEventListener("hashchange", () => {
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  render();
});
whoami();
render();
