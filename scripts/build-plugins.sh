#!/usr/bin/env bash
# Builds the example plugins for wasm32-wasip2 and puts each component at
# plugins/dist/<name>.wasm.
#
# Rust plugins (plugins/*/Cargo.toml), then Python (plugins/py-*) and
# JavaScript (plugins/js-*) plugins of the same world.
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

out_dir="$plugins/target/wasm32-wasip2/release"
case "$route" in
  rustup) build_rustup ;;
  debian) build_debian; out_dir="$plugins/target/debian/wasm32-wasip2/release" ;;
  auto)
    if ! build_rustup; then
      echo "build-plugins: the rustup route failed; trying the Debian route" >&2
      build_debian
      out_dir="$plugins/target/debian/wasm32-wasip2/release"
    fi
    ;;
  *) echo "MR_WASM_ROUTE must be auto, rustup or debian" >&2; exit 2 ;;
esac

# Test fixtures are built with the rest but kept out of the served directory.
fixtures=" echo-v2 flood stall "
mkdir -p "$dist/fixtures"
for dir in "$plugins"/*/; do
  name="$(basename "$dir")"
  [ -f "$dir/Cargo.toml" ] && [ "$name" != sdk ] || continue
  artifact="$out_dir/${name//-/_}.wasm"
  [ -f "$artifact" ] || { echo "build-plugins: $artifact is missing" >&2; exit 1; }
  case "$fixtures" in
    *" $name "*) cp "$artifact" "$dist/fixtures/$name.wasm" ;;
    *) cp "$artifact" "$dist/$name.wasm" ;;
  esac
done
# Whether $1 exists and is newer than every file under the other arguments.
up_to_date() {
  local out="$1"; shift
  [ -f "$out" ] || return 1
  [ -z "$(find "$@" -newer "$out" -type f -not -path '*/node_modules/*' -print -quit)" ]
}

# Python plugins (plugins/py-*/app.py), with componentize-py.
for dir in "$plugins"/py-*/; do
  [ -f "$dir/app.py" ] || continue
  name="$(basename "$dir")"
  up_to_date "$dist/$name.wasm" "$dir" "$root/wit" && continue
  if ! command -v componentize-py >/dev/null 2>&1; then
    python3 -m pip install --quiet --root-user-action=ignore componentize-py==0.25.1
  fi
  componentize-py -d "$root/wit" -w mission-plugin componentize app -p "$dir" -o "$dist/$name.wasm" >/dev/null
done

# JavaScript plugins (plugins/js-*/build.mjs), with componentize-js.
for dir in "$plugins"/js-*/; do
  [ -f "$dir/build.mjs" ] || continue
  name="$(basename "$dir")"
  up_to_date "$dist/$name.wasm" "$dir" "$root/wit" && continue
  if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  fi
  # `npm ci` refuses lock files that omit other platforms' optional packages (an npm
  # quirk); `install --no-save` follows the lock file without rewriting it.
  [ -d "$dir/node_modules/@bytecodealliance/componentize-js" ] || (cd "$dir" && npm install --no-audit --no-fund --no-save --loglevel=error)
  node "$dir/build.mjs" "$dist/$name.wasm"
done

echo "build-plugins: $(ls "$dist" | tr '\n' ' ')in $dist" >&2
