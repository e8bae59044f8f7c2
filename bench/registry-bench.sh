#!/usr/bin/env bash
# Registry benchmark: gsi push/pull against `skopeo copy` (from and to an OCI layout), in one run, with
# a local docker-registry (the CNCF distribution registry) on 127.0.0.1, plain HTTP.
#
#   push  gsi push STORE-image  vs  skopeo copy oci:STORE:TAG docker://...   (a fresh registry with
#         empty storage for every single push)
#   pull  gsi pull into an empty store  vs  skopeo copy docker://... oci:EMPTY-DIR   (one registry
#         holding the image, pushed once by skopeo)
#
# The image: ~1 GiB in many layers (default 18 layers of 64 MiB: 40 MiB /dev/urandom, incompressible,
# and 24 MiB of base64 text, ~25% compressible), built once with `gsi build` FROM scratch + one COPY
# per layer and kept in BENCH_CACHE.  Both tools read the same store and the same registry.
#
# Prints every run, medians and the ratios of medians skopeo/gsi (the target: >= 1.5 both ways).
# A missed target never fails the script; a failed command or a digest that differs does (exit 1).
#
# usage: bench/registry-bench.sh [RUNS]            (default 3; runs alternate which tool goes first)
# Environment:
#   BENCH_BUILD_DIR   gsi build directory (default build-bench; configured as a release build
#                     without sanitizers if missing); GSI=/path/to/gsi uses that binary instead
#   BENCH_CACHE       where the generated image store is kept (default /var/tmp/gsi-bench-cache)
#   BENCH_LAYERS      layers (default 18)   BENCH_LAYER_MIB  MiB per layer (default 64)
#   BENCH_TMP         parent of the scratch directory (default /var/tmp; needs ~4 GiB free)
#   BENCH_PORT        first of the two registry ports (default 5900)
#   BENCH_JOBS        --jobs for gsi push/pull (default: gsi's default)
set -euo pipefail

runs=${1:-3}
case $runs in
  '' | *[!0-9]* | 0) echo "usage: bench/registry-bench.sh [RUNS]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build-bench}
cache=${BENCH_CACHE:-/var/tmp/gsi-bench-cache}
layers=${BENCH_LAYERS:-18}
layer_mib=${BENCH_LAYER_MIB:-64}
port=${BENCH_PORT:-5900}
pull_port=$((port + 1))
registry_bin=${GSI_DOCKER_REGISTRY:-/usr/bin/docker-registry}
jobs=()
[ -z "${BENCH_JOBS:-}" ] || jobs=(--jobs "$BENCH_JOBS")

if [ "$(id -u)" -ne 0 ]; then
  echo "registry-bench: run as root (gsi build needs it)" >&2
  exit 2
fi
for tool in "$registry_bin" skopeo curl jq; do
  if ! command -v "$tool" >/dev/null; then
    echo "registry-bench: \`$tool\` is missing; run scripts/install-deps.sh" >&2
    exit 2
  fi
done

if [ -n "${GSI:-}" ]; then
  gsi=$GSI
else
  # Sanitizers would measure themselves, not gsi: the benchmark wants a release build.
  if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dbuildtype=release -Db_sanitize=none >/dev/null
  fi
  ninja -C "$build" src/cli/gsi >/dev/null
  gsi="$root/$build/src/cli/gsi"
fi
for cmd in push pull; do
  if ! "$gsi" "$cmd" --help >/dev/null 2>&1; then
    echo "registry-bench: this gsi has no \`$cmd\` command ($gsi)" >&2
    exit 2
  fi
done

