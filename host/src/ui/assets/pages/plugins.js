// Plugins (plugins:admin): versions with digests, manifests (grants and limits
// in plain words), the hosts that loaded each, the active version per type;
// upload, activate and roll back, each confirmed with the diff of the two
// manifests, then followed until every live host has loaded the version.

import { api } from "../api.js";
import { h, fill, table, time, digest, confirm, flash } from "../dom.js";

export function render(main, ctx) {
  const active = h("div", { id: "active" });
  const list = h("div", { id: "plugins-list" });
  const status = h("p", { id: "spread", role: "status", "aria-live": "polite" });
  fill(main, h("h1", {}, "Plugins"), status, h("h2", {}, "Active version per mission type"), active,
    h("h2", {}, "Versions"), list, h("h2", {}, "Upload a version"), uploadForm(load, follow));
  let data = null;
  let timer = null;

  async function load() {
    try { data = await api("/api/plugins?limit=1000"); } catch (e) { fill(list, h("p", { class: "bad" }, e.message)); return; }
    fill(active, table(null, [["type"], ["plugin"], ["version"], ["digest"]], Object.entries(data.active).sort().map(([t, a]) =>
      h("tr", {}, h("th", { scope: "row" }, t), h("td", {}, a.name), h("td", {}, a.version), h("td", {}, digest(a.digest))))));
    fill(list, data.plugins.map((p) => h("section", { class: "panel", "data-plugin": p.name, "aria-label": `Plugin ${p.name}` },
      h("h3", {}, p.name),
      table(null, [["version"], ["digest"], ["state"], ["limits"], ["grants"], ["loaded on"], ["uploaded", "wide"], ["action"]],
        p.versions.map((v) => versionRow(p, v))))));
  }

  function versionRow(p, v) {
    const current = p.versions.find((x) => x.active_for.length > 0);
    const isActive = v.active_for.length > 0;
    let action = null;
    if (!isActive) {
      const back = current && compare(v.version, current.version) < 0;
      action = h("button", { type: "button", class: back ? "danger" : "primary", "data-version": v.version,
        onclick: () => activate(p, v, current, back) }, back ? `Roll back to ${v.version}` : `Activate ${v.version}`);
    }
    return h("tr", { "data-version": v.version },
      h("td", {}, v.version), h("td", {}, digest(v.digest)),
      h("td", {}, isActive ? h("strong", {}, `active for ${v.active_for.join(", ")}`) : h("span", { class: "muted" }, "inactive")),
      h("td", {}, limits(v.manifest)), h("td", {}, grants(v.manifest)),
      h("td", { class: "mono" }, v.loaded_on.length ? v.loaded_on.join(", ") : h("span", { class: "muted" }, "no host")),
      h("td", { class: "wide" }, time(v.uploaded_at), " by ", v.uploaded_by), h("td", {}, action));
  }

  async function activate(p, v, current, back) {
    const body = h("div", {}, h("p", {}, `Missions of ${v.manifest.mission_types.join(", ")} claimed from now on, on every host, run ${p.name} ${v.version} (${v.digest}). Running missions finish on their version.`),
      h("p", {}, "What changes in the manifest:"), diff(current ? current.manifest : {}, v.manifest));
    if (!(await confirm(`${back ? "Roll back" : "Activate"} ${p.name} to ${v.version}?`, body, back ? "Roll back" : "Activate"))) return;
    try {
      const r = await api(`/api/plugins/${encodeURIComponent(p.name)}/activate`, { method: "POST", body: { version: v.version } });
      flash(`${p.name} ${v.version} is active for ${r.activated_for.length ? r.activated_for.join(", ") : "its types (already was)"}.`);
      follow(p.name, v.version);
    } catch (e) { flash(`Activate: ${e.message}`, "bad"); }
    load();
  }

  /** Re-reads once a second for up to 20 s, showing how many live hosts loaded the version. */
  function follow(name, version) {
    clearInterval(timer);
    const until = Date.now() + 20000;
    const check = async () => {
      let d, hosts = null;
      try {
        d = await api("/api/plugins?limit=1000");
        // Only an admin may list workers; without it, "loaded on some host" is what can be known.
        if (ctx.can("admin")) hosts = (await api("/api/workers")).workers.filter((x) => x.alive).length;
      } catch { return; }
      const v = d.plugins.find((p) => p.name === name)?.versions.find((x) => x.version === version);
      const n = v ? v.loaded_on.length : 0;
      const done = hosts !== null ? n >= hosts : n > 0;
      fill(status, `${name} ${version}: loaded on ${n}${hosts !== null ? ` of ${hosts}` : ""} host${n === 1 ? "" : "s"}${done ? "." : "…"}`);
      if (done || Date.now() > until) { clearInterval(timer); load(); }
    };
    timer = setInterval(check, 1000);
    check();
  }

  load();
  return () => clearInterval(timer);
}

