#!/usr/bin/env bats
# System tests of `gsi db` and `gsi scan` on a real image: debian:trixie (its dpkg status as Debian
# wrote it) plus Python distributions written with RUN into two venvs' site-packages, as pip would
# leave them: requests 2.19.1 and Jinja2 2.10 (vulnerable, fixed later), keystone 27.0.0 and nova
# 31.0.0 (modern OpenStack releases the 2012 PyPA records must not hit), and an old keystone 14.0.0
# in a second venv (hit by genuine modern-scheme advisories).  The database holds the whole PyPA
# snapshot (../shared/vulndata) and the Debian tracker excerpt of tests/data/vuln.
#
# Needs the trixie base (GSI_TEST_BOOTSTRAP=1 or CI=true, as root) and the PyPA snapshot (peer data).
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

REF=scan-test:1
TRACKER=tests/data/vuln/debian-tracker.json
# The npm package that ships the SARIF 2.1.0 schema (MIT); fetched at test time, never committed.
SARIF_SCHEMA_PKG=@microsoft/jest-sarif@1.0.0-beta.0

write_context ()
{
  mkdir -p "$1"
  cat >"$1/Containerfile" <<'EOF'
FROM debian:trixie
RUN set -e; s=/var/lib/openstack/lib/python3.13/site-packages; \
    for p in requests:2.19.1 Jinja2:2.10 keystone:27.0.0 nova:31.0.0; do \
      n=${p%%:*}; v=${p#*:}; d=$s/$n-$v.dist-info; mkdir -p $d; \
      printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n' $n $v >$d/METADATA; \
    done
RUN set -e; d=/opt/old/lib/python3.13/site-packages/keystone-14.0.0.dist-info; mkdir -p $d; \
    printf 'Metadata-Version: 2.1\nName: keystone\nVersion: 14.0.0\n\n' >$d/METADATA
EOF
}

setup_file ()
{
  if [ -z "${GSI_TRIXIE_STORE:-}" ] || [ "${GSI_TRIXIE_STATUS:-1}" -ne 0 ]; then
    return 0
  fi
  export SSTORE=$BATS_FILE_TMPDIR/store SDB=$BATS_FILE_TMPDIR/vuln.db
  copy_trixie_store "$SSTORE"
  write_context "$BATS_FILE_TMPDIR/ctx"
  "$GSI" --root "$SSTORE" build --network none -t "$REF" "$BATS_FILE_TMPDIR/ctx" >"$BATS_FILE_TMPDIR/build.out" 2>&1
  echo $? >"$BATS_FILE_TMPDIR/build.status"
}

setup ()
{
  common_setup
  # sort orders as the assertions spell it (Jinja2 before apt).
  export LC_ALL=C
  require_trixie
  require_pypa_snapshot
  require_file_build
  if [ ! -f "$SDB" ]; then
    "$GSI" db import --db "$SDB" "$SNAPSHOT" "$TRACKER" >"$BATS_FILE_TMPDIR/import.out"
  fi
  TMP=$BATS_TEST_TMPDIR
}

scan ()
{
  "$GSI" --root "$SSTORE" scan --db "$SDB" "$@" "$REF"
}

# "PACKAGE VERSION ID FIXED" per shown finding of a JSON report on stdin, sorted.
findings ()
{
  python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in d["findings"]:
    p = f["package"]
    print(p["name"], p["version"], f["id"], f["fixed_version"] or "-")
' | sort
}

@test "db import loads the PyPA snapshot and the tracker excerpt; db status shows them" {
  run cat "$BATS_FILE_TMPDIR/import.out"
  assert_contains "imported 2680 records from 2662 files" "$output"
  assert_contains "10 withdrawn" "$output"
  run -0 "$GSI" db status --db "$SDB"
  [[ "$output" =~ debian-tracker\ +19\  ]]
  [[ "$output" =~ osv:PyPI\ +2661\  ]]
  assert_contains "2024-10-10T17:22:00.587279Z" "$output"
  run -0 "$GSI" db status --db "$SDB" --format json
  assert_equal "2661" "$(python3 -c 'import json,sys; print([s["records"] for s in json.load(sys.stdin) if s["source"] == "osv:PyPI"][0])' <<<"$output")"
}

@test "db import of a malformed record names the file and the cause, and imports nothing" {
  local db=$TMP/v.db
  mkdir -p "$TMP/recs"
  printf 'id: OK-1\nmodified: 2024-01-01T00:00:00Z\naffected: []\n' >"$TMP/recs/a.yaml"
  printf 'id: BAD-1\nmodified: 2024-01-01T00:00:00Z\naffected:\n- package: {ecosystem: PyPI, name: x}\n  ranges:\n  - type: ECOSYSTEM\n    events: [{introduced: "0", fixed: "1"}]\n' >"$TMP/recs/b.yaml"
  run --separate-stderr "$GSI" db import --db "$db" "$TMP/recs"
  assert_status 1
  assert_equal "gsi: nothing imported: $TMP/recs/b.yaml: affected[0].ranges[0].events[0] needs exactly one of introduced, fixed, last_affected, limit" "$stderr"
  run -0 "$GSI" db status --db "$db"
  assert_contains "(empty" "$output"
  run --separate-stderr "$GSI" scan --db "$TMP/none.db" "$REF"
  assert_status 1
  assert_contains "no vulnerability database at $TMP/none.db" "$stderr"
}

@test "scan flags the vulnerable Python packages with their fixed versions, and the unfixed Debian ones" {
  run -0 scan --format json
  local got
  got=$(findings <<<"$output")
  note "$(wc -l <<<"$got") findings"
  assert_contains "requests 2.19.1 CVE-2018-18074 2.20.0" "$got"
  assert_contains "requests 2.19.1 CVE-2023-32681 2.31.0" "$got"
  assert_contains "Jinja2 2.10 CVE-2019-10906 2.10.1" "$got"
  assert_contains "Jinja2 2.10 CVE-2020-28493 2.11.3" "$got"
  assert_contains "keystone 14.0.0 CVE-2018-20170 14.1.0" "$got"
  assert_contains "keystone 14.0.0 CVE-2020-12689 15.0.1" "$got"
  assert_contains "libc6 2.41-12+deb13u5 CVE-2010-4756 -" "$got"
  assert_contains "apt 3.0.4 CVE-2011-3374 -" "$got"
  # Exactly these packages: the modern keystone and nova have none, fixed Debian CVEs do not show.
  assert_equal "Jinja2 apt coreutils keystone libapt-pkg7.0 libc-bin libc6 requests tar" \
    "$(awk '{print $1}' <<<"$got" | sort -u | tr '\n' ' ' | sed 's/ $//')"
  [[ "$got" != *"keystone 27.0.0"* ]]
  [[ "$got" != *"CVE-2023-4911"* ]]
  [[ "$got" != *"CVE-2012-3542"* ]]
  # Aliases are merged: CVE-2019-10906 is also GHSA-462w-v97r-4m45 and PYSEC-2019-217, shown once.
  assert_equal "1" "$(grep -c 'CVE-2019-10906' <<<"$got")"
  assert_contains '"GHSA-462w-v97r-4m45"' "$output"
}

@test "the date-scheme rule keeps the 2012 OpenStack records off keystone 27.0.0 and nova 31.0.0, and says so" {
  run -0 scan --format json
  local rule
  rule=$(python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["date_scheme_rule"]))' <<<"$output")
  assert_contains "PYSEC-2012-19 keystone 27.0.0" "$rule"
  assert_contains "PYSEC-2012-20 keystone 27.0.0" "$rule"
  assert_contains "PYSEC-2012-21 nova 31.0.0" "$rule"
  assert_contains "PYSEC-2012-19 keystone 14.0.0" "$rule"
  run -0 scan
  assert_contains "not matched by the date-scheme rule" "$output"
}

