#!/usr/bin/env bats
# gsi catalog build and Debian package updates: an image whose packages the archive has newer
# versions of is built without the step cache.  The archive is a fake one the test serves on
# 127.0.0.1 (a Release file and a Packages.xz), and the image's apt sources point only at it, so the
# check reaches nothing else.  Needs the suite's debian:trixie (tests/system/trixie.bash).
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

setup_file ()
{
  [ -n "${GSI_TRIXIE_STORE:-}" ] && [ "${GSI_TRIXIE_STATUS:-1}" -eq 0 ] || return 0
  export ARCH_DIR=$BATS_FILE_TMPDIR/archive
  mkdir -p "$ARCH_DIR/debian/dists/fake/main/binary-amd64"
  python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$ARCH_DIR" > "$BATS_FILE_TMPDIR/http.out" 2>&1 &
  echo $! > "$BATS_FILE_TMPDIR/http.pid"
  local i
  for i in $(seq 50); do
    grep -q 'port [0-9]' "$BATS_FILE_TMPDIR/http.out" && break
    sleep 0.1
  done
  PORT=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$BATS_FILE_TMPDIR/http.out" | head -n 1)
  export PORT
  # The catalog, with the archive's port in the build arg.
  export CATDIR=$BATS_FILE_TMPDIR/catalog
  cp -a "$BATS_TEST_DIRNAME/../data/catalog-apt" "$CATDIR"
  sed -i "s|http://127.0.0.1:1/debian|http://127.0.0.1:$PORT/debian|" "$CATDIR/catalog.yaml"
}

teardown_file ()
{
  [ -f "$BATS_FILE_TMPDIR/http.pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/http.pid")" 2> /dev/null
  return 0
}

setup ()
{
  common_setup
  require_trixie
  [ -n "${PORT:-}" ] || { echo "the test's HTTP server did not start" >&2; cat "$BATS_FILE_TMPDIR/http.out" >&2; return 1; }
  STORE=$BATS_TEST_TMPDIR/store
  copy_trixie_store "$STORE"
  export TMPDIR=$BATS_TEST_TMPDIR
}

# Publishes a Packages index with base-files at version $1; $2 adds fields to the Release file.
publish ()
{
  local d=$ARCH_DIR/debian/dists/fake
  printf 'Package: base-files\nVersion: %s\nArchitecture: amd64\n\nPackage: not-installed\nVersion: 9\n\n' "$1" \
    | xz -c > "$d/main/binary-amd64/Packages.xz"
  {
    printf 'Origin: gsi-test\nSuite: fake\nCodename: fake\nArchitectures: amd64\nComponents: main\n%s' "${2:-}"
    printf 'SHA256:\n %s %s main/binary-amd64/Packages.xz\n' \
      "$(sha256sum < "$d/main/binary-amd64/Packages.xz" | cut -d' ' -f1)" "$(stat -c %s "$d/main/binary-amd64/Packages.xz")"
  } > "$d/InRelease"
}

gsic ()
{
  "$GSI" --root "$STORE" catalog build --catalog "$CATDIR/catalog.yaml" --release r1 "$@"
}

installed_base_files ()
{
  "$GSI" --root "$STORE" run --network none --entrypoint= localhost/gsi-apt/aptimg:r1-latest \
    dpkg-query -W -f '${Version}' base-files
}

