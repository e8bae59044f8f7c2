#!/usr/bin/env bats
# gsi catalog build writes, beside its build report, the CycloneDX SBOM of every image it built or
# found unchanged and, when there is a vulnerability database, its scan report.  No network: a
# catalog made here on the shell image of helpers.bash, whose `svc` image carries a dpkg status
# (svc-server, trixie's os-release) and a Python distribution (oldlib 1.0) copied in, and a
# database of one OSV record (oldlib, fixed in 1.1) and a tracker entry (svc-server, open).
# shellcheck disable=SC2016,SC2154 # ${REGISTRY} is the Containerfile's; status/output/stderr come from bats

load helpers

setup_file ()
{
  make_test_base_context "$BATS_FILE_TMPDIR/basectx"
}

setup ()
{
  common_setup
  if [ "$(id -u)" -ne 0 ]; then
    skip "gsi catalog build needs root (overlayfs, namespaces)"
  fi
  STORE=$BATS_TEST_TMPDIR/store
  export TMPDIR=$BATS_TEST_TMPDIR
  "$GSI" --root "$STORE" build -q -t gsi-test-base:1 "$BATS_FILE_TMPDIR/basectx" > /dev/null
  CAT=$BATS_TEST_TMPDIR/cat
  local site=$CAT/files/svc/var/lib/openstack/lib/python3.13/site-packages/oldlib-1.0.dist-info
  mkdir -p "$CAT/ContainerFiles" "$CAT/files/svc/var/lib/dpkg" "$CAT/files/svc/etc" "$site"
  printf 'Package: svc-server\nStatus: install ok installed\nVersion: 1:2.3-4\nArchitecture: amd64\n\n' \
    > "$CAT/files/svc/var/lib/dpkg/status"
  printf 'ID=debian\nVERSION_ID="13"\nVERSION_CODENAME=trixie\n' > "$CAT/files/svc/etc/os-release"
  printf 'Metadata-Version: 2.1\nName: oldlib\nVersion: 1.0\n\n' > "$site/METADATA"
  cat > "$CAT/catalog.yaml" << 'EOF'
registry: localhost/gsi-rep
source: https://example.org/gsi-rep
releases:
  "r1": { base: testbase, build_args: { RELEASE: "r1" } }
bases:
  testbase: { ref: "gsi-test-base:1" }
images:
  svc: { description: "a Debian package and a Python distribution", smoke: ["cat", "/etc/os-release"] }
  svc-child: { description: "builds on svc" }
  broken: { description: "fails" }
EOF
  printf 'FROM gsi-test-base:1\nCOPY files/svc/ /\n' > "$CAT/ContainerFiles/svc"
  printf 'ARG RELEASE=r1\nARG REGISTRY=localhost/gsi-rep\nFROM ${REGISTRY}/svc:${RELEASE}-latest\nCOPY files/svc/etc/os-release /child\n' \
    > "$CAT/ContainerFiles/svc-child"
  printf 'FROM gsi-test-base:1\nRUN exit 3\n' > "$CAT/ContainerFiles/broken"
  # The database: one PyPI record and one tracker entry, in the folder gsi db import reads.
  mkdir -p "$BATS_TEST_TMPDIR/vulns"
  cat > "$BATS_TEST_TMPDIR/vulns/PYSEC-2099-1.json" << 'EOF'
{"id": "PYSEC-2099-1", "modified": "2024-01-02T00:00:00Z", "published": "2024-01-01T00:00:00Z",
 "aliases": ["CVE-2099-1111"], "summary": "oldlib lets anyone in",
 "affected": [{"package": {"ecosystem": "PyPI", "name": "oldlib"},
               "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1"}]}]}]}
EOF
  cat > "$BATS_TEST_TMPDIR/tracker.json" << 'EOF'
{"svc-server": {"CVE-2099-2222": {"description": "svc-server has no fix yet",
  "releases": {"trixie": {"repositories": {"trixie": "1:2.3-4"}, "status": "open", "urgency": "low"}}}}}
EOF
}

gsic ()
{
  "$GSI" --root "$STORE" catalog build --catalog "$CAT/catalog.yaml" --release r1 --no-update-check "$@"
}

# "TYPE NAME VERSION" per component of the CycloneDX SBOM $1, after "SUBJECT DIGEST".
sbom_summary ()
{
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["bomFormat"] == "CycloneDX" and d["specVersion"] == "1.5", (d["bomFormat"], d["specVersion"])
m = d["metadata"]["component"]
print(m["name"], m["version"])
for c in d["components"]:
    print(c["type"], c["name"], c.get("version"))
' "$1"
}

# "ID PACKAGE VERSION FIXED" per finding of the JSON scan report $1, after "REF TOTAL".
scan_summary ()
{
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["artifact"]["ref"], d["summary"]["total"])
for f in d["findings"]:
    print(f["id"], f["package"]["name"], f["package"]["version"], f["fixed_version"])
' "$1"
}

