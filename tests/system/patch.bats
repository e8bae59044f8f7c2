#!/usr/bin/env bats
# gsi patch suggest: the scan of an image with vulnerable Python distributions (requests 2.19.1,
# Jinja2 2.10 in a venv, as tests/system/scan.bats builds it) turned into a CVE patch file, which the
# catalog loader then accepts.  Needs the trixie base and the PyPA snapshot (peer data).
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

REF=patch-test:2025.1-latest
TRACKER=tests/data/vuln/debian-tracker.json

setup_file ()
{
  [ -n "${GSI_TRIXIE_STORE:-}" ] && [ "${GSI_TRIXIE_STATUS:-1}" -eq 0 ] || return 0
  export PSTORE=$BATS_FILE_TMPDIR/store PDB=$BATS_FILE_TMPDIR/vuln.db
  copy_trixie_store "$PSTORE"
  mkdir -p "$BATS_FILE_TMPDIR/ctx"
  cat > "$BATS_FILE_TMPDIR/ctx/Containerfile" << 'EOF2'
FROM debian:trixie
RUN set -e; s=/var/lib/openstack/lib/python3.13/site-packages; \
    for p in requests:2.19.1 Jinja2:2.10 keystone:27.0.0; do \
      n=${p%%:*}; v=${p#*:}; d=$s/$n-$v.dist-info; mkdir -p $d; \
      printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n' $n $v > $d/METADATA; \
    done
EOF2
  "$GSI" --root "$PSTORE" build --network none -t "$REF" "$BATS_FILE_TMPDIR/ctx" > "$BATS_FILE_TMPDIR/build.out" 2>&1
  echo $? > "$BATS_FILE_TMPDIR/build.status"
}

setup ()
{
  common_setup
  require_trixie
  require_pypa_snapshot
  require_file_build
  [ -f "$PDB" ] || "$GSI" db import --db "$PDB" "$SNAPSHOT" "$TRACKER" > /dev/null
}

suggest ()
{
  "$GSI" --root "$PSTORE" patch suggest --db "$PDB" "$@"
}

@test "patch suggest: one entry per vulnerable package, at the highest fix, with its advisories" {
  run --separate-stderr suggest "$REF"
  assert_status 0
  # The release comes from the tag; requests' findings in the snapshot are fixed in 2.20.0 and
  # 2.31.0, Jinja2's in 2.10.1 and 2.11.3: one upgrade to the highest clears them all.
  assert_contains '"2025.1":' "$output"
  run python3 - "$output" << 'PY'
import sys
import yaml
doc = yaml.safe_load(sys.argv[1])
for p in doc["2025.1"]:
    print(p["package"], p["ecosystem"], p["fixed"], "CVE-2018-18074" in p["advisories"],
          "CVE-2019-10906" in p["advisories"], "GHSA-462w-v97r-4m45" in p["advisories"])
PY
  assert_status 0
  assert_contains "requests pypi 2.31.0 True False False" "$output"
  assert_contains "Jinja2 pypi 2.11.3 False True True" "$output"
  # keystone 27.0.0 has nothing to patch; the Debian findings of the excerpt have no fix.
  [[ "$output" != *keystone* ]]
  run suggest "$REF"
  assert_contains "# not fixable yet: CVE-2010-4756 libc6" "$output"
}

@test "patch suggest: the file it writes is one catalog build reads, and --severity/--ignorefile narrow it" {
  local cat=$BATS_TEST_TMPDIR/cat
  mkdir -p "$cat/ContainerFiles" "$cat/patches"
  printf 'FROM scratch\n' > "$cat/ContainerFiles/img"
  printf 'registry: r.example/x\nreleases:\n  "2025.1": { base: b }\nbases:\n  b: { ref: "debian:trixie" }\nimages:\n  img: { description: d }\n' \
    > "$cat/catalog.yaml"
  run suggest -o "$cat/patches/img.yaml" "$REF"
  assert_status 0
  run "$GSI" catalog list --catalog "$cat/catalog.yaml"
  assert_status 0
  printf 'CVE-2018-18074\nCVE-2023-32681\n' > "$BATS_TEST_TMPDIR/ign"
  run suggest --ignorefile "$BATS_TEST_TMPDIR/ign" --release r9 "$REF"
  assert_status 0
  assert_contains '"r9":' "$output"
  [[ "$output" != *requests* ]]
  assert_contains "Jinja2" "$output"
}

@test "patch suggest: a tag without a release needs --release; usage errors exit 2" {
  "$GSI" --root "$PSTORE" tag "$REF" patch-test:plain
  run --separate-stderr suggest patch-test:plain
  assert_status 2
  assert_contains "cannot tell the release from \`patch-test:plain\`: give --release R" "$stderr"
  run --separate-stderr "$GSI" patch frobnicate
  assert_status 2
  run --separate-stderr "$GSI" --root "$PSTORE" patch suggest --db "$PDB" no-such:2025.1-x
  assert_status 1
}
