#!/usr/bin/env bats
# System tests of `gsi push`: the real binary pushes to Debian's docker-registry (the CNCF
# distribution registry, started here on a free 127.0.0.1 port with its own storage), and skopeo,
# an independent client, copies the image back and must see the same manifest digest.

load helpers

REGISTRY_BIN=${GSI_DOCKER_REGISTRY:-/usr/bin/docker-registry}

free_port ()
{
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

setup_file ()
{
  [ -x "$REGISTRY_BIN" ] || return 0
  local dir=$BATS_FILE_TMPDIR/registry port
  mkdir -p "$dir/storage"
  port=$(free_port)
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
EOF
  "$REGISTRY_BIN" serve "$dir/config.yml" >"$dir/log" 2>&1 3>&- &
  echo $! >"$dir/pid"
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/v2/" && break
    sleep 0.1
  done
  curl -sf -o /dev/null "http://127.0.0.1:$port/v2/"
  export REG=127.0.0.1:$port

  # A tiny root filesystem: one file is enough for a layer.
  mkdir -p "$BATS_FILE_TMPDIR/rootfs/etc"
  echo push-test >"$BATS_FILE_TMPDIR/rootfs/etc/push-release"
  head -c 200000 /dev/urandom >"$BATS_FILE_TMPDIR/rootfs/etc/noise"
  tar -C "$BATS_FILE_TMPDIR/rootfs" -cf "$BATS_FILE_TMPDIR/rootfs.tar" .
  export ROOTFS_TAR=$BATS_FILE_TMPDIR/rootfs.tar
}

teardown_file ()
{
  local pidfile=$BATS_FILE_TMPDIR/registry/pid
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
  fi
}

setup ()
{
  common_setup
  require_tools "$REGISTRY_BIN"
  STORE=$BATS_TEST_TMPDIR/store
}

g ()
{
  "$GSI" --root "$STORE" "$@"
}

import_image ()
{
  run --separate-stderr g import "$ROOTFS_TAR" "$1"
  assert_status 0
  LOCAL_DIGEST=$output
}

@test "gsi push --help lists its options and gsi --help lists push" {
  run g --help
  assert_status 0
  assert_contains "  push " "$output"
  run g push --help
  assert_status 0
  assert_contains "Usage: gsi [--root DIR] push" "$output"
  for o in --tls-verify=BOOL --authfile --jobs --chunked --quiet --digestfile; do
    assert_contains "$o" "$output"
  done
}

@test "gsi push then skopeo copy gives the same manifest digest; a second push uploads nothing" {
  import_image "$REG/gsi/tiny:1"
  run --separate-stderr g push --tls-verify=false --digestfile "$BATS_TEST_TMPDIR/d" "$REG/gsi/tiny:1"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"
  assert_equal "$LOCAL_DIGEST" "$(cat "$BATS_TEST_TMPDIR/d")"
  assert_contains ": uploaded " "$stderr"

  run skopeo copy --src-tls-verify=false "docker://$REG/gsi/tiny:1" "oci:$BATS_TEST_TMPDIR/copy:tiny"
  assert_status 0
  local copied
  copied=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' \
    "$BATS_TEST_TMPDIR/copy/index.json")
  assert_equal "$LOCAL_DIGEST" "$copied"
  run skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$REG/gsi/tiny:1"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"

  run --separate-stderr g push --tls-verify=false "$REG/gsi/tiny:1"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"
  assert_contains ": exists" "$stderr"
  if printf '%s\n' "$stderr" | grep -q ': uploaded '; then
    echo "second push uploaded a blob: $stderr" >&2
    return 1
  fi
  assert_contains "0 blobs uploaded" "$stderr"
}

@test "gsi push SRC DEST to a second repository mounts the blobs; -q prints only the digest" {
  import_image local:1
  run --separate-stderr g push --tls-verify=false local:1 "$REG/first/img:a"
  assert_status 0
  run --separate-stderr g push --tls-verify=false --jobs 1 local:1 "$REG/second/img:b"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"
  assert_contains "mounted from first/img" "$stderr"
  assert_contains "2 mounted" "$stderr"
  run --separate-stderr g push -q --tls-verify=false local:1 "$REG/second/img:c"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"
  assert_equal "" "$stderr"
}

@test "gsi push --chunked uploads in PATCH chunks and skopeo reads the result" {
  import_image chunky:1
  run --separate-stderr g push --tls-verify=false --chunked chunky:1 "$REG/gsi/chunky:1"
  assert_status 0
  assert_equal "$LOCAL_DIGEST" "$output"
  run skopeo copy --src-tls-verify=false "docker://$REG/gsi/chunky:1" "oci:$BATS_TEST_TMPDIR/copy:c"
  assert_status 0
}

@test "pushing an image that is not in the store is a clear error" {
  run --separate-stderr g push --tls-verify=false "$REG/gsi/missing:1"
  assert_status 1
  assert_contains "gsi: " "$stderr"
  assert_contains "missing:1" "$stderr"
  [ -z "$output" ]
}

@test "gsi push without DEST needs a registry in SRC; bad options are usage errors" {
  run --separate-stderr g push tiny:1
  assert_status 2
  assert_contains "names no registry" "$stderr"
  run --separate-stderr g push --tls-verify=maybe "$REG/gsi/x:1"
  assert_status 2
  run --separate-stderr g push --jobs 0 "$REG/gsi/x:1"
  assert_status 2
  run --separate-stderr g push a b c
  assert_status 2
}

@test "pushing to a registry that is down fails with a clear error after retries" {
  import_image "127.0.0.1:1/gsi/down:1"
  local port
  port=$(free_port)
  run --separate-stderr g push --tls-verify=false "127.0.0.1:1/gsi/down:1" "127.0.0.1:$port/gsi/down:1"
  assert_status 1
  assert_contains "gsi: " "$stderr"
  assert_contains "127.0.0.1:$port" "$stderr"
  [ -z "$output" ]
}
