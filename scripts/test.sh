#!/usr/bin/env bash
# The whole test suite: unit tests (cmocka, under ASan/UBSan), system tests (bats, driving the real
# binary), a clang build (it rejects a goto past a cleanup variable) and a short libFuzzer run of every
# parser.  Ends with one line "tests: N passed, N failed".
#   GSI_FUZZ_SECONDS   seconds per fuzz target (default 20; 0 skips fuzzing)
#   --all              afterwards, build the whole catalog for 2025.1 (scripts/catalog-all.sh; about
#                      30 minutes on 2 cores, so not in the default suite)
set -euo pipefail
all=0
for arg in "$@"; do
  case "$arg" in
    --all) all=1 ;;
    *) echo "test.sh: unknown argument \`$arg' (only --all)" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
root=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "test.sh: run as root: the system tests mount overlayfs and create namespaces" >&2
  exit 1
fi
./scripts/install-deps.sh

passed=0
failed=0
count() { passed=$((passed + $1)); failed=$((failed + $2)); }

setup() { # dir, meson args...
  local dir=$1; shift
  if [ -f "$dir/build.ninja" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

echo "== build (gcc, ASan/UBSan)"
setup build-test -Db_sanitize=address,undefined
ninja -C build-test

echo "== build (clang)"
CC=clang setup build-clang -Dwerror=true
ninja -C build-clang

echo "== unit tests"
set +e
meson test -C build-test --print-errorlogs --num-processes 2
set -e
read -r up uf < <(python3 - build-test/meson-logs/testlog.json <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["result"] in ("OK", "EXPECTEDFAIL", "SKIP"): ok += 1
    else: bad += 1
print(ok, bad)
PY
)
count "$up" "$uf"

echo "== registries (tests/registry/start.sh; tests/system/registry.bats uses them)"
# Started before bats and stopped at exit, unless they were already running (someone else's).
export GSI_REG_STATE=${GSI_REG_STATE:-/tmp/gsi-registries}
if ! tests/registry/start.sh status >/dev/null 2>&1; then
  trap 'tests/registry/start.sh stop' EXIT
fi
if tests/registry/start.sh; then
  # shellcheck disable=SC1091 # written by start.sh
  . "$GSI_REG_STATE/env"
else
  count 0 1
fi

echo "== system tests"
tap=$(mktemp)
set +e
GSI="$root/build-test/src/cli/gsi" bats --tap tests/system | tee "$tap"
set -e
count "$(grep -c '^ok ' "$tap")" "$(grep -c '^not ok ' "$tap")"
rm -f "$tap"

secs=${GSI_FUZZ_SECONDS:-20}
if [ "$secs" != 0 ]; then
  echo "== fuzzing (${secs}s per target)"
  if ./scripts/fuzz.sh "$secs"; then count 1 0; else count 0 1; fi
fi

if [ "$all" = 1 ]; then
  echo "== the whole catalog (scripts/catalog-all.sh 2025.1)"
  if ./scripts/catalog-all.sh 2025.1; then count 1 0; else count 0 1; fi
fi

echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
