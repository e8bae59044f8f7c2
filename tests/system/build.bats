#!/usr/bin/env bats
# gsi build: the real binary on small Containerfiles, each test with its own store.
#
# RUN needs an image with a shell: setup_file copies the host's sh and a few coreutils (with their
# libraries) into a rootfs, and each test builds it into its store as `base` with FROM scratch +
# COPY (no network, no pull).  Needs root: overlayfs and namespaces.

load helpers

setup_file ()
{
  if [ "$(id -u)" -ne 0 ]; then
    return 0
  fi
  local r=$BATS_FILE_TMPDIR/rootfs
  mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/home/app"
  chmod 1777 "$r/tmp"
  copy_host_commands "$r" sh ls rm mkdir ln cat mv touch chmod stat id sleep cp readlink grep head
  printf 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n' > "$r/etc/passwd"
  printf 'root:x:0:\nappgrp:x:1001:\nother:x:2002:\n' > "$r/etc/group"
  chown 1000:1001 "$r/home/app"
}

setup ()
{
  common_setup
  if [ "$(id -u)" -ne 0 ]; then
    skip "gsi build needs root (overlayfs, namespaces)"
  fi
  STORE=$BATS_TEST_TMPDIR/store
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
}

gsib ()
{
  "$GSI" --root "$STORE" build "$@"
}

# Builds the shell image as `base` into $STORE.
base_image ()
{
  local d=$BATS_TEST_TMPDIR/basectx
  mkdir -p "$d"
  cp -a "$BATS_FILE_TMPDIR/rootfs" "$d/rootfs"
  printf 'FROM scratch\nCOPY rootfs/ /\n%s\n' "${1:-}" > "$d/Containerfile"
  "$GSI" --root "$STORE" build -q -t base "$d" > /dev/null
}

# Runs shell commands in a fresh image built FROM $1 (no cache): a failing check fails the build.
check_in ()
{
  local img=$1 d=$BATS_TEST_TMPDIR/checkctx
  shift
  mkdir -p "$d"
  printf 'FROM %s\nRUN %s\n' "$img" "$*" > "$d/Containerfile"
  "$GSI" --root "$STORE" build --no-cache "$d"
}

# The layer blobs of REF, one path per line (bottom first).
layer_blobs ()
{
  python3 - "$STORE" "$1" <<'PY'
import json, sys
store, ref = sys.argv[1], sys.argv[2]
if ":" not in ref.rsplit("/", 1)[-1]:
    ref += ":latest"
idx = json.load(open(store + "/index.json"))
for m in idx["manifests"]:
    if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref:
        man = json.load(open(store + "/blobs/sha256/" + m["digest"].split(":")[1]))
        for l in man["layers"]:
            print(store + "/blobs/sha256/" + l["digest"].split(":")[1])
PY
}

# "tar tvf" of the top layer of REF.
top_layer ()
{
  tar tvf "$(layer_blobs "$1" | tail -n 1)"
}

# The config blob of REF, as stored (skopeo drops the Docker-only fields).
config_json ()
{
  local cfg
  cfg=$(skopeo inspect --raw "oci:$STORE:$1:latest" | python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["digest"].split(":")[1])')
  cat "$STORE/blobs/sha256/$cfg"
}

blob_count ()
{
  find "$STORE/blobs/sha256" -type f | wc -l
}

@test "build: FROM scratch + COPY makes an image skopeo reads" {
  echo hello > "$CTX/a.txt"
  mkdir -p "$CTX/dir/sub"
  echo b > "$CTX/dir/sub/b.txt"
  printf 'FROM scratch\nCOPY a.txt /a.txt\nCOPY dir /opt/\nENV A=1\nLABEL x=y\nCMD ["/bin/true"]\n' > "$CTX/Containerfile"
  run -0 gsib -t demo:1 "$CTX"
  digest=$(printf '%s\n' "$output" | tail -n 1)
  assert_contains "[2/6] COPY a.txt /a.txt" "$output"
  run -0 skopeo inspect "oci:$STORE:demo:1"
  assert_contains "$digest" "$output"
  assert_contains '"A=1"' "$output"
  run -0 skopeo inspect --config "oci:$STORE:demo:1"
  assert_contains '"x": "y"' "$output"
  assert_contains '"created_by": "COPY dir /opt/"' "$output"
  assert_contains '"empty_layer": true' "$output"
  run -0 top_layer demo:1
  assert_contains "opt/sub/b.txt" "$output"
}