tmp="${BENCH_TMP:-/var/tmp}/gsi-registry-bench.$$.$(date +%s)"
mkdir -m 700 "$tmp"
reg_pid=
stop_registry ()
{
  if [ -n "$reg_pid" ]; then
    kill "$reg_pid" 2>/dev/null || true
    wait "$reg_pid" 2>/dev/null || true
    reg_pid=
  fi
}
pull_pid=
cleanup ()
{
  stop_registry
  if [ -n "$pull_pid" ]; then
    kill "$pull_pid" 2>/dev/null || true
    wait "$pull_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

port_open () { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$port" "$pull_port"; do
  if port_open "$p"; then
    echo "registry-bench: port 127.0.0.1:$p is taken; set BENCH_PORT" >&2
    exit 2
  fi
done

# Starts docker-registry on port $1 with storage $2 in the background; sets started_pid.
start_registry () # port storage name
{
  cat >"$tmp/$3.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $2
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$1
  secret: gsi-bench
EOF
  "$registry_bin" serve "$tmp/$3.yml" >"$tmp/$3.log" 2>&1 &
  started_pid=$!
  local i
  for i in $(seq 200); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v2/")" = 200 ]; then
      return 0
    fi
    sleep 0.05
  done
  echo "registry-bench: docker-registry did not start on 127.0.0.1:$1:" >&2
  cat "$tmp/$3.log" >&2
  exit 1
}

now () { date +%s.%N; }
elapsed () { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
calc () { awk "BEGIN { printf \"%.4f\", $1 }"; }

# --- the image -------------------------------------------------------------------------------------

store=$cache/registry-bench-${layers}x${layer_mib}m
tag=bench:1
if ! "$gsi" --root "$store" inspect "$tag" >/dev/null 2>&1; then
  echo "== making the image: $layers layers of $layer_mib MiB (kept in $store)"
  rm -rf "$store"
  mkdir -p "$cache"
  ctx=$tmp/ctx
  mkdir -p "$ctx"
  rand_mib=$((layer_mib * 5 / 8))
  text_mib=$((layer_mib - rand_mib))
  {
    echo "FROM scratch"
    for i in $(seq "$layers"); do
      echo "COPY l$i/ /data/l$i/"
    done
  } >"$ctx/Containerfile"
  for i in $(seq "$layers"); do
    mkdir -p "$ctx/l$i"
    head -c $((rand_mib * 1048576)) /dev/urandom >"$ctx/l$i/random.bin"
    head -c $((text_mib * 786432)) /dev/urandom | base64 -w 76 >"$ctx/l$i/text.txt"
  done
  "$gsi" --root "$store" build -q -t "$tag" "$ctx" >/dev/null
  rm -rf "$ctx"
fi
digest=$("$gsi" --root "$store" inspect "$tag" | jq -r .digest)
blob_bytes=$("$gsi" --root "$store" inspect "$tag" | jq '([.manifest.layers[].size] | add) + .manifest.config.size')
nlayers=$("$gsi" --root "$store" inspect "$tag" | jq '.manifest.layers | length')
printf 'image: %s, %d layers, %.2f GiB of compressed blobs\n' "$digest" "$nlayers" \
  "$(calc "$blob_bytes / 1073741824")"

# --- measurements ----------------------------------------------------------------------------------

declare -a push_gsi push_skopeo pull_gsi pull_skopeo

# One push into a registry started on empty storage, stopped and deleted afterwards; sets t.
push_once () # tool
{
  local storage=$tmp/push-storage t0 out
  rm -rf "$storage"
  start_registry "$port" "$storage" push
  reg_pid=$started_pid
  local dest=127.0.0.1:$port/bench/image:1
  # A fresh registry has none of the blobs gsi may remember pushing to this address before.
  rm -f "$store/gsi-private/registry-blobs.json"
  t0=$(now)
  if [ "$1" = gsi ]; then
    out=$("$gsi" --root "$store" push -q --tls-verify=false "${jobs[@]}" "$tag" "$dest")
  else
    skopeo copy -q --dest-tls-verify=false "oci:$store:$tag" "docker://$dest"
    out=$digest
  fi
  t=$(elapsed "$t0")
  local got
  got=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$dest")
  stop_registry
  rm -rf "$storage"
  if [ "$got" != "$digest" ] || [ "$out" != "$digest" ]; then
    echo "registry-bench: $1 push: the registry has $got (printed: $out), want $digest" >&2
    exit 1
  fi
}

pull_once () # tool; sets t
{
  local dir=$tmp/pull-dest t0 got
  rm -rf "$dir"
  local src=127.0.0.1:$pull_port/bench/image:1
  t0=$(now)
  if [ "$1" = gsi ]; then
    got=$("$gsi" --root "$dir" pull -q --tls-verify=false "${jobs[@]}" "$src")
  else
    skopeo copy -q --src-tls-verify=false "docker://$src" "oci:$dir:bench"
    got=$(jq -r '.manifests[0].digest' "$dir/index.json")
  fi
  t=$(elapsed "$t0")
  rm -rf "$dir"
  if [ "$got" != "$digest" ]; then
    echo "registry-bench: $1 pull got $got, want $digest" >&2
    exit 1
  fi
}

echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== push: a fresh registry for every push ($runs runs each)"
for r in $(seq "$runs"); do
  if [ $((r % 2)) = 1 ]; then order=(gsi skopeo); else order=(skopeo gsi); fi
  for tool in "${order[@]}"; do
    push_once "$tool"
    printf '  run %d  %-6s push %8.2f s\n' "$r" "$tool" "$t"
    if [ "$tool" = gsi ]; then push_gsi+=("$t"); else push_skopeo+=("$t"); fi
  done
done

echo "== pull: into an empty store / OCI layout ($runs runs each)"
start_registry "$pull_port" "$tmp/pull-storage" pull
pull_pid=$started_pid
skopeo copy -q --dest-tls-verify=false "oci:$store:$tag" "docker://127.0.0.1:$pull_port/bench/image:1"
for r in $(seq "$runs"); do
  if [ $((r % 2)) = 1 ]; then order=(gsi skopeo); else order=(skopeo gsi); fi
  for tool in "${order[@]}"; do
    pull_once "$tool"
    printf '  run %d  %-6s pull %8.2f s\n' "$r" "$tool" "$t"
    if [ "$tool" = gsi ]; then pull_gsi+=("$t"); else pull_skopeo+=("$t"); fi
  done
done

median () { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-6s %12s %12s %14s %8s\n' what "gsi median" "skopeo median" "skopeo/gsi" target
for what in push pull; do
  g_name=${what}_gsi[@] s_name=${what}_skopeo[@]
  g=$(median "${!g_name}")
  s=$(median "${!s_name}")
  ratio=$(calc "$s / $g")
  verdict=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.5) ? "PASS" : "FAIL" }')
  printf '%-6s %10.2f s %10.2f s %13.2fx %8s\n' "$what" "$g" "$s" "$ratio" "$verdict (>= 1.5x)"
done