@test "catalog build without a database: SBOMs beside the report, one note for the whole run, no scan reports" {
  local out=$BATS_TEST_TMPDIR/out digest
  mkdir -p "$out"
  run --separate-stderr gsic svc-child --report "$out/r.json"
  assert_status 0
  run grep -c "no vulnerability database" <<< "$stderr"
  assert_equal 1 "$output"
  assert_contains "catalog build: note: no vulnerability database at $STORE/gsi-private/vuln.db, so SBOMs only and no scan reports (load one with 'gsi db import PATH...')" "$stderr"
  assert_contains "catalog build: report, SBOMs and scan reports in $out" "$stderr"
  run ls "$out"
  assert_equal "r.json
svc-child.r1.cdx.json
svc.r1.cdx.json" "$output"
  assert_equal "\"$out/svc.r1.cdx.json\"" "$(report_get "$out/r.json" svc sbom)"
  assert_equal "\"$out/svc-child.r1.cdx.json\"" "$(report_get "$out/r.json" svc-child sbom)"
  assert_equal null "$(report_get "$out/r.json" svc scan)"
  assert_equal null "$(report_get "$out/r.json" svc findings)"
  digest=$(report_get "$out/r.json" svc digest | tr -d '"')
  run sbom_summary "$out/svc.r1.cdx.json"
  assert_status 0
  assert_equal "localhost/gsi-rep/svc:r1-latest $digest
operating-system debian 13
library svc-server 1:2.3-4
library oldlib 1.0" "$output"
  # What the SBOM says is the tagged image.
  run "$GSI" --root "$STORE" inspect localhost/gsi-rep/svc:r1-latest
  assert_contains "$digest" "$output"
}

@test "catalog build with a database: each image's scan report too, its findings counted in the report" {
  local out=$BATS_TEST_TMPDIR/out
  mkdir -p "$out"
  run "$GSI" --root "$STORE" db import "$BATS_TEST_TMPDIR/vulns" "$BATS_TEST_TMPDIR/tracker.json"
  assert_status 0
  run --separate-stderr gsic svc-child --report "$out/r.json"
  assert_status 0
  [[ "$stderr" != *"no vulnerability database"* ]]
  assert_contains "svc: scan: 2 findings (1 fixable), $out/svc.r1.scan.json" "$stderr"
  assert_contains "svc-child: scan: 2 findings (1 fixable), $out/svc-child.r1.scan.json" "$stderr"
  run ls "$out"
  assert_equal "r.json
svc-child.r1.cdx.json
svc-child.r1.scan.json
svc.r1.cdx.json
svc.r1.scan.json" "$output"
  run python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    print(i["name"], i["status"], i["sbom"], i["scan"], i["findings"], i["fixable"])' "$out/r.json"
  assert_equal "svc built $out/svc.r1.cdx.json $out/svc.r1.scan.json 2 1
svc-child built $out/svc-child.r1.cdx.json $out/svc-child.r1.scan.json 2 1" "$output"
  run scan_summary "$out/svc-child.r1.scan.json"
  assert_status 0
  assert_equal "localhost/gsi-rep/svc-child:r1-latest 2
CVE-2099-2222 svc-server 1:2.3-4 None
CVE-2099-1111 oldlib 1.0 1.1" "$output"
  # The same pipeline as gsi scan: the same findings.
  run "$GSI" --root "$STORE" scan --format json -o "$BATS_TEST_TMPDIR/scan.json" localhost/gsi-rep/svc-child:r1-latest
  assert_status 0
  assert_equal "$(scan_summary "$BATS_TEST_TMPDIR/scan.json")" "$(scan_summary "$out/svc-child.r1.scan.json")"
  # An unchanged rebuild writes them again (the database may have changed since).
  rm "$out"/*.json
  run --separate-stderr gsic svc-child --report "$out/r.json"
  assert_status 0
  assert_equal '"unchanged"' "$(report_get "$out/r.json" svc-child status)"
  [ -s "$out/svc-child.r1.cdx.json" ] && [ -s "$out/svc-child.r1.scan.json" ]
}

@test "catalog build without --report: the report, SBOMs and scan reports stay in the log folder's reports/" {
  run --separate-stderr gsic svc
  assert_status 0
  local logs reports
  logs=$(sed -n 's/^catalog build: release r1, logs in //p' <<< "$stderr")
  reports=$(sed -n 's/^catalog build: report, SBOMs and scan reports in //p' <<< "$stderr")
  assert_equal "$logs/reports" "$reports"
  run ls "$logs"
  assert_equal "reports" "$output"
  run ls "$reports"
  assert_equal "build-report.json
svc.r1.cdx.json" "$output"
  assert_equal "\"$reports/svc.r1.cdx.json\"" "$(report_get "$reports/build-report.json" svc sbom)"
}

@test "catalog build: a failed image gets no SBOM; a missing --report folder or --db is an error before any build" {
  local out=$BATS_TEST_TMPDIR/out
  mkdir -p "$out"
  run --separate-stderr gsic broken svc --keep-going --report "$out/r.json"
  assert_status 1
  run ls "$out"
  assert_equal "r.json
svc.r1.cdx.json" "$output"
  assert_equal null "$(report_get "$out/r.json" broken sbom)"
  run --separate-stderr gsic svc --report "$out/no/such/r.json"
  assert_status 1
  assert_contains "gsi: --report \`$out/no/such/r.json\`: folder \`$out/no/such\`: No such file or directory" "$stderr"
  [[ "$stderr" != *"svc: building"* ]]
  run --separate-stderr gsic svc --db "$out/none.db"
  assert_status 1
  assert_contains "gsi: no vulnerability database at $out/none.db (--db): load one with 'gsi db import --db $out/none.db PATH...'" "$stderr"
  [[ "$stderr" != *"svc: building"* ]]
}
