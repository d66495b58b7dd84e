// fetch-summary: fetches a URL the manifest allows and summarises it:
// {url, status, content_type, size, sha256, title, fetch_count}. `fetch_count` is
// how many times this tenant's missions fetched that URL, kept in the plugin's
// key-value store.
//
// Payload {"url": "https://..."}. A refused destination or a bad payload is
// permanent; a network failure or a 5xx is retryable.
import { log } from 'mission-runner:plugin/host@1.1.0';
import { increment } from 'mission-runner:plugin/kv@1.1.0';

const MAX_BYTES = 4 * 1024 * 1024;

export async function run(mission) {
  let url;
  try {
    url = JSON.parse(mission.payload).url;
  } catch (e) {
    throw { tag: 'permanent', val: `payload is not JSON: ${e}` };
  }
  if (typeof url !== 'string' || !/^https?:\/\//.test(url)) {
    throw { tag: 'permanent', val: 'payload must be {"url": "http(s)://..."}' };
  }
  let res;
  try {
    res = await fetch(url);
  } catch (e) {
    // The mission log has the host's reason (a refused destination, a timeout...).
    throw { tag: 'retryable', val: `fetching ${url} failed: ${e}` };
  }
  if (res.status >= 500) {
    throw { tag: 'retryable', val: `${url} answered ${res.status}` };
  }
  const body = new Uint8Array(await res.arrayBuffer());
  if (body.length > MAX_BYTES) {
    throw { tag: 'permanent', val: `${url} sent ${body.length} bytes, more than ${MAX_BYTES}` };
  }
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', body));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
  const text = new TextDecoder().decode(body);
  const match = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(text);
  const title = match ? match[1].replace(/\s+/g, ' ').trim() : null;
  let fetchCount = null;
  try {
    fetchCount = Number(increment(`fetches:${url}`, 1n));
  } catch (e) {
    // A full quota must not fail the summary: say so and go on.
    log('warn', `counter not updated: ${JSON.stringify(e.payload ?? String(e))}`);
  }
  log('info', `fetched ${url}: ${res.status}, ${body.length} bytes`);
  return JSON.stringify({
    url,
    status: res.status,
    content_type: res.headers.get('content-type'),
    size: body.length,
    sha256,
    title,
    fetch_count: fetchCount,
  });
}

// MANIFEST is manifest.json, put in scope by the shared build.
export function describe() {
  return { name: MANIFEST.name, version: MANIFEST.version, missionTypes: MANIFEST.mission_types };
}
