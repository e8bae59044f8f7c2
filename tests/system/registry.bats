#!/usr/bin/env bats
# gsi pull, push, login and logout against real registries: Debian's docker-registry (the CNCF
# distribution registry) on 127.0.0.1, plain and TLS + htpasswd, a Bearer token proxy and a fault
# proxy (tests/registry/start.sh; scripts/test.sh starts them, else setup_file does).  skopeo is
# the independent client the round trips are checked against.  Needs root (gsi build and run).
# shellcheck disable=SC2154 # status/output/stderr come from bats

load helpers
load trixie

setup_file ()
{
  if [ "$(id -u)" -ne 0 ]; then
    return 0
  fi
  local state=${GSI_REG_STATE:-/tmp/gsi-registries}
  local here
  here=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  if [ ! -f "$state/env" ] || ! GSI_REG_STATE=$state "$here/tests/registry/start.sh" status >/dev/null 2>&1; then
    GSI_REG_STATE=$state "$here/tests/registry/start.sh" >&2
  fi
  # shellcheck disable=SC1091 # written by start.sh
  . "$state/env"

  # Every run pushes under its own namespace, so runs never see each other's repositories.
  export NS="gsi-test/r$(date +%s)-$$"

  # An image with a shell (sh, cat, ls ... and their libraries), so `gsi run` can prove a pulled
  # image works, plus a layer of incompressible data.
  local ctx=$BATS_FILE_TMPDIR/ctx r b p l
  r=$ctx/rootfs
  mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$ctx/data"
  chmod 1777 "$r/tmp"
  for b in sh ls cat; do
    p=$(command -v "$b") || continue
    cp -L "$p" "$r/bin/"
    for l in $(ldd "$p" | grep -o '/[^ ]*'); do
      mkdir -p "$r$(dirname "$l")"
      cp -Ln "$l" "$r$l"
    done
  done
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
  echo "registry round trip" >"$ctx/data/hello"
  head -c 3145728 /dev/urandom >"$ctx/data/random"
  printf 'FROM scratch\nCOPY rootfs/ /\nCOPY data/ /data/\nCMD ["/bin/sh"]\n' >"$ctx/Containerfile"
  export SRC_STORE=$BATS_FILE_TMPDIR/src
  "$GSI" --root "$SRC_STORE" build -q -t rt:1 "$ctx" >/dev/null
  SRC_DIGEST=$("$GSI" --root "$SRC_STORE" inspect rt:1 | jq -r .digest)
  export SRC_DIGEST
  # The biggest layer, for the faults aimed at one blob.
  BIG_LAYER=$(skopeo inspect --raw "oci:$SRC_STORE:rt:1" | jq -r '.layers | max_by(.size) | .digest')
  export BIG_LAYER
  # The same image pushed by skopeo, for the pulls (and the fault tests) to start from.
  skopeo copy -q --dest-tls-verify=false "oci:$SRC_STORE:rt:1" "docker://$GSI_REG_PLAIN/$NS/skopeo:1" >&2
}

setup ()
{
  common_setup
  if [ "$(id -u)" -ne 0 ]; then
    skip "needs root (gsi build and gsi run use overlayfs and namespaces)"
  fi
  T=$BATS_TEST_TMPDIR
  # No credentials, registries.yaml or CA of the machine's user may leak into a test.
  export HOME=$T/home
  mkdir -p "$HOME"
  unset REGISTRY_AUTH_FILE DOCKER_CONFIG XDG_RUNTIME_DIR XDG_CONFIG_HOME GSI_REGISTRIES_CONF
}

teardown ()
{
  if [ -n "${GSI_REG_FAULT_CTL:-}" ]; then
    curl -sf -X POST -d '{"mode":"pass"}' "$GSI_REG_FAULT_CTL" >/dev/null || true
  fi
}

# --- helpers -------------------------------------------------------------------------------------

# The manifest digest a tag of a gsi store names.
store_digest () # store ref
{
  "$GSI" --root "$1" inspect "$2" | jq -r .digest
}

# The manifest digest of the single image of an OCI layout skopeo wrote.
layout_digest () # dir
{
  jq -r '.manifests[0].digest' "$1/index.json"
}

