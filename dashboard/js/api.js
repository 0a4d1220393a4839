// Talking to the DuraGraph API: JSON fetches with the optional API key, and a fetch-based SSE reader.
// The key lives in sessionStorage only and travels as the X-API-Key header, never in a URL.

const KEY_NAME = "duragraph.apiKey";

export function getKey() { return sessionStorage.getItem(KEY_NAME) || ""; }
export function setKey(key) {
  if (key) sessionStorage.setItem(KEY_NAME, key);
  else sessionStorage.removeItem(KEY_NAME);
}

let unauthorized = () => {};
/** Called on every 401: the app shows the key prompt. */
export function onUnauthorized(fn) { unauthorized = fn; }

export class ApiError extends Error {
  constructor(status, body, text) {
    const msg = (body && (body.message || body.error)) || text || `HTTP ${status}`;
    super(`${status}: ${msg}`);
    this.status = status;
    this.body = body;
  }
}

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  const key = getKey();
  if (key) h["X-API-Key"] = key;
  return h;
}

export async function request(method, path, body) {
  const init = { method, headers: headers() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (res.status === 401) unauthorized();
  if (!res.ok) throw new ApiError(res.status, data, text);
  return data ?? text;
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);
export const patch = (path, body) => request("PATCH", path, body);
export const del = (path) => request("DELETE", path);

/** Builds "path?a=1&b=2", leaving out empty values. */
export function withQuery(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** Walks a cursor-paginated list, up to `maxPages` pages; returns {items, complete}. */
export async function collect(path, params = {}, { maxPages = 10, stop } = {}) {
  const items = [];
  let cursor = "";
  for (let i = 0; i < maxPages; i++) {
    const page = await get(withQuery(path, { ...params, limit: 100, cursor }));
    items.push(...page.data);
    if (stop && page.data.some(stop)) return { items, complete: true };
    if (!page.has_more) return { items, complete: true };
    cursor = page.next_cursor;
  }
  return { items, complete: false };
}

/** The Prometheus text of GET /metrics as [{name, labels, value}]. */
export async function metrics() {
  const res = await fetch("/metrics", { headers: headers({ Accept: "text/plain" }) });
  if (res.status === 401) unauthorized();
  if (!res.ok) throw new ApiError(res.status, null, await res.text());
  const out = [];
  for (const line of (await res.text()).split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const TERMINAL = new Set(["run.completed", "run.failed", "run.cancelled"]);

/**
 * Follows a run's event stream (GET /api/v1/runs/{id}/stream) with fetch() and a ReadableStream
 * parser, so the API key can go in a header. After a disconnect it reconnects with Last-Event-ID
 * (the last `id:` seen), so no event is lost or repeated. Ends after a terminal event or on abort.
 * Callbacks: onEvent({id, event, data}), onState("connecting" | "open" | "reconnecting" | "closed" | "error", detail).
 */
export async function followRun(runId, { onEvent, onState = () => {}, signal }) {
  let lastId = "";
  let retry = 2000;
  let reconnects = 0;
  while (!signal?.aborted) {
    onState(reconnects ? "reconnecting" : "connecting", { reconnects, lastId });
    let finished = false;
    try {
      const h = headers({ Accept: "text/event-stream" });
      if (lastId) h["Last-Event-ID"] = lastId;
      const res = await fetch(`/api/v1/runs/${encodeURIComponent(runId)}/stream`, { headers: h, signal, cache: "no-store" });
      if (res.status === 401) { unauthorized(); onState("error", { message: "unauthorized" }); return; }
      if (!res.ok) { onState("error", { message: `HTTP ${res.status}` }); return; }
      onState("open", { reconnects, lastId });
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buf = "";
      let ev = { id: "", event: "", data: [] };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf[nl] === "\r" && buf[nl + 1] === "\n" ? 2 : 1));
          if (line === "") {
            if (ev.data.length) {
              if (ev.id) lastId = ev.id;
              let data = ev.data.join("\n");
              try { data = JSON.parse(data); } catch { /* keep text */ }
              const type = ev.event || "message";
              onEvent({ id: ev.id, event: type, data });
              if (TERMINAL.has(type)) finished = true;
            }
            ev = { id: "", event: "", data: [] };
            continue;
          }
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val.startsWith(" ")) val = val.slice(1);
          if (field === "data") ev.data.push(val);
          else if (field === "event") ev.event = val;
          else if (field === "id") ev.id = val;
          else if (field === "retry" && /^\d+$/.test(val)) retry = Number(val);
        }
        if (finished) { reader.cancel().catch(() => {}); break; }
      }
    } catch (e) {
      if (signal?.aborted) return;
    }
    if (finished) { onState("closed", { reconnects, lastId }); return; }
    if (signal?.aborted) return;
    reconnects++;
    onState("reconnecting", { reconnects, lastId });
    await new Promise((r) => setTimeout(r, retry));
  }
}
