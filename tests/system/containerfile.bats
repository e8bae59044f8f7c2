#!/usr/bin/env bats
# System tests of `gsi containerfile ...`: the real binary against BuildKit's own parser and shell test
# data (peer data, never copied into this tree) and against the Genestack-shaped Containerfiles in
# tests/data.
# shellcheck disable=SC2016 # single-quoted $ words are the input under test

load helpers

setup ()
{
  common_setup
  TMP=$(mktemp -d "${BATS_TMPDIR:-/tmp}/gsi-systest.XXXXXX")
}

teardown ()
{
  rm -rf "$TMP"
}

# --build-arg cases: the file (under tests/data/containerfiles, without .Containerfile) and its
# arguments; the expected output is <name>.args.check.
BUILD_ARG_CASES=(
  "openstack-venv PYTHON_VERSION=3.13 OS_RELEASE=trixie"
  "horizon VENV_TAG=3.13-latest APACHE_TAG=2025.1-latest"
  "libvirt BUILT_TAG=branch-3.5-latest"
  "skyline CONSOLE_STAGE=dependency_build"
  "nova GUESTFS_IMAGE=base"
)

# For each broken file: a phrase its message must contain (case-insensitive), checked on the cause
# after the "FILE:LINE:COL: " prefix.  The .err files hold the full expected line; that exact wording
# (and the column) is checked by its own test below, so a reworded message fails only that one.
declare -gA BAD_PHRASE=(
  [unknown-instruction]="unknown instruction"
  [unknown-flag]="chwon"
  [unterminated-heredoc]="heredoc"
  [copy-from-invalid]="Genestack-Images/ovs:v3.5.1-latest"
  [copy-from-variable]="variable expansion"
  [copy-from-bad-index]="index"
  [undeclared-arg-in-from]="VENV_TAG"
  [arg-after-first-from]="BUILT_TAG_2"
  [duplicate-stage-name]="duplicate"
  [env-without-value]="env"
  [bad-escape-directive]="escape"
  [bad-mount-type]="cach"
  [from-missing-stage-name]="from"
  [invalid-stage-name]="1st-build"
  [instruction-before-from]="label"
  [onbuild-from]="onbuild"
  [healthcheck-bad-interval]="thirty"
  [mount-from-variable]="variable expansion"
)

# ---------------------------------------------------------------------------------------------------
# Front end: help, version, usage errors.

@test "gsi --version prints the project version" {
  local version
  version=$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" meson.build | head -n 1)
  [ -n "$version" ]
  run --separate-stderr "$GSI" --version
  assert_status 0
  assert_equal "gsi $version" "$output"
}

@test "gsi --help prints usage and exits 0" {
  run --separate-stderr "$GSI" --help
  assert_status 0
  assert_contains "Usage" "$output"
  assert_contains "containerfile" "$output"
}

@test "gsi containerfile --help lists the subcommands and exits 0" {
  run --separate-stderr "$GSI" containerfile --help
  assert_status 0
  local sub
  for sub in dump expand words check; do
    assert_contains "$sub" "$output"
  done
}

@test "every containerfile subcommand accepts --help" {
  local sub
  for sub in dump expand words check; do
    run --separate-stderr "$GSI" containerfile "$sub" --help
    assert_status 0
    [ -n "$output" ]
  done
}

@test "usage errors exit 2 with a message on stderr" {
  local -a cases=(
    ""
    "no-such-command"
    "containerfile"
    "containerfile no-such-subcommand"
    "containerfile dump"
    "containerfile check"
    "containerfile check $DATA/glance.Containerfile --no-such-option"
    "containerfile check $DATA/glance.Containerfile --target"
    "containerfile check $DATA/glance.Containerfile --build-arg"
    "containerfile expand"
    "containerfile expand -e"
    "containerfile words"
  )
  local c failed=0
  for c in "${cases[@]}"; do
    # Word splitting of $c is intended: each case is a simple argument list.
    # shellcheck disable=SC2086
    run --separate-stderr "$GSI" $c
    if [ "$status" -ne 2 ] || [ -z "$stderr" ]; then
      echo "gsi $c: expected exit 2 and a message, got $status, stderr: $stderr" >&2
      failed=$((failed + 1))
    fi
  done
  [ "$failed" -eq 0 ]
}

