// The dashboard's shell: a hash router (#/runs/<id>), the navigation, and the API key prompt.
import { getKey, setKey, onUnauthorized } from "./api.js";
import { clear, h, errorBox } from "./ui.js";
import * as overview from "./views/overview.js";
import * as assistants from "./views/assistants.js";
import * as threads from "./views/threads.js";
import * as runs from "./views/runs.js";
import * as webhooks from "./views/webhooks.js";
import * as newRun from "./views/newrun.js";

// [pattern, nav entry, render(main, params, query, ctx)]
const routes = [
  [/^\/?$/, "overview", overview.render],
  [/^\/assistants$/, "assistants", assistants.list],
  [/^\/assistants\/new$/, "assistants", assistants.create],
  [/^\/assistants\/([\w-]+)\/edit$/, "assistants", assistants.edit],
  [/^\/assistants\/([\w-]+)$/, "assistants", assistants.detail],
  [/^\/threads$/, "threads", threads.list],
  [/^\/threads\/([\w-]+)$/, "threads", threads.detail],
  [/^\/runs$/, "runs", runs.list],
  [/^\/runs\/([\w-]+)$/, "runs", runs.detail],
  [/^\/webhooks$/, "webhooks", webhooks.list],
  [/^\/webhooks\/([\w-]+)$/, "webhooks", webhooks.detail],
  [/^\/new-run$/, "new-run", newRun.render],
];

const main = document.getElementById("view");
let current = null; // {abort: AbortController} of the view on screen

function route() {
  current?.abort.abort(); // stops the previous view's streams and timers
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  const query = new URLSearchParams(qs || "");
  const abort = new AbortController();
  current = { abort };
  const ctx = {
    signal: abort.signal,
    /** setInterval that stops when the view changes */
    every(ms, fn) { const t = setInterval(fn, ms); abort.signal.addEventListener("abort", () => clearInterval(t)); },
  };
  for (const [re, nav, render] of routes) {
    const m = re.exec(path);
    if (!m) continue;
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === nav);
    clear(main);
    Promise.resolve(render(main, m.slice(1), query, ctx)).catch((e) => clear(main, errorBox(e)));
    return;
  }
  clear(main, h("h1", "Not found"), h("p", "No view at ", h("code", raw), ". ", h("a", { href: "#/" }, "Go to the overview")));
}

// --- API key ---
const dialog = document.getElementById("key-dialog");
const input = document.getElementById("key-input");
const reason = document.getElementById("key-reason");

function askKey(why) {
  if (!dialog.hidden) return;
  reason.textContent = why;
  input.value = "";
  dialog.hidden = false;
  input.focus();
}
function keyButtonLabel() {
  document.getElementById("key-button").textContent = getKey() ? "API key ✓" : "API key";
}

onUnauthorized(() => askKey(getKey()
  ? "The server rejected this API key (401). Enter another one. It is kept in this tab's session storage only."
  : "This server requires an API key (401). It is kept in this tab's session storage only and sent as the X-API-Key header."));

document.getElementById("key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  setKey(input.value.trim());
  input.value = "";
  dialog.hidden = true;
  keyButtonLabel();
  route();
});
document.getElementById("key-clear").addEventListener("click", () => {
  setKey("");
  dialog.hidden = true;
  keyButtonLabel();
  route();
});
document.getElementById("key-cancel").addEventListener("click", () => { dialog.hidden = true; });
document.getElementById("key-button").addEventListener("click", () =>
  askKey("Set the API key for this tab (kept in session storage only, sent as the X-API-Key header)."));

window.addEventListener("hashchange", route);
keyButtonLabel();
route();
