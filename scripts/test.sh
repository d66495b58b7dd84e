#!/usr/bin/env bash
# Sets everything up and runs the whole test suite: unit tests and the
# integration tests (each starts its own redis-server on a free port and runs
# the real plugins from plugins/dist).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
cargo test --workspace --locked "$@"
