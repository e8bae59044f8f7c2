#!/usr/bin/env bash
# Build benchmark: gsi against buildah on this machine, in one run, from the same debian:trixie base.
#
#   1. cold build of an apt-based Containerfile (fresh store each run, base already in it);
#      network-bound: apt downloads from the Debian archive
#   2. unchanged rebuild (everything cached)
#   3. rebuild after one COPY source changes
#   4. a RUN writing 1 GiB of incompressible data (/dev/urandom) in 20,000 files: total build time,
#      the RUN command's own time (it prints it), and the difference (commit + fixed step overhead);
#      gsi's peak RSS during that build
#
# Prints min and median per tool, the ratio of medians gsi/buildah, and PASS/FAIL against the targets.
# A missed target never fails the script; a failed build does (exit 1).
#
# usage: bench/build-bench.sh [--quick]      (--quick: 1 cold run, 2 rebuilds, 1 big run)
# Environment:
#   BENCH_BUILD_DIR   gsi build directory (default build-bench; configured as a release build
#                     without sanitizers if missing)
#   BENCH_CACHE       where the mmdebstrap rootfs tarball is kept between runs (default
#                     /var/tmp/gsi-bench-cache); delete it to rebuild the base from the archive
#   BENCH_MIRROR      Debian mirror (default http://deb.debian.org/debian)
#   BENCH_COLD_RUNS / BENCH_REBUILD_RUNS / BENCH_BIG_RUNS   run counts (default 3 / 5 / 2)
#   BENCH_TMP         parent of the scratch directory (default /var/tmp; needs ~10 GiB free)
#
# Needs root, buildah, mmdebstrap and /usr/bin/time (scripts/install-deps.sh installs them).
set -euo pipefail

cold_runs=${BENCH_COLD_RUNS:-3}
rebuild_runs=${BENCH_REBUILD_RUNS:-5}
big_runs=${BENCH_BIG_RUNS:-2}
if [ "${1:-}" = "--quick" ]; then
  cold_runs=1 rebuild_runs=2 big_runs=1
  shift
