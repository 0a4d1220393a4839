// Runs: list with a status filter; detail with input, output, error, the live event stream,
// streamed LLM tokens, cancel, tool outputs and resuming a paused run.
import { get, post, withQuery, followRun } from "../api.js";
import { h, clear, time, json, dl, field, section, pagedTable, idLink, badge, errorBox, busy, duration, notice, absTime } from "../ui.js";

export const STATUSES = ["queued", "in_progress", "requires_action", "completed", "failed", "cancelled"];
const ACTIVE = new Set(["queued", "in_progress", "requires_action"]);

export function list(main, _p, query, ctx) {
  const status = query.get("status") || "";
  const threadId = query.get("thread_id") || "";
  const filter = h("form.filters", { id: "run-filter" },
    h("label", "Status ", h("select", { name: "status", on: { change: (e) => e.target.form.requestSubmit() } },
      h("option", { value: "" }, "any"), STATUSES.map((s) => h("option", { value: s, selected: s === status }, s.replace(/_/g, " "))))),
    h("button.secondary", { type: "submit" }, "Filter"));
  filter.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = withQuery("#/runs", { status: filter.elements.namedItem("status").value, thread_id: threadId });
  });
  const table = pagedTable([
    { label: "Run", cell: (r) => idLink("runs", r.run_id) },
    { label: "Status", cell: (r) => badge(r.status) },
    { label: "Assistant", cell: (r) => idLink("assistants", r.assistant_id) },
    { label: "Thread", cell: (r) => idLink("threads", r.thread_id) },
    { label: "Created", cell: (r) => time(r.created_at) },
    { label: "Took", cell: (r) => duration(r.started_at, r.ended_at) },
  ], (cursor) => get(withQuery("/api/v1/runs", { limit: 25, cursor, status, thread_id: threadId })),
  status ? `No ${status.replace(/_/g, " ")} runs.` : "No runs yet.");
  main.append(h("div.head", h("h1", "Runs"), h("a.button", { href: "#/new-run" }, "New run")), filter,
    threadId ? h("p", "Thread ", idLink("threads", threadId), " · ", h("a", { href: withQuery("#/runs", { status }) }, "all threads")) : "",
    table);
  ctx.every(5000, () => table.reload());
}

export async function detail(main, [id], _q, ctx) {
  const view = runView(id, ctx.signal);
  main.append(view);
}

