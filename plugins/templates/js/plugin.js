// {{name}}: a mission-runner plugin (built with componentize-js).
//
// Payload {"name": "..."} -> {"message": "hello, <name>"}.
import { log, progress } from 'mission-runner:plugin/host@1.1.0';

export function run(mission) {
  let payload;
  try {
    payload = JSON.parse(mission.payload);
  } catch (e) {
    // Errors are the WIT variant `mission-error`: {tag: 'permanent' | 'retryable', val: message}.
    throw { tag: 'permanent', val: `payload is not JSON: ${e}` };
  }
  if (!payload || typeof payload.name !== 'string') {
    throw { tag: 'permanent', val: 'payload must be {"name": string}' };
  }
  log('info', `greeting ${payload.name}`);
  progress(100, 'done');
  return JSON.stringify({ message: `hello, ${payload.name}` });
}

// MANIFEST is manifest.json, put in scope by the build: the one source of the
// name, version and mission types. WIT names are camelCase in JavaScript.
export function describe() {
  return { name: MANIFEST.name, version: MANIFEST.version, missionTypes: MANIFEST.mission_types };
}
