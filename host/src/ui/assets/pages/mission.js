// One mission: its record, payload and result (folded when large), error,
// progress, log, event timeline and attempts (each with the plugin version
// and digest it ran, from its `mission.started` event). Cancel and retry ask
// first, and are offered only to a token with missions:write. Live from the
// stream filtered to this mission.

import { api, qs, ApiError } from "../api.js";
import { follow } from "../sse.js";
import { h, fill, table, time, badge, json, digest, confirm, flash, debounce, errorSummary } from "../dom.js";

const CANCELLABLE = ["pending", "running", "retrying"];

export function render(main, ctx, { id }) {
  const head = h("div", { class: "row" });
  const record = h("div", { class: "panel", id: "record" });
  const [progress, error, payload, result] = [h("div"), h("div"), h("div"), h("div")];
  let current = null;
  const attempts = h("div", { id: "attempts" });
  const timeline = h("ol", { class: "timeline", id: "timeline", "aria-label": "Events, oldest first" });
  const log = h("div", { id: "log" });
  fill(main, head, record, progress, error, payload, result, h("h2", {}, "Attempts"), attempts, h("h2", {}, "Events"), timeline, h("h2", {}, "Log"), log);
  let events = [];
  let stream = null;

  async function loadRecord() {
    let m;
    try {
      m = await api(`/api/missions/${encodeURIComponent(id)}`);
    } catch (e) {
      const missing = e instanceof ApiError && (e.status === 404 || e.status === 400);
      fill(main, h("h1", {}, missing ? "Mission not found" : "Mission"),
        h("p", { id: "not-found" }, missing ? `No mission ${id} in tenant ${ctx.me.tenant}.` : e.message),
        h("p", {}, h("a", { href: "#/missions" }, "Back to missions")));
      if (stream) stream.close();
      return false;
    }
    current = m;
    // Rebuilt only when what they show changes, so a live update neither takes
    // the focus from a button nor folds what the reader unfolded.
    once(head, m.status, () => [h("h1", { class: "grow" }, "Mission ", h("span", { class: "mono" }, m.id), " ", badge(m.status)),
      ctx.can("missions:write") && CANCELLABLE.includes(m.status)
        ? h("button", { type: "button", class: "danger", id: "cancel", onclick: () => act("cancel") }, "Cancel mission") : null,
      ctx.can("missions:write") && m.status === "failed"
        ? h("button", { type: "button", class: "primary", id: "retry", onclick: () => act("retry") }, "Retry") : null]);
    const rows = [["name", m.name], ["description", m.description], ["type", m.type], ["status", m.status], ["priority", m.priority], ["attempts", `${m.attempts} of ${m.max_attempts}`],
      ["timeout", `${m.timeout_ms} ms`], ["created", time(m.created_at)], ["run at", m.run_at ? time(m.run_at) : null],
      ["next attempt", m.next_attempt_at ? time(m.next_attempt_at) : null], ["started", time(m.started_at)],
      ["finished", time(m.finished_at)], ["updated", time(m.updated_at)], ["worker", m.worker], ["plugin", m.plugin],
      ["plugin digest", m.plugin_digest ? h("code", {}, m.plugin_digest) : null], ["tenant", m.tenant], ["created by", m.created_by],
      ["cancelled by", m.cancelled_by], ["cancel reason", m.cancel_reason], ["correlation id", m.correlation_id],
      ["idempotency key", m.idempotency_key], ["log lines dropped", m.log_dropped || null]];
    fill(record, h("dl", { class: "record" }, rows.filter(([, v]) => v !== null && v !== undefined && v !== "")
      .map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])));
    once(progress, JSON.stringify(m.progress), () => m.progress ? [h("h2", {}, "Progress"), h("div", { class: "row", id: "progress" },
      h("progress", { max: 100, value: m.progress.percent, "aria-label": "Progress" }), `${m.progress.percent}% ${m.progress.message || ""}`)] : []);
    once(error, JSON.stringify(m.error), () => m.error ? [h("h2", {}, "Error"),
      h("div", { class: "panel", id: "error" }, h("p", {}, badge(m.error.kind)), h("pre", {}, m.error.message))] : []);
    once(payload, "payload", () => [h("h2", {}, "Payload"), h("div", { class: "panel", id: "payload" }, json(m.payload))]);
    once(result, JSON.stringify(m.result), () => m.result !== null && m.result !== undefined
      ? [h("h2", {}, "Result"), h("div", { class: "panel", id: "result" }, json(m.result))] : []);
    return true;
  }

  async function act(what) {
    const m = current;
    const title = what === "cancel" ? "Cancel this mission?" : "Retry this mission?";
    const text = what === "cancel"
      ? `Mission ${m.id} (${m.type}, ${m.status}) will be cancelled${m.status === "running" ? "; its plugin is stopped at once" : ""}.`
      : `Mission ${m.id} (${m.type}) goes back to the queue with fresh attempts.`;
    if (!(await confirm(title, text, what === "cancel" ? "Cancel mission" : "Retry"))) return;
    try {
      await api(`/api/missions/${encodeURIComponent(m.id)}/${what}`, { method: "POST", body: {} });
      flash(what === "cancel" ? "Mission cancelled." : "Mission re-driven.");
    } catch (e) { flash(`${what}: ${e.message}`, "bad"); }
    refresh();
  }

  /** Adds events (read or streamed), once each, in stream order. */
  function merge(more) {
    const seen = new Set(events.map((e) => e.id));
    events = events.concat(more.filter((e) => !seen.has(e.id))).sort((a, b) => order(a.id, b.id));
    drawEvents();
  }

  async function loadEvents() {
    try {
      const page = await api("/api/events" + qs({ mission_id: id, limit: 1000 }));
      merge(page.events);
    } catch (e) { fill(timeline, h("li", { class: "bad" }, e.message)); }
  }

  function drawEvents() {
    fill(timeline, events.map((e) => h("li", { "data-type": e.type }, time(e.timestamp), " ", h("strong", {}, e.type), " ",
      h("span", { class: "muted" }, summary(e)))));
    const byAttempt = new Map();
    for (const e of events) {
      if (e.type === "mission.started") byAttempt.set(e.payload.attempt, { start: e, end: null });
      else if (["mission.completed", "mission.failed", "mission.cancelled"].includes(e.type)) {
        const last = [...byAttempt.values()].pop();
        if (last && !last.end) last.end = e;
      }
    }
    const rows = [...byAttempt.entries()].map(([n, { start, end }]) => h("tr", {},
      h("td", { class: "num" }, n), h("td", {}, time(start.timestamp)), h("td", {}, end ? end.type.replace("mission.", "") : "running"),
      h("td", {}, start.payload.plugin), h("td", {}, start.payload.plugin_version), h("td", { class: "attempt-digest" }, digest(start.payload.plugin_digest)),
      h("td", { class: "mono wide" }, start.payload.worker_id)));
    fill(attempts, rows.length ? table(null, [["#", "num"], ["started"], ["outcome"], ["plugin"], ["version"], ["digest"], ["worker", "wide"]], rows)
      : h("p", { class: "muted" }, "No attempt yet."));
  }

  async function loadLog() {
    try {
      const page = await api(`/api/missions/${encodeURIComponent(id)}/log` + qs({ limit: 500 }));
      fill(log, page.lines.length ? h("pre", { class: "panel" }, page.lines.map((l) =>
        h("div", {}, time(l.ts), ` ${l.level} [${l.source}] ${l.message}`)))
        : h("p", { class: "muted" }, "Nothing logged."), page.dropped ? h("p", { class: "muted" }, `${page.dropped} lines dropped`) : null);
    } catch (e) { fill(log, h("p", { class: "bad" }, e.message)); }
  }

  const refresh = debounce(async () => { if (await loadRecord()) { loadLog(); } }, 500);
  (async () => {
    if (!(await loadRecord())) return;
    // The stream first, then the past: nothing falls between them (merge drops doubles).
    stream = follow({ mission_id: id }, (e) => { merge([e]); refresh(); });
    loadEvents();
    loadLog();
  })();
  return () => { if (stream) stream.close(); refresh.cancel(); };
}

