// Reads GET /api/events/stream with fetch, because EventSource cannot send an
// Authorization header. Parses the Server-Sent Events format (multi-line data,
// id, event, retry, comments) and reconnects with Last-Event-ID, so a dropped
// connection misses nothing the stream still holds.

import { authHeaders, noteRefused, qs } from "./api.js";

/**
 * Follows the event stream. `onEvent(event)` gets each parsed event (the
 * JSON of its data); `onState("live" | "reconnecting" | "refused")` the
 * connection's state. Returns `{close()}`.
 */
export function follow(params, onEvent, onState = () => {}) {
  let lastId = null;
  let retry = 1000;
  let stopped = false;
  let ctrl = null;

  async function run() {
    let backoff = retry;
    while (!stopped) {
      ctrl = new AbortController();
      const headers = authHeaders();
      if (lastId) headers["Last-Event-ID"] = lastId;
      try {
        const resp = await fetch("/api/events/stream" + qs(params), { headers, signal: ctrl.signal, cache: "no-store" });
        if (!resp.ok) {
          noteRefused("GET", "/api/events/stream", resp.status);
          if ([400, 401, 403, 404].includes(resp.status)) { onState("refused"); return; }
        } else {
          onState("live");
          backoff = retry;
          await parse(resp.body, (ev) => {
            if (ev.id) lastId = ev.id;
            if (ev.retry) retry = ev.retry;
            if (ev.data === null) return;
            let data;
            try { data = JSON.parse(ev.data); } catch { return; }
            onEvent(data);
          });
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }
  run();
  return { close() { stopped = true; if (ctrl) ctrl.abort(); } };
}

/** Reads an SSE body, calling `dispatch({id, event, data, retry})` for each event. */
export async function parse(body, dispatch) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let data = [];
  let event = { id: null, event: null, retry: null };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    // A line ends at \n, \r\n or \r; a lone \r at the end may be half of \r\n: keep it for the next chunk.
    while ((nl = buf.search(/\r\n|\n|\r(?=.)/s)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf.startsWith("\r\n", nl) ? 2 : 1));
      if (line === "") {
        if (data.length || event.id || event.retry) dispatch({ ...event, data: data.length ? data.join("\n") : null });
        data = [];
        event = { id: null, event: null, retry: null };
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") data.push(val);
      else if (field === "id" && !val.includes("\0")) event.id = val;
      else if (field === "event") event.event = val;
      else if (field === "retry" && /^\d+$/.test(val)) event.retry = Number(val);
    }
  }
}