fi
if [ $# -ne 0 ]; then
  echo "usage: bench/build-bench.sh [--quick]" >&2
  exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
cache=${BENCH_CACHE:-/var/tmp/gsi-bench-cache}
mirror=${BENCH_MIRROR:-http://deb.debian.org/debian}
suite=trixie

if [ "$(id -u)" -ne 0 ]; then
  echo "build-bench: run as root (buildah and gsi build need it here)" >&2
  exit 2
fi
for tool in buildah mmdebstrap /usr/bin/time; do
  if ! command -v "$tool" >/dev/null; then
    echo "build-bench: \`$tool\` is missing; run scripts/install-deps.sh" >&2
    exit 2
  fi
done

# Sanitizers would measure themselves, not gsi: the benchmark wants its own release build.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
fi
ninja -C "$build" src/cli/gsi >/dev/null
gsi="$root/$build/src/cli/gsi"

# Lowercase on purpose: buildah names an image pulled from oci:DIR after DIR, and image names must
# be lowercase (mktemp's XXXXXX is not).
tmp="${BENCH_TMP:-/var/tmp}/gsi-build-bench.$$.$(date +%s)"
mkdir -m 700 "$tmp"

# buildah's overlay driver leaves its storage bind-mounted; unmount whatever is under our scratch
# directory (and nothing else) before removing it.
cleanup ()
{
  local m
  findmnt -rno TARGET | awk -v p="$tmp/" 'index($0, p) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

log="$tmp/log"
now_ns () { date +%s%N; }

# Runs "$@" with output to $log; sets $elapsed (seconds).  A failure is a build error: show the
# end of the output and stop.
timed ()
{
  local t0 t1
  t0=$(now_ns)
  if ! "$@" >"$log" 2>&1; then
    echo "build-bench: command failed: $*" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  t1=$(now_ns)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
}

quiet ()
{
  if ! "$@" >"$log" 2>&1; then
    echo "build-bench: command failed: $*" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
}

gsi_in () { local store=$1; shift; "$gsi" --root "$store" "$@"; }
bah () { local dir=$1; shift; buildah --root "$dir/root" --runroot "$dir/run" --storage-driver overlay "$@"; }

gsi_build () { gsi_in "$1" build -t bench/app:latest "${@:2}"; }
bah_build () { bah "$1" build --layers --isolation chroot --pull=never -t bench/app:latest "${@:2}"; }

# ---- the base image, made once -------------------------------------------------------------------

mkdir -p "$cache"
rootfs="$cache/$suite-minbase.tar"
if [ ! -s "$rootfs" ]; then
  echo "making the $suite base with mmdebstrap (once; kept in $cache)..." >&2
  quiet mmdebstrap --variant=minbase "$suite" "$rootfs.tmp" "$mirror"
  mv "$rootfs.tmp" "$rootfs"
fi

# The gsi template store: the rootfs imported, then the Env and Cmd the Docker Hub debian image has
# (gsi import sets none).  That build also unpacks the base layer, as buildah's pull does, so
# neither tool's cold build pays for unpacking the base.
base_gsi="$tmp/gsi-base"
mkdir -p "$tmp/basectx"
printf 'FROM debian:%s-rootfs\nENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nCMD ["bash"]\n' \
  "$suite" >"$tmp/basectx/Containerfile"
quiet gsi_in "$base_gsi" import "$rootfs" "debian:$suite-rootfs"
quiet gsi_in "$base_gsi" build -t "debian:$suite" "$tmp/basectx"
quiet gsi_in "$base_gsi" rmi "debian:$suite-rootfs"

fresh_gsi () { rm -rf "$1"; cp -a "$base_gsi" "$1"; }

# buildah reads the same image straight from gsi's OCI layout.
fresh_bah ()
{
  local id
  rm_bah "$1"
  mkdir -p "$1"
  quiet bah "$1" pull -q "oci:$base_gsi:debian:$suite"
  id=$(bah "$1" images -q | head -n 1)
  quiet bah "$1" tag "$id" "docker.io/library/debian:$suite"
}

rm_bah ()
{
  local m
  [ -d "$1" ] || return 0
  findmnt -rno TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$1"
}

# ---- the build contexts --------------------------------------------------------------------------

app="$tmp/app"
mkdir -p "$app/conf"
cat >"$app/Containerfile" <<EOF
FROM debian:$suite
RUN apt-get update && apt-get install -y --no-install-recommends jq curl ca-certificates \\
 && rm -rf /var/lib/apt/lists/*
COPY app.sh /usr/local/bin/app
COPY conf/ /etc/app/
ENTRYPOINT ["/usr/local/bin/app"]
EOF
# shellcheck disable=SC2016 # $v and $(cat ...) are for the image's shell, not this one
printf '#!/bin/sh\nexec jq -n --arg v "$(cat /etc/app/version)" '"'"'{version: $v}'"'"'\n' >"$app/app.sh"
chmod 755 "$app/app.sh"
echo 1 >"$app/conf/version"
printf 'listen = 0.0.0.0:8080\nworkers = 4\n' >"$app/conf/app.conf"
head -c 200000 /dev/urandom | base64 >"$app/conf/data.txt"

# 100 directories x 200 files of 53,688 bytes (the last one of each 53,506): 1,073,741,800 bytes in
# 20,000 files, from /dev/urandom, so compression cannot shrink it.  The RUN prints its own time.
big="$tmp/big"
mkdir -p "$big"
cat >"$big/Containerfile" <<EOF
FROM debian:$suite
RUN s=\$(date +%s%N); mkdir /data; \\
    for d in \$(seq 0 99); do mkdir /data/\$d; head -c 10737418 /dev/urandom | split -b 53688 -a 3 -d - /data/\$d/f; done; \\
    e=\$(date +%s%N); echo "bench-run-ms=\$(( (e - s) / 1000000 ))"
EOF

# ---- statistics ----------------------------------------------------------------------------------

declare -A res

# Keeps a figure and shows it on stderr as it comes.
add () { res[$1]="${res[$1]:-} $2"; echo "  $1 $2" >&2; }
stat_of () # KEY min|median
{
  echo "${res[$1]:-}" | tr ' ' '\n' | sort -g | awk -v w="$2" '
    NF { v[++n] = $1 }
    END {
      if (n == 0) { print "-"; exit }
      if (w == "min") { printf "%.3f", v[1]; exit }
      if (n % 2) printf "%.3f", v[(n + 1) / 2]; else printf "%.3f", (v[n / 2] + v[n / 2 + 1]) / 2
    }'
}

load () { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(load)
echo "load average at start: $load_start" >&2

# ---- 1. cold build -------------------------------------------------------------------------------

for i in $(seq "$cold_runs"); do
  echo "cold build $i/$cold_runs..." >&2
  fresh_gsi "$tmp/g-cold"
  timed gsi_build "$tmp/g-cold" "$app"
  add cold.gsi "$elapsed"
  fresh_bah "$tmp/b-cold"
  timed bah_build "$tmp/b-cold" "$app"
  add cold.bah "$elapsed"
done

# ---- 2. unchanged rebuild, 3. rebuild after a COPY source changes --------------------------------
# On the stores the last cold build left, so the apt step is cached for both.

for i in $(seq "$rebuild_runs"); do
  echo "unchanged rebuild $i/$rebuild_runs..." >&2
  timed gsi_build "$tmp/g-cold" "$app"
  add rebuild.gsi "$elapsed"
  timed bah_build "$tmp/b-cold" "$app"
  add rebuild.bah "$elapsed"
done

for i in $(seq "$rebuild_runs"); do
  echo "rebuild after a COPY change $i/$rebuild_runs..." >&2
  echo "$i.$RANDOM" >"$app/conf/version"
  timed gsi_build "$tmp/g-cold" "$app"
  add copy.gsi "$elapsed"
  timed bah_build "$tmp/b-cold" "$app"
  add copy.bah "$elapsed"
done
rm -rf "$tmp/g-cold"
rm_bah "$tmp/b-cold"

# ---- 4. 1 GiB RUN --------------------------------------------------------------------------------

run_secs () # the RUN's own time from the build log
{
  local ms
  ms=$(grep -o 'bench-run-ms=[0-9]*' "$log" | tail -n 1 | cut -d= -f2)
  if [ -z "$ms" ]; then
    echo "build-bench: the RUN did not print its time" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }'
}

# gsi under /usr/bin/time -v (peak RSS of gsi and, as wait4 reports it, the largest of the
# processes it waited for: the sandbox and the RUN's commands), while sampling the gsi process's own
# VmHWM.  Sets $elapsed, $rss_time_kb, $rss_main_kb.
gsi_big ()
{
  local store=$1 comp=$2 t0 t1 tpid gpid=
  t0=$(now_ns)
  /usr/bin/time -v -o "$tmp/time.out" "$gsi" --root "$store" build --no-cache --compression "$comp" \
    -t bench/big:latest "$big" >"$log" 2>&1 &
  tpid=$!
  rss_main_kb=0
  while kill -0 "$tpid" 2>/dev/null; do
    [ -n "$gpid" ] || gpid=$(ps -o pid= --ppid "$tpid" | tr -d ' ' | head -n 1 || true)
    if [ -n "$gpid" ]; then
      local hwm
      hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$gpid/status" 2>/dev/null || true)
      [ -z "$hwm" ] || rss_main_kb=$hwm
    fi
    sleep 0.1
  done
  if ! wait "$tpid"; then
    echo "build-bench: gsi build of the 1 GiB RUN failed" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
  t1=$(now_ns)
  elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
  rss_time_kb=$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$tmp/time.out")
}

sub () { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

for i in $(seq "$big_runs"); do
  echo "1 GiB RUN $i/$big_runs (gsi gzip)..." >&2
  fresh_gsi "$tmp/g-big"
  gsi_big "$tmp/g-big" gzip
  r=$(run_secs)
  add big.total.gsi "$elapsed"
  add big.run.gsi "$r"
  add big.commit.gsi "$(sub "$elapsed" "$r")"
  add big.rss_time.gsi "$(awk -v k="$rss_time_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
  add big.rss_main.gsi "$(awk -v k="$rss_main_kb" 'BEGIN { printf "%.1f", k / 1024 }')"

  echo "1 GiB RUN $i/$big_runs (gsi zstd)..." >&2
  fresh_gsi "$tmp/g-big"
  gsi_big "$tmp/g-big" zstd
  r=$(run_secs)
  add big.total.gsiz "$elapsed"
  add big.commit.gsiz "$(sub "$elapsed" "$r")"
  add big.rss_time.gsiz "$(awk -v k="$rss_time_kb" 'BEGIN { printf "%.1f", k / 1024 }')"
  rm -rf "$tmp/g-big"

  echo "1 GiB RUN $i/$big_runs (buildah)..." >&2
  fresh_bah "$tmp/b-big"
  timed bah_build "$tmp/b-big" --no-cache "$big"
  r=$(run_secs)
  add big.total.bah "$elapsed"
  add big.run.bah "$r"
  commit=$(sub "$elapsed" "$r")
  add big.commit.bah "$commit"
  # buildah keeps layers uncompressed in its storage; the push to an OCI layout is where they are
  # gzip-compressed, so commit + push is its "compressed, ready to push" time.
  timed bah "$tmp/b-big" push -q localhost/bench/app:latest "oci:$tmp/b-big/oci:bench"
  add big.push.bah "$elapsed"
  add big.ready.bah "$(awk -v a="$commit" -v b="$elapsed" 'BEGIN { printf "%.3f", a + b }')"
  rm_bah "$tmp/b-big"
done
# gsi's layers are compressed when the build ends: its push-ready time is its commit time.
res[big.ready.gsi]=${res[big.commit.gsi]}

load_end=$(load)

# ---- the table -----------------------------------------------------------------------------------

ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.3f", a / b }'; }
verdict () # RATIO OP LIMIT -> PASS/FAIL
{
  awk -v r="$1" -v op="$2" -v l="$3" 'BEGIN {
    if (r == "-") { print "-"; exit }
    ok = (op == "<=") ? (r + 0 <= l + 0) : (r + 0 < l + 0)
    print ok ? "PASS" : "FAIL" }'
}

row () # LABEL KEY_GSI KEY_BAH TARGET_TEXT OP LIMIT
{
  local gmin gmed bmin bmed r v=""
  gmin=$(stat_of "$2" min) gmed=$(stat_of "$2" median)
  bmin=$(stat_of "$3" min) bmed=$(stat_of "$3" median)
  r=$(ratio "$gmed" "$bmed")
  [ -z "$5" ] || v=$(verdict "$r" "$5" "$6")
  printf '| %-44s | %8s | %8s | %8s | %8s | %7s | %-17s %4s |\n' "$1" "$gmin" "$gmed" "$bmin" "$bmed" "$r" "$4" "$v"
}

n () { echo "${res[$1]:-}" | wc -w; }

echo
echo "$("$gsi" --version 2>/dev/null | head -n 1) ($build, release) vs $(buildah --version)"
echo "buildah: build --layers --isolation chroot --storage-driver overlay, own --root/--runroot"
echo "$(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); load average start: $load_start, end: $load_end"
echo "times in seconds (min / median of N runs); ratio = gsi median / buildah median"
echo
printf '| %-44s | %8s | %8s | %8s | %8s | %7s | %-22s |\n' measurement "gsi min" "gsi med" "bah min" "bah med" ratio target
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "----------" "----------" "----------" "----------" "---------" "------------------------"
row "1. cold apt build (network-bound), N=$(n cold.gsi)" cold.gsi cold.bah "ratio <= 1" "<=" 1
row "2. unchanged rebuild, N=$(n rebuild.gsi)" rebuild.gsi rebuild.bah "ratio <= 0.2 (5x)" "<=" 0.2
row "3. rebuild after a COPY change, N=$(n copy.gsi)" copy.gsi copy.bah "-" "" ""
row "4. 1 GiB/20k files RUN: total, N=$(n big.total.gsi)" big.total.gsi big.total.bah "-" "" ""
row "   RUN command alone" big.run.gsi big.run.bah "-" "" ""
row "   commit, push-ready (gzip; bah: +push)" big.ready.gsi big.ready.bah "ratio <= 0.2 (5x)" "<=" 0.2
row "   commit only (bah: uncompressed storage)" big.commit.gsi big.commit.bah "(info) <= 0.2" "<=" 0.2
row "   bah push to oci layout (gzip)" none big.push.bah "-" "" ""
row "   gsi --compression zstd: total" big.total.gsiz big.total.bah "-" "" ""
row "   gsi --compression zstd: commit" big.commit.gsiz big.commit.bah "-" "" ""
echo
rss_med=$(stat_of big.rss_time.gsi median)
printf '| %-44s | %8s | %8s | %-21s |\n' "gsi peak RSS, MB (1 GiB build, gzip)" "min" "median" target
printf '|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" "----------" "----------" "-----------------------"
printf '| %-44s | %8s | %8s | %-16s %4s |\n' "/usr/bin/time -v (gsi + its largest child)" \
  "$(stat_of big.rss_time.gsi min)" "$rss_med" "< 100 MB" "$(verdict "$rss_med" "<" 100)"
printf '| %-44s | %8s | %8s | %-21s |\n' "VmHWM of the gsi process itself" \
  "$(stat_of big.rss_main.gsi min)" "$(stat_of big.rss_main.gsi median)" "-"
printf '| %-44s | %8s | %8s | %-21s |\n' "/usr/bin/time -v, --compression zstd" \
  "$(stat_of big.rss_time.gsiz min)" "$(stat_of big.rss_time.gsiz median)" "-"
echo
echo "1 GiB data: /dev/urandom (incompressible) via head | split.  commit = total build time minus the"
echo "RUN's own time (it prints date +%s%N deltas), so it also holds the step's fixed overhead."
