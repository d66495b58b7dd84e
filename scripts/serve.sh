#!/usr/bin/env bash
# Sets everything up, builds the host (release) and runs `mission-runner serve`
# in the foreground with the example plugins and an embedded Redis.
# Extra arguments go to `serve` (see `mission-runner serve --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
cargo build --release --bin mission-runner
exec "$root/target/release/mission-runner" serve --plugins-dir "$root/plugins/dist" "$@"
