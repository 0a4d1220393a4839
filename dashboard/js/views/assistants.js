// Assistants: list (cursor pages), detail with config and versions, create and edit.
import { get, post, patch, del, withQuery } from "../api.js";
import { h, clear, time, json, dl, field, section, pagedTable, idLink, errorBox, parseJSON, busy, table } from "../ui.js";

const GRAPHS = ["echo", "agent"];

export function list(main, _p, query) {
  const graph = query.get("graph_id") || "";
  const filter = h("form.filters", { on: { submit: (e) => { e.preventDefault(); location.hash = withQuery("#/assistants", { graph_id: e.target.graph_id.value }); } } },
    h("label", "Graph ", h("select", { name: "graph_id" }, h("option", { value: "" }, "any"), GRAPHS.map((g) => h("option", { value: g, selected: g === graph }, g)))),
    h("button.secondary", { type: "submit" }, "Filter"));
  main.append(
    h("div.head", h("h1", "Assistants"), h("a.button", { href: "#/assistants/new" }, "New assistant")),
    filter,
    pagedTable([
      { label: "Name", cell: (a) => h("a", { href: `#/assistants/${a.assistant_id}` }, a.name) },
      { label: "Graph", cell: (a) => h("code", a.graph_id) },
      { label: "Version", cell: (a) => `v${a.version}` },
      { label: "ID", cell: (a) => idLink("assistants", a.assistant_id) },
      { label: "Updated", cell: (a) => time(a.updated_at) },
    ], (cursor) => get(withQuery("/api/v1/assistants", { limit: 20, cursor, graph_id: graph })), "No assistants yet. Create one to start runs."));
}

export async function detail(main, [id]) {
  const a = await get(`/api/v1/assistants/${id}`);
  const out = h("div");
  const remove = h("button.danger", { on: { click: () => {
    if (!confirm(`Delete assistant ${a.name} with its versions and runs?`)) return;
    busy(remove, out, async () => { await del(`/api/v1/assistants/${id}`); location.hash = "#/assistants"; });
  } } }, "Delete");
  main.append(
    h("div.head", h("h1", a.name, " ", h("span.muted", `v${a.version}`)),
      h("div.actions", h("a.button", { href: `#/new-run?assistant_id=${id}` }, "Start a run"),
        h("a.button.secondary", { href: `#/assistants/${id}/edit` }, "Edit"), remove)),
    out,
    section("Assistant", dl(
      field("ID", h("code", a.assistant_id)),
      field("Graph", h("code", a.graph_id)),
      field("Description", a.description || h("span.muted", "—")),
      field("Created", time(a.created_at, true)),
      field("Updated", time(a.updated_at, true)))),
    section("Config", json(a.config)),
    section("Metadata", json(a.metadata)));
  const versions = section("Versions");
  main.append(versions);
  versions.append(pagedTable([
    { label: "Version", cell: (v) => h("strong", `v${v.version}`) },
    { label: "Name", cell: (v) => v.name },
    { label: "Graph", cell: (v) => h("code", v.graph_id) },
    { label: "Created", cell: (v) => time(v.created_at, true) },
    { label: "Config", cell: (v) => h("details", h("summary", "show"), json(v.config), v.metadata ? json(v.metadata) : null) },
  ], (cursor) => get(withQuery(`/api/v1/assistants/${id}/versions`, { limit: 20, cursor }))));
}

export function create(main) {
  main.append(h("h1", "New assistant"), form(null));
}

export async function edit(main, [id]) {
  const a = await get(`/api/v1/assistants/${id}`);
  main.append(h("h1", `Edit ${a.name}`), h("p.muted", "Saving creates a new version. Metadata keys are merged into the current metadata."), form(a));
}

function form(a) {
  const out = h("div");
  const textarea = (name, value, rows = 8) => h("textarea", { name, rows, spellcheck: "false" }, value === undefined ? "" : JSON.stringify(value, null, 2));
  const f = h("form.card.form", { id: "assistant-form" },
    h("label", "Name", h("input", { name: "name", required: true, value: a?.name ?? "", placeholder: "support bot" })),
    h("label", "Description", h("input", { name: "description", value: a?.description ?? "" })),
    h("label", "Graph",
      h("select", { name: "graph_id" }, GRAPHS.map((g) => h("option", { value: g, selected: (a?.graph_id ?? "echo") === g }, g)))),
    h("label", "Config (JSON)", textarea("config", a?.config ?? {}, 10),
      h("small.muted", 'e.g. {"model": "gpt-4o-mini", "system_prompt": "be brief"} for agent, or {"graph": {...}} for a graph of your own')),
    h("label", a ? "Metadata to merge (JSON)" : "Metadata (JSON)",
      h("textarea", { name: "metadata", rows: 3, spellcheck: "false", placeholder: '{"team": "support"}' })),
    h("div.actions", h("button", { type: "submit" }, a ? "Save new version" : "Create assistant"),
      h("a.button.secondary", { href: a ? `#/assistants/${a.assistant_id}` : "#/assistants" }, "Cancel")),
    out);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(f.querySelector("button[type=submit]"), out, async () => {
      const v = (n) => f.elements.namedItem(n).value;
      const body = {
        name: v("name").trim(),
        description: v("description"),
        graph_id: v("graph_id"),
        config: parseJSON(v("config"), "config"),
      };
      const meta = parseJSON(v("metadata"), "metadata");
      if (!a || Object.keys(meta).length) body.metadata = meta;
      const saved = a ? await patch(`/api/v1/assistants/${a.assistant_id}`, body) : await post("/api/v1/assistants", body);
      location.hash = `#/assistants/${saved.assistant_id}`;
    });
  });
  return f;
}