@test "a Containerfile that does not exist is a clear error" {
  local cmd
  for cmd in dump check; do
    run --separate-stderr "$GSI" containerfile "$cmd" "$DATA/no-such.Containerfile"
    assert_status 1
    [ -z "$output" ]
    assert_equal 1 "$(error_lines "$stderr" | wc -l)"
    assert_contains "$DATA/no-such.Containerfile" "$stderr"
    assert_contains "No such file or directory" "$stderr"
  done
}

@test "a directory given as the Containerfile is an error, not a crash" {
  run --separate-stderr "$GSI" containerfile check "$DATA"
  assert_status 1
  assert_contains "$DATA" "$(error_lines "$stderr")"
}

# ---------------------------------------------------------------------------------------------------
# BuildKit's parser test data: `dump` must reproduce every result file byte for byte.

@test "dump reproduces every BuildKit parser testfiles result" {
  require_peer
  local dir name passed=0 failed=0 rc
  for dir in "$PEER_DIR"/buildkit/parser/testfiles/*/; do
    name=$(basename "$dir")
    rc=0
    "$GSI" containerfile dump "$dir/Dockerfile" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -eq 0 ] && cmp -s "$TMP/out" "$dir/result"; then
      passed=$((passed + 1))
    else
      failed=$((failed + 1))
      echo "--- $name: exit $rc, stderr: $(head -c 400 "$TMP/err")" >&2
      diff -u "$dir/result" "$TMP/out" | head -n 20 >&2 || true
    fi
  done
  note "BuildKit testfiles: $passed passed, $failed failed"
  [ "$passed" -gt 0 ]
  [ "$failed" -eq 0 ]
}

@test "dump rejects every BuildKit negative testfile with a located message" {
  require_peer
  local f count=0 failed=0 rc
  for f in "$PEER_DIR"/buildkit/parser/testfiles-negative/*/Dockerfile; do
    count=$((count + 1))
    rc=0
    "$GSI" containerfile dump "$f" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 1 ] || [ -s "$TMP/out" ] || [ "$(grep -c '^gsi: ' "$TMP/err")" -ne 1 ] \
       || ! grep -q "^gsi: $f" "$TMP/err"; then
      failed=$((failed + 1))
      echo "--- $f: exit $rc, stderr: $(cat "$TMP/err")" >&2
    fi
  done
  note "BuildKit negative testfiles: $((count - failed)) passed, $failed failed"
  [ "$count" -gt 0 ]
  [ "$failed" -eq 0 ]
}

@test "dump keeps heredoc bodies out of the instruction list" {
  # manila's sudoers heredoc holds a line that reads like `COPY --from=nowhere ...`.
  run --separate-stderr "$GSI" containerfile dump "$DATA/manila.Containerfile"
  assert_status 0
  assert_equal 26 "$(printf '%s\n' "$output" | wc -l)"
  assert_contains '(copy "<<EOF" "/etc/sudoers.d/manila_sudoers")' "$output"
  assert_contains '(run "<<-EOT")' "$output"
  case "$output" in
    *nowhere*) echo "a heredoc body line was parsed as an instruction" >&2; return 1 ;;
  esac
}

