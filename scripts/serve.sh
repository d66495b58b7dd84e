#!/usr/bin/env bash
# Sets everything up, builds the host (release) and runs `mission-runner serve`
# in the foreground with the example plugins and an embedded Redis.
# Extra arguments go to `serve` (see `mission-runner serve --help`).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
cargo build --release --bin mission-runner
# Puts `mission-runner` on the PATH (what the docs call), as a link to this
# build: later builds are picked up. MR_BIN_DIR chooses where; skipped, with a
# note, where that directory is not writable.
bin_dir="${MR_BIN_DIR:-/usr/local/bin}"
if [ -w "$bin_dir" ]; then
  ln -sf "$root/target/release/mission-runner" "$bin_dir/mission-runner"
else
  echo "serve: $bin_dir is not writable: call $root/target/release/mission-runner, or set MR_BIN_DIR" >&2
fi
exec "$root/target/release/mission-runner" serve --plugins-dir "$root/plugins/dist" "$@"