@test "build: default file is Containerfile, then Dockerfile; missing context file is an error" {
  echo x > "$CTX/f"
  printf 'FROM scratch\nCOPY f /d\n' > "$CTX/Dockerfile"
  run -0 gsib -q -t a "$CTX"
  printf 'FROM scratch\nCOPY missing /d\n' > "$CTX/Containerfile"
  run -1 gsib -q -t b "$CTX"
  assert_contains "Containerfile:2: step [2/2] \`COPY missing /d\`" "$output"
  assert_contains "missing" "$output"
}

@test "build: an unchanged rebuild hits the cache on every step and gives the same digest" {
  echo 1 > "$CTX/f"
  printf 'FROM scratch\nCOPY f /f\nENV X=1\nCOPY f /g\n' > "$CTX/Containerfile"
  run -0 gsib -t c "$CTX"
  first=$(printf '%s\n' "$output" | tail -n 1)
  run -0 gsib -t c "$CTX"
  assert_contains "(4 steps, 3 from cache)" "$output"
  assert_equal "$first" "$(printf '%s\n' "$output" | tail -n 1)"
  run -0 gsib --no-cache -t c "$CTX"
  assert_contains "(4 steps, 0 from cache)" "$output"
}

@test "build: an edit that keeps size and mtime misses the cache; later steps rebuild" {
  echo aaaa > "$CTX/f"
  echo s > "$CTX/other"
  printf 'FROM scratch\nCOPY other /o\nCOPY f /f\nCOPY other /o2\n' > "$CTX/Containerfile"
  run -0 gsib -t e "$CTX"
  touch -r "$CTX/f" "$BATS_TEST_TMPDIR/stamp"
  echo bbbb > "$CTX/f"
  touch -r "$BATS_TEST_TMPDIR/stamp" "$CTX/f"
  run -0 gsib -t e "$CTX"
  assert_contains "(4 steps, 1 from cache)" "$output"
  run -0 top_layer e
  assert_contains "o2" "$output"
  # a touch alone (mtime only) still hits
  touch "$CTX/f"
  run -0 gsib -t e "$CTX"
  assert_contains "(4 steps, 3 from cache)" "$output"
}

@test "build: RUN runs in the base image; output is streamed under the step header" {
  base_image
  printf 'FROM base\nRUN echo out-line; echo err-line >&2\nRUN id -u\n' > "$CTX/Containerfile"
  run -0 gsib -t r "$CTX"
  assert_contains "[2/3] RUN echo out-line; echo err-line >&2" "$output"
  assert_contains "out-line" "$output"
  assert_contains "err-line" "$output"
}

@test "build: a failing RUN names step, file:line, exit code and last lines; no image, no partial blob" {
  base_image
  printf 'FROM base\nRUN echo keep > /k\nRUN echo one; echo two; exit 7\n' > "$CTX/Containerfile"
  gsib -q "$CTX" > /dev/null 2>&1 || true
  before=$(blob_count)
  run -1 gsib -t broken "$CTX"
  assert_contains "Containerfile:3: step [3/3] \`RUN echo one; echo two; exit 7\` failed with exit code 7" "$output"
  assert_contains "two" "$(error_lines "$output")$output"
  assert_equal "$before" "$(blob_count)"
  run -0 find "$STORE/gsi-private/tmp" -mindepth 1
  assert_equal "" "$output"
  run -1 grep -q broken "$STORE/index.json"
}

@test "build: a file deleted in a later RUN stays deleted, also on a cached rebuild" {
  base_image
  echo data > "$CTX/f"
  printf 'FROM base\nCOPY f /dir/f\nRUN echo two > /dir/g\nRUN rm /dir/f\n' > "$CTX/Containerfile"
  run -0 gsib -t del "$CTX"
  first=$(printf '%s\n' "$output" | tail -n 1)
  run -0 top_layer del
  assert_contains "dir/.wh.f" "$output"
  run -0 check_in del 'test ! -e /dir/f && test -e /dir/g'
  run -0 gsib -t del "$CTX"
  assert_contains "(4 steps, 3 from cache)" "$output"
  assert_equal "$first" "$(printf '%s\n' "$output" | tail -n 1)"
  run -0 check_in del 'test ! -e /dir/f && test -e /dir/g'
}

