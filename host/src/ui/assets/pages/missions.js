// Missions: the tenant's missions, newest first, filtered by status, type and
// creation time, paged with the API's cursor; search opens a mission by id.
// The first page follows the event stream (re-read at most once a second).

import { api, qs } from "../api.js";
import { follow } from "../sse.js";
import { h, fill, table, time, badge, debounce, toDate, flash } from "../dom.js";

const STATUSES = ["pending", "running", "retrying", "completed", "failed", "cancelled"];
const PAGE = 25;

export function render(main, ctx, { params }) {
  const f = { status: params.get("status") || "", type: params.get("type") || "",
    after: params.get("after") || "", before: params.get("before") || "" };
  const cursors = [null]; // the cursor of each page shown so far, for "newer"
  const list = h("div", { id: "missions-list" });
  const pager = h("div", { class: "row end" });
  const live = h("span", { class: "live off" }, "connecting");

  const typeSelect = h("select", { id: "f-type", name: "type" }, h("option", { value: "" }, "any"));
  const statusSelect = h("select", { id: "f-status", name: "status" }, h("option", { value: "" }, "any"),
    STATUSES.map((s) => h("option", { value: s, selected: s === f.status }, s)));
  const after = h("input", { id: "f-after", type: "datetime-local", name: "after", value: f.after, step: "1" });
  const before = h("input", { id: "f-before", type: "datetime-local", name: "before", value: f.before, step: "1" });
  const search = h("input", { id: "f-id", type: "search", placeholder: "mission id", autocomplete: "off", spellcheck: "false" });

  api("/api/stats").then((s) => {
    for (const t of Object.keys(s.by_type).sort()) typeSelect.append(h("option", { value: t, selected: t === f.type }, t));
    if (f.type && !s.by_type[f.type]) typeSelect.append(h("option", { value: f.type, selected: true }, f.type));
  }).catch(() => {});

  fill(main, h("div", { class: "row" }, h("h1", { class: "grow" }, "Missions"), live),
    h("form", { class: "filters", role: "search", "aria-label": "Open a mission by id", onsubmit: (e) => {
      e.preventDefault();
      const id = search.value.trim();
      if (id) ctx.go(`#/missions/${encodeURIComponent(id)}`);
    } }, h("label", { for: "f-id" }, "Search by id", search), h("button", { type: "submit" }, "Open")),
    h("form", { class: "filters", "aria-label": "Filters", onsubmit: (e) => {
      e.preventDefault();
      ctx.go("#/missions" + qs({ status: statusSelect.value, type: typeSelect.value, after: after.value, before: before.value }));
    } },
    h("label", { for: "f-status" }, "Status", statusSelect), h("label", { for: "f-type" }, "Type", typeSelect),
    h("label", { for: "f-after" }, "Created after (local time)", after),
    h("label", { for: "f-before" }, "Created before (local time)", before),
    h("button", { type: "submit", class: "primary" }, "Filter")),
    list, pager);

  // The API filters by creation time (and pages through what matches).
  const since = toDate(f.after)?.toISOString();
  const until = toDate(f.before)?.toISOString();
  let page = 0;

  async function load() {
    try {
      const data = await api("/api/missions" + qs({ status: f.status, type: f.type, since, until, limit: PAGE, cursor: cursors[page] }));
      const shown = data.missions;
      const older = Boolean(data.next_cursor);
      // A live re-read keeps the keyboard where it was.
      const focused = document.activeElement && list.contains(document.activeElement)
        ? document.activeElement.closest("tr")?.dataset.id : null;
      fill(list, shown.length ? table(null, [["id"], ["type"], ["status"], ["attempts", "num"], ["created"], ["finished", "wide"], ["plugin", "wide"]],
        shown.map((m) => h("tr", { "data-id": m.id },
          h("td", { class: "mono" }, h("a", { href: `#/missions/${m.id}` }, m.id)), h("td", {}, m.type), h("td", {}, badge(m.status)),
          h("td", { class: "num" }, `${m.attempts}/${m.max_attempts}`), h("td", {}, time(m.created_at)),
          h("td", { class: "wide" }, time(m.finished_at)), h("td", { class: "wide mono" }, m.plugin || "—"))))
        : h("p", { class: "muted" }, "No missions match."));
      if (focused) list.querySelector(`tr[data-id="${CSS.escape(focused)}"] a`)?.focus();
      fill(pager,
        h("button", { type: "button", disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Newer"),
        h("span", { class: "muted" }, `page ${page + 1}`),
        h("button", { type: "button", disabled: !older, onclick: () => { cursors[page + 1] = data.next_cursor; page += 1; load(); } }, "Older →"));
    } catch (e) {
      fill(list, h("p", { class: "bad" }, `Missions: ${e.message}`));
      flash(e.message, "bad");
    }
  }
  const refresh = debounce(() => { if (page === 0) load(); }, 1000);
  load();
  const stream = follow({}, (e) => { if (e.type.startsWith("mission.") && e.type !== "mission.log_appended") refresh(); },
    (state) => { live.className = `live ${state === "live" ? "on" : "off"}`; live.textContent = state === "live" ? "live" : state; });
  return () => { stream.close(); refresh.cancel(); };
}