/** Fills `el` with `build()` unless it already shows `key`. */
function once(el, key, build) {
  const k = String(key);
  if (el.dataset.key === k) return;
  el.dataset.key = k;
  fill(el, build());
}

/**
 * Orders event ids. They are UUIDs that begin with their stream entry id's
 * time and sequence (EVENTS.md), so within one stream (a mission's events are
 * all in its tenant's) their text orders like the entries.
 */
function order(a, b) {
  return a < b ? -1 : a > b ? 1 : 0;
}

function summary(e) {
  const p = e.payload || {};
  switch (e.type) {
    case "mission.started": return `attempt ${p.attempt} on ${p.worker_id}, ${p.plugin}@${p.plugin_version}`;
    case "mission.completed": return `${p.duration_ms} ms`;
    case "mission.failed": return `${p.error_kind}${p.will_retry ? ", will retry" : ""}: ${errorSummary(p.error)}`;
    case "mission.retrying": return p.redriven_by ? `re-driven by ${p.redriven_by}` : `attempt ${p.attempt} of ${p.max_attempts}`;
    case "mission.cancelled": return `by ${p.cancelled_by}${p.reason ? ": " + p.reason : ""} (was ${p.previous_status})`;
    case "mission.progress": return `${p.percent}% ${p.message || ""}`;
    case "mission.log_appended": return `${p.level}: ${p.message}`;
    default: return "";
  }
}
