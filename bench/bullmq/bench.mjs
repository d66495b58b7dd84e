// The BullMQ peer of host/benches/throughput: the same number of no-op jobs,
// with priorities, added in bulk batches of 1,000 (four in flight), processed
// by one worker with the given concurrency, on a private Redis of the same kind.
// Prints one JSON line with the same keys as mission-runner's side, for the
// phases asked for:
// - `processed`: a processed run (throughput, latency, Redis commands and CPU);
// - `extras`: round trips (MONITOR), the idle worker's CPU, Redis bytes per queued job.
// They do not depend on each other, so the sweep asks for `processed` at each
// concurrency and for `extras` once.
//
// Environment: REDIS_PORT, REDIS_PASSWORD, BENCH_PHASES ("processed,extras"),
// BENCH_MISSIONS, BENCH_CONCURRENCY, BENCH_QUEUED, BENCH_MONITORED.

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Queue, Worker } from 'bullmq';
import IORedis from 'ioredis';

const port = Number(process.env.REDIS_PORT);
const phases = new Set((process.env.BENCH_PHASES ?? 'processed,extras').split(',').map((p) => p.trim()));
for (const p of phases) {
  if (p !== 'processed' && p !== 'extras') throw new Error(`BENCH_PHASES: unknown phase ${p}`);
}
const missions = Number(process.env.BENCH_MISSIONS ?? 10000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 8);
const queued = Number(process.env.BENCH_QUEUED ?? 100000);
const monitored = Number(process.env.BENCH_MONITORED ?? 1000);
const password = process.env.REDIS_PASSWORD || undefined;
const connection = { host: '127.0.0.1', port, password, maxRetriesPerRequest: null };
const probe = new IORedis(connection);

// Redis' cumulative counters, as host/benches/throughput/probe.rs reads them:
// commands (without INFO), its own CPU (used_cpu_user + used_cpu_sys, µs),
// script calls and the time inside them (µs), and when they were read.
async function counters() {
  const text = await probe.info('all');
  const at = process.hrtime.bigint();
  const lines = text.split('\n');
  const field = (name) => Number(lines.find((l) => l.startsWith(`${name}:`))?.split(':')[1] ?? 0);
  const stat = (l, what) => Number(new RegExp(`${what}=([0-9.]+)`).exec(l)?.[1] ?? 0);
  const commands = lines
    .filter((l) => l.startsWith('cmdstat_') && !l.startsWith('cmdstat_info:'))
    .reduce((sum, l) => sum + stat(l, 'calls'), 0);
  const scripts = lines.filter((l) => l.startsWith('cmdstat_evalsha:') || l.startsWith('cmdstat_eval:'));
  const scriptUs = scripts.reduce((sum, l) => sum + stat(l, 'usec'), 0);
  const scriptCalls = scripts.reduce((sum, l) => sum + stat(l, 'calls'), 0);
  return { at, commands, cpuUs: (field('used_cpu_user') + field('used_cpu_sys')) * 1e6, scriptUs, scriptCalls };
}
async function usedMemory() {
  return Number(/used_memory:(\d+)/.exec(await probe.info('memory'))[1]);
}

async function addAll(queue, n) {
  const batches = [];
  for (let s = 0; s < n; s += 1000) batches.push([s, Math.min(s + 1000, n)]);
  for (let i = 0; i < batches.length; i += 4) {
    await Promise.all(batches.slice(i, i + 4).map(([from, to]) => queue.addBulk(
      Array.from({ length: to - from }, (_, k) => ({
        name: 'noop', data: {}, opts: { priority: 1 + ((from + k) % 3) },
      })),
    )));
  }
}

