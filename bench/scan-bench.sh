#!/usr/bin/env bash
# Scan benchmark: times `gsi scan` of the catalog's keystone image against a database holding the
# whole PyPA advisory snapshot (../shared/vulndata) plus the Debian tracker excerpt of tests/data/vuln,
# and prints the median wall time of RUNS scans, cold and warm (target: under 1 s), with the import
# time and the image's package and finding counts beside it.
#
# gsi remembers what each layer blob holds (gsi-private/inventory/<hex of the layer digest>):
#   cold  the image's inventory entries (only those, found by its layer digests) removed before each
#         run: every layer is inflated, and the entries are written again;
#   warm  the entries present (the cold run just before wrote them): no layer is inflated.
#
# The benchmark writes the store's inventory cache (and removes the image's entries); the database
# lives in a temporary directory.  To leave a store untouched, set BENCH_COPY_STORE=1: the script
# then hardlinks the store's blobs (`cp -al`; blobs are never written in place, so sharing them is
# safe) with a copy of index.json and oci-layout into a scratch directory under BENCH_TMP, which must
# be on the store's filesystem, and works only there (gsi-private is not copied: reading an image
# needs none of it).
#
# usage: bench/scan-bench.sh [RUNS]     (default 11)
# Environment: BENCH_STORE (default /var/lib/gsi), BENCH_COPY_STORE=1 (see above), BENCH_TMP
# (scratch directory, default $TMPDIR or /var/tmp), BENCH_REF (default
# ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest), BENCH_BUILD_DIR (default build-bench,
# a release build without sanitizers, configured if missing), BENCH_SNAPSHOT (the PyPA snapshot),
# BENCH_STRICT=1 to exit 1 when a median (cold or warm) misses its 1 s target.
set -euo pipefail

runs=${1:-11}
case "$runs" in
  '' | *[!0-9]* | 0)
    echo "usage: bench/scan-bench.sh [RUNS]" >&2
    exit 2
    ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
store=${BENCH_STORE:-/var/lib/gsi}
ref=${BENCH_REF:-ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest}
snapshot=${BENCH_SNAPSHOT:-$root/../shared/vulndata/pypa-advisory-database}
tracker=tests/data/vuln/debian-tracker.json

if [ ! -d "$snapshot/vulns" ]; then
  echo "scan-bench: the PyPA snapshot is not at $snapshot" >&2
  exit 1
fi
name=scan-bench
# shellcheck source=bench/image-common.sh
. "$root/bench/image-common.sh"
bench_build_gsi

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/var/tmp}}/gsi-scan-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
db=$tmp/vuln.db

bench_copy_store
bench_image_entries " (the main job builds it)"

now () { date +%s.%N; }

t0=$(now)
import=$("$gsi" db import --db "$db" "$snapshot" "$tracker")
t1=$(now)
echo "import: $import"
printf 'import wall time: %.2f s\n' "$(echo "$t1 - $t0" | bc -l)"

# One cold scan for the counts (and to warm the page cache, as a CI scan right after a build would
# be); it must leave an inventory entry per layer.
drop_entries
"$gsi" --root "$store" scan --db "$db" --format json "$ref" >"$tmp/report.json"
for e in "${entries[@]}"; do
  [ -f "$e" ] || { echo "scan-bench: gsi scan wrote no inventory entry $e" >&2; exit 1; }
done
python3 - "$tmp/report.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print(f"findings: {s['total']} (" + ", ".join(f"{k}: {s[k]}" for k in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")) + f"), {len(d['date_scheme_rule'])} kept out by the date-scheme rule")
PY

# Wall time is what the target is about; CPU time (user + sys) is printed beside it because a
# shared machine's load moves the wall time and hardly the CPU time.
cold=() cold_cpu=() warm=() warm_cpu=()
TIMEFORMAT='%R %U %S'
# Not in a command substitution, so that set -e ends the benchmark on a failed scan.
timed ()
{
  { time "$gsi" --root "$store" scan --db "$db" --format json "$ref" >"$1" 2>"$tmp/scan.err"; } 2>"$tmp/time"
  read -r wall user sys <"$tmp/time"
  cpu=$(echo "$user + $sys" | bc -l)
}
for _ in $(seq "$runs"); do
  drop_entries
  timed "$tmp/cold.json"
  cold+=("$wall")
  cold_cpu+=("$cpu")
  timed "$tmp/warm.json"
  warm+=("$wall")
  warm_cpu+=("$cpu")
  cmp -s "$tmp/cold.json" "$tmp/warm.json" || { echo "scan-bench: the warm report differs from the cold one" >&2; exit 1; }
done
median_of () { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
report ()
{
  local name=$1 times cpus
  shift
  times=$(printf '%s\n' "$@")
  median=$(median_of <<<"$times")
  printf 'gsi scan %s, %s: median %.3f s wall over %d runs (min %.3f, max %.3f; target: under 1 s), median CPU %.3f s\n' \
    "$ref" "$name" "$median" "$runs" "$(sort -n <<<"$times" | head -n 1)" "$(sort -n <<<"$times" | tail -n 1)" "$cpu_median"
}
cpu_median=$(printf '%s\n' "${cold_cpu[@]}" | median_of)
report "cold (layers inflated)" "${cold[@]}"
mcold=$median
cpu_median=$(printf '%s\n' "${warm_cpu[@]}" | median_of)
report "warm (inventory entries)" "${warm[@]}"
mwarm=$median
printf 'cold/warm %.1fx; load average %s\n' "$(echo "$mcold / $mwarm" | bc -l)" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${BENCH_STRICT:-}" = 1 ] && { [ "$(echo "$mcold >= 1" | bc -l)" = 1 ] || [ "$(echo "$mwarm >= 1" | bc -l)" = 1 ]; }; then
  echo "scan-bench: a median misses the 1 s target" >&2
  exit 1
fi
