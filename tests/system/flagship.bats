#!/usr/bin/env bats
# The flagship test: a real two-stage build on debian:trixie (bootstrapped from deb.debian.org once
# per run by setup_suite.bash), checked with other tools' code: skopeo, umoci, the OCI image-spec
# JSON schemas, gsi run, a docker-archive export, and a fully cached rebuild.
#
# Stage 1 installs python3, python3-venv and hello with apt, makes a venv at /opt/venv and puts a
# module and its console script into it without pip (no PyPI here); stage 2 installs python3 only,
# copies the venv over, sets USER 42424 and a WORKDIR the user must own, and runs the script.
#
# Runs when GSI_TEST_BOOTSTRAP=1 or CI=true (and as root); skipped otherwise.  The build runs once,
# in setup_file; its output is checked by the first test and every later test needs it.
# shellcheck disable=SC2154 # status/output come from bats

load helpers
load trixie

REF=flagship:1

write_context ()
{
  local ctx=$1
  mkdir -p "$ctx/pkg"
  cat >"$ctx/pkg/greet.py" <<'EOF'
"""Installed into the venv without pip: says who and where it runs."""
import os
import sys


def main():
    probe = os.path.join(os.getcwd(), ".probe")
    with open(probe, "w") as f:
        f.write("x")
    os.unlink(probe)
    print("uid", os.getuid(), "cwd", os.getcwd(), "prefix", sys.prefix, "writable", True)
    return 0
EOF
  cat >"$ctx/pkg/install.sh" <<'EOF'
#!/bin/sh
# Puts the greet module into the venv's site-packages and writes its console script, as pip would.
set -eu
venv=$1
site=$("$venv/bin/python3" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
install -m 0644 /pkg/greet.py "$site/greet.py"
printf '#!%s/bin/python3\nimport sys\nfrom greet import main\nsys.exit(main())\n' "$venv" >"$venv/bin/greet"
chmod 0755 "$venv/bin/greet"
EOF
  cat >"$ctx/Containerfile" <<'EOF'
FROM debian:trixie AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv hello
RUN hello && python3 -m venv --without-pip /opt/venv
RUN --mount=type=bind,source=pkg,target=/pkg sh /pkg/install.sh /opt/venv

FROM debian:trixie
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
USER 42424
WORKDIR /srv/app
ENTRYPOINT ["/opt/venv/bin/greet"]
EOF
}

setup_file ()
{
  # bats 1.8 cannot skip from setup_file: without the base image, setup skips or fails each test.
  if [ -z "${GSI_TRIXIE_STORE:-}" ] || [ "${GSI_TRIXIE_STATUS:-1}" -ne 0 ]; then
    return 0
  fi
  export FSTORE=$BATS_FILE_TMPDIR/store FCTX=$BATS_FILE_TMPDIR/ctx
  copy_trixie_store "$FSTORE"
  write_context "$FCTX"
  local t0=$SECONDS
  "$GSI" --root "$FSTORE" build -t "$REF" "$FCTX" >"$BATS_FILE_TMPDIR/build.out" 2>&1
  echo $? >"$BATS_FILE_TMPDIR/build.status"
  note "flagship build took $((SECONDS - t0))s"
}

setup ()
{
  common_setup
  require_trixie
  STORE=$FSTORE
}

g ()
{
  "$GSI" --root "$STORE" "$@"
}

# Fails the calling test when setup_file's build failed (the first test shows why).
require_built ()
{
  if [ "$(cat "$BATS_FILE_TMPDIR/build.status")" -ne 0 ]; then
    echo "the flagship build failed; see the first test" >&2
    return 1
  fi
  DIGEST=$(grep '^built ' "$BATS_FILE_TMPDIR/build.out" | grep -o 'sha256:[0-9a-f]\{64\}')
}

json_get ()
{
  python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"
}

@test "flagship: a two-stage venv image builds on debian:trixie" {
  run cat "$BATS_FILE_TMPDIR/build.out"
  if [ "$(cat "$BATS_FILE_TMPDIR/build.status")" -ne 0 ]; then
    printf '%s\n' "$output" | tail -n 40 >&2
    return 1
  fi
  assert_contains "[1/12] FROM debian:trixie AS build" "$output"
  assert_contains "[11/12] WORKDIR /srv/app" "$output"
  # stage 1 really ran apt's packages
  assert_contains "Hello, world!" "$output"
  # Only stage 2's ARG comes from the cache: stage 1's same ARG on the same base made it.
  [[ "$(grep '^built ' <<<"$output")" =~ ^built\ sha256:[0-9a-f]{64}\ \(12\ steps,\ 1\ from\ cache\)$ ]]
  [[ "$output" != *"using cache"* ]]
  # stdout ends with the digest alone
  [[ "$(tail -n 1 <<<"$output")" =~ ^sha256:[0-9a-f]{64}$ ]]
}

@test "flagship: skopeo inspects it with the base's layers plus RUN, COPY and WORKDIR" {
  require_built
  run -0 skopeo inspect "oci:$STORE:debian:trixie"
  local base
  base=$(json_get "$output" 'len(d["Layers"])')
  run -0 skopeo inspect "oci:$STORE:$REF"
  assert_equal "$DIGEST" "$(json_get "$output" 'd["Digest"]')"
  assert_equal "$((base + 3))" "$(json_get "$output" 'len(d["Layers"])')"
  assert_equal "amd64 linux" "$(json_get "$output" 'd["Architecture"] + " " + d["Os"]')"
  run -0 skopeo inspect --config "oci:$STORE:$REF"
  assert_equal "42424 /srv/app ['/opt/venv/bin/greet'] None" \
    "$(json_get "$output" 'd["config"]["User"] + " " + d["config"]["WorkingDir"] + " " + str(d["config"]["Entrypoint"]) + " " + str(d["config"].get("Cmd"))')"
  # The history has one non-empty entry per layer, in order.
  assert_equal "$((base + 3))" "$(json_get "$output" 'sum(1 for h in d["history"] if not h.get("empty_layer"))')"
  assert_equal "WORKDIR /srv/app" "$(json_get "$output" '[h["created_by"] for h in d["history"] if not h.get("empty_layer")][-1]')"
}

@test "flagship: umoci unpacks it into a runtime bundle" {
  require_built
  run -0 umoci unpack --image "$STORE:$REF" "$BATS_TEST_TMPDIR/bundle"
  local b=$BATS_TEST_TMPDIR/bundle
  run -0 python3 -c 'import json, sys; p = json.load(open(sys.argv[1]))["process"]; print(p["user"]["uid"], p["cwd"], p["args"])' "$b/config.json"
  assert_equal "42424 /srv/app ['/opt/venv/bin/greet']" "$output"
  [ -x "$b/rootfs/opt/venv/bin/greet" ]
  assert_equal "/usr/bin/python3" "$(readlink "$b/rootfs/opt/venv/bin/python3")"
  [ -x "$b/rootfs/usr/bin/python3" ]
  # hello was only in the build stage.
  [ ! -e "$b/rootfs/usr/bin/hello" ]
  assert_equal "42424:42424 755" "$(stat -c '%u:%g %a' "$b/rootfs/srv/app")"
}

@test "flagship: index.json, manifest and config validate against the OCI image-spec schemas" {
  require_built
  local schemas=$PEER_DIR/oci-image-spec/schema
  if [ ! -f "$schemas/image-manifest-schema.json" ]; then
    if [ "${GSI_REQUIRE_PEER_TESTS:-}" = 1 ]; then
      echo "peer test data not present at '$schemas' but GSI_REQUIRE_PEER_TESTS=1" >&2
      return 1
    fi
    note "OCI schema validation NOT RUN: no peer test data at '$schemas'"
    skip "peer test data not present"
  fi
  run -0 python3 "$BATS_TEST_DIRNAME/validate_oci.py" "$schemas" "$STORE" "$REF"
  assert_contains "ok index.json (image-index-schema.json)" "$output"
  assert_contains "ok manifest $DIGEST (image-manifest-schema.json)" "$output"
  assert_contains "(config-schema.json)" "$output"
  # The validator can fail: a manifest with a broken media type does not pass.
  mkdir -p "$BATS_TEST_TMPDIR/bad"
  cp -a "$STORE/oci-layout" "$STORE/index.json" "$BATS_TEST_TMPDIR/bad/"
  mkdir -p "$BATS_TEST_TMPDIR/bad/blobs/sha256"
  python3 - "$STORE" "$BATS_TEST_TMPDIR/bad" "$REF" <<'PY'
import hashlib, json, os, sys
store, bad, ref = sys.argv[1:]
idx = json.load(open(os.path.join(store, "index.json")))
ent = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == ref][0]
man = json.load(open(os.path.join(store, "blobs/sha256", ent["digest"][7:])))
man["config"]["mediaType"] = "not a media type"
data = json.dumps(man).encode()
h = hashlib.sha256(data).hexdigest()
open(os.path.join(bad, "blobs/sha256", h), "wb").write(data)
ent["digest"], ent["size"] = "sha256:" + h, len(data)
idx["manifests"] = [ent]
json.dump(idx, open(os.path.join(bad, "index.json"), "w"))
PY
  run -1 python3 "$BATS_TEST_DIRNAME/validate_oci.py" "$schemas" "$BATS_TEST_TMPDIR/bad" "$REF"
  assert_contains "does not validate against image-manifest-schema.json" "$output"
}