function limits(m) {
  const l = m.limits || {};
  const parts = [];
  if (l.timeout_ms) parts.push(`time ≤ ${l.timeout_ms / 1000} s`);
  if (l.memory_mb) parts.push(`memory ≤ ${l.memory_mb} MiB`);
  if (l.max_result_bytes) parts.push(`result ≤ ${l.max_result_bytes} bytes`);
  if (l.fuel) parts.push(`fuel ≤ ${l.fuel}`);
  return parts.length ? parts.join(", ") : h("span", { class: "muted" }, "host defaults");
}

function grants(m) {
  const env = Object.keys((m.grants || {}).env || {});
  return env.length ? `environment: ${env.join(", ")}` : h("span", { class: "muted" }, "nothing (bare sandbox)");
}

/** Compares two semver strings (without pre-release subtleties): -1, 0, 1. */
function compare(a, b) {
  const pa = a.split(/[.+-]/).map(Number), pb = b.split(/[.+-]/).map(Number);
  for (let i = 0; i < 3; i++) if ((pa[i] || 0) !== (pb[i] || 0)) return (pa[i] || 0) < (pb[i] || 0) ? -1 : 1;
  return 0;
}

/** "path: value" lines of a JSON value. */
function flatten(v, path = "", out = []) {
  if (v && typeof v === "object" && Object.keys(v).length) for (const [k, x] of Object.entries(v)) flatten(x, path ? `${path}.${k}` : k, out);
  else out.push(`${path}: ${JSON.stringify(v)}`);
  return out;
}

/** The lines of `b` not in `a` (+) and of `a` not in `b` (−). */
function diff(a, b) {
  const la = flatten(a), lb = flatten(b);
  const del = la.filter((l) => !lb.includes(l)), add = lb.filter((l) => !la.includes(l));
  return h("pre", { class: "diff panel", id: "manifest-diff" }, del.length + add.length === 0 ? "(identical)" :
    [...del.map((l) => h("div", { class: "del" }, `− ${l}`)), ...add.map((l) => h("div", { class: "add" }, `+ ${l}`))]);
}

function uploadForm(reload, follow) {
  const wasm = h("input", { type: "file", id: "up-wasm", accept: ".wasm", required: true });
  const manifest = h("textarea", { id: "up-manifest", rows: 6, cols: 50, required: true, spellcheck: "false",
    placeholder: '{"name": "echo", "version": "1.1.0", "mission_types": ["echo"]}' });
  const act = h("input", { type: "checkbox", id: "up-activate" });
  return h("form", { class: "panel", "aria-label": "Upload a plugin version", onsubmit: async (e) => {
    e.preventDefault();
    const form = new FormData();
    form.append("wasm", wasm.files[0]);
    form.append("manifest", manifest.value);
    try {
      const r = await api(`/api/plugins?activate=${act.checked}`, { method: "POST", form });
      flash(`Stored ${r.plugin.name} ${r.plugin.version} (${r.plugin.digest})${r.activated_for.length ? `, active for ${r.activated_for.join(", ")}` : ""}.`);
      if (act.checked) follow(r.plugin.name, r.plugin.version);
      reload();
    } catch (err) { flash(`Upload refused: ${err.message}`, "bad"); }
  } },
  h("div", { class: "row" }, h("label", { for: "up-wasm" }, "Component (.wasm)", wasm),
    h("label", { for: "up-manifest", class: "grow" }, "Manifest (JSON)", manifest)),
  h("div", { class: "row end" }, h("label", { class: "inline", for: "up-activate" }, act, "Activate once stored"),
    h("button", { type: "submit", class: "primary" }, "Upload")));
}
