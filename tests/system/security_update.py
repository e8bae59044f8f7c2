#!/usr/bin/env python3
"""Prints "PACKAGE TRIXIE-VERSION SECURITY-VERSION" for a package that trixie-security carries at a
higher version than trixie itself: what tests/system/catalog-patches.bats declares as a CVE patch.
Packages of priority required/important first (few dependencies), smallest first.  Reads the two
Packages indexes from deb.debian.org; compares versions with dpkg."""
import lzma
import subprocess
import sys
import urllib.request

MIRROR = "http://deb.debian.org"


def packages(url):
    data = lzma.decompress(urllib.request.urlopen(url, timeout=120).read()).decode("utf-8", "replace")
    out = {}
    for stanza in data.split("\n\n"):
        fields = {}
        for line in stanza.split("\n"):
            if line and not line[0].isspace() and ":" in line:
                key, value = line.split(":", 1)
                fields[key] = value.strip()
        if "Package" in fields:
            out[fields["Package"]] = fields
    return out


def main():
    trixie = packages(MIRROR + "/debian/dists/trixie/main/binary-amd64/Packages.xz")
    security = packages(MIRROR + "/debian-security/dists/trixie-security/main/binary-amd64/Packages.xz")
    found = []
    for name, sec in security.items():
        base = trixie.get(name)
        if base is None:
            continue
        newer = subprocess.run(["dpkg", "--compare-versions", sec["Version"], "gt", base["Version"]])
        if newer.returncode == 0:
            rank = 0 if sec.get("Priority") in ("required", "important") else 1
            found.append((rank, int(base.get("Installed-Size", "0")), name, base["Version"], sec["Version"]))
    if not found:
        sys.exit("no package of trixie-security is newer than trixie's own")
    print(*sorted(found)[0][2:])


main()
