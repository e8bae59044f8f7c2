#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine: install what gsi needs, build gsi, then build the keystone
# image for OpenStack 2025.1 from the catalog, from nothing: the Debian trixie base is bootstrapped from
# the Debian archive, then openstack-venv, apache and keystone are built in that order, each
# smoke-tested, and a summary table closes the run.
#   GSI_ROOT   the image store (default /var/lib/gsi)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "main-job.sh: run as root (it installs packages and builds in namespaces)" >&2
  exit 1
fi
./scripts/install-deps.sh
gsi=$(./scripts/build.sh)
echo "built $gsi ($("$gsi" --version))"
exec "$gsi" catalog build keystone --release 2025.1