@test "build: a file removed from the context is gone after a rebuild" {
  base_image
  mkdir "$CTX/src"
  echo 1 > "$CTX/src/a"
  echo 2 > "$CTX/src/b"
  printf 'FROM base\nCOPY src /src/\n' > "$CTX/Containerfile"
  run -0 gsib -t ctxdel "$CTX"
  rm "$CTX/src/b"
  run -0 gsib -t ctxdel "$CTX"
  assert_contains "(2 steps, 0 from cache)" "$output"
  run -0 check_in ctxdel 'test -e /src/a && test ! -e /src/b'
}

@test "build: a directory deleted and re-created in one RUN is opaque" {
  base_image
  printf 'FROM base\nRUN mkdir -p /d/sub && echo old > /d/old && echo s > /d/sub/s\nRUN rm -rf /d && mkdir /d && echo new > /d/new\n' > "$CTX/Containerfile"
  run -0 gsib -t opq "$CTX"
  run -0 top_layer opq
  assert_contains "d/.wh..wh..opq" "$output"
  run -0 check_in opq 'test ! -e /d/old && test ! -e /d/sub && test "$(cat /d/new)" = new'
}

@test "build: a directory replaced by a symlink" {
  base_image
  printf 'FROM base\nRUN mkdir -p /d /target && echo x > /d/f\nRUN rm -rf /d && ln -s /target /d\n' > "$CTX/Containerfile"
  run -0 gsib -t dlink "$CTX"
  run -0 check_in dlink 'test -L /d && test "$(readlink /d)" = /target && test ! -e /target/f'
}

@test "build: a file added, removed and added again" {
  base_image
  printf 'FROM base\nRUN echo 1 > /f\nRUN rm /f\nRUN echo 3 > /f\n' > "$CTX/Containerfile"
  run -0 gsib -t again "$CTX"
  run -0 check_in again 'test "$(cat /f)" = 3'
  run -0 gsib -t again "$CTX"
  run -0 check_in again 'test "$(cat /f)" = 3'
}

@test "build: COPY of a symlink copies its target; a directory keeps its symlinks" {
  base_image
  mkdir -p "$CTX/links"
  echo real > "$CTX/links/real"
  ln -s real "$CTX/links/rel"
  ln -s /etc/passwd "$CTX/links/abs"
  ln -s links/real "$CTX/top"
  printf 'FROM base\nCOPY top /followed\nCOPY links /l/\n' > "$CTX/Containerfile"
  run -0 gsib -t syms "$CTX"
  run -0 check_in syms 'test -f /followed && ! test -L /followed && test "$(readlink /l/rel)" = real && test "$(readlink /l/abs)" = /etc/passwd && test "$(cat /l/rel)" = real'
}

@test "build: COPY into a path that is a symlink in the base writes through the link" {
  base_image 'RUN mkdir -p /opt/real && ln -s /opt/real /opt/link'
  echo f > "$CTX/f"
  printf 'FROM base\nCOPY f /opt/link/\n' > "$CTX/Containerfile"
  run -0 gsib -t through "$CTX"
  run -0 check_in through 'test -L /opt/link && test "$(cat /opt/real/f)" = f'
}

@test "build: --chown and --chmod with missing parents; names from the image" {
  base_image
  echo f > "$CTX/f"
  printf 'FROM base\nCOPY --chown=app:other --chmod=640 f /new/deep/f\nCOPY --chown=app f /home/app/g\nCOPY --chown=7:8 f /n\n' > "$CTX/Containerfile"
  run -0 gsib -t own "$CTX"
  run -0 check_in own 'test "$(stat -c %u:%g:%a /new/deep/f)" = 1000:2002:640 && test "$(stat -c %u:%g /new/deep)" = 1000:2002 && test "$(stat -c %u:%g /home/app/g)" = 1000:1001 && test "$(stat -c %u:%g /n)" = 7:8'
}

@test "build: hardlinks stay hardlinks" {
  base_image
  mkdir "$CTX/h"
  echo x > "$CTX/h/one"
  ln "$CTX/h/one" "$CTX/h/two"
  printf 'FROM base\nCOPY h /h/\nRUN echo y > /r1 && ln /r1 /r2\n' > "$CTX/Containerfile"
  run -0 gsib -t hl "$CTX"
  run -0 tar tvf "$(layer_blobs hl | sed -n 2p)"
  assert_contains "h/two link to h/one" "$output"
  run -0 top_layer hl
  assert_contains "r2 link to r1" "$output"
  run -0 check_in hl 'test "$(stat -c %i /h/one)" = "$(stat -c %i /h/two)" && test "$(stat -c %h /h/one)" = 2 && test "$(stat -c %i /r1)" = "$(stat -c %i /r2)"'
}