/** The live view of one run; also used by the "new run" form. */
export function runView(id, signal) {
  let run = null;
  const statusEl = h("span#run-status");
  const summary = h("div");
  const actions = h("div.actions#run-actions");
  const out = h("div");
  const actionBox = h("div#run-action");
  const outputEl = h("div#run-output");
  const tokensEl = h("div.tokens#run-tokens", { "aria-live": "polite" });
  const streamState = h("span.muted#stream-state", "connecting…");
  const eventsBody = h("tbody");
  const events = h("div.table-wrap.events", h("table#run-events",
    h("thead", h("tr", h("th", "#"), h("th", "Event"), h("th", "Time"), h("th", "Data"))), eventsBody));
  const root = h("div.run-view", { "data-run-id": id },
    h("div.head", h("h1", "Run ", h("code", id.slice(0, 8)), " ", statusEl), actions),
    out,
    actionBox,
    section("Output", outputEl),
    h("section.card", h("h2", "Live events ", streamState),
      h("h3.small", "LLM tokens"), tokensEl, events),
    summary);

  async function refresh() {
    try {
      run = await get(`/api/v1/runs/${id}`);
    } catch (e) { clear(out, errorBox(e)); return; }
    clear(statusEl, badge(run.status));
    clear(summary, section("Run", dl(
      field("ID", h("code", run.run_id)),
      field("Status", badge(run.status), run.attempt > 1 ? ` (attempt ${run.attempt})` : ""),
      field("Assistant", idLink("assistants", run.assistant_id)),
      field("Thread", idLink("threads", run.thread_id)),
      field("Created", time(run.created_at, true)),
      field("Started", time(run.started_at, true)),
      field("Ended", time(run.ended_at, true)),
      field("Duration", duration(run.started_at, run.ended_at) || "—"),
      field("Strategy", run.multitask_strategy),
      run.webhook ? field("Webhook", h("code", run.webhook)) : null,
      field("Input", json(run.input)),
      Object.keys(run.config || {}).length ? field("Config", json(run.config)) : null,
      Object.keys(run.metadata || {}).length ? field("Metadata", json(run.metadata)) : null)));
    renderOutput();
    renderActions();
  }

  function renderOutput() {
    const parts = [];
    if (run.error) parts.push(h("div.error#run-error", h("strong", run.error.code || "error"), ": ", run.error.message || JSON.stringify(run.error)));
    if (run.output?.response !== undefined) parts.push(h("div.response#run-response", String(run.output.response)));
    if (run.output) parts.push(h("details", h("summary", "Full output"), json(run.output)));
    if (!parts.length) parts.push(h("p.muted", ACTIVE.has(run.status) ? "No output yet." : "No output."));
    clear(outputEl, parts);
  }

  function renderActions() {
    clear(actions);
    if (ACTIVE.has(run.status)) {
      const cancel = h("button.danger#cancel-run", "Cancel run");
      cancel.addEventListener("click", () => busy(cancel, out, async () => {
        await post(`/api/v1/runs/${id}/cancel`);
        clear(out, notice(run.status === "in_progress" ? "Cancel requested; the run stops within a second." : "Run cancelled."));
        await refresh();
      }));
      actions.append(cancel);
    }
    actions.append(h("a.button.secondary", { href: `#/threads/${run.thread_id}` }, "Thread"));
    const ra = run.status === "requires_action" ? run.required_action : null;
    if (!ra) { if (actionBox.dataset.for) { delete actionBox.dataset.for; clear(actionBox); } return; }
    if (actionBox.dataset.for === JSON.stringify(ra)) return; // keep what the user typed
    actionBox.dataset.for = JSON.stringify(ra);
    const msg = h("div");
    if (ra.type === "human_input") {
      const f = h("form.card.form#resume-form",
        h("h2", "Waiting for human input"),
        h("p.prompt", ra.prompt || "The run asks for input."), ra.node ? h("p.muted.small", "node ", h("code", ra.node)) : null,
        h("label", "Your answer (text, or JSON)", h("textarea", { name: "input", rows: 3, required: true })),
        h("div.actions", h("button", { type: "submit" }, "Resume run")), msg);
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        busy(f.querySelector("button"), msg, async () => {
          const raw = f.elements.namedItem("input").value;
          let input = raw;
          try { if (/^\s*[[{"]/.test(raw)) input = JSON.parse(raw); } catch { input = raw; }
          await post(`/api/v1/runs/${id}/resume`, { input });
          delete actionBox.dataset.for;
          clear(actionBox, notice("Resumed."));
          await refresh();
        });
      });
      clear(actionBox, f);
    } else if (ra.type === "submit_tool_outputs") {
      const calls = ra.tool_calls || [];
      const f = h("form.card.form#tool-outputs-form", h("h2", "Waiting for tool outputs"),
        calls.map((c) => h("fieldset",
          h("legend", h("code", c.name || "tool"), " ", h("span.muted", c.id)),
          c.args !== undefined || c.arguments !== undefined ? json(c.args ?? c.arguments) : null,
          h("label", "Output", h("textarea", { name: c.id, rows: 2, required: true })))),
        h("div.actions", h("button", { type: "submit" }, "Submit tool outputs")), msg);
      f.addEventListener("submit", (e) => {
        e.preventDefault();
        busy(f.querySelector("button"), msg, async () => {
          const tool_outputs = calls.map((c) => ({ tool_call_id: c.id, output: f.elements.namedItem(c.id).value }));
          await post(`/api/v1/runs/${id}/submit_tool_outputs`, { tool_outputs });
          delete actionBox.dataset.for;
          clear(actionBox, notice("Tool outputs submitted."));
          await refresh();
        });
      });
      clear(actionBox, f);
    } else {
      clear(actionBox, section("Required action", json(ra)));
    }
  }

  let tokens = 0;
  function onEvent({ id: eid, event, data }) {
    const body = data?.data ?? data;
    if (event === "llm.token" && body?.token !== undefined) {
      tokensEl.append(h("span.token", String(body.token)));
      tokens++;
    }
    eventsBody.append(h("tr", { "data-event": event, "data-id": eid },
      h("td", eid), h("td", h("span.ev", { class: `ev-${event.split(".")[0]}` }, event)),
      h("td", { title: data?.ts || "" }, data?.ts ? absTime(data.ts).slice(11) : ""),
      h("td", event === "llm.token" ? h("code", JSON.stringify(body.token)) : summarize(event, body))));
    if (event.startsWith("run.") || event === "checkpoint.saved") refresh();
  }

  refresh().then(() => followRun(id, {
    signal,
    onEvent,
    onState: (state, info) => {
      const text = { connecting: "connecting…", open: "live", reconnecting: `reconnecting (from event ${info.lastId || 0})…`, closed: "finished", error: `stream error: ${info.message}` }[state];
      streamState.textContent = text + (info?.reconnects ? ` · reconnected ${info.reconnects}×` : "");
      streamState.dataset.state = state;
      if (state === "closed") refresh();
    },
  }));
  return root;
}

function summarize(event, d) {
  if (!d || typeof d !== "object") return String(d ?? "");
  if (event === "node.started") return h("span", "node ", h("code", d.node), " (", d.type, ")");
  if (event === "node.completed") {
    const msgs = d.update?.messages;
    const last = Array.isArray(msgs) && msgs.length ? msgs[msgs.length - 1].content : null;
    return h("span", "node ", h("code", d.node), last != null ? [" → ", h("q", typeof last === "string" ? last : JSON.stringify(last))] : "");
  }
  if (event === "run.completed" && d.output?.response !== undefined) return h("span", "response ", h("q", String(d.output.response)));
  if (event === "run.failed" || event === "run.cancelled") return h("span", d.error?.message || d.message || JSON.stringify(d));
  if (event === "run.requires_action") return h("span", d.required_action?.type || d.type || "", " ", d.required_action?.prompt || d.prompt || "");
  if (event === "checkpoint.saved") return h("span", "step ", d.step, d.next?.length ? [", next ", h("code", d.next.join(", "))] : "");
  const s = JSON.stringify(d);
  return h("details", h("summary", s.length > 80 ? s.slice(0, 80) + "…" : s), json(d));
}
