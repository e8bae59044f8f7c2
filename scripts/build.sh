#!/usr/bin/env bash
# Builds gsi into build/ (release-like, -O2) and prints the binary's path.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f build/build.ninja ]; then
  meson setup --reconfigure build >/dev/null
else
  meson setup build >/dev/null
fi
ninja -C build >/dev/null
echo "$PWD/build/src/cli/gsi"