# Fails when a file under blobs/ of the store is not named by the sha256 of its content.
assert_store_verified () # store
{
  local f n bad=0
  [ -d "$1/blobs" ] || return 0
  while IFS= read -r f; do
    n=${f##*/}
    case $f in
      "$1"/blobs/sha256/*) ;;
      *) echo "unexpected file under blobs/: $f" >&2; bad=1; continue ;;
    esac
    if [ "$(sha256sum "$f" | cut -d' ' -f1)" != "$n" ]; then
      echo "blob $n does not hash to its name" >&2
      bad=1
    fi
  done < <(find "$1/blobs" -type f)
  return $bad
}

blob_names () # store -> the sorted blob names
{
  find "$1/blobs" -type f -printf '%f\n' 2>/dev/null | sort
}

fault () # JSON settings of the fault proxy; also clears its request log
{
  curl -sf -X POST -d "$1" "$GSI_REG_FAULT_CTL" >/dev/null
  curl -sf -X POST "$GSI_REG_FAULT_CTL/reset" >/dev/null
}

# The fault proxy's request log through a jq filter.
fault_log () # jq-filter
{
  curl -sf "$GSI_REG_FAULT_CTL" | jq -r "$1"
}

token_ctl () # jq-filter
{
  curl -sf "$GSI_REG_TOKEN_CTL" | jq -r "$1"
}

# Writes a containers auth.json with user:password for a registry.
auth_file () # file registry user password
{
  printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$2" "$(printf '%s:%s' "$3" "$4" | base64 -w0)" >"$1"
}

# --- round trips with skopeo ---------------------------------------------------------------------

@test "gsi push of a gsi-built image: skopeo copies it back with the same manifest digest" {
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false rt:1 "$GSI_REG_PLAIN/$NS/pushed:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  run skopeo copy -q --src-tls-verify=false "docker://$GSI_REG_PLAIN/$NS/pushed:1" "oci:$T/back:x"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$(layout_digest "$T/back")"
  # The registry's own view of the tag.
  run skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$GSI_REG_PLAIN/$NS/pushed:1"
  assert_equal "$SRC_DIGEST" "$output"
  # Every blob arrived whole: skopeo verified them while copying; compare the layer list too.
  assert_equal "$(skopeo inspect --raw "oci:$SRC_STORE:rt:1" | jq -c .layers)" \
    "$(skopeo inspect --raw "oci:$T/back:x" | jq -c .layers)"
}

@test "gsi push with DEST omitted pushes to the registry SRC names" {
  local ref=$GSI_REG_PLAIN/$NS/implicit:2
  "$GSI" --root "$SRC_STORE" tag rt:1 "$ref"
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false "$ref"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal "$SRC_DIGEST" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref")"
}

@test "gsi push --chunked uploads through PATCH chunks and the registry has the same image" {
  fault '{"mode":"pass"}'
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false --chunked rt:1 "$GSI_REG_FAULT/$NS/chunked:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  [ "$(fault_log '[.requests[] | select(.method == "PATCH")] | length')" -ge 1 ]
  assert_equal "$SRC_DIGEST" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$GSI_REG_PLAIN/$NS/chunked:1")"
}

@test "an image skopeo pushed is pulled by gsi with the same digest, verified, and runs" {
  local s=$T/store ref=$GSI_REG_PLAIN/$NS/skopeo:1 want
  want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref")
  assert_equal "$SRC_DIGEST" "$want"
  run --separate-stderr "$GSI" --root "$s" pull --tls-verify=false "$ref"
  assert_status 0
  assert_equal "$want" "$output"
  assert_equal "$want" "$(store_digest "$s" "$ref")"
  assert_store_verified "$s"
  run --separate-stderr "$GSI" --root "$s" run --network none "$ref" cat /data/hello
  assert_status 0
  assert_equal "registry round trip" "$output"
  # The store's index.json (an OCI layout other tools read) names the pulled manifest.
  jq -e --arg d "$want" '[.manifests[].digest] | index($d) != null' "$s/index.json" >/dev/null
}

@test "a second pull fetches nothing; a pull by digest gets the same image" {
  local s=$T/store ref=$GSI_REG_PLAIN/$NS/skopeo:1
  "$GSI" --root "$s" pull -q --tls-verify=false "$ref" >/dev/null
  fault '{"mode":"pass"}'
  run --separate-stderr "$GSI" --root "$s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 0 "$(fault_log '[.requests[] | select(.method == "GET" and (.path | test("/blobs/")))] | length')"
  run --separate-stderr "$GSI" --root "$T/store2" pull --tls-verify=false "$GSI_REG_PLAIN/$NS/skopeo@$SRC_DIGEST"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_store_verified "$T/store2"
}

@test "debian:trixie: skopeo pushes it, gsi pulls it with the same digest and runs it; gsi pushes it back" {
  require_trixie
  local s=$T/store ref=$GSI_REG_PLAIN/$NS/debian:trixie want
  skopeo copy -q --dest-tls-verify=false "oci:$GSI_TRIXIE_STORE:debian:trixie" "docker://$ref"
  want=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref")
  run --separate-stderr "$GSI" --root "$s" pull --tls-verify=false "$ref"
  assert_status 0
  assert_equal "$want" "$output"
  assert_store_verified "$s"
  run --separate-stderr "$GSI" --root "$s" run --network none "$ref" cat /etc/debian_version
  assert_status 0
  [[ $output =~ ^(1[3-9]|trixie) ]] || { echo "debian_version: $output" >&2; false; }
  want=$(store_digest "$GSI_TRIXIE_STORE" debian:trixie)
  run --separate-stderr "$GSI" --root "$GSI_TRIXIE_STORE" push --tls-verify=false debian:trixie "$GSI_REG_PLAIN/$NS/gsi-debian:trixie"
  assert_status 0
  assert_equal "$want" "$output"
  skopeo copy -q --src-tls-verify=false "docker://$GSI_REG_PLAIN/$NS/gsi-debian:trixie" "oci:$T/back:x"
  assert_equal "$want" "$(layout_digest "$T/back")"
}

@test "pushing an image twice uploads no blob the second time" {
  fault '{"mode":"pass"}'
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false rt:1 "$GSI_REG_FAULT/$NS/twice:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  # The first push had to put the blobs into this repository (upload or cross-repository mount).
  [ "$(fault_log '[.requests[] | select(.method == "POST" and (.path | test("/blobs/uploads/?$")))] | length')" -ge 1 ]
  fault '{"mode":"pass"}'
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false rt:1 "$GSI_REG_FAULT/$NS/twice:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 0 "$(fault_log '[.requests[] | select(.path | test("/blobs/uploads"))] | length')"
  assert_equal 0 "$(fault_log '[.requests[] | select(.method == "PATCH")] | length')"
}

@test "a blob another repository of the registry has is mounted, not uploaded" {
  fault '{"mode":"pass"}'
  "$GSI" --root "$SRC_STORE" push -q --tls-verify=false rt:1 "$GSI_REG_FAULT/$NS/mount-a:1" >/dev/null
  fault '{"mode":"pass"}'
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false rt:1 "$GSI_REG_FAULT/$NS/mount-b:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  [ "$(fault_log '[.requests[] | select(.method == "POST" and (.query | test("mount=")))] | length')" -ge 1 ]
  assert_equal 0 "$(fault_log '[.requests[] | select(.method == "PATCH" or (.method == "PUT" and (.path | test("/blobs/uploads/"))))] | length')"
  assert_equal "$SRC_DIGEST" "$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$GSI_REG_PLAIN/$NS/mount-b:1")"
}

# --- TLS, Basic auth, login ----------------------------------------------------------------------

@test "plain HTTP is refused while TLS is verified; registries.yaml tls-verify false allows it" {
  run --separate-stderr "$GSI" --root "$T/s" pull "$GSI_REG_PLAIN/$NS/skopeo:1"
  [ "$status" -ne 0 ]
  [ -n "$(error_lines "$stderr")" ]
  run --separate-stderr env GSI_REGISTRIES_CONF="$GSI_REG_CONF" "$GSI" --root "$T/s" pull "$GSI_REG_PLAIN/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
}

@test "TLS: an unknown CA fails the handshake with a clear error; GSI_CERTS_DIR/HOST/ca.crt fixes it" {
  auth_file "$T/auth.json" "$GSI_REG_TLS" "$GSI_REG_TLS_USER" "$GSI_REG_TLS_PASS"
  run --separate-stderr env -u GSI_CERTS_DIR "$GSI" --root "$SRC_STORE" push --authfile "$T/auth.json" rt:1 "$GSI_REG_TLS/$NS/tls:1"
  [ "$status" -ne 0 ]
  [[ $(error_lines "$stderr") =~ [Cc]ertificate|TLS|SSL ]] || { echo "$stderr" >&2; false; }
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --authfile "$T/auth.json" rt:1 "$GSI_REG_TLS/$NS/tls:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  # --tls-verify=false gets through without the CA.
  run --separate-stderr env -u GSI_CERTS_DIR "$GSI" --root "$T/s" pull --tls-verify=false --authfile "$T/auth.json" "$GSI_REG_TLS/$NS/tls:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_store_verified "$T/s"
}

@test "TLS + Basic: no credentials gives an authentication error that names gsi login" {
  run --separate-stderr "$GSI" --root "$T/s" pull "$GSI_REG_TLS/$NS/tls-none:1"
  [ "$status" -ne 0 ]
  assert_contains "gsi login" "$stderr"
  [ ! -d "$T/s/blobs/sha256" ] || [ -z "$(blob_names "$T/s")" ]
}

@test "gsi login: a wrong password is refused and nothing is stored" {
  run --separate-stderr "$GSI" login -u "$GSI_REG_TLS_USER" --password-stdin "$GSI_REG_TLS" <<<"not-the-password"
  [ "$status" -ne 0 ]
  [[ $(error_lines "$stderr") =~ 401|[Uu]nauthori[sz]ed|[Ii]nvalid|[Ii]ncorrect|[Dd]enied|credentials ]] || { echo "$stderr" >&2; false; }
  if [ -f "$HOME/.docker/config.json" ]; then
    assert_equal null "$(jq -r --arg d "$GSI_REG_TLS" '.auths[$d]' "$HOME/.docker/config.json")"
  fi
}

@test "gsi login writes a 0600 file; push and pull then work; gsi logout removes the entry" {
  mkdir -p "$HOME/.docker"
  printf '{"auths":{"other.example:5000":{"auth":"%s"}},"psFormat":"keep"}\n' "$(printf 'a:b' | base64)" >"$HOME/.docker/config.json"
  run --separate-stderr "$GSI" login -u "$GSI_REG_TLS_USER" --password-stdin "$GSI_REG_TLS" <<<"$GSI_REG_TLS_PASS"
  assert_status 0
  assert_equal 600 "$(stat -c %a "$HOME/.docker/config.json")"
  assert_equal "$(printf '%s:%s' "$GSI_REG_TLS_USER" "$GSI_REG_TLS_PASS" | base64 -w0)" \
    "$(jq -r --arg d "$GSI_REG_TLS" '.auths[$d].auth' "$HOME/.docker/config.json")"
  # The file's other keys are kept.
  assert_equal keep "$(jq -r .psFormat "$HOME/.docker/config.json")"
  assert_equal "$(printf 'a:b' | base64)" "$(jq -r '.auths["other.example:5000"].auth' "$HOME/.docker/config.json")"

  run --separate-stderr "$GSI" --root "$SRC_STORE" push rt:1 "$GSI_REG_TLS/$NS/login:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  run --separate-stderr "$GSI" --root "$T/s" pull "$GSI_REG_TLS/$NS/login:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_store_verified "$T/s"
  run skopeo inspect --cert-dir "$GSI_CERTS_DIR/$GSI_REG_TLS" --creds "$GSI_REG_TLS_USER:$GSI_REG_TLS_PASS" \
    --format '{{.Digest}}' "docker://$GSI_REG_TLS/$NS/login:1"
  assert_equal "$SRC_DIGEST" "$output"

  run --separate-stderr "$GSI" logout "$GSI_REG_TLS"
  assert_status 0
  assert_equal null "$(jq -r --arg d "$GSI_REG_TLS" '.auths[$d]' "$HOME/.docker/config.json")"
  assert_equal keep "$(jq -r .psFormat "$HOME/.docker/config.json")"
  assert_equal 600 "$(stat -c %a "$HOME/.docker/config.json")"
  run --separate-stderr "$GSI" --root "$T/s2" pull "$GSI_REG_TLS/$NS/login:1"
  [ "$status" -ne 0 ]
  assert_contains "gsi login" "$stderr"
}

@test "gsi login --authfile writes that file, and pull --authfile reads it" {
  run --separate-stderr "$GSI" login --authfile "$T/a/auth.json" -u "$GSI_REG_TLS_USER" --password-stdin "$GSI_REG_TLS" <<<"$GSI_REG_TLS_PASS"
  assert_status 0
  assert_equal 600 "$(stat -c %a "$T/a/auth.json")"
  [ ! -e "$HOME/.docker/config.json" ]
  skopeo copy -q --dest-cert-dir "$GSI_CERTS_DIR/$GSI_REG_TLS" --dest-creds "$GSI_REG_TLS_USER:$GSI_REG_TLS_PASS" \
    "oci:$SRC_STORE:rt:1" "docker://$GSI_REG_TLS/$NS/authfile:1"
  run --separate-stderr "$GSI" --root "$T/s" pull --authfile "$T/a/auth.json" "$GSI_REG_TLS/$NS/authfile:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
}

@test "gsi login without --password-stdin and without a terminal fails clearly and stores nothing" {
  run --separate-stderr "$GSI" login -u "$GSI_REG_TLS_USER" "$GSI_REG_TLS" </dev/null
  assert_status 1
  assert_equal "gsi: login $GSI_REG_TLS: no password: stdin is not a terminal to ask on; use --password-stdin (or -p PASSWORD)" \
    "$(error_lines "$stderr")"
  [ ! -e "$HOME/.docker/config.json" ]
  # --password-stdin names the user: it cannot be asked for.
  run --separate-stderr "$GSI" login --password-stdin "$GSI_REG_TLS" <<<"$GSI_REG_TLS_PASS"
  assert_status 2
  assert_contains "--password-stdin needs --username" "$stderr"
  [ ! -e "$HOME/.docker/config.json" ]
}

@test "gsi login on a terminal asks for user and password, without echoing the password" {
  command -v script >/dev/null || { echo "script(1) (util-linux) is needed for a terminal" >&2; false; }
  # script(1) gives gsi a pseudo-terminal; the answers are typed after the prompts appear.
  { sleep 1; echo "$GSI_REG_TLS_USER"; sleep 1; echo "$GSI_REG_TLS_PASS"; sleep 2; } |
    script -qec "'$GSI' login '$GSI_REG_TLS'" /dev/null >"$T/tty.out"
  tr -d '\r' <"$T/tty.out" >"$T/tty.txt"
  assert_contains "Username: $GSI_REG_TLS_USER" "$(cat "$T/tty.txt")"
  assert_contains "Password: " "$(cat "$T/tty.txt")"
  assert_contains "Login Succeeded!" "$(cat "$T/tty.txt")"
  ! grep -qF "$GSI_REG_TLS_PASS" "$T/tty.txt"
  assert_equal "$(printf '%s:%s' "$GSI_REG_TLS_USER" "$GSI_REG_TLS_PASS" | base64 -w0)" \
    "$(jq -r --arg d "$GSI_REG_TLS" '.auths[$d].auth' "$HOME/.docker/config.json")"
  assert_equal 600 "$(stat -c %a "$HOME/.docker/config.json")"
}

@test "gsi login to a Bearer registry checks the password with the token service" {
  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  run --separate-stderr "$GSI" login --tls-verify=false -u "$GSI_REG_TOKEN_USER" --password-stdin "$GSI_REG_TOKEN" <<<"wrong"
  assert_status 1
  assert_equal "gsi: login $GSI_REG_TOKEN: invalid username or password (the token service answered 401 Unauthorized)" \
    "$(error_lines "$stderr")"
  [ ! -e "$HOME/.docker/config.json" ]
  assert_equal 1 "$(token_ctl '.token_denied')"
  run --separate-stderr "$GSI" login --tls-verify=false -u "$GSI_REG_TOKEN_USER" --password-stdin "$GSI_REG_TOKEN" <<<"$GSI_REG_TOKEN_PASS"
  assert_status 0
  assert_equal "Login Succeeded!" "$output"
  assert_equal "$GSI_REG_TOKEN_USER" "$(token_ctl '.fetches[0].user')"
  assert_equal "$(printf '%s:%s' "$GSI_REG_TOKEN_USER" "$GSI_REG_TOKEN_PASS" | base64 -w0)" \
    "$(jq -r --arg d "$GSI_REG_TOKEN" '.auths[$d].auth' "$HOME/.docker/config.json")"
  run --separate-stderr "$GSI" login --get-login "$GSI_REG_TOKEN"
  assert_status 0
  assert_equal "$GSI_REG_TOKEN_USER" "$output"
  # The stored credentials get a token for a pull.  (Not a push from SRC_STORE: the store would
  # record the repository as a mount source, and the Bearer test below counts its tokens.)
  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_TOKEN/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal "$GSI_REG_TOKEN_USER" "$(token_ctl '.fetches[0].user')"
}

@test "gsi login to a registry without authentication says the password was not checked" {
  run --separate-stderr "$GSI" login --tls-verify=false -u someone --password-stdin "$GSI_REG_PLAIN" <<<"anything"
  assert_status 0
  assert_contains "warning: $GSI_REG_PLAIN asks for no authentication: the credentials were not checked" "$stderr"
}

@test "gsi logout: not logged in is an error naming the file; --all keeps the other keys" {
  mkdir -p "$HOME/.docker"
  printf '{"auths":{"a.example":{"auth":"YTpi"},"b.example":{"auth":"YTpi"}},"psFormat":"keep"}\n' >"$HOME/.docker/config.json"
  run --separate-stderr "$GSI" logout c.example
  assert_status 1
  assert_equal "gsi: logout c.example: not logged in (no entry in $HOME/.docker/config.json)" "$(error_lines "$stderr")"
  # Credentials another file gives are named, and left alone.
  mkdir -p "$HOME/.config/containers"
  printf '{"auths":{"c.example":{"auth":"YTpi"}}}\n' >"$HOME/.config/containers/auth.json"
  run --separate-stderr "$GSI" logout c.example
  assert_status 1
  assert_contains "the credentials gsi uses for it come from $HOME/.config/containers/auth.json" "$stderr"
  run --separate-stderr "$GSI" logout https://a.example/v1/
  assert_status 0
  assert_equal "Removed login credentials for a.example from $HOME/.docker/config.json" "$output"
  run --separate-stderr "$GSI" logout --all
  assert_status 0
  assert_equal '{}' "$(jq -c .auths "$HOME/.docker/config.json")"
  assert_equal keep "$(jq -r .psFormat "$HOME/.docker/config.json")"
  assert_equal 600 "$(stat -c %a "$HOME/.docker/config.json")"
}

@test "gsi login and logout: --help and usage errors" {
  run "$GSI" login --help
  assert_status 0
  for o in "-u, --username USER" "-p, --password PASS" "--password-stdin" "--authfile FILE" "--tls-verify=BOOL" \
    "--cert-dir DIR" "--get-login" "~/.docker/config.json" "mode 0600"; do
    assert_contains "$o" "$output"
  done
  run "$GSI" logout --help
  assert_status 0
  assert_contains "-a, --all" "$output"
  run --separate-stderr "$GSI" login
  assert_status 2
  run --separate-stderr "$GSI" login -u a --password-stdin quay.io/some/repo </dev/null
  assert_status 2
  assert_contains "give the registry alone (\`quay.io\`)" "$stderr"
  run --separate-stderr "$GSI" login -u a -p b --password-stdin quay.io </dev/null
  assert_status 2
  run --separate-stderr "$GSI" login --tls-verify=maybe -u a -p b quay.io
  assert_status 2
  assert_contains "--tls-verify must be true or false" "$stderr"
  run --separate-stderr "$GSI" logout
  assert_status 2
  run --separate-stderr "$GSI" logout --all quay.io
  assert_status 2
}

@test "gsi login --cert-dir trusts the CA of that directory" {
  echo "$GSI_REG_TLS_PASS" >"$T/pw"
  run --separate-stderr env -u GSI_CERTS_DIR "$GSI" login -u "$GSI_REG_TLS_USER" --password-stdin "$GSI_REG_TLS" <"$T/pw"
  assert_status 1
  [[ $(error_lines "$stderr") =~ [Cc]ertificate|TLS|SSL ]] || { echo "$stderr" >&2; false; }
  [ ! -e "$HOME/.docker/config.json" ]
  run --separate-stderr env -u GSI_CERTS_DIR "$GSI" login --cert-dir "$GSI_CERTS_DIR/$GSI_REG_TLS" \
    -u "$GSI_REG_TLS_USER" --password-stdin "$GSI_REG_TLS" <"$T/pw"
  assert_status 0
  assert_equal "Login Succeeded!" "$output"
}

# --- Bearer tokens -------------------------------------------------------------------------------

@test "Bearer: push and pull through the token service; one token per scope, reused" {
  auth_file "$T/auth.json" "$GSI_REG_TOKEN" "$GSI_REG_TOKEN_USER" "$GSI_REG_TOKEN_PASS"
  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false --authfile "$T/auth.json" rt:1 "$GSI_REG_TOKEN/$NS/bearer:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  # Blobs go several at a time: still one token for repository:NS/bearer:pull,push, used for all.
  assert_equal 1 "$(token_ctl '.token_fetches')"
  assert_equal "gsi" "$(token_ctl '.fetches[0].user')"
  assert_equal "pull,push" "$(token_ctl '.fetches[0].granted[0][1] | join(",")')"
  [ "$(token_ctl '.token_uses')" -ge 4 ]

  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false --authfile "$T/auth.json" "$GSI_REG_TOKEN/$NS/bearer:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 1 "$(token_ctl '.token_fetches')"
  assert_equal "repository:$NS/bearer:pull" "$(token_ctl '.fetches[0].scope | join(" ")')"
  assert_store_verified "$T/s"
}

@test "Bearer: anonymous pull gets an anonymous token; anonymous push is refused clearly" {
  skopeo copy -q --dest-tls-verify=false "oci:$SRC_STORE:rt:1" "docker://$GSI_REG_PLAIN/$NS/anon:1"
  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_TOKEN/$NS/anon:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal null "$(token_ctl '.fetches[0].user')"
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false rt:1 "$GSI_REG_TOKEN/$NS/anon-push:1"
  [ "$status" -ne 0 ]
  [ -n "$(error_lines "$stderr")" ]
  [[ $stderr =~ 401|[Uu]nauthori[sz]ed|[Dd]enied|gsi\ login ]] || { echo "$stderr" >&2; false; }
}

@test "Bearer: wrong credentials for the token service fail with an error, not a hang" {
  auth_file "$T/auth.json" "$GSI_REG_TOKEN" "$GSI_REG_TOKEN_USER" wrong
  curl -sf -X POST "$GSI_REG_TOKEN_CTL/reset" >/dev/null
  SECONDS=0
  run --separate-stderr "$GSI" --root "$SRC_STORE" push --tls-verify=false --authfile "$T/auth.json" rt:1 "$GSI_REG_TOKEN/$NS/bearer-bad:1"
  [ "$status" -ne 0 ]
  [ -n "$(error_lines "$stderr")" ]
  [ "$SECONDS" -lt 10 ]
  [ "$(token_ctl '.token_denied')" -ge 1 ]
}

# --- faults --------------------------------------------------------------------------------------

@test "fault: a corrupted blob fails the pull with a digest mismatch and leaves no unverified blob" {
  fault '{"mode":"corrupt"}'
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  [ "$status" -ne 0 ]
  [[ $(error_lines "$stderr") =~ digest|sha256 ]] || { echo "$stderr" >&2; false; }
  [[ $(error_lines "$stderr") =~ mismatch|does\ not\ match|expected ]] || { echo "$stderr" >&2; false; }
  [ "$(fault_log '.injected')" -ge 1 ]
  assert_store_verified "$T/s"
  assert_equal "" "$(blob_names "$T/s")"
  run "$GSI" --root "$T/s" inspect "$GSI_REG_FAULT/$NS/skopeo:1"
  [ "$status" -ne 0 ]
}

@test "fault: a corrupted blob in a store that has other images adds no blob and removes none" {
  local s=$T/s before
  "$GSI" --root "$s" pull -q --tls-verify=false "$GSI_REG_PLAIN/$NS/skopeo:1" >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$SRC_STORE:rt:1" "docker://$GSI_REG_PLAIN/$NS/other:1"
  # A second image sharing nothing with the first: a fresh one-layer image.
  printf 'FROM scratch\nCOPY f /f\n' >"$T/Containerfile"
  head -c 100000 /dev/urandom >"$T/f"
  "$GSI" --root "$T/other" build -q -t other:1 "$T" >/dev/null
  skopeo copy -q --dest-tls-verify=false "oci:$T/other:other:1" "docker://$GSI_REG_PLAIN/$NS/fresh:1"
  before=$(blob_names "$s")
  fault '{"mode":"corrupt"}'
  run --separate-stderr "$GSI" --root "$s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/fresh:1"
  [ "$status" -ne 0 ]
  assert_equal "$before" "$(blob_names "$s")"
  assert_store_verified "$s"
  assert_equal "$SRC_DIGEST" "$(store_digest "$s" "$GSI_REG_PLAIN/$NS/skopeo:1")"
}

@test "fault: a blob body cut short every time fails with a clear error and no unverified blob" {
  fault "{\"mode\":\"truncate\",\"path\":\"$BIG_LAYER\"}"
  SECONDS=0
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  [ "$status" -ne 0 ]
  [ -n "$(error_lines "$stderr")" ]
  [ "$SECONDS" -lt 120 ]
  [ "$(fault_log '.injected')" -ge 1 ]
  assert_store_verified "$T/s"
  ! blob_names "$T/s" | grep -q "${BIG_LAYER#sha256:}"
}

@test "fault: a blob body cut short once is retried and the pull succeeds" {
  fault "{\"mode\":\"truncate\",\"count\":1,\"path\":\"$BIG_LAYER\"}"
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 1 "$(fault_log '.injected')"
  [ "$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\"))] | length")" -ge 2 ]
  assert_store_verified "$T/s"
}

@test "fault: 500 twice then 200 on a blob is retried and the pull succeeds" {
  fault "{\"mode\":\"status\",\"code\":500,\"count\":2,\"path\":\"$BIG_LAYER\"}"
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal "500 500 200" "$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\")) | .status] | map(tostring) | join(\" \")")"
  assert_store_verified "$T/s"
}

@test "fault: 500 twice then 200 on the manifest is retried too" {
  fault '{"mode":"status","code":500,"count":2,"match":"manifest"}'
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 2 "$(fault_log '.injected')"
}

@test "fault: 429 with Retry-After is honoured and the pull succeeds" {
  fault "{\"mode\":\"status\",\"code\":429,\"retry_after\":2,\"count\":1,\"path\":\"$BIG_LAYER\"}"
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  # The retry came no sooner than Retry-After asked.
  local gap
  gap=$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\"))] | (.[1].start - .[0].end)")
  python3 -c "import sys; sys.exit(0 if float('$gap') >= 1.9 else 1)" || { echo "retried after ${gap}s" >&2; false; }
}

@test "fault: a connection dropped mid-blob is retried and the pull succeeds" {
  fault "{\"mode\":\"drop\",\"path\":\"$BIG_LAYER\"}"
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  assert_status 0
  assert_equal "$SRC_DIGEST" "$output"
  assert_equal 1 "$(fault_log '.injected')"
  assert_equal "drop" "$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\"))][0].fault")"
  assert_store_verified "$T/s"
}

@test "fault: 500 on every attempt gives up with a clear error after a bounded number of retries" {
  fault "{\"mode\":\"status\",\"code\":503,\"path\":\"$BIG_LAYER\"}"
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  [ "$status" -ne 0 ]
  assert_contains "503" "$(error_lines "$stderr")"
  local n
  n=$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\"))] | length")
  [ "$n" -ge 2 ] && [ "$n" -le 11 ]
  assert_store_verified "$T/s"
}

@test "fault: a manifest that is not there fails fast with not found, without retries" {
  fault '{"mode":"pass"}'
  SECONDS=0
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:no-such-tag"
  [ "$status" -ne 0 ]
  [ "$SECONDS" -lt 5 ]
  [[ $(error_lines "$stderr") =~ 404|[Nn]ot\ found|MANIFEST_UNKNOWN|unknown ]] || { echo "$stderr" >&2; false; }
  assert_equal 1 "$(fault_log '[.requests[] | select(.path | endswith("/manifests/no-such-tag"))] | length')"
}

@test "fault: a blob answering 404 is not retried" {
  fault "{\"mode\":\"status\",\"code\":404,\"path\":\"$BIG_LAYER\"}"
  SECONDS=0
  run --separate-stderr "$GSI" --root "$T/s" pull --tls-verify=false "$GSI_REG_FAULT/$NS/skopeo:1"
  [ "$status" -ne 0 ]
  [ "$SECONDS" -lt 5 ]
  assert_equal 1 "$(fault_log "[.requests[] | select(.path | endswith(\"$BIG_LAYER\"))] | length")"
  assert_store_verified "$T/s"
}
