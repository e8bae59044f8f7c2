#!/usr/bin/env bats
# The real catalog's build graph against the original Genestack catalog's parent/child edges: equal,
# but for the changes listed (with their reasons in ContainerFiles/README.md).

load helpers

setup ()
{
  common_setup
}

@test "catalog graph --format json has the original catalog's edges, but for the documented changes" {
  run --separate-stderr "$GSI" catalog graph --release 2025.1 --format json
  assert_status 0
  printf '%s' "$output" | python3 -c '
import json, sys
def pairs(path, prefix=None):
    out = set()
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if prefix is not None:
            sign, line = line[0], line[1:].strip()
            if sign != prefix:
                continue
        out.add(tuple(line.split()))
    return out
ours = {(e["from"], e["to"]) for e in json.load(sys.stdin)["edges"]}
original = pairs("tests/data/catalog-original/edges.txt")
dropped = pairs("tests/data/catalog-original/changed.txt", "-")
added = pairs("tests/data/catalog-original/changed.txt", "+")
expected = (original - dropped) | added
assert ours == expected, "missing %s, unexpected %s" % (sorted(expected - ours), sorted(ours - expected))
print("edges: %d, as the original but for %d dropped and %d added" % (len(ours), len(dropped), len(added)))
'
}

@test "every graph change is explained in ContainerFiles/README.md" {
  for img in $(grep -E '^[-+] ' tests/data/catalog-original/changed.txt | awk '{print $3}' | sort -u); do
    grep -q "\`$img\`" ContainerFiles/README.md || { echo "no word on $img in ContainerFiles/README.md" >&2; return 1; }
  done
}