@test "catalog build: an archive update of an installed package rebuilds the image without the cache" {
  publish "1"
  run gsic aptchild --report "$BATS_TEST_TMPDIR/first.json"
  assert_status 0
  assert_equal '"built"' "$(report_get "$BATS_TEST_TMPDIR/first.json" aptimg status)"
  local have
  have=$(installed_base_files)
  [ -n "$have" ]

  # The archive holds what is installed: nothing to do.
  publish "$have"
  run gsic aptchild --report "$BATS_TEST_TMPDIR/same.json"
  assert_status 0
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/same.json" aptimg status)"
  assert_equal null "$(report_get "$BATS_TEST_TMPDIR/same.json" aptimg updates)"
  assert_equal null "$(report_get "$BATS_TEST_TMPDIR/same.json" aptimg reason)"

  # A newer base-files: aptimg is built without the cache, and says why.
  publish "99:1"
  run gsic aptchild --report "$BATS_TEST_TMPDIR/newer.json"
  assert_status 0
  assert_contains "aptimg: 1 package update in the archive: base-files $have -> 99:1; building without the cache" "$output"
  assert_equal "[{\"name\": \"base-files\", \"installed\": \"$have\", \"available\": \"99:1\"}]" \
    "$(report_get "$BATS_TEST_TMPDIR/newer.json" aptimg updates)"
  assert_equal "\"1 package update in the archive: base-files $have -> 99:1\"" \
    "$(report_get "$BATS_TEST_TMPDIR/newer.json" aptimg reason)"
  # A package the image does not have is no update, and the child inherits base-files from
  # its parent: it is reported too (and rebuilt, whatever its parent's digest did).
  assert_contains "base-files" "$(report_get "$BATS_TEST_TMPDIR/newer.json" aptchild updates)"
  [[ "$(report_get "$BATS_TEST_TMPDIR/newer.json" aptimg updates)" != *not-installed* ]]

  # Nothing in these images upgrades base-files, so the rebuild could not take 99:1: the next run
  # knows the archive already had it when the image was built, and reuses the cache.
  run gsic aptchild --report "$BATS_TEST_TMPDIR/again.json"
  assert_status 0
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/again.json" aptimg status)"
  assert_equal null "$(report_get "$BATS_TEST_TMPDIR/again.json" aptimg updates)"
  # ... until the archive moves on again.
  publish "99:2"
  run gsic aptimg --report "$BATS_TEST_TMPDIR/moved.json"
  assert_status 0
  assert_contains '"available": "99:2"' "$(report_get "$BATS_TEST_TMPDIR/moved.json" aptimg updates)"
}

@test "catalog build: a NotAutomatic suite (backports, experimental) supplies no update" {
  publish "1"
  run gsic aptimg
  assert_status 0
  publish "99:1" $'NotAutomatic: yes\n'
  run gsic aptimg --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 0
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/r.json" aptimg status)"
  assert_equal null "$(report_get "$BATS_TEST_TMPDIR/r.json" aptimg updates)"
  # ButAutomaticUpgrades makes it a source of upgrades again, as in apt.
  publish "99:1" $'NotAutomatic: yes\nButAutomaticUpgrades: yes\n'
  run gsic aptimg --report "$BATS_TEST_TMPDIR/r2.json"
  assert_status 0
  assert_contains '"available": "99:1"' "$(report_get "$BATS_TEST_TMPDIR/r2.json" aptimg updates)"
}

@test "catalog build: an index whose checksum does not match is a warning, and the cache is used" {
  publish "1"
  run gsic aptimg
  assert_status 0
  publish "99:1"
  # The Release file now lists another checksum than the file has (a mirror in mid-sync).
  sed -i 's/^ [0-9a-f]\{64\}/ 0000000000000000000000000000000000000000000000000000000000000000/' \
    "$ARCH_DIR/debian/dists/fake/InRelease"
  run gsic aptimg --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 0
  assert_contains "aptimg: warning: package update check skipped: index \`http://127.0.0.1:$PORT/debian/dists/fake/main/binary-amd64/Packages\`" "$output"
  assert_contains "digest mismatch" "$output"
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/r.json" aptimg status)"
  # Nothing unverified was kept in the index cache.
  run find "$STORE/gsi-private/apt-indexes" -maxdepth 1 -name '0000*'
  assert_equal "" "$output"
}

@test "catalog build: an unreachable archive is a warning; --no-update-check asks nothing" {
  publish "1"
  run gsic aptimg
  assert_status 0
  rm -f "$ARCH_DIR/debian/dists/fake/InRelease"
  run gsic aptimg --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 0
  assert_contains "aptimg: warning: package update check skipped:" "$output"
  assert_contains "InRelease" "$output"
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/r.json" aptimg status)"
  run gsic aptimg --no-update-check
  assert_status 0
  [[ "$output" != *"update check"* ]]
}
