#!/usr/bin/env bash
# Parser benchmark: generates a realistic 2,000-line Containerfile (several Genestack-style stages,
# long continued RUN lines, ENV blocks, COPYs, heredocs) in a temporary directory, then prints the
# median in-process time of a parse and of parse + semantic pass (bench_parse), and the median time
# of the whole `gsi containerfile check` command.
#
# usage: bench/parse.sh [RUNS]     (in-process runs, default 200; command runs are RUNS/10, min 10)
# Environment: BENCH_BUILD_DIR (default build-bench, configured as a release build without sanitizers
# if missing), BENCH_STRICT=1 to exit 1 when the parse misses its 5 ms target.
set -euo pipefail

runs=${1:-200}
case "$runs" in
  '' | *[!0-9]* | 0)
    echo "usage: bench/parse.sh [RUNS]" >&2
    exit 2
    ;;
esac
cmd_runs=$((runs / 10 < 10 ? 10 : runs / 10))
lines=2000

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}

# Sanitizers would measure themselves, not the parser: the benchmark wants its own release build.
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
fi
ninja -C "$build" src/cli/gsi >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsi-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

bench_bin="$build/bench/bench_parse"
if ! ninja -C "$build" bench/bench_parse >/dev/null 2>&1; then
  # Until the top-level meson.build does subdir('bench'), compile bench_parse here from the parser
  # and semantic-pass sources it needs, with the same optimisation as the release build.
  echo "note: no bench/bench_parse target (no subdir('bench') yet); compiling it directly" >&2
  bench_bin="$tmp/bench_parse"
  # shellcheck disable=SC2046 # pkg-config prints several flags
  cc -std=c17 -O2 -D_GNU_SOURCE -Isrc -o "$bench_bin" bench/bench_parse.c src/util/*.c src/containerfile/*.c \
    -Wl,--as-needed $(pkg-config --cflags --libs jansson libarchive libcrypto zlib libzstd) -lpthread
fi

file="$tmp/Containerfile"
gsi="$build/src/cli/gsi"

# One service's two stages in the Genestack shape, about 230 lines; $1 is the service number.
gen_service ()
{
  local n=$1 i
  echo "FROM ghcr.io/rackerlabs/genestack-images/openstack-venv:\${VENV_TAG} AS build_$n"
  echo "ARG CACHEBUST=0"
  echo "ARG OS_VERSION=master"
  echo "ARG OS_CONSTRAINTS=master"
  echo "ENV PIP_NO_CACHE_DIR=1 \\"
  echo "    PIP_DISABLE_PIP_VERSION_CHECK=1 \\"
  echo "    PIP_DEFAULT_TIMEOUT=100 \\"
  echo "    PYTHONUNBUFFERED=1"
  echo "RUN export DEBIAN_FRONTEND=noninteractive \\"
  echo "    && apt-get update && apt-get upgrade -y \\"
  echo "    && apt-get install -y --no-install-recommends \\"
  for i in $(seq 1 60); do
    echo "        build-package-$n-$i \\"
  done
  echo "    && apt-get clean \\"
  echo "    && rm -rf /var/lib/apt/lists/*"
  echo "RUN /var/lib/openstack/bin/pip install \\"
  echo "        --constraint https://opendev.org/openstack/requirements/raw/branch/\${OS_CONSTRAINTS}/upper-constraints.txt \\"
  echo "        git+https://opendev.org/openstack/service$n.git@\${OS_VERSION}#egg=service$n \\"
  for i in $(seq 1 50); do
    echo "        python-module-$n-$i>=1.$i \\"
  done
  echo "        uwsgi"
  echo "COPY scripts/service$n-cve-patching.sh /opt/"
  echo "RUN <<EOF"
  echo "set -ex"
  echo "bash /opt/service$n-cve-patching.sh"
  for i in $(seq 1 10); do
    echo "find / -name '*.pyc-$i' -delete"
  done
  echo "EOF"
  echo ""
  echo "FROM python:3.12-slim-bookworm AS runtime_$n"
  echo "LABEL maintainer=\"Rackspace\" \\"
  echo "      vendor=\"Rackspace OpenStack Team\" \\"
  echo "      org.opencontainers.image.name=\"service$n\" \\"
  echo "      org.opencontainers.image.description=\"OpenStack Service (service$n) built for the enterprise.\""
  echo "COPY --from=build_$n /var/lib/openstack /var/lib/openstack"
  for i in $(seq 1 20); do
    echo "COPY --chown=42424:42424 etc/service$n/file-$i.conf /var/lib/openstack/etc/service$n/file-$i.conf"
  done
  echo "RUN apt-get update && apt-get upgrade -y \\"
  echo "    && apt-get install -y --no-install-recommends \\"
  for i in $(seq 1 40); do
    echo "        runtime-package-$n-$i \\"
  done
  echo "    && apt-get purge -y --auto-remove -o APT::AutoRemove::RecommendsImportant=false \\"
  echo "    && rm -rf /var/lib/apt/lists/*"
  # Each ENV reads the previous one's variable (one ENV cannot see what it sets itself).
  echo "ENV SERVICE${n}_SETTING_0=/var/lib/service$n"
  for i in $(seq 1 14); do
    echo "ENV SERVICE${n}_SETTING_$i=\"value $i\" SERVICE${n}_PATH_$i=\${SERVICE${n}_SETTING_$((i - 1))}/$i"
  done
  echo "RUN groupadd --system --gid 42424 service$n \\"
  echo "    && useradd --system --shell /sbin/nologin --gid 42424 --uid 42424 --home-dir /var/lib/service$n service$n"
  echo "ENV PATH=/var/lib/openstack/bin:\$PATH"
  echo "WORKDIR /var/lib/openstack"
  echo "USER 42424:42424"
  echo "ENTRYPOINT [\"/var/lib/openstack/bin/service$n-manage\"]"
  echo ""
}

{
  echo "# syntax=docker/dockerfile:1.4.0"
  echo "ARG VENV_TAG=3.12-latest"
  n=0
  while :; do
    n=$((n + 1))
    gen_service "$n" >"$tmp/stage"
    have=$(wc -l <"$tmp/stage")
    [ $((2 + (n - 1) * have + have)) -le "$lines" ] || break
    cat "$tmp/stage"
  done
} >"$file"
# Top up to exactly $lines with LABEL lines in the last stage.
have=$(wc -l <"$file")
for i in $(seq 1 $((lines - have))); do
  echo "LABEL bench.pad.$i=\"$i\""
done >>"$file"
echo "generated $(wc -l <"$file") lines, $(grep -c '^FROM' "$file") stages: $file" >&2

"$gsi" containerfile check "$file" >/dev/null 2>"$tmp/check.err" || {
  cat "$tmp/check.err" >&2
  exit 1
}
if [ -s "$tmp/check.err" ]; then
  echo "note: the generated file draws $(wc -l <"$tmp/check.err") warnings (the benchmark expects none):" >&2
  head -n 5 "$tmp/check.err" >&2
fi
"$bench_bin" "$file" "$runs" | tee "$tmp/out"

# The whole command: process start, read, parse, plan, print.
times=()
for _ in $(seq 1 "$cmd_runs"); do
  t0=$(date +%s%N)
  "$gsi" containerfile check "$file" >/dev/null 2>"$tmp/check.err" || {
    cat "$tmp/check.err" >&2
    exit 1
  }
  t1=$(date +%s%N)
  times+=($(((t1 - t0) / 1000)))
done
median_us=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
awk -v us="$median_us" -v n="$cmd_runs" 'BEGIN { printf "gsi containerfile check (whole command): %.3f ms (median of %d)\n", us / 1000, n }'

parse_ms=$(sed -n 's/^parse [0-9]* lines: \([0-9.]*\) ms.*/\1/p' "$tmp/out")
if awk -v ms="$parse_ms" 'BEGIN { exit !(ms >= 5) }'; then
  echo "parse is OVER its 5 ms target" >&2
  [ "${BENCH_STRICT:-0}" != 1 ] || exit 1
fi
