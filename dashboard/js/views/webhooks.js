// Webhooks: endpoints, enable/disable, deliveries with every attempt, redeliver, send a test.
import { get, post, patch, del, withQuery } from "../api.js";
import { h, clear, time, json, dl, field, section, pagedTable, badge, errorBox, busy, notice, table, idLink } from "../ui.js";

const EVENTS = ["run.created", "run.started", "run.completed", "run.failed", "run.cancelled", "run.requires_action", "*"];

export function list(main) {
  const out = h("div");
  const f = h("form.card.form#webhook-form", h("h2", "Register an endpoint"),
    h("label", "URL", h("input", { name: "url", type: "url", required: true, placeholder: "https://example.com/hooks/duragraph" })),
    h("fieldset.events", h("legend", "Events"),
      EVENTS.map((e) => h("label.check", h("input", { type: "checkbox", name: "events", value: e, checked: e === "run.completed" || e === "run.failed" }), " ", e))),
    h("label", "Description", h("input", { name: "description" })),
    h("div.actions", h("button", { type: "submit" }, "Register")), out);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(f.querySelector("button"), out, async () => {
      const events = [...f.querySelectorAll("input[name=events]:checked")].map((c) => c.value);
      const body = { url: f.elements.namedItem("url").value.trim(), events };
      const d = f.elements.namedItem("description").value;
      if (d) body.description = d;
      const w = await post("/api/v1/webhooks", body);
      clear(out, h("div.notice.ok", { role: "status" }, "Registered. Signing secret (shown once): ", h("code#webhook-secret", w.secret),
        " · ", h("a", { href: `#/webhooks/${w.webhook_id}` }, "open")));
      endpoints.reload();
    });
  });
  const endpoints = pagedTable([
    { label: "URL", cell: (w) => h("a", { href: `#/webhooks/${w.webhook_id}` }, w.url) },
    { label: "Events", cell: (w) => w.events.join(", ") },
    { label: "State", cell: (w) => [badge(w.enabled ? "enabled" : "disabled"), w.disabled_reason ? h("div.small.muted", w.disabled_reason) : null] },
    { label: "Failing since", cell: (w) => time(w.failing_since) },
    { label: "Created", cell: (w) => time(w.created_at) },
  ], (cursor) => get(withQuery("/api/v1/webhooks", { limit: 20, cursor })), "No webhook endpoints yet.");
  main.append(h("h1", "Webhooks"), section("Endpoints", endpoints), f);
}

export async function detail(main, [id], _q, ctx) {
  let w = await get(`/api/v1/webhooks/${id}`);
  const out = h("div");
  const info = h("div");
  const head = h("div.head");
  const deliveries = h("div#deliveries");
  main.append(head, out, info, section("Deliveries", h("p.muted.small", "Newest first, with every attempt. Refreshes every 3 s."), deliveries));

  function render() {
    const toggle = h("button#toggle-webhook", { class: w.enabled ? "secondary" : "" }, w.enabled ? "Disable" : "Enable");
    toggle.addEventListener("click", () => busy(toggle, out, async () => {
      w = await patch(`/api/v1/webhooks/${id}`, { enabled: !w.enabled });
      clear(out, notice(w.enabled ? "Enabled." : "Disabled."));
      render();
    }));
    const test = h("button#test-webhook", "Send test");
    test.addEventListener("click", () => busy(test, out, async () => {
      await post(`/api/v1/webhooks/${id}/test`);
      clear(out, notice("Test event queued."));
      list.reload();
    }));
    const remove = h("button.danger", "Delete");
    remove.addEventListener("click", () => {
      if (!confirm("Delete this endpoint and its deliveries?")) return;
      busy(remove, out, async () => { await del(`/api/v1/webhooks/${id}`); location.hash = "#/webhooks"; });
    });
    clear(head, h("h1", "Webhook ", badge(w.enabled ? "enabled" : "disabled")), h("div.actions", test, toggle, remove));
    clear(info, section("Endpoint", dl(
      field("URL", h("code", w.url)),
      field("Events", w.events.join(", ")),
      field("Description", w.description || h("span.muted", "—")),
      w.disabled_reason ? field("Disabled because", w.disabled_reason) : null,
      field("Failing since", time(w.failing_since, true)),
      field("Created", time(w.created_at, true)),
      field("ID", h("code", w.webhook_id)))));
  }
  render();

  const open = new Set(); // deliveries whose details are expanded survive refreshes
  const list = pagedTable([
    { label: "Event", cell: (d) => h("code", d.event_type) },
    { label: "Status", cell: (d) => badge(d.status) },
    { label: "Attempts", cell: (d) => String(d.attempt_count) },
    { label: "Last code", cell: (d) => d.last_status_code ?? "—" },
    { label: "Run", cell: (d) => idLink("runs", d.run_id) },
    { label: "Created", cell: (d) => time(d.created_at) },
    { label: "Next attempt", cell: (d) => time(d.next_attempt_at) },
    { label: "Details", cell: (d) => {
      const det = h("details", { open: open.has(d.delivery_id), on: { toggle: (e) => e.target.open ? open.add(d.delivery_id) : open.delete(d.delivery_id) } },
        h("summary", "attempts"),
        table([
          { label: "#", cell: (a) => a.attempt },
          { label: "Started", cell: (a) => time(a.started_at, true) },
          { label: "Code", cell: (a) => a.status_code == null ? "—" : badge(String(a.status_code)) },
          { label: "Took", cell: (a) => a.duration_ms == null ? "—" : `${a.duration_ms} ms` },
          { label: "Error", cell: (a) => a.error || "" },
          { label: "Response", cell: (a) => a.response_body ? h("code.small", a.response_body) : "" },
        ], d.attempts || [], "No attempt yet."),
        d.last_error ? h("p.error", d.last_error) : null,
        h("h4", "Payload"), json(d.payload));
      return det;
    } },
    { label: "", cell: (d) => {
      const b = h("button.secondary.small", "Redeliver");
      b.addEventListener("click", () => busy(b, out, async () => {
        await post(`/api/v1/webhooks/${id}/deliveries/${d.delivery_id}/redeliver`);
        clear(out, notice("Redelivery queued."));
        list.reload();
      }));
      return b;
    } },
  ], (cursor) => get(withQuery(`/api/v1/webhooks/${id}/deliveries`, { limit: 20, cursor })), "No deliveries yet. Send a test event.");
  deliveries.append(list);
  ctx.every(3000, () => list.reload());
}
