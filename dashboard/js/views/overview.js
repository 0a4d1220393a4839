// Overview: counts, runs by status, runs per minute over the last hour, webhook backlog, roles.
import { collect, metrics } from "../api.js";
import { h, clear, badge, errorBox, table } from "../ui.js";

const STATUSES = ["queued", "in_progress", "requires_action", "completed", "failed", "cancelled"];

export async function render(main, _params, _query, ctx) {
  const counts = h("div.tiles");
  const byStatus = h("div.tiles");
  const chart = h("div.chart-wrap");
  const roles = h("div");
  const updated = h("span.muted");
  main.append(
    h("div.head", h("h1", "Overview"), updated),
    h("section.card", h("h2", "Totals"), counts),
    h("section.card", h("h2", "Runs by status"), byStatus),
    h("section.card", h("h2", "Runs per minute, last hour"), chart),
    h("section.card", h("h2", "Roles"), roles));

  async function refresh() {
    await Promise.all([
      loadCounts(counts).catch((e) => clear(counts, errorBox(e))),
      loadRuns(byStatus, chart).catch((e) => clear(byStatus, errorBox(e))),
      loadRoles(roles).catch((e) => clear(roles, errorBox(e))),
    ]);
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  }
  await refresh();
  ctx.every(10000, refresh);
}

function tile(label, value, href, extra) {
  const body = [h("div.tile-value", value), h("div.tile-label", label), extra];
  return href ? h("a.tile", { href, "data-tile": label }, body) : h("div.tile", { "data-tile": label }, body);
}

const count = ({ items, complete }) => `${items.length}${complete ? "" : "+"}`;

async function loadCounts(el) {
  const [assistants, threads, backlog] = await Promise.all([
    collect("/api/v1/assistants"),
    collect("/api/v1/threads"),
    metrics().then((m) => m.find((x) => x.name === "duragraph_webhook_backlog")?.value).catch(() => undefined),
  ]);
  clear(el,
    tile("assistants", count(assistants), "#/assistants"),
    tile("threads", count(threads), "#/threads"),
    tile("webhook backlog", backlog === undefined ? "?" : String(backlog), "#/webhooks", h("div.muted.small", "deliveries pending")));
}

async function loadRuns(el, chart) {
  // Exact counts per status from the list API (up to 1000 each; the metrics gauge beyond that).
  const gauges = await metrics().catch(() => []);
  const results = await Promise.all(STATUSES.map((s) => collect("/api/v1/runs", { status: s })));
  clear(el, STATUSES.map((s, i) => {
    let value = count(results[i]);
    if (!results[i].complete) {
      const g = gauges.find((x) => x.name === "duragraph_runs" && x.labels.status === s);
      if (g) value = String(g.value);
    }
    return tile(s.replace(/_/g, " "), value, `#/runs?status=${s}`, badge(s));
  }));

  // Runs created per minute over the last hour, newest pages first.
  const since = Date.now() - 3600_000;
  const recent = await collect("/api/v1/runs", {}, { maxPages: 30, stop: (r) => new Date(r.created_at) < since });
  const buckets = new Array(60).fill(0);
  for (const r of recent.items) {
    const age = Date.now() - new Date(r.created_at);
    if (age >= 0 && age < 3600_000) buckets[59 - Math.floor(age / 60000)]++;
  }
  const max = Math.max(1, ...buckets);
  const total = buckets.reduce((a, b) => a + b, 0);
  clear(chart,
    h("div.chart", { role: "img", "aria-label": `${total} runs in the last hour` },
      buckets.map((n, i) => h("div.bar", {
        style: `height:${Math.round((n / max) * 100)}%`,
        title: `${n} run${n === 1 ? "" : "s"}, ${59 - i}–${60 - i} min ago`,
      }))),
    h("div.chart-axis", h("span", "60 min ago"), h("span", `${total} runs in the last hour, peak ${Math.max(...buckets)}/min`), h("span", "now")));
}

async function loadRoles(el) {
  const res = await fetch("/health", { headers: { Accept: "application/json" } });
  const health = await res.json();
  const list = health?.details?.roles || [];
  clear(el,
    h("p", "Server ", badge(health.status), " version ", health.version || "?",
      Object.entries(health.checks || {}).map(([k, v]) => [" · ", k, " ", badge(v)])),
    table([
      { label: "Role", cell: (r) => h("strong", r.role) },
      { label: "State", cell: (r) => badge(r.up ? (r.ready ? "ready" : "starting") : "down") },
      { label: "PID", cell: (r) => r.pid ?? "—" },
      { label: "Restarts", cell: (r) => h("span", { class: r.restarts ? "warn-text" : "" }, String(r.restarts ?? 0)) },
      { label: "Last exit", cell: (r) => r.last_exit == null ? "—" : (typeof r.last_exit === "object" ? JSON.stringify(r.last_exit) : String(r.last_exit)) },
    ], list, "This process reports no roles (not the supervisor)."));
}
