// The shell: who the token is (GET /api/whoami), the pages it may see, and a
// hash router (#/missions/ID), so the server serves one page and no token or
// data ever appears in a URL the server sees.

import { api, clearToken, signedIn, ApiError } from "./api.js";
import { h, fill } from "./dom.js";
import * as signin from "./pages/signin.js";
import * as overview from "./pages/overview.js";
import * as missions from "./pages/missions.js";
import * as mission from "./pages/mission.js";
import * as dead from "./pages/dead.js";
import * as plugins from "./pages/plugins.js";
import * as workers from "./pages/workers.js";

/** The pages in the menu, with the scope each needs to be offered. */
const PAGES = [
  { path: "overview", label: "Overview", scope: "missions:read", page: overview },
  { path: "missions", label: "Missions", scope: "missions:read", page: missions },
  { path: "dead", label: "Dead letters", scope: "missions:read", page: dead },
  { path: "plugins", label: "Plugins", scope: "plugins:admin", page: plugins },
  { path: "workers", label: "Workers", scope: "admin", page: workers },
];

const main = document.getElementById("main");
let me = null;
let cleanup = null;

/** What a page gets: the caller and what it may do. */
function context() {
  return { me, can: (scope) => !!me && me.allows.includes(scope), go: (hash) => { location.hash = hash; } };
}

async function whoami() {
  try {
    me = await api("/api/whoami");
  } catch (e) {
    me = null;
    if (e instanceof ApiError && e.status === 401) clearToken();
  }
}

function renderChrome(current) {
  const ctx = context();
  const nav = document.getElementById("nav");
  fill(nav, me ? PAGES.filter((p) => ctx.can(p.scope)).map((p) =>
    h("a", { href: `#/${p.path}`, "aria-current": p.path === current ? "page" : null }, p.label)) : []);
  fill(document.getElementById("who"), me ? [
    h("span", {}, `${me.name} · tenant ${me.tenant} · ${me.scopes.join(", ")}`),
    h("button", { type: "button", onclick: () => { clearToken(); me = null; navigate("#/signin"); } }, "Sign out"),
  ] : []);
}

/** Shows the page the hash names. */
async function route() {
  if (cleanup) { cleanup(); cleanup = null; }
  const [path, query] = (location.hash.replace(/^#\/?/, "") || "").split("?");
  const parts = path.split("/").filter(Boolean);
  // Not signed in: ask nothing of the API (it would refuse), show the sign-in.
  if (!me && signedIn()) await whoami();
  if (!me) {
    renderChrome("signin");
    cleanup = signin.render(main, { done: async () => { await whoami(); navigate("#/"); } });
    return;
  }
  const ctx = context();
  const allowed = PAGES.filter((p) => ctx.can(p.scope));
  let entry = PAGES.find((p) => p.path === parts[0]);
  if (!entry || !ctx.can(entry.scope)) entry = allowed[0];
  renderChrome(entry ? entry.path : "");
  main.replaceChildren();
  if (!entry) {
    fill(main, h("h1", {}, "Nothing to show"), h("p", {}, "This token holds no scope the dashboard uses (missions:read, plugins:admin or admin)."));
    return;
  }
  const params = new URLSearchParams(query || "");
  const page = entry.path === "missions" && parts[1] ? mission : entry.page;
  cleanup = page.render(main, ctx, { id: parts[1] ? decodeURIComponent(parts[1]) : null, params }) || null;
  // A new page: screen readers and the keyboard start at its content.
  main.focus({ preventScroll: true });
}

/** Goes to `hash`, rendering it once (a hash that does not change fires no event). */
function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

document.getElementById("skip").addEventListener("click", () => main.focus());
window.addEventListener("hashchange", route);
route();
