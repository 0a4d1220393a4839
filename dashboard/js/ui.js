// Small DOM helpers shared by the views. Everything from the server goes in as text, never as HTML.

/** h("tag.class#id", {attrs, on: {click}}, ...children) */
export function h(spec, attrs = {}, ...children) {
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const [, tag, rest] = /^([a-z0-9-]+)?(.*)$/i.exec(spec);
  const el = document.createElement(tag || "div");
  for (const part of rest.match(/[.#][\w-]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (k === "class") el.className += " " + v;
    else if (k === "style") el.setAttribute("style", v);
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// --- times ---

export function absTime(ts) {
  if (!ts) return "";
  const d = new Date(ts);
  if (isNaN(d)) return ts;
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function relTime(ts, now = Date.now()) {
  if (!ts) return "";
  const s = Math.round((now - new Date(ts).getTime()) / 1000);
  const a = Math.abs(s);
  const fmt = a < 5 ? "just now" : a < 60 ? `${a}s` : a < 3600 ? `${Math.floor(a / 60)}m` : a < 86400 ? `${Math.floor(a / 3600)}h` : `${Math.floor(a / 86400)}d`;
  if (fmt === "just now") return fmt;
  return s >= 0 ? `${fmt} ago` : `in ${fmt}`;
}

/** A <time> showing the relative time, the absolute one as a tooltip (or beside it when `both`). */
export function time(ts, both = false) {
  if (!ts) return h("span.muted", "—");
  const t = h("time.rel", { datetime: ts, title: `${absTime(ts)} (${ts})` }, relTime(ts));
  return both ? h("span", t, " ", h("span.abs", absTime(ts))) : t;
}

/** Keeps every relative time current. */
setInterval(() => {
  for (const t of document.querySelectorAll("time.rel")) t.textContent = relTime(t.getAttribute("datetime"));
}, 5000);

export function duration(a, b) {
  if (!a) return "";
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)}m ${Math.round((ms % 60000) / 1000)}s`;
}

// --- bits ---

export function badge(status) {
  const s = String(status ?? "unknown");
  return h("span.badge", { class: `st-${s.replace(/[^\w-]/g, "_")}`, "data-status": s }, s.replace(/_/g, " "));
}

export function shortId(id) { return id ? String(id).slice(0, 8) : ""; }

export function link(href, text, attrs = {}) { return h("a", { href, ...attrs }, text); }

export function idLink(kind, id) {
  return id ? h("a.id", { href: `#/${kind}/${id}`, title: id }, shortId(id)) : h("span.muted", "—");
}

export function json(value, cls = "") {
  return h(`pre.json${cls}`, value === undefined ? "" : JSON.stringify(value, null, 2));
}

export function field(label, ...value) {
  return [h("dt", label), h("dd", ...value)];
}

export function dl(...pairs) { return h("dl.fields", ...pairs); }

export function section(title, ...content) {
  return h("section.card", h("h2", title), ...content);
}

export function errorBox(e) {
  const details = e?.body?.details;
  return h("div.error", { role: "alert" }, String(e?.message || e), details ? h("pre", JSON.stringify(details, null, 2)) : null);
}

export function notice(text, kind = "ok") { return h(`div.notice.${kind}`, { role: "status" }, text); }

/** Parses a JSON textarea; throws a readable error naming the field. */
export function parseJSON(text, name, fallback = {}) {
  if (!text.trim()) return fallback;
  try { return JSON.parse(text); } catch (e) { throw new Error(`${name}: not valid JSON (${e.message})`); }
}

/** Runs `fn` while the button shows it's busy; errors go to `out`. */
export async function busy(button, out, fn) {
  button.disabled = true;
  if (out) clear(out);
  try {
    return await fn();
  } catch (e) {
    if (out) clear(out, errorBox(e));
    else console.error(e);
  } finally {
    button.disabled = false;
  }
}

export function table(columns, rows, empty = "Nothing here yet.") {
  if (!rows.length) return h("p.empty", empty);
  return h("div.table-wrap",
    h("table",
      h("thead", h("tr", columns.map((c) => h("th", c.label)))),
      h("tbody", rows.map((r) => h("tr", columns.map((c) => h("td", { "data-label": c.label }, c.cell(r))))))));
}

/**
 * A cursor-paginated table: load(cursor) returns {data, has_more, next_cursor}.
 * Keeps the cursors of earlier pages for "Previous".
 */
export function pagedTable(columns, load, empty) {
  const root = h("div.paged");
  const cursors = [""];
  let index = 0;
  let loaded = false;
  async function show() {
    if (!loaded) clear(root, h("p.muted", "Loading…"));
    try {
      const page = await load(cursors[index]);
      if (page.next_cursor) cursors[index + 1] = page.next_cursor;
      const go = (d) => { index += d; loaded = false; show(); };
      const prev = h("button.secondary.small", { disabled: index === 0, on: { click: () => go(-1) } }, "← Previous");
      const next = h("button.secondary.small", { disabled: !page.has_more, on: { click: () => go(1) } }, "Next →");
      loaded = true;
      clear(root, table(columns, page.data, empty),
        h("div.pager", prev, h("span.muted", `page ${index + 1}`), next));
    } catch (e) {
      clear(root, errorBox(e));
    }
  }
  root.reload = () => { if (!root.isConnected && loaded) return; show(); };
  show();
  return root;
}
