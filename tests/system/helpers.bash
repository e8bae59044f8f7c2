# Shared setup for the gsi system tests (bats).  Sourced by every tests/system/*.bats file.
#
# Environment:
#   GSI                     the gsi binary to drive (default: build/src/cli/gsi under the source root)
#   GSI_PEER_TESTS          peer test data folder (default: ../shared/peer-tests beside the source root)
#   GSI_REQUIRE_PEER_TESTS  when 1, missing peer data is a failure instead of a skip (CI sets it)
# shellcheck disable=SC2034,SC2154 # DATA/BAD are used by the .bats files; status/output come from bats

bats_require_minimum_version 1.5.0

SRC_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
GSI=${GSI:-$BATS_TEST_DIRNAME/../../build/src/cli/gsi}
PEER_DIR=${GSI_PEER_TESTS:-$SRC_ROOT/../shared/peer-tests}
# Test data paths are given relative to the source root, so the paths inside messages are stable.
DATA=tests/data/containerfiles
BAD=tests/data/containerfiles-bad

# Sanitizer builds: a report must fail the command, never pass silently.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

common_setup ()
{
  cd "$SRC_ROOT" || return 1
  if [ ! -x "$GSI" ]; then
    echo "gsi binary not found at '$GSI' (build it, or set GSI=/path/to/gsi)" >&2
    return 1
  fi
}

# Skips the calling test when the peer test data is missing, after saying that the peer cases are not
# run; with GSI_REQUIRE_PEER_TESTS=1 the test fails instead, so CI can never pass without them.
require_peer ()
{
  if [ -d "$PEER_DIR/buildkit" ]; then
    return 0
  fi
  if [ "${GSI_REQUIRE_PEER_TESTS:-}" = 1 ]; then
    echo "peer test data not present at '$PEER_DIR' but GSI_REQUIRE_PEER_TESTS=1" >&2
    return 1
  fi
  echo "# peer tests are NOT RUN: no peer test data at '$PEER_DIR'" >&3
  skip "peer test data not present"
}

# Skips the calling test when a tool it drives is missing, which only happens outside the full
# suite: scripts/install-deps.sh installs every one.  Under GSI_REQUIRE_PEER_TESTS=1 (CI) a missing
# tool fails the test instead, so CI never passes without running it.  Arguments: commands on PATH,
# or absolute paths of executables.
require_tools ()
{
  local t missing=
  for t in "$@"; do
    if [ "${t#/}" != "$t" ]; then
      [ -x "$t" ] || missing="$missing $t"
    else
      command -v "$t" > /dev/null || missing="$missing $t"
    fi
  done
  [ -n "$missing" ] || return 0
  if [ "${GSI_REQUIRE_PEER_TESTS:-}" = 1 ]; then
    echo "not installed:$missing (scripts/install-deps.sh installs it) but GSI_REQUIRE_PEER_TESTS=1" >&2
    return 1
  fi
  skip "not installed:$missing (scripts/install-deps.sh)"
}

# Prints a note into the TAP stream (visible in every bats formatter).
note ()
{
  echo "# $*" >&3
}

# Asserts the last `run`'s exit status.
assert_status ()
{
  if [ "$status" -ne "$1" ]; then
    echo "expected exit status $1, got $status" >&2
    echo "stdout: $output" >&2
    [ -z "${stderr+x}" ] || echo "stderr: $stderr" >&2
    return 1
  fi
}

# Asserts that the whole of $2 equals $1, showing both on failure.
assert_equal ()
{
  if [ "$1" != "$2" ]; then
    printf 'expected: %s\n' "$1" >&2
    printf 'actual:   %s\n' "$2" >&2
    return 1
  fi
}

# Asserts that $2 contains $1.
assert_contains ()
{
  case "$2" in
    *"$1"*) return 0 ;;
  esac
  printf 'expected to contain: %s\nactual: %s\n' "$1" "$2" >&2
  return 1
}

# The lines of $1 that are gsi error lines ("gsi: ..."), as opposed to warnings ("FILE:LINE:COL: warning: ...").
error_lines ()
{
  printf '%s\n' "$1" | grep '^gsi: ' || true
}

# Copies the host's commands $2... (the ones that exist) with their shared libraries into the
# rootfs folder $1 under /bin, so an image made FROM scratch with it can run them.
copy_host_commands ()
{
  local r=$1 b p l
  shift
  mkdir -p "$r/bin"
  for b in "$@"; do
    p=$(command -v "$b") || continue
    cp -L "$p" "$r/bin/"
    for l in $(ldd "$p" | grep -o '/[^ ]*'); do
      mkdir -p "$r$(dirname "$l")"
      cp -Ln "$l" "$r$l"
    done
  done
}

# The build context of `gsi-test-base:1`, the base of the test catalog (tests/data/catalog): the
# host's sh and cat FROM scratch, so the catalog's RUNs and smoke tests have a shell.  $1: the folder.
make_test_base_context ()
{
  mkdir -p "$1/rootfs/etc" "$1/rootfs/tmp"
  copy_host_commands "$1/rootfs" sh cat
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$1/rootfs/etc/passwd"
  printf 'FROM scratch\nCOPY rootfs/ /\n' > "$1/Containerfile"
}

# Prints, as JSON, field $3 of image $2 in the catalog build report $1 (null when absent).
report_get ()
{
  python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    if i["name"] == sys.argv[2]: print(json.dumps(i.get(sys.argv[3])))' "$1" "$2" "$3"
}

# The PyPA advisory snapshot of ../shared/vulndata (peer data: skipped, or failed under
# GSI_REQUIRE_PEER_TESTS=1, when it is not there).
SNAPSHOT=$SRC_ROOT/../shared/vulndata/pypa-advisory-database
require_pypa_snapshot ()
{
  [ -d "$SNAPSHOT/vulns" ] && return 0
  require_peer
  [ -d "$SNAPSHOT/vulns" ] || { echo "the PyPA snapshot is not at $SNAPSHOT" >&2; return 1; }
}

# Fails the calling test, showing the end of the log, when the image its setup_file built (status
# in $BATS_FILE_TMPDIR/build.status, output in build.out) did not build.
require_file_build ()
{
  [ "$(cat "$BATS_FILE_TMPDIR/build.status")" -eq 0 ] && return 0
  tail -n 30 "$BATS_FILE_TMPDIR/build.out" >&2
  return 1
}
