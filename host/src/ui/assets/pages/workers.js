// Workers (an admin's view): every host, its slots, heartbeat age, the
// missions in hand and the plugins loaded. Re-read every five seconds; the
// heartbeat ages tick locally in between.

import { api } from "../api.js";
import { h, fill, table, time, age, toDate } from "../dom.js";

export function render(main) {
  const list = h("div", { id: "workers-list" });
  fill(main, h("h1", {}, "Workers"), list);
  let workers = [];

  function draw() {
    const now = Date.now();
    fill(list, workers.length ? table(null, [["worker"], ["host"], ["pid", "num"], ["started"], ["slots", "num"], ["heartbeat"], ["missions in hand"], ["plugins loaded"]],
      workers.map((w) => h("tr", { "data-id": w.id },
        h("td", { class: "mono" }, w.id), h("td", {}, w.host), h("td", { class: "num" }, w.pid), h("td", {}, time(w.started_at)),
        h("td", { class: "num" }, `${w.missions.length}/${w.concurrency}`),
        h("td", {}, w.alive ? h("span", { title: toDate(w.last_heartbeat).toISOString() }, `${age(now - toDate(w.last_heartbeat))} ago`) : h("span", { class: "s-failed" }, "gone")),
        h("td", {}, w.missions.length ? h("ul", {}, w.missions.map((m) => { const id = typeof m === "string" ? m : m.id; return h("li", {}, h("a", { class: "mono", href: `#/missions/${id}` }, id)); })) : h("span", { class: "muted" }, "none")),
        h("td", { class: "mono" }, w.plugins.join(", ")))))
      : h("p", { class: "muted" }, "No workers registered."));
  }
  async function load() {
    try { workers = (await api("/api/workers")).workers; } catch (e) { fill(list, h("p", { class: "bad" }, e.message)); return; }
    draw();
  }
  load();
  const reload = setInterval(load, 5000);
  const tick = setInterval(draw, 1000);
  return () => { clearInterval(reload); clearInterval(tick); };
}
