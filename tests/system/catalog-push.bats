#!/usr/bin/env bats
# gsi catalog build --push --registry: the small test catalog (tests/data/catalog) built under a
# namespace of the local registry (tests/registry/start.sh; scripts/test.sh starts it, else
# setup_file does) and pushed, both tags; skopeo is the independent client that reads it back.
# shellcheck disable=SC2154 # status/output come from bats

load helpers

CAT=tests/data/catalog/catalog.yaml

setup_file ()
{
  [ "$(id -u)" -eq 0 ] || return 0
  local state=${GSI_REG_STATE:-/tmp/gsi-registries} here
  here=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  if [ ! -f "$state/env" ] || ! GSI_REG_STATE=$state "$here/tests/registry/start.sh" status > /dev/null 2>&1; then
    GSI_REG_STATE=$state "$here/tests/registry/start.sh" >&2
  fi
  # shellcheck disable=SC1091 # written by start.sh
  . "$state/env"
  export NS="gsi-catalog/r$(date +%s)-$$"
  make_test_base_context "$BATS_FILE_TMPDIR/basectx"
}

setup ()
{
  common_setup
  [ "$(id -u)" -eq 0 ] || skip "gsi catalog build needs root (overlayfs, namespaces)"
  STORE=$BATS_TEST_TMPDIR/store
  export TMPDIR=$BATS_TEST_TMPDIR
  # registries.yaml of the test registries: plain HTTP allowed on 127.0.0.1.
  export GSI_REGISTRIES_CONF=$GSI_REG_CONF
  "$GSI" --root "$STORE" build -q -t gsi-test-base:1 "$BATS_FILE_TMPDIR/basectx" > /dev/null
}

push_field ()
{
  python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["images"]:
    if i["name"] == sys.argv[2]: print(i["push"][sys.argv[3]] if i.get("push") else None)' "$1" "$2" "$3"
}

@test "catalog build --push --registry: parents and child pushed with both tags; a second push uploads nothing" {
  local reg=$GSI_REG_PLAIN/$NS
  run "$GSI" --root "$STORE" catalog build --catalog "$CAT" --release r1 --registry "$reg" --push \
    --report "$BATS_TEST_TMPDIR/first.json" grandchild
  assert_status 0
  assert_contains "root: pushed sha256:" "$output"
  assert_contains "grandchild: pushed sha256:" "$output"
  # The tags are under the new registry, and the child was built FROM the new registry's parent.
  run "$GSI" --root "$STORE" images
  assert_contains "$reg/child" "$output"
  [[ "$output" != *"localhost/gsi-test/child"* ]]
  local date img d
  date=$(date -u +%Y%m%d)
  for img in root child grandchild; do
    d=$(push_field "$BATS_TEST_TMPDIR/first.json" "$img" digest)
    [ "$(push_field "$BATS_TEST_TMPDIR/first.json" "$img" blobs_uploaded)" -ge 1 ] || [ "$img" != root ]
    # The registry's manifest digest for both tags is the one gsi reported, and the local image's.
    run skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/$img:r1-latest"
    assert_status 0
    assert_equal "$d" "$output"
    run skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$reg/$img:r1-$date"
    assert_equal "$d" "$output"
    run "$GSI" --root "$STORE" inspect "$reg/$img:r1-latest"
    assert_contains "$d" "$output"
  done
  # Second run: every image unchanged, every blob already there.
  run "$GSI" --root "$STORE" catalog build --catalog "$CAT" --release r1 --registry "$reg" --push \
    --report "$BATS_TEST_TMPDIR/second.json" grandchild
  assert_status 0
  for img in root child grandchild; do
    assert_equal 0 "$(push_field "$BATS_TEST_TMPDIR/second.json" "$img" blobs_uploaded)"
    assert_equal 0 "$(push_field "$BATS_TEST_TMPDIR/second.json" "$img" bytes_uploaded)"
  done
}

@test "catalog build --push to a registry that refuses fails the image, keeps its local tags, skips its children" {
  # Port 9 (discard) on loopback: nothing listens, the connection is refused.
  run "$GSI" --root "$STORE" catalog build --catalog "$CAT" --release r1 --registry 127.0.0.1:9/nowhere --push \
    --keep-going --report "$BATS_TEST_TMPDIR/r.json" child
  assert_status 1
  assert_contains "root: failed: push failed:" "$output"
  assert_contains "child: skipped: parent \`root\` failed" "$output"
  run "$GSI" --root "$STORE" inspect 127.0.0.1:9/nowhere/root:r1-latest
  assert_status 0
}

@test "catalog build --registry: a registry that is not a reference name is a usage error" {
  run "$GSI" --root "$STORE" catalog build --catalog "$CAT" --release r1 --registry 'Not A/Registry' root
  assert_status 1
  assert_contains "registry \`Not A/Registry\` is not REGISTRY-HOST[:PORT]/PATH" "$output"
}

@test "catalog build: a base without a bootstrap that the store lacks is pulled from its registry" {
  local cat=$BATS_TEST_TMPDIR/cat base=$GSI_REG_PLAIN/$NS/base:1 want
  cp -r tests/data/catalog "$cat"
  sed -i "s|gsi-test-base:1|$base|" "$cat/catalog.yaml" "$cat"/ContainerFiles/*
  run --separate-stderr "$GSI" --root "$STORE" push -q gsi-test-base:1 "$base"
  assert_status 0
  want=$output
  # A fresh store: only the registry has the base.
  run "$GSI" --root "$BATS_TEST_TMPDIR/fresh" catalog build --catalog "$cat/catalog.yaml" --release r1 root
  assert_status 0
  assert_contains "base testbase: pulling \`$base\`" "$output"
  assert_contains "root: built" "$output"
  run "$GSI" --root "$BATS_TEST_TMPDIR/fresh" inspect "$base"
  assert_status 0
  assert_contains "$want" "$output"
  # A base the registry does not have: the error names the base, the reference and the cause.
  sed -i "s|$base|$GSI_REG_PLAIN/$NS/missing:1|" "$cat/catalog.yaml" "$cat"/ContainerFiles/*
  run "$GSI" --root "$BATS_TEST_TMPDIR/fresh2" catalog build --catalog "$cat/catalog.yaml" --release r1 root
  assert_status 1
  assert_contains "base \`testbase\` (\`$GSI_REG_PLAIN/$NS/missing:1\`) is not in the store and its pull failed" "$output"
  assert_contains "failed (exit 1): pull $GSI_REG_PLAIN/$NS/missing:1: GET http://" "$output"
  assert_contains "404 Not Found: MANIFEST_UNKNOWN" "$output"
}