@test "scan prints a table with the totals, and the fixed version of fixable findings" {
  run -0 scan
  assert_contains "$REF (debian 13)" "$output"
  [[ "$output" =~ Total:\ [0-9]+\ \(UNKNOWN:\ [0-9]+,\ LOW:\ [0-9]+, ]]
  [[ "$output" =~ requests\ +pypi\ +2.19.1\ +CVE-2018-18074\ +UNKNOWN\ +2.20.0 ]]
  [[ "$output" =~ libc6\ +deb\ +2.41-12\+deb13u5\ +CVE-2010-4756\ +LOW\ +-\  ]]
}

@test "--severity and --ignore-unfixed filter, and --exit-code applies to what is left" {
  run -0 scan --format json --severity LOW
  [ -n "$(findings <<<"$output")" ]
  [[ "$(findings <<<"$output")" != *requests* ]]
  run -0 scan --format json --severity unknown,CRITICAL
  [[ "$(findings <<<"$output")" != *libc6* ]]
  assert_contains "requests" "$(findings <<<"$output")"
  run -0 scan --format json --ignore-unfixed
  [[ "$(findings <<<"$output")" != *" -"* ]]
  assert_contains "keystone 14.0.0 CVE-2018-20170 14.1.0" "$(findings <<<"$output")"
  run scan --exit-code 3
  assert_status 3
  run scan --exit-code 3 --severity CRITICAL
  assert_status 0
  assert_contains "Total: 0" "$output"
  run --separate-stderr scan --severity URGENT
  assert_status 2
  assert_contains "unknown severity \`URGENT\`" "$stderr"
}

@test "a plain .trivyignore: ids, aliases, comments, exp: dates" {
  cat >"$TMP/.trivyignore" <<'EOF'
# accepted for now
CVE-2018-18074
  GHSA-462w-v97r-4m45   exp:2999-01-01   # the GHSA id of CVE-2019-10906

CVE-2020-28493 exp:2000-01-01
CVE-2010-4756 # glob DoS, unimportant
EOF
  run -0 scan --format json --ignorefile "$TMP/.trivyignore"
  local got
  got=$(findings <<<"$output")
  [[ "$got" != *CVE-2018-18074* ]]
  [[ "$got" != *CVE-2019-10906* ]]
  [[ "$got" != *CVE-2010-4756* ]]
  # expired on 2000-01-01: shown again
  assert_contains "Jinja2 2.10 CVE-2020-28493 2.11.3" "$got"
  assert_contains "requests 2.19.1 CVE-2023-32681 2.31.0" "$got"
  local ignored
  ignored=$(python3 -c 'import json,sys; [print(i["id"], i["ignored_by"]) for i in json.load(sys.stdin)["ignored"]]' <<<"$output")
  assert_contains "CVE-2018-18074 $TMP/.trivyignore:2" "$ignored"
  assert_contains "CVE-2019-10906 $TMP/.trivyignore:3" "$ignored"
  assert_contains "CVE-2010-4756 $TMP/.trivyignore:6" "$ignored"
  run -0 scan --ignorefile "$TMP/.trivyignore"
  assert_contains "ignored:" "$output"
}

@test "a .trivyignore.yaml: ids with paths, purls (both Debian epoch forms), expired_at, statement" {
  cat >"$TMP/.trivyignore.yaml" <<'EOF'
vulnerabilities:
  # only the old venv's keystone
  - id: CVE-2018-20170
    paths:
      - "opt/old/**"
    statement: the old venv is not on any path
  - id: CVE-2020-12689
    paths: ["/var/lib/openstack/**"]
  - id: CVE-2010-4756
    purls:
      - pkg:deb/debian/libc6?arch=amd64
  - id: CVE-2011-3374
    purls:
      - pkg:deb/debian/apt@3.0.4?distro=debian-13
  - id: CVE-2017-18018
    purls: ["pkg:deb/debian/coreutils@9.7-3?epoch=0"]
  - id: CVE-2018-18074
    purls: ["pkg:pypi/Requests@2.19.1"]
    expired_at: 2000-01-01
  - id: CVE-2023-32681
    purls: ["pkg:pypi/requests@9.9"]
misconfigurations:
  - id: AVD-DS-0002
EOF
  run -0 scan --format json --ignorefile "$TMP/.trivyignore.yaml"
  local got
  got=$(findings <<<"$output")
  [[ "$got" != *"keystone 14.0.0 CVE-2018-20170"* ]]
  # the path does not cover /opt/old: still shown
  assert_contains "keystone 14.0.0 CVE-2020-12689 15.0.1" "$got"
  [[ "$got" != *"libc6 "* ]]
  assert_contains "libc-bin 2.41-12+deb13u5 CVE-2010-4756 -" "$got"
  [[ "$got" != *"apt 3.0.4 CVE-2011-3374"* ]]
  assert_contains "libapt-pkg7.0 3.0.4 CVE-2011-3374 -" "$got"
  [[ "$got" != *"coreutils"* ]]
  assert_contains "requests 2.19.1 CVE-2018-18074 2.20.0" "$got"
  assert_contains "requests 2.19.1 CVE-2023-32681 2.31.0" "$got"
  assert_contains "the old venv is not on any path" "$output"
}

@test "a malformed ignore file is an error naming the file and line" {
  printf 'CVE-2018-18074\nCVE-2019-10906 exp:2024-13-01\n' >"$TMP/bad.trivyignore"
  run --separate-stderr scan --ignorefile "$TMP/bad.trivyignore"
  assert_status 1
  assert_equal "" "$output"
  assert_equal "gsi: $TMP/bad.trivyignore:2: \`exp:2024-13-01\`: the expiry must be a date, exp:YYYY-MM-DD" "$stderr"
  printf 'vulnerabilities:\n  - id: CVE-1\n    expires: 2024-01-01\n' >"$TMP/bad.yaml"
  run --separate-stderr scan --ignorefile "$TMP/bad.yaml"
  assert_status 1
  assert_equal "gsi: $TMP/bad.yaml:3: unknown key \`expires\` (id, paths, purls, expired_at, statement)" "$stderr"
  printf 'vulnerabilities:\n  - paths: [a]\n' >"$TMP/noid.yml"
  run --separate-stderr scan --ignorefile "$TMP/noid.yml"
  assert_status 1
  assert_contains "$TMP/noid.yml:2: an entry of \`vulnerabilities\` has no \`id\`" "$stderr"
  printf 'vulnerabilities:\n  - id: CVE-1\n    purls: [npm/x]\n' >"$TMP/purl.yaml"
  run --separate-stderr scan --ignorefile "$TMP/purl.yaml"
  assert_status 1
  assert_contains "$TMP/purl.yaml:3: purl \`npm/x\`: a purl starts with \`pkg:\`" "$stderr"
  run --separate-stderr scan --ignorefile "$TMP/missing"
  assert_status 1
  assert_contains "open \`$TMP/missing\`" "$stderr"
}

# Fetches the SARIF schema into $1 from npm; prints its path, or nothing when npm cannot.
fetch_sarif_schema ()
{
  (cd "$1" && npm pack --silent "$SARIF_SCHEMA_PKG" >/dev/null 2>&1 && tar -xzf ./*.tgz package/lib/schemas/sarif-2.1.0-rtm.5.json) || return 0
  echo "$1/package/lib/schemas/sarif-2.1.0-rtm.5.json"
}

@test "SARIF output is what GitHub code scanning takes, and validates against the SARIF 2.1.0 schema" {
  run -0 scan --format sarif -o "$TMP/report.sarif"
  assert_equal "" "$output"
  local schema
  schema=$(fetch_sarif_schema "$TMP")
  if [ -z "$schema" ]; then
    [ "${GSI_REQUIRE_PEER_TESTS:-}" != 1 ] || { echo "cannot fetch $SARIF_SCHEMA_PKG from npm" >&2; return 1; }
    note "SARIF schema check NOT RUN: npm could not fetch $SARIF_SCHEMA_PKG (structural check only)"
    run -0 python3 tests/system/validate_sarif.py "$TMP/report.sarif"
  else
    run -0 python3 tests/system/validate_sarif.py "$TMP/report.sarif" "$schema"
    assert_contains "(schema checked)" "$output"
  fi
  note "sarif: $output"
  # Stable rule ids (the advisory id), a location in the image, a security-severity per rule.
  python3 - "$TMP/report.sarif" <<'EOF'
import json, sys
run = json.load(open(sys.argv[1]))["runs"][0]
rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
res = [r for r in run["results"] if r["ruleId"] == "CVE-2018-18074"]
assert len(res) == 1, res
loc = res[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
assert loc == "var/lib/openstack/lib/python3.13/site-packages/requests-2.19.1.dist-info", loc
assert "Fixed Version: 2.20.0" in res[0]["message"]["text"]
assert rules["CVE-2010-4756"]["properties"]["security-severity"] == "2.0"
assert rules["CVE-2010-4756"]["helpUri"] == "https://security-tracker.debian.org/tracker/CVE-2010-4756"
assert rules["CVE-2018-18074"]["helpUri"] == "https://osv.dev/vulnerability/CVE-2018-18074"
EOF
  # Two runs give the same ids and fingerprints.
  scan --format sarif -o "$TMP/again.sarif"
  cmp "$TMP/report.sarif" "$TMP/again.sarif"
}
