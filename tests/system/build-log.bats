#!/usr/bin/env bats
# How gsi build reports progress: plain lines, --quiet, and --log-format json.

load helpers

setup ()
{
  common_setup
  [ "$(id -u)" -eq 0 ] || skip "gsi build needs root (overlayfs, namespaces)"
  STORE=$BATS_TEST_TMPDIR/store
  CTX=$BATS_TEST_TMPDIR/ctx
  mkdir -p "$CTX"
  echo hello > "$CTX/f"
  printf 'FROM scratch\nCOPY f /f\nENV A=1\n' > "$CTX/Containerfile"
}

@test "plain progress names every step and ends with the digest" {
  run --separate-stderr "$GSI" --root "$STORE" build "$CTX"
  assert_status 0
  assert_contains "[1/3] FROM scratch" "$stderr"
  assert_contains "[2/3] COPY f /f" "$stderr"
  assert_contains "built sha256:" "$stderr"
  [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
}

@test "--quiet prints only the digest" {
  run --separate-stderr "$GSI" --root "$STORE" build -q "$CTX"
  assert_status 0
  assert_equal "" "$stderr"
  [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
}

@test "--log-format json gives one JSON object per line with step numbers" {
  run --separate-stderr "$GSI" --root "$STORE" build --log-format json "$CTX"
  assert_status 0
  printf '%s\n' "$stderr" | python3 -c '
import json, sys
objs = [json.loads(l) for l in sys.stdin if l.strip()]
steps = [o["step"] for o in objs if "step" in o]
assert steps == [1, 2, 3], steps
assert all(o["total"] == 3 for o in objs if "step" in o)
assert all("time" in o and "msg" in o for o in objs)
assert objs[-1]["msg"].startswith("built sha256:"), objs[-1]
'
}

@test "--log-format rejects an unknown format" {
  run "$GSI" --root "$STORE" build --log-format yaml "$CTX"
  assert_status 2
  assert_contains "--log-format must be text or json" "$output"
}
