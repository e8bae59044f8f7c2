#!/usr/bin/env bats
# The main job, as a test: the keystone chain of the real catalog (openstack-venv, apache, keystone)
# for 2025.1, built on the suite's bootstrapped debian:trixie from Debian's packages, smoke-tested,
# and a second build right after reports every image unchanged.  Downloads packages from the Debian
# archive, so it runs when GSI_TEST_BOOTSTRAP=1 or CI=true (.ci/run sets it).
#
# The keystone image it builds then serves the pypi CVE patch tests (building it takes minutes, so
# they live here): tests/data/catalog-pypatch's `ksvuln` is that image with mistune 0.7.4 pip-installed
# into its venv from a package index this file serves on 127.0.0.1 (wheels of mistune 0.7.4, 0.8 and
# 0.8.1 made by make_wheels.py: PyPI is out of reach).  gsi scan, against the PyPA snapshot (peer
# data), flags it; a declared fix is applied and checked, and one the index cannot meet fails.
# Every build also writes the images' SBOMs (and, with --db, scan reports) beside its report
# (tests/system/catalog-reports.bats tests that part without network).
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

setup_file ()
{
  [ -n "${GSI_TRIXIE_STORE:-}" ] && [ "${GSI_TRIXIE_STATUS:-1}" -eq 0 ] || return 0
  export KS_STORE=$BATS_FILE_TMPDIR/store
  # The logs of failed builds stay with the test's files.
  export TMPDIR=$BATS_FILE_TMPDIR
  cp -a "$GSI_TRIXIE_STORE" "$KS_STORE"
  cd "$BATS_TEST_DIRNAME/../.." || return 1
  # First build: from the base alone.  Its output is kept for the tests below.
  local t0=$SECONDS status=0
  "$GSI" --root "$KS_STORE" catalog build keystone --release 2025.1 --report "$BATS_FILE_TMPDIR/first.json" \
    > "$BATS_FILE_TMPDIR/first.out" 2> "$BATS_FILE_TMPDIR/first.err" || status=$?
  echo "$status $((SECONDS - t0))" > "$BATS_FILE_TMPDIR/first.status"
  t0=$SECONDS
  status=0
  "$GSI" --root "$KS_STORE" catalog build keystone --release 2025.1 --report "$BATS_FILE_TMPDIR/second.json" \
    > "$BATS_FILE_TMPDIR/second.out" 2> "$BATS_FILE_TMPDIR/second.err" || status=$?
  echo "$status $((SECONDS - t0))" > "$BATS_FILE_TMPDIR/second.status"
  start_index
  export PYCAT=$BATS_FILE_TMPDIR/pycat KDB=$BATS_FILE_TMPDIR/vuln.db
  cp -a tests/data/catalog-pypatch "$PYCAT"
  mkdir -p "$PYCAT/patches"
  sed -i "s|http://127.0.0.1:1/simple/|http://127.0.0.1:$(cat "$BATS_FILE_TMPDIR/index.port")/simple/|" "$PYCAT/catalog.yaml"
}

# The package index of the CVE patch tests, served in the background; its port goes to index.port.
start_index ()
{
  local idx=$BATS_FILE_TMPDIR/index port=
  python3 "$BATS_TEST_DIRNAME/make_wheels.py" "$idx" mistune 0.7.4 0.8 0.8.1
  # fd 3 closed: bats waits for whatever holds it.
  python3 -u -m http.server --bind 127.0.0.1 --directory "$idx" 0 > "$BATS_FILE_TMPDIR/index.log" 2>&1 3>&- &
  echo $! > "$BATS_FILE_TMPDIR/index.pid"
  for _ in $(seq 100); do
    port=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$BATS_FILE_TMPDIR/index.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  echo "${port:-0}" > "$BATS_FILE_TMPDIR/index.port"
}

teardown_file ()
{
  [ -f "$BATS_FILE_TMPDIR/index.pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/index.pid")" 2> /dev/null
  return 0
}

setup ()
{
  common_setup
  require_trixie
}

# The status of IMAGE in report $1.
report_status ()
{
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(*[i["status"] for i in r["images"] if i["name"]==sys.argv[2]])' "$1" "$2"
}

