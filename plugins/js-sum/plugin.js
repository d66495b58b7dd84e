// js-sum: the mission-plugin world in JavaScript (built with componentize-js).
//
// Payload {"numbers": [..]} -> {"sum": s, "count": n}. Anything else is a
// permanent error (thrown as the WIT variant `mission-error`).
import { log, progress } from 'mission-runner:plugin/host@1.1.0';

export function run(mission) {
  let payload;
  try {
    payload = JSON.parse(mission.payload);
  } catch (e) {
    throw { tag: 'permanent', val: `payload is not JSON: ${e}` };
  }
  const numbers = payload && payload.numbers;
  if (!Array.isArray(numbers) || !numbers.every((n) => typeof n === 'number')) {
    throw { tag: 'permanent', val: 'payload must be {"numbers": [number, ...]}' };
  }
  const sum = numbers.reduce((a, b) => a + b, 0);
  log('info', `summed ${numbers.length} numbers`);
  progress(100, 'summed');
  return JSON.stringify({ sum, count: numbers.length });
}

// MANIFEST is manifest.json, put in scope by the shared build
// (plugins/.js-toolchain/build.mjs). WIT names are camelCase in JavaScript.
export function describe() {
  return { name: MANIFEST.name, version: MANIFEST.version, missionTypes: MANIFEST.mission_types };
}
