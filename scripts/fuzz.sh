#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and runs each for SECONDS
# (default 60).  Corpora are seeded in a temporary directory from tests/fuzz/corpus/<target>/, the
# Containerfiles in tests/data and, when present, the BuildKit peer test data (../shared/peer-tests);
# nothing is written back into the tree.  Exits non-zero when any target crashes, leaks, trips a
# sanitizer, times out, or is missing.
#
# Environment: GSI_PEER_TESTS (peer data folder), FUZZ_BUILD_DIR (default build-fuzz),
# FUZZ_TARGETS (space-separated subset), FUZZ_JOBS_TIMEOUT (per-input timeout, default 10 s).
set -euo pipefail

usage ()
{
  echo "usage: scripts/fuzz.sh [SECONDS]   (default 60 per target)" >&2
  exit 2
}

[ $# -le 1 ] || usage
seconds=${1:-60}
case "$seconds" in
  '' | *[!0-9]* | 0) usage ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${FUZZ_BUILD_DIR:-build-fuzz}
peer=${GSI_PEER_TESTS:-$root/../shared/peer-tests}
# Every target of tests/fuzz/meson.build: a target someone wrote is a parser someone must fuzz.
all_targets=$(sed -n "/^fuzz_targets = \[/,/\]/p" tests/fuzz/meson.build | grep -o "'fuzz_[a-z_]*'" | tr -d "'" | tr '\n' ' ')
targets=${FUZZ_TARGETS:-$all_targets}
per_input_timeout=${FUZZ_JOBS_TIMEOUT:-10}

if ! command -v clang >/dev/null; then
  echo "fuzz: clang not found (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

# b_lundef=false: clang's sanitizer runtimes leave symbols for the executable to provide.
# shellcheck disable=SC2054 # the commas are inside one option's value
opts=(-Dfuzzing=true -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debugoptimized)
if [ -f "$build/build.ninja" ]; then
  meson configure "$build" "${opts[@]}" >/dev/null
else
  CC=clang meson setup "$build" "${opts[@]}" >/dev/null
fi
# Only the fuzz targets (and what they link): the rest of the tree is not under test here.
build_targets=()
for t in $targets; do
  [ -f "tests/fuzz/$t.c" ] && build_targets+=("tests/fuzz/$t")
done
[ "${#build_targets[@]}" -eq 0 ] || ninja -C "$build" "${build_targets[@]}" >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gsi-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
artifacts="$root/$build/fuzz-artifacts"
mkdir -p "$artifacts"

# Copies each file given into corpus dir $1 under a unique name (seed names do not matter).
add_seeds ()
{
  local dir=$1 f
  shift
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "$dir/$(printf '%s' "$f" | tr '/' '_')"
  done
}

# Writes each line of stdin as its own seed file $1-N.
add_line_seeds ()
{
  local prefix=$1 n=0 line
  while IFS= read -r line; do
    n=$((n + 1))
    printf '%s' "$line" >"$prefix-$n"
  done
}

seed_corpus ()
{
  local t=$1 dir="$tmp/corpus/$1"
  mkdir -p "$dir"
  add_seeds "$dir" tests/fuzz/corpus/"$t"/*
  case "$t" in
    fuzz_containerfile | fuzz_stages)
      add_seeds "$dir" tests/data/containerfiles/*.Containerfile tests/data/containerfiles-bad/*.Containerfile
      if [ -d "$peer/buildkit/parser" ]; then
        add_seeds "$dir" "$peer"/buildkit/parser/testfiles/*/Dockerfile \
          "$peer"/buildkit/parser/testfiles-negative/*/Dockerfile "$peer"/buildkit/parser/*.Dockerfile
      fi
      ;;
    fuzz_shell)
      if [ -d "$peer/buildkit/shell" ]; then
        # The words of BuildKit's lexer tests: the middle field of envVarTest, the left of wordsTest.
        grep -v '^#' "$peer/buildkit/shell/envVarTest" | awk -F'|' 'NF == 3 { gsub(/^ +| +$/, "", $2); print $2 }' \
          | add_line_seeds "$dir/envVarTest"
        grep -v '^#\|^ENV ' "$peer/buildkit/shell/wordsTest" | awk -F'|' 'NF == 2 { sub(/ +$/, "", $1); print $1 }' \
          | add_line_seeds "$dir/wordsTest"
      fi
      ;;
    fuzz_ignore)
      add_seeds "$dir" .gitignore
      ;;
  esac
  echo "$dir"
}

# Runs one target; its exit status says whether it found anything.
run_target ()
{
  local t=$1 bin="$build/tests/fuzz/$1" corpus log rc=0 summary
  corpus=$(seed_corpus "$t")
  mkdir -p "$artifacts/$t"
  log="$tmp/$t.log"
  echo "fuzz: $t: $(find "$corpus" -type f | wc -l) seeds, ${seconds}s"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
    "$bin" -max_total_time="$seconds" -timeout="$per_input_timeout" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$artifacts/$t/" "$corpus" >"$log" 2>&1 || rc=$?
  # The final status line ("#N DONE cov: ... exec/s: ...") is the throughput summary.
  summary=$(grep -E '^#[0-9]+.*exec/s:' "$log" | tail -n 1 || true)
  echo "fuzz: $t: ${summary:-no status line}"
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|SUMMARY: (Address|Leak|Undefined)' "$log"; then
    echo "fuzz: $t: FAILED (exit $rc); log tail:" >&2
    tail -n 40 "$log" >&2
    find "$artifacts/$t" -type f | sed 's/^/fuzz:   reproducer: /' >&2
    echo failed > "$tmp/$t.result"
    return 1
  fi
  echo ok > "$tmp/$t.result"
}

# One target per core at a time: the targets are independent, and CI has two cores.
jobs=${FUZZ_JOBS:-$(nproc)}
failed=0
missing=0
for t in $targets; do
  if [ ! -x "$build/tests/fuzz/$t" ]; then
    echo "fuzz: $t: not built (is tests/fuzz/$t.c written?)" >&2
    missing=$((missing + 1))
    continue
  fi
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
    wait -n || true
  done
  run_target "$t" &
done
wait
# Each target leaves its verdict in a file: a job that finished unseen still counts.
for t in $targets; do
  [ -x "$build/tests/fuzz/$t" ] || continue
  [ "$(cat "$tmp/$t.result" 2>/dev/null)" = ok ] || failed=$((failed + 1))
done

if [ "$failed" -ne 0 ] || [ "$missing" -ne 0 ]; then
  echo "fuzz: $failed target(s) failed, $missing not built" >&2
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a finding"
