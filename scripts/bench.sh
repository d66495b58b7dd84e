#!/usr/bin/env bash
# The end-to-end benchmark against BullMQ (host/benches/throughput/): sets
# everything up, installs the BullMQ peer (bench/bullmq), sweeps concurrency for
# both, compares each at its best, runs the scale curve (host processes on one
# Redis), and prints the machine, three tables and one JSON line. Settings:
# BENCH_MISSIONS, BENCH_SWEEP, BENCH_SCALE, BENCH_HOSTS, BENCH_QUEUED,
# BENCH_MONITORED, BENCH_PEER, BENCH_EVENTS_MAX_LEN (see the bench's header).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  apt-get install -y nodejs npm
fi
# `npm ci` refuses lock files that omit other platforms' optional packages (an npm
# bug the registry here triggers for msgpackr-extract); `npm install --no-save`
# installs the same pinned versions from the lock file without rewriting it.
[ -d "$root/bench/bullmq/node_modules/bullmq" ] ||
  (cd "$root/bench/bullmq" && npm install --no-audit --no-fund --no-save --loglevel=error)
cd "$root"
exec cargo bench --bench throughput