@test "build: --source-date-epoch gives identical digests in two empty stores" {
  echo a > "$CTX/a"
  mkdir "$CTX/d"
  echo b > "$CTX/d/b"
  printf 'FROM scratch\nCOPY a /a\nCOPY d /d/\nENV X=1\n' > "$CTX/Containerfile"
  run -0 "$GSI" --root "$BATS_TEST_TMPDIR/s1" build -q --source-date-epoch 1700000000 -t r "$CTX"
  one=$output
  sleep 1
  touch "$CTX/a"
  run -0 "$GSI" --root "$BATS_TEST_TMPDIR/s2" build -q --source-date-epoch 1700000000 -t r "$CTX"
  assert_equal "$one" "$output"
  SOURCE_DATE_EPOCH=1700000000 run -0 "$GSI" --root "$BATS_TEST_TMPDIR/s3" build -q -t r "$CTX"
  assert_equal "$one" "$output"
  run -0 skopeo inspect --config "oci:$BATS_TEST_TMPDIR/s1:r:latest"
  assert_contains '"created": "2023-11-14T22:13:20Z"' "$output"
}

@test "build: FROM an image that is not in the store says where it looked" {
  printf 'FROM debian:trixie\nRUN true\n' > "$CTX/Containerfile"
  run -1 gsib --pull never "$CTX"
  assert_contains "Containerfile:1: FROM \`debian:trixie\`: no such image in store $STORE (not pulled with --pull never; use gsi pull, gsi bootstrap or gsi import)" "$output"
}

@test "build: only the stages the target needs are built, in order; COPY --from a stage" {
  base_image
  printf 'FROM base AS unused\nRUN exit 1\nFROM base AS builder\nRUN echo built > /artifact\nFROM scratch AS final\nCOPY --from=builder /artifact /artifact\nFROM base\nRUN echo last\n' > "$CTX/Containerfile"
  run -0 gsib --target final -t multi "$CTX"
  assert_contains "FROM base AS builder" "$output"
  [[ "$output" != *"RUN exit 1"* ]]
  [[ "$output" != *"echo last"* ]]
  run -0 top_layer multi
  assert_contains "artifact" "$output"
}

@test "build: config fields; ENTRYPOINT resets an inherited CMD" {
  base_image 'CMD ["base-cmd"]'
  printf 'FROM base\nENTRYPOINT ["/bin/sh", "-c"]\nUSER app\nWORKDIR /w\nWORKDIR sub\nEXPOSE 80 53/udp\nVOLUME /data\nSTOPSIGNAL SIGINT\nSHELL ["/bin/sh", "-ec"]\nHEALTHCHECK --interval=5s CMD true\nONBUILD RUN echo hi\nLABEL a=b\n' > "$CTX/Containerfile"
  run -0 gsib -t cfg "$CTX"
  run -0 config_json cfg
  run -0 python3 -c 'import json,sys; print(json.load(sys.stdin)["config"].get("Cmd"))' <<< "$output"
  assert_equal "None" "$output"
  run -0 config_json cfg
  assert_contains '"User":"app"' "$output"
  assert_contains '"WorkingDir":"/w/sub"' "$output"
  assert_contains '"ExposedPorts":{"53/udp":{},"80/tcp":{}}' "$output"
  assert_contains '"Volumes":{"/data":{}}' "$output"
  assert_contains '"StopSignal":"SIGINT"' "$output"
  assert_contains '"created_by":"ENTRYPOINT [\"/bin/sh\" \"-c\"]","empty_layer":true' "$output"
  run -0 python3 -c 'import json,sys; c=json.load(sys.stdin)["config"]; print(c["Shell"], c["Healthcheck"], c["OnBuild"], c["Entrypoint"])' <<< "$output"
  assert_contains "['/bin/sh', '-ec'] {'Interval': 5000000000, 'Test': ['CMD-SHELL', 'true']} ['RUN echo hi'] ['/bin/sh', '-c']" "$output"
}