@test "catalog build keystone builds openstack-venv, apache and keystone in order and smoke-tests them" {
  read -r status secs < "$BATS_FILE_TMPDIR/first.status"
  note "first catalog build keystone: ${secs}s"
  if [ "$status" -ne 0 ]; then
    tail -n 40 "$BATS_FILE_TMPDIR/first.err" >&2
    cat "$BATS_FILE_TMPDIR/first.out" >&2
  fi
  assert_status 0 "$status"
  for img in openstack-venv apache keystone; do
    assert_equal built "$(report_status "$BATS_FILE_TMPDIR/first.json" "$img")"
  done
  # Parents first: the summary lists them in build order.
  run grep -oE '^(openstack-venv|apache|keystone) ' "$BATS_FILE_TMPDIR/first.out"
  assert_equal "openstack-venv apache keystone" "$(echo $output)"
  # The smoke test's output (keystone-manage --version prints the package's version).
  run grep -A1 'keystone: smoke test' "$BATS_FILE_TMPDIR/first.err"
  [[ "$output" =~ [0-9]+\.[0-9]+ ]]
}

@test "the keystone image keeps the original contract and carries its labels" {
  local ref=ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest
  run "$GSI" --root "$KS_STORE" inspect "$ref"
  assert_status 0
  printf '%s' "$output" | python3 -c '
import json, sys
c = json.load(sys.stdin)["config"]["config"]
assert c["User"] == "42424:42424", c["User"]
assert c["WorkingDir"] == "/var/lib/openstack", c["WorkingDir"]
assert c["Entrypoint"] == ["/var/lib/openstack/bin/keystone-manage"], c["Entrypoint"]
l = c["Labels"]
for k in ("title", "description", "version", "revision", "created", "source"):
    assert l.get("org.opencontainers.image." + k), k
assert l["org.opencontainers.image.title"] == "keystone"
'
  run "$GSI" --root "$KS_STORE" run --user 0 --entrypoint= "$ref" sh -c 'readlink /etc/keystone; id -u keystone; test -x /var/lib/openstack/bin/keystone-manage && echo venv-ok'
  assert_status 0
  assert_contains "/var/lib/openstack/etc/keystone" "$output"
  assert_contains "42424" "$output"
  assert_contains "venv-ok" "$output"
  # The versions of what the images installed, inside the image, equal to dpkg's and to the label.
  run "$GSI" --root "$KS_STORE" run --entrypoint= "$ref" sh -c \
    'grep -E "^(python3-keystone|apache2|python3) " /var/lib/openstack/versions.txt; dpkg-query -W -f "dpkg \${Version}\n" python3-keystone'
  assert_status 0
  local v
  v=$(printf '%s\n' "$output" | sed -n 's/^dpkg //p')
  [ -n "$v" ]
  assert_contains "python3-keystone $v" "$output"
  assert_contains "apache2 " "$output"
  assert_contains "python3 " "$output"
  # Slim: no compiler and no -dev package in the final image.
  run "$GSI" --root "$KS_STORE" run --entrypoint= "$ref" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n'
  assert_status 0
  assert_contains "ii  python3-keystone" "$output"
  run awk '$1 == "ii" && ($2 ~ /-dev$/ || $2 ~ /^(gcc|g\+\+|cpp|clang|build-essential|make)(-[0-9.]+)?$/)' <<< "$output"
  assert_equal "" "$output"
  run "$GSI" --root "$KS_STORE" inspect "$ref"
  assert_contains "\"org.opencontainers.image.version\":\"$v\"" "$(printf '%s' "$output" | tr -d ' ')"
}

@test "a second catalog build keystone right after reports every image unchanged" {
  read -r status secs < "$BATS_FILE_TMPDIR/second.status"
  note "second catalog build keystone: ${secs}s"
  [ "$status" -eq 0 ] || cat "$BATS_FILE_TMPDIR/second.err" >&2
  assert_status 0 "$status"
  for img in openstack-venv apache keystone; do
    assert_equal unchanged "$(report_status "$BATS_FILE_TMPDIR/second.json" "$img")"
  done
}

