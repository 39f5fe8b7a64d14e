#!/bin/sh
# Builds lathe-run for another architecture in a build folder of its own
# (meson builds for one host at a time) and copies it to OUTPUT.
# Usage: build-cross-runner.sh SOURCE_ROOT CROSS_FILE BUILD_DIR OUTPUT
set -eu
src=$1 cross=$2 dir=$3 out=$4
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" "$src" --cross-file "$cross" -Dengine_only=true -Dtests=false >"$dir.log" 2>&1 \
    || { cat "$dir.log" >&2; exit 1; }
fi
ninja -C "$dir" src/runner/lathe-run >>"$dir.log" 2>&1 || { tail -40 "$dir.log" >&2; exit 1; }
cp "$dir/src/runner/lathe-run" "$out.tmp"
mv -f "$out.tmp" "$out"
