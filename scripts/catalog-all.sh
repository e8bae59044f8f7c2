#!/usr/bin/env bash
# The long run, kept out of the default suite: builds the WHOLE catalog for one release with
# `gsi catalog build --all --keep-going --jobs 2`, writes its JSON report, checks that no final image
# carries a compiler or a -dev package, and prints a Markdown table (image, status, size, build
# time) and the totals the README records.  Fails when any image failed or carries build tools.
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
load0=$(cut -d' ' -f1-3 /proc/loadavg)
status=0
"$gsi" catalog build --all --release "$release" --jobs 2 --keep-going --report "$report" || status=$?
wall=$(($(date +%s) - start))
load1=$(cut -d' ' -f1-3 /proc/loadavg)

# Build tools in final images: compilers and -dev packages have no place at run time, unless a
# package the service needs depends on them (Debian's python3-numpy depends on python3-numpy-dev,
# ceilometer-common on dpkg-dev): those are apt's automatically installed packages and are listed
# with a `*`.  A tool an image asked for itself (apt's manual mark) fails the run.
tools=$(mktemp)
trap 'rm -f "$tools"' EXIT
python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    if i["status"] in ("built", "unchanged"): print(i["name"], i["tags"][0])' "$report" |
  while read -r name ref; do
    # shellcheck disable=SC2016 # the $-fields are dpkg-query's and awk's
    found=$("$gsi" run --network none --user root --entrypoint= "$ref" sh -c '
        manual=$(apt-mark showmanual | tr "\n" " ")
        dpkg-query -W -f "\${db:Status-Abbrev} \${Package}\n" |
          awk -v manual=" $manual" '"'"'$1 == "ii" && ($2 ~ /-dev$/ || $2 ~ /^(gcc|g\+\+|cpp|clang|build-essential|make)(-[0-9.]+)?$/) {
              print (index(manual, " " $2 " ") ? $2 : $2 "*") }'"'"'' 2>/dev/null | tr '\n' ' ')
    echo "$name ${found:-}" >> "$tools"
  done

py=0
python3 - "$report" "$wall" "$(nproc)" "$tools" "$load0" "$load1" <<'PY' || py=$?
import json, sys
rep = json.load(open(sys.argv[1]))
wall, cores, load0, load1 = int(sys.argv[2]), sys.argv[3], sys.argv[5], sys.argv[6]
tools = {}
for line in open(sys.argv[4]):
    name, _, found = line.strip().partition(" ")
    tools[name] = found.split()
counts = {}
bad_tools = []
print("| image | status | size | build time | build tools (* = a dependency of the service's packages) |")
print("|---|---|---|---|---|")
for im in rep["images"]:
    st = im["status"]
    counts[st] = counts.get(st, 0) + 1
    size = "%.1f MB" % (im["size"] / 1e6) if im.get("size") else "-"
    dur = "%.0f s" % im["duration"] if im.get("duration") else "-"
    note = " (%s)" % im["reason"] if st in ("not available", "failed", "skipped") and im.get("reason") else ""
    t = tools.get(im["name"])
    if t and any(not x.endswith("*") for x in t):
        bad_tools.append(im["name"])
    print("| %s | %s%s | %s | %s | %s |" % (im["name"], st, note, size, dur,
                                           "-" if t is None else (", ".join(t) if t else "none")))
print()
print("release %s: %d images in %dm%02ds wall on %s cores (load average %s at start, %s at end): %s" % (
    rep["release"], len(rep["images"]), wall // 60, wall % 60, cores, load0, load1,
    ", ".join("%d %s" % (n, s) for s, n in sorted(counts.items()))))
if bad_tools:
    print("build tools in final images: " + ", ".join(bad_tools))
    sys.exit(1)
PY
[ "$status" -eq 0 ] || exit "$status"
exit "$py"
