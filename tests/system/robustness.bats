#!/usr/bin/env bats
# The store survives what operators do to it: a build killed at any point, two gsi processes at once.
# Each test has its own store; the base image is the host's sh and a few tools (no network).

load helpers

setup_file ()
{
  [ "$(id -u)" -eq 0 ] || return 0
  local r=$BATS_FILE_TMPDIR/rootfs
  mkdir -p "$r/bin" "$r/tmp"
  copy_host_commands "$r" sh sleep head cat rm
}

setup ()
{
  common_setup
  [ "$(id -u)" -eq 0 ] || skip "gsi build needs root (overlayfs, namespaces)"
  STORE=$BATS_TEST_TMPDIR/store
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
  cp -a "$BATS_FILE_TMPDIR/rootfs" "$CTX/rootfs"
}

# Every blob under blobs/sha256 hashes to its name, and every tag's manifest is there.
store_is_valid ()
{
  python3 - "$STORE" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
d = os.path.join(root, "blobs", "sha256")
for name in os.listdir(d):
    h = hashlib.sha256()
    with open(os.path.join(d, name), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert h.hexdigest() == name, "blob %s hashes to %s" % (name, h.hexdigest())
idx = json.load(open(os.path.join(root, "index.json")))
for m in idx["manifests"]:
    assert os.path.exists(os.path.join(d, m["digest"].split(":")[1])), m
print("valid: %d blobs, %d tags" % (len(os.listdir(d)), len(idx["manifests"])))
PY
}

@test "a build killed with SIGKILL at any step leaves a valid store, and the next build works" {
  cat > "$CTX/Containerfile" <<'CF'
FROM scratch
COPY rootfs/ /
RUN head -c 50000000 /dev/zero > /big && sleep 0.3
RUN sleep 2 && echo done > /marker
CF
  # Kill it at several points: during the first RUN's output and during the second RUN.
  for delay in 0.3 1.0 2.0; do
    "$GSI" --root "$STORE" build -q -t killed "$CTX" > /dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    run store_is_valid
    assert_status 0
    # No overlay of this store stays mounted after gsi died.
    run grep -c "$STORE" /proc/self/mountinfo
    assert_equal "0" "$output"
  done
  run "$GSI" --root "$STORE" build -q -t killed "$CTX"
  assert_status 0
  run "$GSI" --root "$STORE" run killed cat /marker
  assert_status 0
  assert_equal "done" "$output"
}

@test "two builds into one store at the same time both land" {
  mkdir -p "$CTX/a" "$CTX/b"
  printf 'FROM scratch\nCOPY rootfs/ /\nRUN echo a > /which && sleep 1\n' > "$CTX/a.Containerfile"
  printf 'FROM scratch\nCOPY rootfs/ /\nRUN echo b > /which && sleep 1\n' > "$CTX/b.Containerfile"
  "$GSI" --root "$STORE" build -q -f "$CTX/a.Containerfile" -t img-a "$CTX" > "$BATS_TEST_TMPDIR/a.out" 2>&1 &
  pa=$!
  "$GSI" --root "$STORE" build -q -f "$CTX/b.Containerfile" -t img-b "$CTX" > "$BATS_TEST_TMPDIR/b.out" 2>&1 &
  pb=$!
  wait "$pa"
  wait "$pb"
  run store_is_valid
  assert_status 0
  run "$GSI" --root "$STORE" run img-a cat /which
  assert_equal "a" "$output"
  run "$GSI" --root "$STORE" run img-b cat /which
  assert_equal "b" "$output"
}
