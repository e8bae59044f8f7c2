#!/usr/bin/env bats
# gsi pull and gsi build --pull against Debian's docker-registry (the CNCF distribution registry):
# images made by gsi are pushed by skopeo, an independent client, then pulled back by gsi and
# compared by manifest digest.  Two registries run for the whole file on free 127.0.0.1 ports
# (plain HTTP): the registry, and a second one that serves as a mirror.  Tests that run or build
# need root (overlayfs, namespaces); the debian:trixie round trip needs the suite's bootstrap
# (tests/system/trixie.bash).

load helpers
load trixie

free_port ()
{
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a registry with its storage in $1 and prints its port.
start_registry ()
{
  local dir=$1 port i
  port=$(free_port)
  mkdir -p "$dir"
  cat > "$dir/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/storage
http:
  addr: 127.0.0.1:$port
EOF
  /usr/bin/docker-registry serve "$dir/config.yml" > "$dir/log" 2>&1 < /dev/null 3>&- &
  echo $! > "$dir/pid"
  for i in $(seq 100); do
    if (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then
      echo "$port"
      return 0
    fi
    sleep 0.1
  done
  echo "registry in $dir did not start:" >&2
  cat "$dir/log" >&2
  return 1
}

setup_file ()
{
  if [ ! -x /usr/bin/docker-registry ] || ! command -v skopeo > /dev/null; then
    return 0
  fi
  REG_PORT=$(start_registry "$BATS_FILE_TMPDIR/registry")
  MIRROR_PORT=$(start_registry "$BATS_FILE_TMPDIR/mirror")
  export REG_PORT MIRROR_PORT
  REG=127.0.0.1:$REG_PORT
  export REG
  SRC=$BATS_FILE_TMPDIR/src
  export SRC

  # files:v1, a one-layer image of plain files, made by gsi import.
  local r=$BATS_FILE_TMPDIR/files
  mkdir -p "$r/etc"
  echo hello > "$r/etc/hello"
  tar -C "$r" -cf "$BATS_FILE_TMPDIR/files.tar" .
  "$GSI" --root "$SRC" import --source-date-epoch 1700000000 "$BATS_FILE_TMPDIR/files.tar" files:v1 > /dev/null

  # shell:v1, the host's sh and cat with their libraries, for gsi run (root only: gsi build).
  if [ "$(id -u)" -eq 0 ]; then
    local c=$BATS_FILE_TMPDIR/shellctx b p l
    r=$c/rootfs
    mkdir -p "$r/bin" "$r/etc"
    for b in sh cat; do
      p=$(command -v "$b")
      cp -L "$p" "$r/bin/"
      for l in $(ldd "$p" | grep -o '/[^ ]*'); do
        mkdir -p "$r$(dirname "$l")"
        cp -Ln "$l" "$r$l"
      done
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
    printf 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/sh"]\n' > "$c/Containerfile"
    "$GSI" --root "$SRC" build -q --source-date-epoch 1700000000 -t shell:v1 "$c" > /dev/null
  fi
}

teardown_file ()
{
  local d
  for d in registry mirror; do
    if [ -f "$BATS_FILE_TMPDIR/$d/pid" ]; then
      kill "$(cat "$BATS_FILE_TMPDIR/$d/pid")" 2> /dev/null || true
    fi
  done
}

setup ()
{
  common_setup
  require_tools /usr/bin/docker-registry skopeo
  # The tools are there: setup_file started the registries or said why it could not.
  [ -n "${REG_PORT:-}" ]
  STORE=$BATS_TEST_TMPDIR/store
  # No registries.yaml of the machine or the user may change what these tests see.
  export GSI_REGISTRIES_CONF=$BATS_TEST_TMPDIR/registries.yaml
  printf 'registries: {}\n' > "$GSI_REGISTRIES_CONF"
}

need_root ()
{
  if [ "$(id -u)" -ne 0 ]; then
    skip "needs root (overlayfs and namespaces)"
  fi
}

# skopeo copy SRC-TAG DEST [FLAGS...]: from the fixture layout into a registry (DEST is HOST:PORT/NAME:TAG).
skopeo_push ()
{
  local src=$1 dest=$2
  shift 2
  skopeo copy --quiet --dest-tls-verify=false "$@" "oci:$SRC:$src" "docker://$dest"
}

registry_digest ()
{
  skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$1"
}

gsip ()
{
  "$GSI" --root "$STORE" pull --tls-verify=false "$@"
}

@test "pull: --help lists the options; REF is required" {
  run -0 "$GSI" pull --help
  assert_contains "--platform OS/ARCH[/VARIANT]" "$output"
  assert_contains "--tls-verify=BOOL" "$output"
  assert_contains "--authfile FILE" "$output"
  assert_contains "--jobs N" "$output"
  run -2 "$GSI" pull
  assert_contains "expects exactly one image reference" "$output"
  run -2 "$GSI" pull --jobs 0 x
  assert_contains "--jobs wants a number from 1 to 64" "$output"
  run -2 "$GSI" pull --tls-verify=maybe x
  assert_contains "--tls-verify must be true or false" "$output"
}

@test "pull: an image skopeo pushed comes back with the registry's manifest digest" {
  skopeo_push files:v1 "$REG/files:v1"
  want=$(registry_digest "$REG/files:v1")
  run -0 --separate-stderr gsip "$REG/files:v1"
  assert_equal "$want" "$output"
  assert_contains "pulled $REG/files:v1 from $REG: 2 blobs fetched" "$stderr"
  assert_contains "0 already present" "$stderr"
  # The store is an OCI layout another tool reads: skopeo finds the tag and the same manifest.
  run -0 skopeo inspect --format '{{.Digest}}' "oci:$STORE:$REG/files:v1"
  assert_equal "$want" "$output"
  run -0 "$GSI" --root "$STORE" images --format json
  assert_contains "\"$REG/files:v1\"" "$output"

  # Again: nothing is fetched.
  run -0 --separate-stderr gsip "$REG/files:v1"
  assert_equal "$want" "$output"
  assert_contains "0 blobs fetched (0 bytes), 2 already present" "$stderr"
}

@test "pull: -q prints only the digest; a digest reference tags nothing" {
  skopeo_push files:v1 "$REG/files:v1"
  want=$(registry_digest "$REG/files:v1")
  run -0 --separate-stderr gsip -q "$REG/files@$want"
  assert_equal "$want" "$output"
  assert_equal "" "$stderr"
  run -0 "$GSI" --root "$STORE" images --format json
  assert_equal "[]" "$output"
  run -0 "$GSI" --root "$STORE" inspect "$want"
}

@test "pull: errors name what failed" {
  run -1 gsip "$REG/nosuch:v1"
  assert_contains "gsi: pull $REG/nosuch:v1: GET http://$REG/v2/nosuch/manifests/v1: 404" "$output"
  run -1 gsip "$REG/UPPER:v1"
  assert_contains "invalid reference" "$output"
  skopeo_push files:v1 "$REG/files:v1"
  run -1 gsip --platform linux "$REG/files:v1"
  assert_contains "invalid platform \`linux\` (want OS/ARCH[/VARIANT]" "$output"
  # A wrong digest is refused before anything is stored.
  run -1 gsip "$REG/files@sha256:0000000000000000000000000000000000000000000000000000000000000000"
  assert_contains "404" "$output"
  run -0 "$GSI" --root "$STORE" images --format json
  assert_equal "[]" "$output"
}

@test "pull: --platform picks the image of an index; an unknown one lists what there is" {
  skopeo_push files:v1 "$REG/idx:files"
  skopeo_push files:v1 "$REG/idx:files-docker" --format v2s2
  files=$(registry_digest "$REG/idx:files")
  files_docker=$(registry_digest "$REG/idx:files-docker")
  # An index of two platforms, PUT straight into the registry (OCI children must be in the repository).
  python3 - "$REG" "$files" "$files_docker" <<'PY'
import json, sys, urllib.request
reg, a, b = sys.argv[1:]
def size(d):
    with urllib.request.urlopen(urllib.request.Request(f"http://{reg}/v2/idx/manifests/{d}", headers={"Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})) as r:
        return len(r.read()), r.headers["Content-Type"]
la, ta = size(a)
lb, tb = size(b)
idx = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [
    {"mediaType": ta, "digest": a, "size": la, "platform": {"os": "linux", "architecture": "s390x"}},
    {"mediaType": tb, "digest": b, "size": lb, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]}
req = urllib.request.Request(f"http://{reg}/v2/idx/manifests/multi", data=json.dumps(idx).encode(), method="PUT",
                             headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
urllib.request.urlopen(req)
PY
  run -0 --separate-stderr gsip --platform linux/s390x "$REG/idx:multi"
  assert_equal "$files" "$output"
  assert_contains "linux/s390x is $files" "$stderr"
  run -0 --separate-stderr gsip --platform linux/arm/v7 "$REG/idx:multi"
  assert_equal "$files_docker" "$output"
  run -0 "$GSI" --root "$STORE" inspect "$REG/idx:multi"
  assert_contains "application/vnd.docker.distribution.manifest.v2+json" "$output"
  run -1 gsip --platform linux/mips64le "$REG/idx:multi"
  assert_contains "has no image for linux/mips64le (available: linux/s390x, linux/arm/v7)" "$output"
}

@test "pull: a Docker schema 2 image skopeo pushed runs with gsi run" {
  need_root
  skopeo_push shell:v1 "$REG/shell:docker" --format v2s2
  want=$(registry_digest "$REG/shell:docker")
  run -0 --separate-stderr gsip "$REG/shell:docker"
  assert_equal "$want" "$output"
  # The manifest is stored as the registry sent it, under its digest, and the tag names it with
  # the Docker media type.  (skopeo 1.9's oci: transport finds a tag only on an OCI media type, so
  # the layout is read directly.)
  local m=$STORE/blobs/sha256/${want#sha256:}
  assert_equal "${want#sha256:}" "$(sha256sum < "$m" | cut -d' ' -f1)"
  assert_contains '"mediaType":"application/vnd.docker.distribution.manifest.v2+json"' "$(tr -d ' \n' < "$m")"
  run -0 jq -r --arg t "$REG/shell:docker" \
    '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest + " " + .mediaType' \
    "$STORE/index.json"
  assert_equal "$want application/vnd.docker.distribution.manifest.v2+json" "$output"
  run -0 "$GSI" --root "$STORE" run "$REG/shell:docker" cat /etc/passwd
  assert_equal "root:x:0:0:root:/root:/bin/sh" "$output"
}

@test "pull: debian:trixie pushed by skopeo comes back identical and runs" {
  require_trixie
  skopeo copy --quiet --dest-tls-verify=false "oci:$GSI_TRIXIE_STORE:debian:trixie" "docker://$REG/debian:trixie"
  want=$(registry_digest "$REG/debian:trixie")
  run -0 skopeo inspect --format '{{.Digest}}' "oci:$GSI_TRIXIE_STORE:debian:trixie"
  assert_equal "$want" "$output"
  run -0 --separate-stderr gsip --jobs 8 "$REG/debian:trixie"
  assert_equal "$want" "$output"
  run -0 "$GSI" --root "$STORE" run "$REG/debian:trixie" cat /etc/debian_version
  assert_contains "13" "$output"
}

@test "build --pull: a FROM and a COPY --from that only the registry has" {
  need_root
  skopeo_push shell:v1 "$REG/shell:v1"
  skopeo_push files:v1 "$REG/files:v1"
  ctx=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$ctx"
  printf 'FROM %s/shell:v1\nCOPY --from=%s/files:v1 /etc/hello /hello\nRUN cat /hello > /copied\n' "$REG" "$REG" \
    > "$ctx/Containerfile"

  # The default (missing) pulls what the store lacks.
  run -0 --separate-stderr "$GSI" --root "$STORE" build --tls-verify=false -t out "$ctx"
  assert_contains "pulling $REG/shell:v1 from $REG" "$stderr"
  assert_contains "pulling $REG/files:v1 from $REG" "$stderr"
  run -0 "$GSI" --root "$STORE" run out cat /copied
  assert_equal "hello" "$output"

  # Present now: missing pulls nothing, always pulls again (and fetches no blob).
  run -0 --separate-stderr "$GSI" --root "$STORE" build --tls-verify=false -t out "$ctx"
  [[ "$stderr" != *pulling* ]]
  run -0 --separate-stderr "$GSI" --root "$STORE" build --pull always --tls-verify=false -t out "$ctx"
  assert_contains "pulling $REG/shell:v1 from $REG" "$stderr"
  [[ "$stderr" != *": fetched "* ]]

  # never: the store alone.
  run -1 "$GSI" --root "$BATS_TEST_TMPDIR/empty" build --pull never -t out "$ctx"
  assert_contains "Containerfile:1: FROM \`$REG/shell:v1\`: no such image in store $BATS_TEST_TMPDIR/empty (not pulled with --pull never" "$output"
  run -2 "$GSI" --root "$STORE" build --pull sometimes "$ctx"
  assert_contains "--pull must be missing, always or never" "$output"
}

@test "pull: mirrors of registries.yaml are tried in order, then the registry" {
  dead=$(free_port)
  skopeo_push files:v1 "127.0.0.1:$MIRROR_PORT/internal/files:v1"
  want=$(registry_digest "127.0.0.1:$MIRROR_PORT/internal/files:v1")
  cat > "$GSI_REGISTRIES_CONF" <<EOF
registries:
  "127.0.0.1:$dead":
    mirrors:
      - "127.0.0.1:$MIRROR_PORT/empty"
      - "127.0.0.1:$MIRROR_PORT/internal"
  "127.0.0.1:$REG_PORT":
    mirrors:
      - "127.0.0.1:$MIRROR_PORT/empty"
EOF
  # The registry is down; the first mirror lacks the image; the second has it under internal/.
  run -0 --separate-stderr gsip "127.0.0.1:$dead/files:v1"
  assert_equal "$want" "$output"
  assert_contains "mirror 127.0.0.1:$MIRROR_PORT/empty failed: " "$stderr"
  assert_contains "pulled 127.0.0.1:$dead/files:v1 from 127.0.0.1:$MIRROR_PORT/internal: 2 blobs fetched" "$stderr"
  run -0 "$GSI" --root "$STORE" inspect "127.0.0.1:$dead/files:v1"

  # A mirror without the image: the registry itself serves it.
  skopeo_push files:v1 "$REG/files:v1"
  run -0 --separate-stderr gsip "$REG/files:v1"
  assert_contains "mirror 127.0.0.1:$MIRROR_PORT/empty failed: " "$stderr"
  assert_contains "pulled $REG/files:v1 from $REG: 0 blobs fetched" "$stderr"
}

@test "build: FROM a Docker Hub name served by a mirror, as an air-gapped site does" {
  need_root
  skopeo_push shell:v1 "127.0.0.1:$MIRROR_PORT/hub/library/shellbase:v1"
  cat > "$GSI_REGISTRIES_CONF" <<EOF
registries:
  docker.io:
    mirrors:
      - "127.0.0.1:$MIRROR_PORT/hub"
  "127.0.0.1:$MIRROR_PORT":
    tls-verify: false
EOF
  ctx=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$ctx"
  printf 'FROM shellbase:v1\nRUN cat /etc/passwd > /p\n' > "$ctx/Containerfile"
  # Docker Hub itself is never reached: the mirror answers first.
  run -0 --separate-stderr "$GSI" --root "$STORE" build -t out "$ctx"
  assert_contains "pulling shellbase:v1 from mirror 127.0.0.1:$MIRROR_PORT/hub" "$stderr"
  run -0 "$GSI" --root "$STORE" run out cat /p
  assert_equal "root:x:0:0:root:/root:/bin/sh" "$output"
  run -0 "$GSI" --root "$STORE" inspect docker.io/library/shellbase:v1
}
