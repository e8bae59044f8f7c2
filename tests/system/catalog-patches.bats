#!/usr/bin/env bats
# gsi catalog build and declarative CVE patches (patches/IMAGE.yaml), for real: a package that
# trixie-security carries at a higher version than trixie (tests/system/security_update.py picks
# one today), installed at trixie's version on the suite's debian:trixie.  The patch step upgrades it
# where trixie-security is in the sources and the check sees the fix; where it is not, the build
# fails naming the package, the wanted and the found versions.  Downloads from deb.debian.org.
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

setup_file ()
{
  [ -n "${GSI_TRIXIE_STORE:-}" ] && [ "${GSI_TRIXIE_STATUS:-1}" -eq 0 ] || return 0
  python3 "$BATS_TEST_DIRNAME/security_update.py" > "$BATS_FILE_TMPDIR/pick" 2> "$BATS_FILE_TMPDIR/pick.err" || true
}

setup ()
{
  common_setup
  require_trixie
  if ! read -r PKG OLD NEW < "$BATS_FILE_TMPDIR/pick" || [ -z "$NEW" ]; then
    cat "$BATS_FILE_TMPDIR/pick.err" >&2
    return 1
  fi
  note "package with a trixie-security update: $PKG $OLD -> $NEW"
  STORE=$BATS_TEST_TMPDIR/store
  copy_trixie_store "$STORE"
  export TMPDIR=$BATS_TEST_TMPDIR
  CATDIR=$BATS_TEST_TMPDIR/catalog
  cp -a "$BATS_TEST_DIRNAME/../data/catalog-patches" "$CATDIR"
  sed -i "s|set-by-the-test|$PKG=$OLD|" "$CATDIR/catalog.yaml"
  mkdir -p "$CATDIR/patches"
}

# Declares, for image $1, the fix of $PKG at version $2.
declare_fix ()
{
  cat > "$CATDIR/patches/$1.yaml" << EOF
"r1":
  - package: $PKG
    ecosystem: deb
    fixed: "$2"
    advisories: [DSA-9999-1, CVE-2099-99999]
    reason: "the test's stand-in for a Debian security fix"
EOF
}

gsic ()
{
  "$GSI" --root "$STORE" catalog build --catalog "$CATDIR/catalog.yaml" --release r1 "$@"
}

@test "CVE patch: a deb fix only trixie-security has is applied by the patch step and seen in the image" {
  declare_fix sec "$NEW"
  run gsic sec --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 0
  assert_equal '"built"' "$(report_get "$BATS_TEST_TMPDIR/r.json" sec status)"
  run report_get "$BATS_TEST_TMPDIR/r.json" sec patches
  assert_contains "\"package\": \"$PKG\", \"ecosystem\": \"deb\", \"fixed\": \"$NEW\", \"found\": \"$NEW\"" "$output"
  assert_contains '"advisories": ["DSA-9999-1", "CVE-2099-99999"]' "$output"
  # dpkg in the tagged image agrees, and the label names the advisories.
  run "$GSI" --root "$STORE" run --network none --entrypoint= localhost/gsi-patch/sec:r1-latest \
    dpkg-query -W -f '${Version}' "$PKG"
  assert_equal "$NEW" "$output"
  run "$GSI" --root "$STORE" inspect localhost/gsi-patch/sec:r1-latest
  assert_contains '"io.genestack.cve-patches": "DSA-9999-1,CVE-2099-99999"' "$output"
  # A second build is all cache, patch step included (the other packages trixie-security has
  # newer were seen by the first build, so they do not force a rebuild).
  run gsic sec --report "$BATS_TEST_TMPDIR/r2.json"
  assert_status 0
  assert_equal '"unchanged"' "$(report_get "$BATS_TEST_TMPDIR/r2.json" sec status)"
}

@test "CVE patch: without trixie-security the fix cannot land and the build fails, untagged" {
  declare_fix nosec "$NEW"
  run gsic nosec --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 1
  assert_contains "nosec: failed: CVE patch did not land: deb $PKG wants $NEW or later, found $OLD (DSA-9999-1; $CATDIR/patches/nosec.yaml:2)" "$output"
  assert_contains "\"found\": \"$OLD\"" "$(report_get "$BATS_TEST_TMPDIR/r.json" nosec patches)"
  run "$GSI" --root "$STORE" inspect localhost/gsi-patch/nosec:r1-latest
  assert_status 1
  run "$GSI" --root "$STORE" inspect localhost/gsi-patch/nosec:r1-candidate
  assert_status 1
}

@test "CVE patch: a fix no archive has fails the build; a pypi fix in an image without pip fails the patch step" {
  declare_fix sec "99:0"
  run gsic sec
  assert_status 1
  assert_contains "sec: failed: CVE patch did not land: deb $PKG wants 99:0 or later, found $NEW" "$output"
  cat > "$CATDIR/patches/sec.yaml" << 'EOF'
"r1":
  - { package: urllib3, ecosystem: pypi, fixed: "2.5.0", advisories: [GHSA-pq67-6m6q-mj2v], reason: "redirects" }
EOF
  run gsic sec
  assert_status 1
  assert_contains "sec: failed: CVE patch step failed:" "$output"
}

@test "CVE patch: a malformed patch file stops the build before anything is built" {
  printf '"r1":\n  - { package: %s, ecosystem: deb, fixed: "1", advisories: [CVE-25-1], reason: r }\n' "$PKG" \
    > "$CATDIR/patches/sec.yaml"
  run gsic sec
  assert_status 1
  assert_contains "$CATDIR/patches/sec.yaml:2:" "$output"
  assert_contains "advisory id \`CVE-25-1\` is malformed" "$output"
  [[ "$output" != *"sec: building"* ]]
}
