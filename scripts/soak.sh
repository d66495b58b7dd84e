#!/usr/bin/env bash
# The long runs, not part of the test suite:
#   ./scripts/soak.sh faults      10k missions through repeated SIGKILLs of hosts and a Redis restart
#   ./scripts/soak.sh sustained   five minutes at a fixed rate: memory and latency over time
#   ./scripts/soak.sh             both
# Settings: see the headers of host/benches/faults.rs and host/benches/sustained.rs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
cd "$root"
case "${1:-all}" in
  faults) exec cargo bench --bench faults ;;
  sustained) exec cargo bench --bench sustained ;;
  all) cargo bench --bench faults && cargo bench --bench sustained ;;
  *) echo "usage: $0 [faults|sustained]" >&2; exit 2 ;;
esac
