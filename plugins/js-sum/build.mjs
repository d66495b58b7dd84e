// Builds plugin.js into a component: node build.mjs OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs OUT.wasm');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: resolve(here, 'plugin.js'),
  witPath: resolve(here, '../../wit'),
  worldName: 'mission-plugin',
  // No fetch, no HTTP: the host grants no network anyway.
  disableFeatures: ['http', 'fetch-event'],
});
await writeFile(out, component);
