#!/usr/bin/env bash
# The queue scripts' cost in instructions, which do not move with the
# machine's load as CPU time does: `cargo bench --bench scripts` with its
# private Redis under valgrind's callgrind, counting only while a script runs
# (EVALSHA). Prints, per phase and batch size, thousands of instructions and
# commands per mission. Redis runs about 50 times slower under callgrind, so
# the default is 4,000 missions and batches of 4, 16 and 64 (BENCH_SCRIPT_*
# settings as for the bench). A change to the scripts is measured by running
# this before and after it: the same run gives the same count to within 0.1 %.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
command -v valgrind >/dev/null || apt-get install -y valgrind
redis="$(command -v redis-server)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/bin" "$work/out"
# The bench starts `redis-server` from PATH: this one is Redis under callgrind.
cat >"$work/bin/redis-server" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --toggle-collect=evalShaCommand \
  --callgrind-out-file="$work/out/cg.%p" "$redis" "\$@" 2>>"$work/valgrind.log"
WRAP
chmod +x "$work/bin/redis-server"
cd "$root"
PATH="$work/bin:$PATH" BENCH_SCRIPT_CALLGRIND="$work/out" \
  BENCH_SCRIPT_MISSIONS="${BENCH_SCRIPT_MISSIONS:-4000}" BENCH_SCRIPT_BATCHES="${BENCH_SCRIPT_BATCHES:-4,16,64}" \
  cargo bench --bench scripts
