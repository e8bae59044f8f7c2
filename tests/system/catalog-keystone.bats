#!/usr/bin/env bats
# The main job, as a test: the keystone chain of the real catalog (openstack-venv, apache, keystone)
# for 2025.1, built on the suite's bootstrapped debian:trixie from Debian's packages, smoke-tested,
# and a second build right after reports every image unchanged.  Downloads packages from the Debian
# archive, so it runs when GSI_TEST_BOOTSTRAP=1 or CI=true (.ci/run sets it).

load helpers
load trixie

setup_file ()
{
  [ -n "${GSI_TRIXIE_STORE:-}" ] && [ "${GSI_TRIXIE_STATUS:-1}" -eq 0 ] || return 0
  export KS_STORE=$BATS_FILE_TMPDIR/store
  cp -a "$GSI_TRIXIE_STORE" "$KS_STORE"
  cd "$BATS_TEST_DIRNAME/../.."
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