@test "dump parses every Containerfile in tests/data" {
  local f failed=0
  for f in "$DATA"/*.Containerfile; do
    if ! "$GSI" containerfile dump "$f" >"$TMP/out" 2>"$TMP/err" || [ ! -s "$TMP/out" ]; then
      failed=$((failed + 1))
      echo "--- $f: $(cat "$TMP/err")" >&2
    fi
  done
  [ "$failed" -eq 0 ]
}

# ---------------------------------------------------------------------------------------------------
# BuildKit's shell lexer test data.

# Trims leading and trailing blanks of $1 into the variable named by $2.
trim_into ()
{
  local s=$1
  s=${s#"${s%%[![:space:]]*}"}
  s=${s%"${s##*[![:space:]]}"}
  printf -v "$2" '%s' "$s"
}

@test "expand passes every BuildKit envVarTest case" {
  require_peer
  local file="$PEER_DIR/buildkit/shell/envVarTest"
  local line fields plat src exp actual rc n=0 passed=0 failed=0 skipped=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case "$line" in
      '#'* | '') continue ;;
    esac
    # The extra '|' keeps an empty last field, which read would otherwise drop (Go's Split keeps it).
    IFS='|' read -r -a fields <<<"$line|"
    if [ "${#fields[@]}" -ne 3 ]; then
      # A bad line in the data must not be passed over silently.
      echo "envVarTest:$n: expected 3 fields: $line" >&2
      failed=$((failed + 1))
      continue
    fi
    trim_into "${fields[0]}" plat
    trim_into "${fields[1]}" src
    trim_into "${fields[2]}" exp
    if [ "$plat" = W ]; then
      skipped=$((skipped + 1))
      continue
    fi
    rc=0
    actual=$("$GSI" containerfile expand -e PWD=/home -e SHELL=bash -e KOREAN=한국어 -e NULL= -- "$src" 2>"$TMP/err") || rc=$?
    if [ "$exp" = error ]; then
      if [ "$rc" -eq 1 ] && [ "$(grep -c '^gsi: ' "$TMP/err")" -eq 1 ] && [ -z "$actual" ]; then
        passed=$((passed + 1))
      else
        echo "envVarTest:$n: [$src] expected an error (exit 1, one message), got exit $rc, output [$actual], stderr [$(cat "$TMP/err")]" >&2
        failed=$((failed + 1))
      fi
    elif [ "$rc" -eq 0 ] && [ "$actual" = "$exp" ]; then
      passed=$((passed + 1))
    else
      echo "envVarTest:$n: [$src] expected [$exp], got exit $rc, output [$actual], stderr [$(cat "$TMP/err")]" >&2
      failed=$((failed + 1))
    fi
  done <"$file"
  note "envVarTest: $passed passed, $failed failed, $skipped Windows-only lines not run"
  [ "$passed" -gt 150 ]
  [ "$failed" -eq 0 ]
}

@test "words passes every BuildKit wordsTest case" {
  require_peer
  local file="$PEER_DIR/buildkit/shell/wordsTest"
  local line src exp actual rc n=0 passed=0 failed=0
  local -a envs=() words=() fields=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case "$line" in
      '#'*) continue ;;
      'ENV '*)
        # As BuildKit's test does: drop "ENV", then the blanks before the name; keep the value as is.
        line=${line#ENV}
        line=${line#"${line%%[! ]*}"}
        envs+=(-e "$line")
        continue
        ;;
    esac
    IFS='|' read -r -a fields <<<"$line|"
    if [ "${#fields[@]}" -ne 2 ]; then
      echo "wordsTest:$n: expected exactly one '|': $line" >&2
      failed=$((failed + 1))
      continue
    fi
    trim_into "${fields[0]}" src
    # Only leading blanks are dropped from the expectation: trailing ones are part of the last word.
    exp=${fields[1]#"${fields[1]%%[! ]*}"}
    rc=0
    "$GSI" containerfile words "${envs[@]}" -- "$src" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -eq 0 ]; then
      mapfile -t words <"$TMP/out"
      actual=$(IFS=,; printf '%s' "${words[*]}")
    elif [ "$rc" -eq 1 ] && [ -s "$TMP/err" ]; then
      actual=error
    else
      actual="exit $rc"
    fi
    if [ "$actual" = "$exp" ]; then
      passed=$((passed + 1))
    else
      echo "wordsTest:$n: [$src] expected [$exp], got [$actual], stderr [$(cat "$TMP/err")]" >&2
      failed=$((failed + 1))
    fi
  done <"$file"
  note "wordsTest: $passed passed, $failed failed"
  [ "$passed" -gt 20 ]
  [ "$failed" -eq 0 ]
}

@test "expand: an error goes to stderr with exit 1 and nothing on stdout" {
  run --separate-stderr "$GSI" containerfile expand -- 'he${XXX:?must be set}'
  assert_status 1
  [ -z "$output" ]
  assert_equal 1 "$(error_lines "$stderr" | wc -l)"
}

@test "expand: -e values and a later -e for the same name wins" {
  run --separate-stderr "$GSI" containerfile expand -e TAG=old -e TAG=3.12-latest -- 'openstack-venv:${TAG}'
  assert_status 0
  assert_equal "openstack-venv:3.12-latest" "$output"
}

@test "expand: --escape changes the escape character" {
  run --separate-stderr "$GSI" containerfile expand --escape '`' -e PWD=/home -- 'a`$PWD\b$PWD'
  assert_status 0
  assert_equal 'a$PWD\b/home' "$output"
  run --separate-stderr "$GSI" containerfile expand -e PWD=/home -- 'a`$PWD\$PWD'
  assert_status 0
  assert_equal 'a`/home$PWD' "$output"
}

@test "words: unquoted blanks split, quotes keep" {
  run --separate-stderr "$GSI" containerfile words -e 'PKGS=libxml2  curl' -- '${PKGS} "a b" c\ d'
  assert_status 0
  assert_equal $'libxml2\ncurl\na b\nc d' "$output"
}

# ---------------------------------------------------------------------------------------------------
# `check` on the Genestack-shaped Containerfiles.

@test "check matches the expected output for every Containerfile in tests/data" {
  local f name count=0 failed=0 rc
  for f in "$DATA"/*.Containerfile; do
    name=$(basename "$f" .Containerfile)
    count=$((count + 1))
    rc=0
    "$GSI" containerfile check "$f" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 0 ] || ! cmp -s "$DATA/$name.check" "$TMP/out" || grep -q '^gsi: ' "$TMP/err"; then
      failed=$((failed + 1))
      echo "--- $name: exit $rc, stderr: $(head -c 600 "$TMP/err")" >&2
      diff -u "$DATA/$name.check" "$TMP/out" >&2 || true
    fi
  done
  note "check: $((count - failed)) of $count Containerfiles as expected"
  [ "$count" -ge 12 ]
  [ "$failed" -eq 0 ]
}

@test "check --target selects the stage and its needs" {
  local exp f name stage count=0 failed=0 rc
  for exp in "$DATA"/*.target-*.check; do
    name=$(basename "$exp" .check)
    stage=${name##*.target-}
    f="$DATA/${name%.target-*}.Containerfile"
    count=$((count + 1))
    rc=0
    "$GSI" containerfile check "$f" --target "$stage" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 0 ] || ! cmp -s "$exp" "$TMP/out"; then
      failed=$((failed + 1))
      echo "--- $f --target $stage: exit $rc, stderr: $(head -c 600 "$TMP/err")" >&2
      diff -u "$exp" "$TMP/out" >&2 || true
    fi
  done
  [ "$count" -ge 4 ]
  [ "$failed" -eq 0 ]
}

@test "check --build-arg overrides global ARG defaults in FROM lines" {
  local c name kv count=0 failed=0 rc
  local -a words args
  for c in "${BUILD_ARG_CASES[@]}"; do
    read -r -a words <<<"$c"
    name=${words[0]}
    args=()
    for kv in "${words[@]:1}"; do
      args+=(--build-arg "$kv")
    done
    count=$((count + 1))
    rc=0
    "$GSI" containerfile check "$DATA/$name.Containerfile" "${args[@]}" >"$TMP/out" 2>"$TMP/err" || rc=$?
    if [ "$rc" -ne 0 ] || ! cmp -s "$DATA/$name.args.check" "$TMP/out"; then
      failed=$((failed + 1))
      echo "--- $name ${args[*]}: exit $rc, stderr: $(head -c 600 "$TMP/err")" >&2
      diff -u "$DATA/$name.args.check" "$TMP/out" >&2 || true
    fi
  done
  # Every .args.check file has a row in the table.
  local -a argfiles=("$DATA"/*.args.check)
  assert_equal "${#argfiles[@]}" "$count"
  [ "$failed" -eq 0 ]
}

@test "check --target and --build-arg combine" {
  run --separate-stderr "$GSI" containerfile check "$DATA/skyline.Containerfile" \
    --build-arg CONSOLE_STAGE=dependency_build --target console_build
  assert_status 0
  assert_equal "$(sed -e 's/^stage 2 console from console_build (stage 1)$/stage 2 console from dependency_build (stage 0)/' \
                      "$DATA/skyline.target-console_build.check")" "$output"
}

@test "check --build-arg naming no ARG changes nothing" {
  run --separate-stderr "$GSI" containerfile check "$DATA/glance.Containerfile" --build-arg NOT_DECLARED=1
  assert_status 0
  assert_equal "$(cat "$DATA/glance.check")" "$output"
}

@test "check --target naming no stage is an error" {
  run --separate-stderr "$GSI" containerfile check "$DATA/glance.Containerfile" --target no_such_stage
  assert_status 1
  [ -z "$output" ]
  assert_equal 1 "$(error_lines "$stderr" | wc -l)"
  assert_contains "no_such_stage" "$stderr"
}

@test "check warns about an empty continuation line as FILE:LINE:COL: warning:" {
  run --separate-stderr "$GSI" containerfile check "$DATA/ironic-conductor.Containerfile"
  assert_status 0
  printf '%s\n' "$stderr" \
    | grep -Eq "^$DATA/ironic-conductor\.Containerfile:[0-9]+:[0-9]+: warning: .*[Cc]ontinuation"
}

# ---------------------------------------------------------------------------------------------------
# Broken Containerfiles.

@test "every broken Containerfile fails with one located error naming the cause" {
  local f name exp prefix cause phrase count=0 failed=0 rc
  for f in "$BAD"/*.Containerfile; do
    name=$(basename "$f" .Containerfile)
    count=$((count + 1))
    if [ -z "${BAD_PHRASE[$name]+x}" ]; then
      echo "--- $name: no row in BAD_PHRASE" >&2
      failed=$((failed + 1))
      continue
    fi
    exp=$(cat "$BAD/$name.err")
    # "gsi: FILE:LINE:" from the expected line; the column is checked only by the exact test.
    prefix=$(printf '%s' "$exp" | sed -E 's/^(gsi: [^:]+:[0-9]+:).*/\1/')
    phrase=${BAD_PHRASE[$name]}
    rc=0
    "$GSI" containerfile check "$f" >"$TMP/out" 2>"$TMP/err" || rc=$?
    local errs
    errs=$(grep '^gsi: ' "$TMP/err" || true)
    cause=$(printf '%s' "$errs" | sed -E 's/^gsi: [^:]+:[0-9]+:([0-9]+:)? ?//')
    if [ "$rc" -ne 1 ] || [ -s "$TMP/out" ] || [ "$(printf '%s' "$errs" | grep -c .)" -ne 1 ] \
       || [ "${errs#"$prefix"}" = "$errs" ] \
       || { [ -n "$phrase" ] && ! printf '%s' "$cause" | grep -qiF -- "$phrase"; }; then
      failed=$((failed + 1))
      echo "--- $name: exit $rc; expected prefix [$prefix] and phrase [$phrase]; stderr: $(cat "$TMP/err")" >&2
    fi
  done
  note "broken Containerfiles: $((count - failed)) of $count rejected as expected"
  [ "$count" -ge 10 ]
  [ "$failed" -eq 0 ]
}

@test "every broken Containerfile's message is exactly its .err line" {
  local f name count=0 failed=0
  for f in "$BAD"/*.Containerfile; do
    name=$(basename "$f" .Containerfile)
    count=$((count + 1))
    "$GSI" containerfile check "$f" >/dev/null 2>"$TMP/err" || true
    grep '^gsi: ' "$TMP/err" >"$TMP/errs" || true
    if ! cmp -s "$BAD/$name.err" "$TMP/errs"; then
      failed=$((failed + 1))
      echo "--- $name" >&2
      diff "$BAD/$name.err" "$TMP/errs" >&2 || true
    fi
  done
  note "exact messages: $((count - failed)) of $count match"
  [ "$failed" -eq 0 ]
}

@test "a located error says FILE:LINE:COL for a dumped file too" {
  run --separate-stderr "$GSI" containerfile dump "$BAD/unterminated-heredoc.Containerfile"
  assert_status 1
  assert_equal 1 "$(error_lines "$stderr" | wc -l)"
  printf '%s\n' "$stderr" | grep -Eq "^gsi: $BAD/unterminated-heredoc\.Containerfile:3:[0-9]+: "
}
