# The debian:trixie base image that setup_suite.bash bootstraps once per run, for the tests that
# need a real distribution.  Load after helpers.
# shellcheck disable=SC2154 # status/output come from bats

# Skips the calling test when the run did not bootstrap (it downloads from deb.debian.org), and
# fails it when the bootstrap was attempted but failed, showing the bootstrap's output.
require_trixie ()
{
  if [ -z "${GSI_TRIXIE_STORE:-}" ]; then
    if [ "$(id -u)" -ne 0 ]; then
      skip "needs root (overlayfs and namespaces)"
    fi
    note "debian:trixie tests NOT RUN: set GSI_TEST_BOOTSTRAP=1 (CI=true runs them too)"
    skip "downloads from deb.debian.org; set GSI_TEST_BOOTSTRAP=1"
  fi
  if [ "${GSI_TRIXIE_STATUS:-1}" -ne 0 ]; then
    echo "the suite's bootstrap of debian:trixie failed with exit status ${GSI_TRIXIE_STATUS:-unknown}" >&2
    tail -n 20 "$GSI_TRIXIE_ERR" >&2
    return 1
  fi
}

# Copies the bootstrapped store to $1, so a test's builds and tags never touch the shared one.
copy_trixie_store ()
{
  mkdir -p "$(dirname "$1")"
  cp -a "$GSI_TRIXIE_STORE" "$1"
}
