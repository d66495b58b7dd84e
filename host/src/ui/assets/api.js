// The API client: every request carries the token from sessionStorage (never
// a URL). Refused requests are kept in window.__mrRefused and script errors in
// window.__mrErrors (the last 100 of each) so an operator, or the browser
// tests, can see what went wrong.

const KEY = "mission-runner.token";

export function token() { return sessionStorage.getItem(KEY) || ""; }
/** Whether this tab signed in (with a token, or with none on an API that has no tokens). */
export function signedIn() { return sessionStorage.getItem(KEY) !== null; }
export function setToken(t) { sessionStorage.setItem(KEY, t); }
export function clearToken() { sessionStorage.removeItem(KEY); }

export function authHeaders() {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

window.__mrRefused = window.__mrRefused || [];
// Script errors and Content-Security-Policy violations, kept the same way.
window.__mrErrors = window.__mrErrors || [];
const noteError = (what) => { window.__mrErrors.push(String(what)); if (window.__mrErrors.length > 100) window.__mrErrors.shift(); };
window.addEventListener("error", (e) => noteError(e.message));
window.addEventListener("unhandledrejection", (e) => noteError(e.reason && e.reason.stack ? e.reason.stack : e.reason));
document.addEventListener("securitypolicyviolation", (e) => noteError(`CSP ${e.violatedDirective}: ${e.blockedURI}`));

/** Records a refused request (status >= 400). */
export function noteRefused(method, path, status) {
  window.__mrRefused.push({ method, path, status });
  if (window.__mrRefused.length > 100) window.__mrRefused.shift();
}

/** An answer of the API other than 2xx: its status and `{error: {code, message}}`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Calls the API: `body` is sent as JSON, `form` (FormData) as multipart. Resolves the JSON answer (null for 204). */
export async function api(path, { method = "GET", body, form, signal } = {}) {
  const headers = authHeaders();
  let payload;
  if (form) payload = form;
  else if (body !== undefined) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, signal, cache: "no-store" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, "unreachable", "the host does not answer");
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    noteRefused(method, path, resp.status);
    const err = data && data.error ? data.error : { code: "http_" + resp.status, message: text.slice(0, 200) };
    throw new ApiError(resp.status, err.code, err.message);
  }
  return data;
}

/** "?a=1&b=2" from the entries that have a value. */
export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") p.set(k, v);
  const s = p.toString();
  return s ? "?" + s : "";
}
