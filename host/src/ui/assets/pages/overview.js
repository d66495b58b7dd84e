// Overview: the queue at a glance, per-type counts, completed and failed
// missions per second over the last five minutes (an SVG drawn here), hosts
// and slots. Live: the event stream drives the chart and triggers re-reads
// of the counts (at most one every two seconds), no polling loop.

import { api, qs } from "../api.js";
import { follow } from "../sse.js";
import { h, fill, table, debounce, age, toDate } from "../dom.js";

const WINDOW_S = 300;
const STATUSES = ["pending", "running", "retrying", "completed", "failed", "cancelled"];

export function render(main, ctx) {
  const cards = h("div", { class: "cards", id: "queue-cards" });
  const live = h("span", { class: "live off", id: "live" }, "connecting");
  const chartBox = h("div", { class: "chart panel", id: "chart" });
  const types = h("div", { id: "types" });
  const hosts = h("div", { id: "hosts" });
  fill(main, h("div", { class: "row" }, h("h1", { class: "grow" }, "Overview"), live), cards,
    h("h2", {}, "Missions per second, last 5 minutes"), chartBox,
    h("h2", {}, "By type"), types,
    ctx.can("admin") ? [h("h2", {}, "Hosts and slots"), hosts] : null);

  // One bucket per second: [completed, failed] (failed: attempts that will not be retried).
  const buckets = new Map();
  // Ids counted while the past is read back (bounded: at most 2,000 read plus
  // those streamed meanwhile), so an event both read and streamed counts once.
  const counted = new Set();
  let backfilling = true;
  const bump = (e, i) => {
    if (counted.has(e.id)) return;
    if (backfilling) counted.add(e.id);
    const s = Math.floor(e.timestamp);
    const b = buckets.get(s) || [0, 0];
    b[i] += 1;
    buckets.set(s, b);
  };
  const onEvent = (e) => {
    if (e.type === "mission.completed") bump(e, 0);
    else if (e.type === "mission.failed" && !e.payload.will_retry) bump(e, 1);
    if (e.type.startsWith("mission.")) refresh();
  };
  let skew = 0; // server clock minus ours, from the events' timestamps

  async function loadStats() {
    try {
      const s = await api("/api/stats");
      fill(cards, [["Queue depth", s.queue_depth, "queued"], ["Delayed", s.delayed, "delayed"], ["Running", s.running, "running"],
        ["Dead", s.dead, "dead"], ["Total (tenant)", s.totals.total, "total"]].map(([label, n, id]) =>
        h("div", { class: "card", id: `stat-${id}` }, h("div", { class: "muted" }, label), h("div", { class: "n" }, n))));
      const rows = Object.entries(s.by_type).sort().map(([t, c]) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `#/missions?type=${encodeURIComponent(t)}` }, t)),
        STATUSES.map((st) => h("td", { class: "num" }, c.by_status[st] || 0)), h("td", { class: "num" }, c.total)));
      fill(types, rows.length ? table(null, [["type"], ...STATUSES.map((st) => [st, "num"]), ["total", "num"]], rows)
        : h("p", { class: "muted" }, "No missions yet."));
    } catch (e) { fill(cards, h("p", { class: "bad" }, `Stats: ${e.message}`)); }
    if (ctx.can("admin")) {
      try {
        const w = await api("/api/workers");
        const now = Date.now();
        fill(hosts, table(null, [["host"], ["worker"], ["slots", "num"], ["in hand", "num"], ["heartbeat"]],
          w.workers.map((x) => h("tr", {}, h("td", {}, x.host), h("td", { class: "mono" }, x.id),
            h("td", { class: "num" }, x.concurrency), h("td", { class: "num" }, x.missions.length),
            h("td", {}, x.alive ? `${age(now - toDate(x.last_heartbeat))} ago` : "gone")))));
      } catch (e) { fill(hosts, h("p", { class: "bad" }, `Workers: ${e.message}`)); }
    }
  }
  const refresh = debounce(loadStats, 2000);

  /** The chart's past, read once: at most 1,000 events of each kind (a busier past shows its newest part). */
  async function backfill() {
    const since = Date.now() / 1000 - WINDOW_S;
    for (const [type, i] of [["mission.completed", 0], ["mission.failed", 1]]) {
      try {
        const page = await api("/api/events" + qs({ type, since: since.toFixed(3), limit: 1000 }));
        for (const e of page.events) if (i === 0 || !e.payload.will_retry) bump(e, i);
        const newest = page.events[page.events.length - 1];
        if (newest) skew = newest.timestamp - Date.now() / 1000;
      } catch { /* the chart starts empty */ }
    }
    backfilling = false;
    draw();
  }

  function draw() {
    const now = Math.floor(Date.now() / 1000 + Math.max(0, skew));
    const from = now - WINDOW_S + 1;
    for (const k of buckets.keys()) if (k < from - 5) buckets.delete(k);
    const series = [[], []];
    let max = 1, total = [0, 0];
    for (let s = from; s <= now; s++) {
      const b = buckets.get(s) || [0, 0];
      series[0].push(b[0]); series[1].push(b[1]);
      total[0] += b[0]; total[1] += b[1];
      max = Math.max(max, b[0], b[1]);
    }
    const W = 600, H = 160, L = 36, B = 18;
    const x = (i) => L + (i * (W - L)) / (WINDOW_S - 1);
    const y = (v) => (H - B) - (v * (H - B - 6)) / max;
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    const el = (tag, attrs, text) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      if (text !== undefined) e.textContent = text;
      svg.append(e);
    };
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("role", "img");
    const last = (i) => series[i].slice(-10).reduce((a, b) => a + b, 0) / 10;
    svg.setAttribute("aria-label", `In the last 5 minutes ${total[0]} missions completed and ${total[1]} failed; ` +
      `over the last 10 seconds ${last(0).toFixed(1)} completed and ${last(1).toFixed(1)} failed per second.`);
    for (const v of [0, max / 2, max]) {
      el("line", { class: "grid", x1: L, x2: W, y1: y(v), y2: y(v) });
      el("text", { x: 2, y: y(v) + 4 }, Number.isInteger(v) ? v : v.toFixed(1));
    }
    el("text", { x: L, y: H - 4 }, "−5 min");
    el("text", { x: W - 24, y: H - 4 }, "now");
    ["completed", "failed"].forEach((cls, i) =>
      el("polyline", { class: cls, points: series[i].map((v, j) => `${x(j).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
    fill(chartBox, svg, h("div", { class: "legend" },
      h("span", { class: "c" }, `— completed: ${total[0]}`), h("span", { class: "f" }, `— failed: ${total[1]}`),
      h("span", { class: "muted" }, `peak ${max}/s`)));
  }

  loadStats();
  backfill();
  const ticker = setInterval(draw, 1000); // redraws locally; no request
  const workersTimer = ctx.can("admin") ? setInterval(refresh, 15000) : null; // heartbeats age without events
  const stream = follow({}, onEvent, (state) => {
    live.className = `live ${state === "live" ? "on" : "off"}`;
    live.textContent = state === "live" ? "live" : state;
  });
  return () => { stream.close(); clearInterval(ticker); clearInterval(workersTimer); refresh.cancel(); };
}
