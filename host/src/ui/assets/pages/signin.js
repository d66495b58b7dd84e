// Sign-in: the token goes to this tab's sessionStorage only (gone when the tab closes).

import { api, setToken, clearToken, ApiError } from "../api.js";
import { h, fill } from "../dom.js";

export function render(main, { done }) {
  const input = h("input", { id: "token", type: "password", autocomplete: "off", spellcheck: "false",
    placeholder: "mr_…", "aria-describedby": "token-help" });
  const error = h("p", { class: "bad", role: "alert" });
  const form = h("form", { class: "panel signin", onsubmit: async (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    try {
      await api("/api/whoami");
      done();
    } catch (err) {
      clearToken();
      fill(error, err instanceof ApiError && err.status === 401 ? "This token is not valid." : `Sign-in failed: ${err.message}`);
    }
  } },
  h("h1", {}, "Sign in"),
  h("label", { for: "token" }, "API token"), input,
  h("p", { id: "token-help", class: "muted" }, "Kept in this tab only (sessionStorage), sent as a bearer token to /api. ",
    "The embedded host keeps its admin token in .data/admin-token; on an API without tokens, leave it empty."),
  error,
  h("div", { class: "row end" }, h("button", { type: "submit", class: "primary", id: "signin" }, "Sign in")));
  fill(main, form);
  input.focus();
}
