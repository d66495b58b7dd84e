// Dead letters: the tenant's failed missions with their reason, latest first;
// re-drive one or many (a token with missions:write; it asks first).

import { api, qs } from "../api.js";
import { h, fill, table, time, confirm, flash, errorSummary } from "../dom.js";

const PAGE = 50;

export function render(main, ctx) {
  const write = ctx.can("missions:write");
  const list = h("div", { id: "dead-list" });
  const bar = h("div", { class: "row" });
  const pager = h("div", { class: "row end" });
  fill(main, h("h1", {}, "Dead letters"), h("p", { class: "muted" }, "Missions that failed for good, latest failure first."), bar, list, pager);
  const cursors = [null];
  let page = 0;
  let missions = [];
  const selected = new Set();

  async function redrive(ids) {
    const text = ids.length === 1 ? `Mission ${ids[0]} goes back to the queue with fresh attempts.`
      : `${ids.length} missions go back to the queue with fresh attempts.`;
    if (!(await confirm(`Re-drive ${ids.length === 1 ? "this mission" : ids.length + " missions"}?`, text, "Re-drive"))) return;
    const results = await Promise.allSettled(ids.map((id) => api(`/api/missions/${id}/retry`, { method: "POST", body: {} })));
    const failed = results.filter((r) => r.status === "rejected");
    flash(failed.length ? `Re-drove ${ids.length - failed.length}; ${failed.length} refused: ${failed[0].reason.message}`
      : `Re-drove ${ids.length} mission${ids.length === 1 ? "" : "s"}.`, failed.length ? "bad" : "ok");
    // Only what was re-driven: a selection made meanwhile stays.
    for (const id of ids) selected.delete(id);
    load();
  }

  function drawBar() {
    fill(bar, write ? h("button", { type: "button", id: "redrive-selected", class: "primary", disabled: selected.size === 0,
      onclick: () => redrive([...selected]) }, `Re-drive selected (${selected.size})`) : null);
  }

  async function load() {
    try {
      const data = await api("/api/dead" + qs({ limit: PAGE, cursor: cursors[page] }));
      missions = data.missions;
      const all = write ? h("input", { type: "checkbox", id: "select-all", "aria-label": "Select every mission of this page",
        checked: missions.length > 0 && missions.every((m) => selected.has(m.id)),
        onchange: (e) => { for (const m of missions) { if (e.target.checked) selected.add(m.id); else selected.delete(m.id); } load(); } }) : null;
      const cols = [write ? [all] : null, ["id"], ["type"], ["failed"], ["attempts", "num"], ["reason"], write ? ["action"] : null].filter(Boolean);
      fill(list, missions.length ? table(null, cols, missions.map((m) => {
        const reason = (m.error && m.error.message) || "";
        const first = errorSummary(reason);
        return h("tr", { "data-id": m.id },
          write ? h("td", {}, h("input", { type: "checkbox", "aria-label": `Select ${m.id}`, checked: selected.has(m.id),
            onchange: (e) => { if (e.target.checked) selected.add(m.id); else selected.delete(m.id); drawBar(); } })) : null,
          h("td", { class: "mono" }, h("a", { href: `#/missions/${m.id}` }, m.id)), h("td", {}, m.type),
          h("td", {}, time(m.finished_at)), h("td", { class: "num" }, `${m.attempts}/${m.max_attempts}`),
          h("td", {}, first !== reason ? h("details", {}, h("summary", {}, first), h("pre", {}, reason)) : first),
          write ? h("td", {}, h("button", { type: "button", class: "redrive", onclick: () => redrive([m.id]) }, "Re-drive")) : null);
      })) : h("p", { class: "muted" }, "No dead letters."));
      fill(pager,
        h("button", { type: "button", disabled: page === 0, onclick: () => { page -= 1; load(); } }, "← Newer"),
        h("button", { type: "button", disabled: !data.next_cursor, onclick: () => { cursors[page + 1] = data.next_cursor; page += 1; load(); } }, "Older →"));
    } catch (e) { fill(list, h("p", { class: "bad" }, `Dead letters: ${e.message}`)); }
    drawBar();
  }
  load();
}
