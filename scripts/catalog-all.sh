#!/usr/bin/env bash
# The long run, kept out of the default suite: builds the WHOLE catalog for one release with
# `gsi catalog build --all --keep-going --jobs 2`, writes its JSON report, and prints a Markdown table
# (image, status, size, build time) and the totals the README records.  Fails when any image failed.
#   scripts/catalog-all.sh [RELEASE]      (default 2025.1)
#   GSI_ROOT     the image store (default /var/lib/gsi); bases are bootstrapped when missing
#   GSI          the gsi binary (default: build it with scripts/build.sh)
#   REPORT       the report file (default build/catalog-all-RELEASE.json)
# scripts/test.sh --all runs it after the default suite.
set -euo pipefail
cd "$(dirname "$0")/.."
release=${1:-2025.1}
gsi=${GSI:-$(./scripts/build.sh)}
report=${REPORT:-build/catalog-all-$release.json}
mkdir -p "$(dirname "$report")"

start=$(date +%s)
status=0
"$gsi" catalog build --all --release "$release" --jobs 2 --keep-going --report "$report" || status=$?
wall=$(($(date +%s) - start))

python3 - "$report" "$wall" "$(nproc)" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
wall, cores = int(sys.argv[2]), sys.argv[3]
counts = {}
print("| image | status | size | build time |")
print("|---|---|---|---|")
for im in rep["images"]:
    st = im["status"]
    counts[st] = counts.get(st, 0) + 1
    size = "%.1f MB" % (im["size"] / 1e6) if im.get("size") else "-"
    dur = "%.0f s" % im["duration"] if im.get("duration") else "-"
    note = " (%s)" % im["reason"] if st in ("not available", "failed", "skipped") and im.get("reason") else ""
    print("| %s | %s%s | %s | %s |" % (im["name"], st, note, size, dur))
print()
print("release %s: %d images in %dm%02ds wall on %s cores: %s" % (
    rep["release"], len(rep["images"]), wall // 60, wall % 60, cores,
    ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))))
PY
exit "$status"