# "NAME VERSION PURL-TYPE" per component named $2 (any case) of the CycloneDX SBOM $1, after a line
# "SUBJECT-NAME SUBJECT-VERSION" of the image it describes.
sbom_components ()
{
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["bomFormat"] == "CycloneDX" and d["specVersion"] == "1.5", (d["bomFormat"], d["specVersion"])
m = d["metadata"]["component"]
print(m["name"], m["version"])
for c in d["components"]:
    if c["name"].lower() == sys.argv[2]:
        print(c["name"], c["version"], c["purl"].split("/")[0])
' "$1" "$2"
}

@test "every catalog build writes each image's SBOM beside its report; without a database, one note and no scan" {
  read -r status secs < "$BATS_FILE_TMPDIR/first.status"
  assert_status 0 "$status"
  run grep -c -x "catalog build: note: no vulnerability database at $KS_STORE/gsi-private/vuln.db, so SBOMs only and no scan reports (load one with 'gsi db import PATH...')" \
    "$BATS_FILE_TMPDIR/first.err"
  assert_equal 1 "$output"
  run grep -c -x "catalog build: report, SBOMs and scan reports in $BATS_FILE_TMPDIR" "$BATS_FILE_TMPDIR/first.err"
  assert_equal 1 "$output"
  local img digest version upstream
  for img in openstack-venv apache keystone; do
    assert_equal "\"$BATS_FILE_TMPDIR/$img.2025.1.cdx.json\"" "$(report_get "$BATS_FILE_TMPDIR/first.json" "$img" sbom)"
    assert_equal null "$(report_get "$BATS_FILE_TMPDIR/first.json" "$img" scan)"
    assert_equal null "$(report_get "$BATS_FILE_TMPDIR/first.json" "$img" findings)"
    [ ! -e "$BATS_FILE_TMPDIR/$img.2025.1.scan.json" ]
  done
  # The keystone SBOM describes the tagged image and lists the service package at the version of its
  # label (the second, unchanged build wrote it last), and keystone's Python distribution.
  digest=$(report_get "$BATS_FILE_TMPDIR/second.json" keystone digest | tr -d '"')
  version=$(report_get "$BATS_FILE_TMPDIR/second.json" keystone version | tr -d '"')
  upstream=${version#*:}
  upstream=${upstream%-*}
  run sbom_components "$BATS_FILE_TMPDIR/keystone.2025.1.cdx.json" python3-keystone
  assert_status 0
  assert_equal "ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest $digest
python3-keystone $version pkg:deb" "$output"
  run sbom_components "$BATS_FILE_TMPDIR/keystone.2025.1.cdx.json" keystone
  assert_equal "ghcr.io/rackerlabs/genestack-images/keystone:2025.1-latest $digest
keystone $upstream pkg:pypi" "$output"
}

# ---- CVE patches of a Python distribution (pypi), on the keystone image ----

KSVULN=localhost/gsi-pypatch/ksvuln:2025.1-latest
SITE=/var/lib/openstack/lib/python3.13/site-packages

# Fails the calling test, with the build's output, when the keystone chain did not build.
require_keystone ()
{
  local status secs
  read -r status secs < "$BATS_FILE_TMPDIR/first.status"
  if [ "$status" -ne 0 ]; then
    echo "the keystone chain did not build (exit $status), so there is no image to patch" >&2
    tail -n 20 "$BATS_FILE_TMPDIR/first.err" >&2
    return 1
  fi
  if [ "$(cat "$BATS_FILE_TMPDIR/index.port")" = 0 ]; then
    echo "the test's package index did not start:" >&2
    cat "$BATS_FILE_TMPDIR/index.log" >&2
    return 1
  fi
}

# The PyPA snapshot (peer data: not run, or failed under GSI_REQUIRE_PEER_TESTS=1, without it)
# imported once into this file's database.
require_kdb ()
{
  require_pypa_snapshot || return 1
  [ -f "$KDB" ] || "$GSI" db import --db "$KDB" "$SNAPSHOT" > /dev/null
}

gsipy ()
{
  "$GSI" --root "$KS_STORE" catalog build --catalog "$PYCAT/catalog.yaml" --release 2025.1 --no-update-check "$@"
}

# "NAME VERSION ID FIXED ALIASES" per finding of a package named $1 in the JSON scan report on stdin.
findings_of ()
{
  python3 -c '
import json, sys
for f in json.load(sys.stdin)["findings"]:
    p = f["package"]
    if p["name"].lower() == sys.argv[1]:
        print(p["name"], p["version"], f["id"], f["fixed_version"], ",".join(sorted(f["aliases"])))
' "$1" | LC_ALL=C sort
}

# The same for gsi scan of image $1.
py_findings ()
{
  "$GSI" --root "$KS_STORE" scan --db "$KDB" --format json "$1" | findings_of "$2"
}

# Field $2 of the JSON file $1 (a path of keys separated by dots), as JSON.
json_get ()
{
  python3 -c 'import json,sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v = v[k]
print(json.dumps(v))' "$1" "$2"
}

# What the image's venv python imports.
mistune_version ()
{
  "$GSI" --root "$KS_STORE" run --network none --entrypoint= "$1" \
    /var/lib/openstack/bin/python3 -c 'import mistune; print(mistune.__version__)'
}

@test "CVE patch (pypi): keystone with mistune 0.7.4 from a local index is flagged by gsi scan with both advisories" {
  require_keystone
  require_kdb
  local r=$BATS_TEST_TMPDIR/r.json scan=$BATS_TEST_TMPDIR/ksvuln.2025.1.scan.json total fixable
  run --separate-stderr gsipy ksvuln --db "$KDB" --report "$r"
  [ "$status" -eq 0 ] || tail -n 30 "$(sed -n 's/^catalog build: release 2025.1, logs in //p' <<< "$stderr")/ksvuln.log" >&2
  assert_status 0
  assert_equal '"built"' "$(report_get "$r" ksvuln status)"
  assert_equal null "$(report_get "$r" ksvuln patches)"
  run mistune_version "$KSVULN"
  assert_equal 0.7.4 "$output"
  # PYSEC-2017-80 (fixed in 0.8) and PYSEC-2017-18 (fixed in 0.8.1), each one finding under its CVE.
  run py_findings "$KSVULN" mistune
  assert_status 0
  assert_equal "mistune 0.7.4 CVE-2017-15612 0.8 GHSA-hpv5-v8g5-c864,PYSEC-2017-80
mistune 0.7.4 CVE-2017-16876 0.8.1 GHSA-98gj-wwxm-cj3h,PYSEC-2017-18" "$output"
  # The catalog build's own scan report, beside its report, says the same, of the tagged image.
  assert_equal "\"$scan\"" "$(report_get "$r" ksvuln scan)"
  assert_equal "\"$KSVULN\"" "$(json_get "$scan" artifact.ref)"
  assert_equal "$(report_get "$r" ksvuln digest)" "$(json_get "$scan" artifact.digest)"
  run findings_of mistune < "$scan"
  assert_equal "mistune 0.7.4 CVE-2017-15612 0.8 GHSA-hpv5-v8g5-c864,PYSEC-2017-80
mistune 0.7.4 CVE-2017-16876 0.8.1 GHSA-98gj-wwxm-cj3h,PYSEC-2017-18" "$output"
  total=$(json_get "$scan" summary.total)
  fixable=$(python3 -c 'import json,sys; print(sum(1 for f in json.load(open(sys.argv[1]))["findings"] if f["fixed_version"]))' "$scan")
  [ "$total" -ge 2 ]
  assert_equal "$total" "$(report_get "$r" ksvuln findings)"
  assert_equal "$fixable" "$(report_get "$r" ksvuln fixable)"
  assert_contains "ksvuln: scan: $total findings ($fixable fixable), $scan" "$stderr"
  [[ "$stderr" != *"no vulnerability database"* ]]
  run sbom_components "$BATS_TEST_TMPDIR/ksvuln.2025.1.cdx.json" mistune
  assert_equal "$KSVULN $(report_get "$r" ksvuln digest | tr -d '"')
mistune 0.7.4 pkg:pypi" "$output"
}

@test "CVE patch (pypi): a declared fix is pip-installed into the venv, seen in the inventory, and clears the scan" {
  require_keystone
  require_kdb
  # Any spelling of the name: pip and the check both normalise it.
  cat > "$PYCAT/patches/ksvuln.yaml" << 'EOF2'
"2025.1":
  - package: Mistune
    ecosystem: pypi
    fixed: "0.8.1"
    advisories: [CVE-2017-16876, CVE-2017-15612]
    reason: "XSS in the markdown renderer keystone's tests pull in"
EOF2
  run gsipy ksvuln --db "$KDB" --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 0
  assert_equal '"built"' "$(report_get "$BATS_TEST_TMPDIR/r.json" ksvuln status)"
  assert_equal '[{"package": "Mistune", "ecosystem": "pypi", "fixed": "0.8.1", "found": "0.8.1 in /'"${SITE#/}"'/mistune-0.8.1.dist-info", "advisories": ["CVE-2017-16876", "CVE-2017-15612"]}]' \
    "$(report_get "$BATS_TEST_TMPDIR/r.json" ksvuln patches)"
  run mistune_version "$KSVULN"
  assert_equal 0.8.1 "$output"
  run py_findings "$KSVULN" mistune
  assert_status 0
  assert_equal "" "$output"
  run findings_of mistune < "$BATS_TEST_TMPDIR/ksvuln.2025.1.scan.json"
  assert_equal "" "$output"
  run sbom_components "$BATS_TEST_TMPDIR/ksvuln.2025.1.cdx.json" mistune
  assert_equal "$KSVULN $(report_get "$BATS_TEST_TMPDIR/r.json" ksvuln digest | tr -d '"')
mistune 0.8.1 pkg:pypi" "$output"
  run "$GSI" --root "$KS_STORE" inspect "$KSVULN"
  assert_contains '"io.genestack.cve-patches": "CVE-2017-16876,CVE-2017-15612"' "$output"
}

@test "CVE patch (pypi): a fix the index cannot meet fails the build with package, wanted and found versions, untagged" {
  require_keystone
  cat > "$PYCAT/patches/ksvuln.yaml" << 'EOF2'
"2025.1":
  - { package: Mistune, ecosystem: pypi, fixed: "0.9", advisories: [CVE-2017-16876], reason: "no such release" }
EOF2
  # Under another registry, so no earlier tag of ksvuln is in the way.
  run --separate-stderr gsipy ksvuln --registry localhost/gsi-pyfail --report "$BATS_TEST_TMPDIR/r.json"
  assert_status 1
  assert_contains "ksvuln: failed: CVE patch did not land: pypi Mistune wants 0.9 or later, found 0.8.1 in $SITE/mistune-0.8.1.dist-info (CVE-2017-16876; $PYCAT/patches/ksvuln.yaml:2)" "$stderr"
  assert_equal '"failed"' "$(report_get "$BATS_TEST_TMPDIR/r.json" ksvuln status)"
  # The log says why pip went on: the index's newest (0.8.1) is below the minimum, so pip upgraded to it.
  local logs
  logs=$(sed -n 's/^catalog build: release 2025.1, logs in //p' <<< "$stderr")
  run grep -x -e "ERROR: No matching distribution found for Mistune>=0.9" \
    -e "catalog build: pip cannot meet every declared minimum; upgrading as far as the index allows" \
    -e "Successfully installed Mistune-0.8.1" "$logs/ksvuln.log"
  assert_equal "ERROR: No matching distribution found for Mistune>=0.9
catalog build: pip cannot meet every declared minimum; upgrading as far as the index allows
Successfully installed Mistune-0.8.1" "$output"
  for tag in 2025.1-latest "2025.1-$(date -u +%Y%m%d)" 2025.1-candidate; do
    run "$GSI" --root "$KS_STORE" inspect "localhost/gsi-pyfail/ksvuln:$tag"
    assert_status 1
  done
  # A failed image gets no SBOM.
  assert_equal null "$(report_get "$BATS_TEST_TMPDIR/r.json" ksvuln sbom)"
  [ ! -e "$BATS_TEST_TMPDIR/ksvuln.2025.1.cdx.json" ]
}
