// Small DOM helpers: element building (no innerHTML, so no markup injection),
// times in local time with UTC on hover, folded JSON, confirmation, messages.

/** h("a", {href: "#/"}, "text", child) builds an element; attributes starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A Date from an ISO string or Unix seconds; null for nothing. */
export function toDate(t) {
  if (t === null || t === undefined || t === "") return null;
  const d = typeof t === "number" ? new Date(t * 1000) : new Date(t);
  return isNaN(d) ? null : d;
}

/** A <time>: local time shown, UTC on hover (and to screen readers through the datetime attribute). */
export function time(t) {
  const d = toDate(t);
  if (!d) return h("span", { class: "muted" }, "—");
  const local = d.toLocaleString(undefined, { year: "numeric", month: "short", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return h("time", { datetime: d.toISOString(), title: "UTC " + d.toISOString().replace("T", " ").replace("Z", "") }, local);
}

/** "12 s", "3 min" for an age in milliseconds. */
export function age(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

/** A status badge. */
export function badge(status) {
  return h("span", { class: `badge s-${status}` }, status);
}

/** A digest, shortened, the whole on hover and for screen readers. */
export function digest(d) {
  if (!d) return h("span", { class: "muted" }, "—");
  const short = d.replace(/^sha256:/, "").slice(0, 12);
  return h("code", { title: d, "aria-label": d, class: "digest" }, short);
}

const FOLD_ITEMS = 20;
const FOLD_CHARS = 200;

/** JSON pretty-printed; objects and arrays past 20 items and strings past 200 characters are folded. */
export function json(value) {
  return h("div", { class: "json mono" }, jsonNode(value, 0));
}

function jsonNode(v, depth) {
  if (v === null || typeof v !== "object") {
    if (typeof v === "string" && v.length > FOLD_CHARS) {
      return h("details", {}, h("summary", {}, h("span", { class: "str" }, JSON.stringify(v.slice(0, 80)) + "…"),
        ` (${v.length} characters)`), h("pre", { class: "str" }, JSON.stringify(v)));
    }
    return h("span", { class: typeof v === "string" ? "str" : "" }, JSON.stringify(v));
  }
  const entries = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  const [open, close] = Array.isArray(v) ? ["[", "]"] : ["{", "}"];
  if (entries.length === 0) return h("span", {}, open + close);
  const items = entries.map(([k, x]) => h("div", {}, Array.isArray(v) ? null : h("span", { class: "k" }, JSON.stringify(k) + ": "),
    jsonNode(x, depth + 1)));
  const big = entries.length > FOLD_ITEMS || depth >= 3;
  return h("details", { open: !big }, h("summary", {}, `${open} ${entries.length} ${Array.isArray(v) ? "items" : "keys"}`),
    h("div", {}, items), h("span", {}, close));
}

/** Asks before an action; resolves true when confirmed. `body` is a node or text. */
export function confirm(title, body, action) {
  const dlg = document.getElementById("confirm");
  fill(document.getElementById("confirm-title"), title);
  fill(document.getElementById("confirm-body"), body);
  const yes = document.getElementById("confirm-yes");
  const no = document.getElementById("confirm-no");
  fill(yes, action);
  return new Promise((resolve) => {
    const done = (answer) => {
      yes.onclick = no.onclick = dlg.oncancel = null;
      if (dlg.open) dlg.close();
      resolve(answer);
    };
    yes.onclick = () => done(true);
    no.onclick = () => done(false);
    dlg.oncancel = () => done(false);
    dlg.showModal();
    no.focus();
  });
}

/** A message at the top of the page, read out by screen readers. */
export function flash(text, kind = "ok") {
  const box = document.getElementById("flash");
  const el = h("div", { class: kind }, text);
  box.replaceChildren(el);
  setTimeout(() => el.remove(), kind === "bad" ? 12000 : 6000);
}

/** A table with a header row; `cols` are [label, class?]. */
export function table(caption, cols, rows) {
  return h("div", { class: "table-wrap" }, h("table", {},
    caption ? h("caption", { class: "muted" }, caption) : null,
    h("thead", {}, h("tr", {}, cols.map(([label, cls]) => h("th", { scope: "col", class: cls }, label)))),
    h("tbody", {}, rows)));
}

/** Calls `fn` at most once per `ms`, the last call winning. */
export function debounce(fn, ms) {
  let timer = null;
  const wrapped = () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
  wrapped.cancel = () => { clearTimeout(timer); timer = null; };
  return wrapped;
}

/** An error message in one line, without the wasm backtrace's frames (the cause is around them). */
export function errorSummary(message, max = 240) {
  const text = String(message || "")
    .split("\n")
    .filter((l) => !/^\s*\d+:\s+0x[0-9a-f]+ - /.test(l))
    .join(" ")
    .replace("error while executing at wasm backtrace:", "")
    .replace(/\s+/g, " ")
    .trim();
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}
