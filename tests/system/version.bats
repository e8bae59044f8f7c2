#!/usr/bin/env bats
# System tests of `gsi version compare`: the output, the exit status on invalid versions and usage
# mistakes, and a sample of the osv-scalibr corpora (every line is checked by the unit test).

load helpers

setup ()
{
  common_setup
}

@test "version compare prints <, = and > for Debian versions" {
  run "$GSI" version compare deb 1.0~rc1 1.0
  assert_status 0
  assert_equal "<" "$output"
  run "$GSI" version compare deb 1:0.1 9.9
  assert_status 0
  assert_equal ">" "$output"
  run "$GSI" version compare debian 1.09 1.9-0
  assert_status 0
  assert_equal "=" "$output"
  run "$GSI" version compare deb 3.5.1-1 3.5.1-1+deb13u1
  assert_equal "<" "$output"
}

@test "version compare prints <, = and > for PEP 440 versions" {
  run "$GSI" version compare pypi 1.0RC1 1.0c1
  assert_status 0
  assert_equal "=" "$output"
  run "$GSI" version compare pypi 1.0.dev1 1.0a1
  assert_equal "<" "$output"
  run "$GSI" version compare pypi 1.0+local 1.0
  assert_equal ">" "$output"
  run "$GSI" version compare pypi 1!0.1 2014.1
  assert_equal ">" "$output"
  run "$GSI" version compare pypi 2014.1.3 26.0.0
  assert_equal ">" "$output"
}

@test "an invalid version exits 2 and says which and why" {
  run --separate-stderr "$GSI" version compare deb 1.0 foo5.2
  assert_status 2
  assert_equal "" "$output"
  assert_equal "gsi: invalid Debian version \`foo5.2\`: version number does not start with digit" "$stderr"
  run --separate-stderr "$GSI" version compare pypi "french toast" 1.0
  assert_status 2
  assert_contains "invalid PEP 440 version \`french toast\`" "$stderr"
  run --separate-stderr "$GSI" version compare pypi 1.0 -- 1..0
  assert_status 2
}

@test "a version starting with - needs --, and usage mistakes exit 2" {
  run --separate-stderr "$GSI" version compare deb -- -1 1.0
  assert_status 2
  assert_contains "version number is empty" "$stderr"
  run --separate-stderr "$GSI" version compare npm 1 2
  assert_status 2
  assert_contains "unknown ecosystem \`npm\`" "$stderr"
  run --separate-stderr "$GSI" version compare deb 1.0
  assert_status 2
  assert_contains "expects deb|pypi and two versions" "$stderr"
  run --separate-stderr "$GSI" version frobnicate
  assert_status 2
  assert_contains "unknown subcommand" "$stderr"
}

@test "version compare --help and gsi --help list the command" {
  run "$GSI" version compare --help
  assert_status 0
  assert_contains "Usage: gsi version compare deb|pypi A B" "$output"
  run "$GSI" --help
  assert_contains "version " "$output"
}

# Every 97th line of each corpus through the binary, in both directions.
@test "a sample of the osv-scalibr corpora orders the same through the binary" {
  if [ ! -f "$PEER_DIR/versions/debian-versions-generated.txt" ]; then
    require_peer
    [ -d "$PEER_DIR/versions" ] || { echo "no versions corpus in $PEER_DIR" >&2; return 1; }
  fi
  local eco file a op b got rev n=0
  for eco in deb pypi; do
    file=$PEER_DIR/versions/$([ $eco = deb ] && echo debian || echo pypi)-versions-generated.txt
    while read -r a op b; do
      # The legacy (non-PEP 440) PyPI versions are outside what `compare` accepts (exit 2).
      got=$("$GSI" version compare $eco -- "$a" "$b" 2>/dev/null) || {
        [ $? -eq 2 ] && [ $eco = pypi ] || { echo "$eco: $a $op $b failed" >&2; return 1; }
        continue
      }
      rev=$("$GSI" version compare $eco -- "$b" "$a")
      [ "$got" = "$op" ] || { echo "$eco: $a $op $b gave $got" >&2; return 1; }
      case "$op" in "<") [ "$rev" = ">" ] ;; ">") [ "$rev" = "<" ] ;; *) [ "$rev" = "=" ] ;; esac
      n=$((n + 1))
    done < <(awk 'NR % 97 == 1' "$file")
  done
  note "version: $n corpus lines checked through gsi"
  [ "$n" -gt 200 ]
}