@test "flagship: gsi run executes the entrypoint as uid 42424 in the WORKDIR it owns" {
  require_built
  run --separate-stderr g run "$REF"
  assert_status 0
  assert_equal "uid 42424 cwd /srv/app prefix /opt/venv writable True" "$output"
}

@test "flagship: export --format docker-archive is read by skopeo" {
  require_built
  local f=$BATS_TEST_TMPDIR/flagship-docker.tar
  run --separate-stderr g export "$REF" --format docker-archive -o "$f"
  assert_status 0
  run -0 skopeo inspect "docker-archive:$f"
  local n
  n=$(json_get "$output" 'len(d["Layers"])')
  run -0 skopeo inspect "oci:$STORE:$REF"
  assert_equal "$(json_get "$output" 'len(d["Layers"])')" "$n"
  run -0 skopeo inspect --config "docker-archive:$f"
  assert_equal "42424" "$(json_get "$output" 'd["config"]["User"]')"
}

@test "flagship: a rebuild takes every step from the cache and gives the same digest" {
  require_built
  run -0 g build -t "$REF" "$FCTX"
  assert_equal "built $DIGEST (12 steps, 10 from cache)" "$(grep '^built ' <<<"$output")"
  assert_equal "$DIGEST" "$(tail -n 1 <<<"$output")"
  # Every step that makes a layer says so; the two FROMs are the steps not counted.
  assert_equal "6" "$(grep -c '^\[[0-9]*/12\] using cache$' <<<"$output")"
  [[ "$output" != *"Hello, world!"* ]]
}
