// New run: pick an assistant, type a message, and watch the run live.
import { get, post, collect } from "../api.js";
import { h, clear, errorBox, busy } from "../ui.js";
import { runView } from "./runs.js";

export async function render(main, _p, query, ctx) {
  const { items: assistants } = await collect("/api/v1/assistants", {}, { maxPages: 5 });
  const wanted = query.get("assistant_id") || "";
  const out = h("div");
  const live = h("div#new-run-live");
  if (!assistants.length) {
    main.append(h("h1", "New run"), h("p.empty", "There is no assistant yet. ", h("a", { href: "#/assistants/new" }, "Create one"), " first."));
    return;
  }
  const f = h("form.card.form#new-run-form",
    h("label", "Assistant", h("select", { name: "assistant_id", required: true },
      assistants.map((a) => h("option", { value: a.assistant_id, selected: a.assistant_id === wanted }, `${a.name} (${a.graph_id}, v${a.version})`)))),
    h("label", "Thread", h("input", { name: "thread_id", value: query.get("thread_id") || "", placeholder: "empty: a new thread", pattern: "[0-9a-fA-F-]{36}" })),
    h("label", "Message", h("textarea", { name: "message", rows: 4, required: true, placeholder: "Hello!" })),
    h("div.actions", h("button", { type: "submit" }, "Start run")),
    out);
  f.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(f.querySelector("button"), out, async () => {
      const v = (n) => f.elements.namedItem(n).value;
      let threadId = v("thread_id").trim();
      if (!threadId) threadId = (await post("/api/v1/threads", { metadata: { source: "dashboard" } })).thread_id;
      const run = await post("/api/v1/runs", { thread_id: threadId, assistant_id: v("assistant_id"), input: { message: v("message") } });
      f.elements.namedItem("thread_id").value = threadId; // the next message continues the conversation
      f.elements.namedItem("message").value = "";
      clear(live, h("p", h("a", { href: `#/runs/${run.run_id}` }, "Open this run on its own page")), runView(run.run_id, ctx.signal));
    });
  });
  main.append(h("h1", "New run"), f, live);
}