// Resolves once `n` jobs completed in all; counts via the worker's events.
function completions(worker) {
  let done = 0;
  const waiters = [];
  const latencies = [];
  let first = Infinity;
  let last = 0;
  worker.on('completed', (job) => {
    done += 1;
    latencies.push(job.finishedOn - job.timestamp);
    first = Math.min(first, job.timestamp);
    last = Math.max(last, job.finishedOn);
    for (const w of waiters.filter((w) => done >= w.n)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(); }
  });
  return {
    until: (n) => (done >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
    take: () => { const out = { latencies: latencies.splice(0), first, last }; first = Infinity; last = 0; return out; },
  };
}

function pct(sorted, p) {
  return sorted[Math.round((sorted.length - 1) * p)];
}

async function clientCommands(work) {
  const monitor = spawn('redis-cli', ['-p', String(port), 'monitor'], {
    env: { ...process.env, REDISCLI_AUTH: password ?? '' },
  });
  const lines = createInterface({ input: monitor.stdout });
  let n = 0;
  let started;
  const ready = new Promise((r) => { started = r; });
  lines.on('line', (l) => {
    if (l === 'OK') { started(); return; }
    if (!l.includes(' lua] ')) n += 1;
  });
  await ready;
  await work();
  await new Promise((r) => setTimeout(r, 200));
  monitor.kill();
  return n;
}

// A processed run of `missions` jobs added at once, `completedBefore` jobs having completed.
async function processed(done, completedBefore) {
  const before = await counters();
  const start = process.hrtime.bigint();
  await addAll(queue, missions);
  const submitted = Number(process.hrtime.bigint() - start) / 1e9;
  await done.until(completedBefore + missions);
  const after = await counters();
  const run = done.take();
  run.latencies.sort((a, b) => a - b);
  const wallUs = Number(after.at - before.at) / 1e3;
  return {
    missions,
    concurrency,
    submitted_per_s: missions / submitted,
    processed_per_s: missions / (Math.max(1, run.last - run.first) / 1000),
    latency_p50_ms: pct(run.latencies, 0.5),
    latency_p99_ms: pct(run.latencies, 0.99),
    redis_commands_per_mission: (after.commands - before.commands) / missions,
    redis_cpu_us_per_mission: (after.cpuUs - before.cpuUs) / missions,
    redis_script_us_per_mission: (after.scriptUs - before.scriptUs) / missions,
    redis_script_calls_per_mission: (after.scriptCalls - before.scriptCalls) / missions,
    redis_cpu_percent: ((after.cpuUs - before.cpuUs) / Math.max(1, wallUs)) * 100,
    wall_s: wallUs / 1e6,
  };
}

// Round trips, the idle worker's CPU, Redis bytes per queued job, `completedBefore` jobs having completed.
async function extras(done, completedBefore) {
  const clientCmds = await clientCommands(async () => {
    await addAll(queue, monitored);
    await done.until(completedBefore + monitored);
  });

  // Idle CPU of the worker process.
  const cpu0 = process.cpuUsage();
  await new Promise((r) => setTimeout(r, 5000));
  const cpu = process.cpuUsage(cpu0);

  // Memory: jobs waiting in a queue no worker serves.
  const waiting = new Queue('bench-memory', { connection });
  const mem0 = await usedMemory();
  await addAll(waiting, queued);
  const mem1 = await usedMemory();
  await waiting.close();
  return {
    client_commands_per_mission: clientCmds / monitored,
    memory_per_queued_bytes: (mem1 - mem0) / queued,
    idle_cpu_percent: ((cpu.user + cpu.system) / 1e6) / 5 * 100,
  };
}

const queue = new Queue('bench', { connection });
const worker = new Worker('bench', async () => ({}), { connection, concurrency });
const done = completions(worker);
await worker.waitUntilReady();

// Warm-up.
await addAll(queue, 200);
await done.until(200);
done.take();
let completed = 200;

let out = {};
if (phases.has('processed')) {
  out = { ...out, ...(await processed(done, completed)) };
  completed += missions;
}
if (phases.has('extras')) out = { ...out, ...(await extras(done, completed)) };

await worker.close();
await queue.close();
await probe.quit();

console.log(JSON.stringify(out));