@test "build: ONBUILD triggers of a base image run first" {
  base_image
  printf 'FROM base\nONBUILD RUN echo triggered > /trig\n' > "$CTX/Containerfile"
  run -0 gsib -t parent "$CTX"
  run -0 check_in parent 'test "$(cat /trig)" = triggered'
  assert_contains "ONBUILD RUN echo triggered > /trig" "$output"
}

@test "build: RUN --mount=type=secret is readable in RUN and never in a layer or the history" {
  base_image
  printf s3cr3t > "$BATS_TEST_TMPDIR/secret"
  printf 'FROM base\nRUN --mount=type=secret,id=tok --mount=type=secret,id=tok,env=TOK,target=/s2 echo > /nothing; test -n "$TOK" && test "$TOK" = "$(cat /run/secrets/tok)" && test "$(cat /s2)" = "$TOK" && echo ok\n' > "$CTX/Containerfile"
  run -0 gsib --secret "id=tok,src=$BATS_TEST_TMPDIR/secret" -t sec "$CTX"
  assert_contains "ok" "$output"
  for b in $(layer_blobs sec); do
    run -1 sh -c "tar xOzf '$b' 2>/dev/null | grep -q s3cr3t"
  done
  run -0 skopeo inspect --config "oci:$STORE:sec:latest"
  [[ "$output" != *s3cr3t* ]]
}

