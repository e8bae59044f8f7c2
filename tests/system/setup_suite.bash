# Run-wide setup of the system tests: bats (1.8+) runs setup_suite once before every file of a run.
#
# When GSI_TEST_BOOTSTRAP=1 or CI=true, and as root, it bootstraps debian:trixie from
# deb.debian.org ONCE into a store every file may read, and exports:
#   GSI_TRIXIE_STORE   that store (an OCI layout with the tag debian:trixie)
#   GSI_TRIXIE_OUT     the bootstrap's stdout (the manifest digest) and
#   GSI_TRIXIE_ERR     its stderr (mmdebstrap's progress), kept for the tests that check them
#   GSI_TRIXIE_STATUS  its exit status
# A failed bootstrap does not stop the run: the tests that need the image fail and show its output.
# Tests that build on the image copy the store first (tests/system/trixie.bash).
# shellcheck disable=SC2155 # the exports are of plain values

setup_suite ()
{
  if [ "${GSI_TEST_BOOTSTRAP:-}" != 1 ] && [ "${CI:-}" != true ]; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    return 0
  fi
  local here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  local gsi=${GSI:-$here/../../build/src/cli/gsi}
  export GSI_TRIXIE_STORE=$BATS_RUN_TMPDIR/trixie-store
  export GSI_TRIXIE_OUT=$BATS_RUN_TMPDIR/trixie-bootstrap.out
  export GSI_TRIXIE_ERR=$BATS_RUN_TMPDIR/trixie-bootstrap.err
  # The fixed epoch makes the image's created time and file mtimes checkable (images.bats).
  # bats runs this under set -e: the status is caught, not fatal.
  local status=0
  "$gsi" --root "$GSI_TRIXIE_STORE" bootstrap debian trixie --variant minbase --source-date-epoch 1700000000 \
    -t debian:trixie >"$GSI_TRIXIE_OUT" 2>"$GSI_TRIXIE_ERR" || status=$?
  export GSI_TRIXIE_STATUS=$status
}
