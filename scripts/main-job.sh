#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what gsi needs, build gsi, and run it.
# The image build engine and the catalog are not done yet, so for now the job is the front end:
# gsi checks every Containerfile under tests/data/containerfiles (Genestack-shaped files) and prints
# each one's stages, bases and the stages its target needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "main-job.sh: run as root (it installs packages with apt-get)" >&2
  exit 1
fi
./scripts/install-deps.sh
gsi=$(./scripts/build.sh)
echo "built $gsi ($("$gsi" --version))"
for f in tests/data/containerfiles/*.Containerfile; do
  echo "== $f"
  "$gsi" containerfile check "$f"
done