@test "build: RUN --mount=type=cache persists across builds; bind mounts the context read-only" {
  base_image
  echo ctxfile > "$CTX/input"
  printf 'FROM base\nARG N\nRUN --mount=type=cache,target=/cache --mount=type=bind,target=/src echo $N >> /cache/log; cat /src/input; ! touch /src/x 2>/dev/null\n' > "$CTX/Containerfile"
  run -0 gsib --build-arg N=1 "$CTX"
  assert_contains "ctxfile" "$output"
  run -0 gsib --build-arg N=2 -t cm "$CTX"
  run -0 cat "$STORE"/gsi-private/mounts/*/log
  assert_equal "$(printf '1\n2')" "$output"
  # neither the mount targets nor their content land in the layer
  run -0 top_layer cm
  [[ "$output" != *cache* ]]
  [[ "$output" != *src* ]]
}

@test "build: COPY heredoc and ADD of local tar archives (gzip, xz, zstd, plain)" {
  base_image
  mkdir -p "$BATS_TEST_TMPDIR/t/pkg"
  echo inside > "$BATS_TEST_TMPDIR/t/pkg/file"
  tar czf "$CTX/a.tgz" -C "$BATS_TEST_TMPDIR/t" pkg
  tar cJf "$CTX/b.tar.xz" -C "$BATS_TEST_TMPDIR/t" pkg
  tar cf - -C "$BATS_TEST_TMPDIR/t" pkg | zstd -q > "$CTX/c.zst"
  tar cf "$CTX/d.tar" -C "$BATS_TEST_TMPDIR/t" pkg
  echo plain > "$CTX/notatar.gz"
  printf 'FROM base\nENV WHO=world\nCOPY <<EOF /etc/greeting\nhello $WHO\nEOF\nADD a.tgz /x/a/\nADD b.tar.xz /x/b\nADD c.zst /x/c/\nADD d.tar /x/d/\nADD notatar.gz /x/\n' > "$CTX/Containerfile"
  run -0 gsib -t adds "$CTX"
  run -0 check_in adds 'for d in a b c d; do test "$(cat /x/$d/pkg/file)" = inside || exit 1; done; test "$(cat /x/notatar.gz)" = plain && test "$(cat /etc/greeting)" = "hello world" && test "$(stat -c %a /etc/greeting)" = 644'
}

@test "build: ADD of a URL with --checksum" {
  base_image
  mkdir -p "$BATS_TEST_TMPDIR/www"
  echo served > "$BATS_TEST_TMPDIR/www/file.txt"
  python3 -m http.server 0 --bind 127.0.0.1 --directory "$BATS_TEST_TMPDIR/www" > "$BATS_TEST_TMPDIR/http.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do grep -q 'port' "$BATS_TEST_TMPDIR/http.log" && break; sleep 0.1; done
  port=$(sed -n 's/.*port \([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/http.log" | head -n 1)
  sum=$(sha256sum "$BATS_TEST_TMPDIR/www/file.txt" | cut -d' ' -f1)
  printf 'FROM base\nADD --checksum=sha256:%s http://127.0.0.1:%s/file.txt /dl/\n' "$sum" "$port" > "$CTX/Containerfile"
  run gsib -t url "$CTX"
  ok=$status
  printf 'FROM base\nADD --checksum=sha256:%s http://127.0.0.1:%s/file.txt /dl/\n' "$(printf '0%.0s' $(seq 64))" "$port" > "$CTX/Containerfile"
  run gsib -t urlbad "$CTX"
  bad=$status
  badout=$output
  kill "$pid"
  [ "$ok" -eq 0 ]
  [ "$bad" -eq 1 ]
  assert_contains "digest mismatch" "$badout"
  run -0 check_in url 'test "$(cat /dl/file.txt)" = served && test "$(stat -c %a /dl/file.txt)" = 600'
}

@test "build: --compression zstd writes zstd layers" {
  echo z > "$CTX/z"
  printf 'FROM scratch\nCOPY z /z\n' > "$CTX/Containerfile"
  run -0 gsib --compression zstd -t zz "$CTX"
  run -0 skopeo inspect --raw "oci:$STORE:zz:latest"
  assert_contains "application/vnd.oci.image.layer.v1.tar+zstd" "$output"
}

@test "build: COPY --link makes a layer that does not depend on the base" {
  base_image 'RUN mkdir -p /opt/real && ln -s /opt/real /opt/link'
  echo f > "$CTX/f"
  printf 'FROM base\nCOPY --link f /opt/link/f\n' > "$CTX/Containerfile"
  run -0 gsib -t lnk "$CTX"
  run -0 top_layer lnk
  assert_contains "opt/link/f" "$output"
}

@test "build: usage errors" {
  run -2 gsib
  assert_contains "expects exactly one CONTEXT" "$output"
  run -2 gsib --network bridge "$CTX"
  run -2 gsib --secret nope "$CTX"
  run -0 gsib --help
  assert_contains "--source-date-epoch" "$output"
}

@test "build: two steps with the same layer, then more steps (a layer dir stacked once)" {
  base_image
  printf 'FROM base\nRUN true\nRUN true\nRUN echo ok > /ok\n' > "$CTX/Containerfile"
  run -0 gsib -t same "$CTX"
  run -0 check_in same 'test "$(cat /ok)" = ok'
}

@test "build: RUN heredocs, plain and with a shebang" {
  base_image
  printf 'FROM base\nRUN <<EOF\necho one > /h1\necho two >> /h1\nEOF\nRUN <<EOT\n#!/bin/sh\necho "from $0" > /h2\nEOT\n' > "$CTX/Containerfile"
  run -0 gsib -t here "$CTX"
  run -0 check_in here 'test "$(cat /h1)" = "$(printf "one\ntwo")" && test "$(cat /h2)" = "from /dev/pipes/EOT"'
}

@test "build: COPY --exclude is relative to the copied directory; --parents keeps the path; WORKDIR-relative dest" {
  base_image
  mkdir -p "$CTX/sub/deep"
  echo a > "$CTX/sub/a.txt"
  echo b > "$CTX/sub/b.log"
  echo c > "$CTX/sub/deep/c.txt"
  printf 'FROM base\nWORKDIR /w\nCOPY --exclude=*.log sub ex/\nCOPY --parents sub/deep/c.txt /par/\n' > "$CTX/Containerfile"
  run -0 gsib -t excl "$CTX"
  run -0 check_in excl 'test -e /w/ex/a.txt && test ! -e /w/ex/b.log && test -e /w/ex/deep/c.txt && test -e /par/sub/deep/c.txt'
}

@test "build: COPY --from an image in the store; ADD --chown applies to an unpacked archive" {
  base_image
  mkdir -p "$BATS_TEST_TMPDIR/t/pkg"
  echo inside > "$BATS_TEST_TMPDIR/t/pkg/file"
  tar czf "$CTX/a.tgz" -C "$BATS_TEST_TMPDIR/t" pkg
  printf 'FROM scratch\nCOPY --from=base /etc/passwd /etc/passwd\nCOPY --from=base /etc/group /etc/group\nADD --chown=app a.tgz /x/\n' > "$CTX/Containerfile"
  run -0 gsib -t fromimg "$CTX"
  run -0 tar tvzf "$(layer_blobs fromimg | tail -n 1)"
  assert_contains "1000/1001" "$output"
  assert_contains "x/pkg/file" "$output"
}

@test "build: gsi --root before the command, GSI_ROOT, and several tags" {
  echo x > "$CTX/x"
  printf 'FROM scratch\nCOPY x /x\n' > "$CTX/Containerfile"
  run -0 "$GSI" --root "$STORE" build -q -t one -t two:2 "$CTX"
  d=$output
  GSI_ROOT=$STORE run -0 "$GSI" build -q -t three "$CTX"
  assert_equal "$d" "$output"
  run -0 skopeo inspect "oci:$STORE:two:2"
  assert_contains "$d" "$output"
  run -0 skopeo inspect "oci:$STORE:three:latest"
  assert_contains "$d" "$output"
}

@test "build: RUN --mount=type=tmpfs and --network=none" {
  base_image
  printf 'FROM base\nRUN --mount=type=tmpfs,target=/scratch echo t > /scratch/f && cat /scratch/f\nRUN --network=none cat /proc/net/dev > /netdev\n' > "$CTX/Containerfile"
  run -0 gsib -t tmpfs "$CTX"
  run -0 top_layer tmpfs
  [[ "$output" != *scratch* ]]
  run -0 check_in tmpfs 'test ! -e /scratch/f && grep -q lo: /netdev && test "$(grep -c : /netdev)" = 1'
}

@test "build: WORKDIR makes its directory, owned by USER, in a layer only when it is new" {
  base_image
  printf 'FROM base\nUSER app\nWORKDIR /srv/data\nWORKDIR /home/app\nUSER root\nWORKDIR /\nWORKDIR /made/by/root\nRUN pwd > /pwd\n' > "$CTX/Containerfile"
  run -0 gsib -t wd "$CTX"
  first=$(printf '%s\n' "$output" | tail -n 1)
  run -0 check_in wd 'test "$(stat -c %u:%g:%a /srv /srv/data)" = "$(printf "1000:1001:755\n1000:1001:755")" && test "$(stat -c %u:%g /made/by/root)" = 0:0 && test "$(cat /pwd)" = /made/by/root'
  # Two new directories, two layers; the existing /home/app and / add empty-layer history entries.
  run -0 config_json wd
  run -0 python3 -c 'import json,sys; h=json.load(sys.stdin)["history"]; print([(e["created_by"], e.get("empty_layer", False)) for e in h if e["created_by"].startswith("WORKDIR")])' <<< "$output"
  assert_equal "[('WORKDIR /srv/data', False), ('WORKDIR /home/app', True), ('WORKDIR /', True), ('WORKDIR /made/by/root', False)]" "$output"
  assert_equal "4" "$(layer_blobs wd | wc -l)"
  run -0 tar tvzf "$(layer_blobs wd | sed -n 2p)"
  assert_contains "1000/1001" "$output"
  assert_contains "srv/data/" "$output"
  run -0 gsib -t wd "$CTX"
  assert_contains "(8 steps, 7 from cache)" "$output"
  assert_equal "$first" "$(printf '%s\n' "$output" | tail -n 1)"
}

@test "build: COPY and ADD --chmod with a symbolic mode change each entry from its own mode" {
  base_image
  mkdir -p "$CTX/t/sub"
  echo p > "$CTX/t/plain"
  printf '#!/bin/sh\n' > "$CTX/t/tool"
  chmod 0600 "$CTX/t/plain"
  chmod 0700 "$CTX/t/tool" "$CTX/t/sub" "$CTX/t"
  printf 'FROM base\nCOPY --chmod=go+rX t /t/\nCOPY --chmod=u+x,go-rwx t/plain /p2\nADD --chmod=a=r t/tool /t3\nCOPY --chmod=g=u-w t/tool /t4\n' > "$CTX/Containerfile"
  run -0 gsib -t symchmod "$CTX"
  run -0 check_in symchmod 'test "$(stat -c %a /t /t/sub /t/plain /t/tool /p2 /t3 /t4)" = "$(printf "755\n755\n644\n755\n700\n444\n750")"'
  run -0 config_json symchmod
  assert_contains '"created_by":"COPY --chmod=go+rX t /t/"' "$output"
  printf 'FROM base\nCOPY --chmod=u+z t/plain /bad\n' > "$CTX/Containerfile"
  run -1 gsib "$CTX"
  assert_contains "u+z" "$output"
}
