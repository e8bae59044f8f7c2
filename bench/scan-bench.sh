#!/usr/bin/env bash
# Scan benchmark: times `gsi scan` of the catalog's keystone image against a database holding the
# whole PyPA advisory snapshot (../shared/vulndata) plus the Debian tracker excerpt of tests/data/vuln,
# and prints the median wall time of RUNS scans (target: under 1 s), with the import time and the
# image's package and finding counts beside it.
#
# The store is only read (the database lives in a temporary directory), so the lead's store can be
# used as it is.
#
# usage: bench/scan-bench.sh [RUNS]     (default 11)
# Environment: BENCH_STORE (default /var/lib/gsi), BENCH_REF (default
# ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest), BENCH_BUILD_DIR (default build-bench,
# a release build without sanitizers, configured if missing), BENCH_SNAPSHOT (the PyPA snapshot),
# BENCH_STRICT=1 to exit 1 when the median misses its 1 s target.
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
# Sanitizers would measure themselves, not the scanner.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
fi
ninja -C "$build" src/cli/gsi >/dev/null
gsi="$build/src/cli/gsi"

if ! "$gsi" --root "$store" inspect "$ref" >/dev/null 2>&1; then
  echo "scan-bench: $ref is not in the store $store (the main job builds it)" >&2
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsi-scan-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
db=$tmp/vuln.db

now () { date +%s.%N; }

t0=$(now)
import=$("$gsi" db import --db "$db" "$snapshot" "$tracker")
t1=$(now)
echo "import: $import"
printf 'import wall time: %.2f s\n' "$(echo "$t1 - $t0" | bc -l)"

# One scan for the counts (and to warm the page cache, as a CI scan right after a build would be).
"$gsi" --root "$store" scan --db "$db" --format json "$ref" >"$tmp/report.json"
python3 - "$tmp/report.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["summary"]
print(f"findings: {s['total']} (" + ", ".join(f"{k}: {s[k]}" for k in ("UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL")) + f"), {len(d['date_scheme_rule'])} kept out by the date-scheme rule")
EOF

# Wall time is what the target is about; CPU time (user + sys) is printed beside it because a
# shared machine's load moves the wall time and hardly the CPU time.
times=()
cpus=()
TIMEFORMAT='%R %U %S'
for _ in $(seq "$runs"); do
  t=$({ time "$gsi" --root "$store" scan --db "$db" --format json "$ref" >/dev/null; } 2>&1)
  read -r wall user sys <<<"$t"
  times+=("$wall")
  cpus+=("$(echo "$user + $sys" | bc -l)")
done
median_of () { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
median=$(printf '%s\n' "${times[@]}" | median_of)
cpu=$(printf '%s\n' "${cpus[@]}" | median_of)
min=$(printf '%s\n' "${times[@]}" | sort -n | head -n 1)
max=$(printf '%s\n' "${times[@]}" | sort -n | tail -n 1)
printf 'gsi scan %s: median %.3f s wall over %d runs (min %.3f, max %.3f; target: under 1 s), median CPU %.3f s; load average %s\n' \
  "$ref" "$median" "$runs" "$min" "$max" "$cpu" "$(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${BENCH_STRICT:-}" = 1 ] && [ "$(echo "$median >= 1" | bc -l)" = 1 ]; then
  echo "scan-bench: the median misses the 1 s target" >&2
  exit 1
fi
