// Threads: list and search by metadata, detail with messages, state history and runs.
import { get, post, del, withQuery } from "../api.js";
import { h, clear, time, json, dl, field, section, pagedTable, idLink, badge, errorBox, parseJSON, busy, duration } from "../ui.js";

const STATUSES = ["idle", "busy", "interrupted", "error"];

export function list(main, _p, query) {
  const metadata = query.get("metadata") || "";
  const status = query.get("status") || "";
  const out = h("div");
  const search = h("form.filters", { id: "thread-search" },
    h("label", "Metadata ", h("input", { name: "metadata", value: metadata, placeholder: '{"user": "alice"}', size: 28 })),
    h("label", "Status ", h("select", { name: "status" }, h("option", { value: "" }, "any"),
      STATUSES.map((s) => h("option", { value: s, selected: s === status }, s)))),
    h("button.secondary", { type: "submit" }, "Search"));
  search.addEventListener("submit", (e) => {
    e.preventDefault();
    try {
      const m = search.elements.namedItem("metadata").value.trim();
      if (m) parseJSON(m, "metadata");
      location.hash = withQuery("#/threads", { metadata: m, status: search.elements.namedItem("status").value });
    } catch (err) { clear(out, errorBox(err)); }
  });
  const createForm = h("form.inline-form", { id: "thread-create" },
    h("label", "Metadata ", h("input", { name: "metadata", placeholder: '{"user": "alice"}', size: 24 })),
    h("button", { type: "submit" }, "New thread"));
  createForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(createForm.querySelector("button"), out, async () => {
      const t = await post("/api/v1/threads", { metadata: parseJSON(createForm.elements.namedItem("metadata").value, "metadata") });
      location.hash = `#/threads/${t.thread_id}`;
    });
  });
  main.append(h("div.head", h("h1", "Threads"), createForm), search, out,
    pagedTable([
      { label: "Thread", cell: (t) => idLink("threads", t.thread_id) },
      { label: "Status", cell: (t) => badge(t.status) },
      { label: "Metadata", cell: (t) => h("code.meta", JSON.stringify(t.metadata)) },
      { label: "Created", cell: (t) => time(t.created_at) },
      { label: "Updated", cell: (t) => time(t.updated_at) },
    ], (cursor) => get(withQuery("/api/v1/threads", { limit: 20, cursor, metadata, status })),
    metadata || status ? "No thread matches." : "No threads yet."));
}

export async function detail(main, [id], _q, ctx) {
  const t = await get(`/api/v1/threads/${id}`);
  const out = h("div");
  const remove = h("button.danger", { on: { click: () => {
    if (!confirm("Delete this thread with its runs and messages?")) return;
    busy(remove, out, async () => { await del(`/api/v1/threads/${id}`); location.hash = "#/threads"; });
  } } }, "Delete");
  const messages = h("div");
  const history = h("div");
  const runs = h("div");
  main.append(
    h("div.head", h("h1", "Thread ", h("code", id.slice(0, 8))),
      h("div.actions", h("a.button", { href: `#/new-run?thread_id=${id}` }, "New run on this thread"), remove)),
    out,
    section("Thread", dl(
      field("ID", h("code", t.thread_id)),
      field("Status", badge(t.status)),
      field("Metadata", json(t.metadata)),
      field("Created", time(t.created_at, true)),
      field("Updated", time(t.updated_at, true)))),
    section("Messages", messages),
    section("Runs", runs),
    section("State history", h("p.muted.small", "Checkpoints, newest first (POST /threads/{id}/history)."), history));

  loadMessages(id, messages).catch((e) => clear(messages, errorBox(e)));
  runs.append(pagedTable([
    { label: "Run", cell: (r) => idLink("runs", r.run_id) },
    { label: "Status", cell: (r) => badge(r.status) },
    { label: "Assistant", cell: (r) => idLink("assistants", r.assistant_id) },
    { label: "Created", cell: (r) => time(r.created_at) },
    { label: "Took", cell: (r) => duration(r.started_at, r.ended_at) },
  ], (cursor) => get(withQuery(`/api/v1/threads/${id}/runs`, { limit: 10, cursor })), "No runs on this thread."));
  loadHistory(id, history).catch((e) => clear(history, errorBox(e)));
}

export async function loadMessages(threadId, el) {
  const all = [];
  let cursor = "";
  for (let i = 0; i < 10; i++) {
    const page = await get(withQuery(`/api/v1/threads/${threadId}/messages`, { limit: 100, cursor }));
    all.push(...page.data);
    if (!page.has_more) break;
    cursor = page.next_cursor;
  }
  clear(el, all.length ? h("ol.messages", all.map(message)) : h("p.empty", "No messages yet."));
}

export function message(m) {
  const text = typeof m.content === "string" ? m.content : JSON.stringify(m.content, null, 2);
  return h("li.msg", { class: `role-${m.role}` },
    h("div.msg-head", h("strong", m.role), m.name ? ` (${m.name})` : "", " ", time(m.created_at),
      m.run_id ? [" · run ", idLink("runs", m.run_id)] : ""),
    h("div.msg-body", text),
    m.tool_calls?.length ? json(m.tool_calls) : null);
}

async function loadHistory(id, el) {
  let states;
  try {
    states = await post(`/threads/${id}/history`, { limit: 20 });
  } catch (e) {
    // Fall back to the current state only.
    states = [await get(`/threads/${id}/state`)];
  }
  if (!states.length) { clear(el, h("p.empty", "No checkpoints yet.")); return; }
  clear(el, h("ol.history", states.map((s) => h("li",
    h("details",
      h("summary",
        h("strong", `step ${s.metadata?.step ?? "?"}`), " ", time(s.created_at, true),
        " · next: ", s.next?.length ? h("code", s.next.join(", ")) : h("span.muted", "end"),
        s.interrupts?.length ? [" ", badge("interrupted")] : "",
        s.metadata?.run_id ? [" · run ", idLink("runs", s.metadata.run_id)] : ""),
      h("div.small.muted", "checkpoint ", h("code", s.checkpoint_id || s.checkpoint?.checkpoint_id || "")),
      s.metadata?.writes ? [h("h4", "Writes"), json(s.metadata.writes)] : null,
      h("h4", "Values"), json(s.values))))));
}
