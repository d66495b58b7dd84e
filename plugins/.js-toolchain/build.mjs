// Builds one JavaScript plugin into a component (used by `mission-runner plugin
// build` and scripts/build-plugins.sh; every plugin shares this toolchain):
//   node build.mjs PLUGIN_DIR WIT_DIR OUT.wasm
//
// The plugin is PLUGIN_DIR/plugin.js. Its manifest.json is put in scope as the
// constant MANIFEST (on the source's first line, so line numbers stay right),
// the one source of the name, version and mission types describe() returns.
import { componentize } from '@bytecodealliance/componentize-js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const [dir, wit, out] = process.argv.slice(2);
if (!out) {
  console.error('usage: node build.mjs PLUGIN_DIR WIT_DIR OUT.wasm');
  process.exit(2);
}
const source = await readFile(join(dir, 'plugin.js'), 'utf8');
let manifest = {};
try {
  manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
} catch (e) {
  if (e.code !== 'ENOENT') throw new Error(`manifest.json: ${e.message}`);
}
const prelude = `const MANIFEST = Object.freeze(${JSON.stringify(manifest)}); `;
const { component } = await componentize(prelude + source, {
  sourceName: 'plugin.js',
  witPath: wit,
  worldName: 'mission-plugin',
  // `fetch` (wasi:http/outgoing-handler) only when the manifest grants
  // `grants.http`: the host refuses a component that imports it without the
  // grant. Never `fetch-event` (an incoming handler: plugins serve no HTTP).
  disableFeatures: manifest.grants?.http ? ['fetch-event'] : ['http', 'fetch-event'],
});
await writeFile(out, component);
