#!/usr/bin/env bash
# Installs every package gsi needs to build, test and run on Debian 12, by name, from the Debian archive.
# Safe to run again: apt-get skips what is already there.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi

# Build: compiler, Meson/Ninja, and the libraries gsi links against.
build=(gcc clang meson ninja-build pkg-config
       libjansson-dev libfyaml-dev libarchive-dev libssl-dev libisal-dev zlib1g-dev libzstd-dev
       libcurl4-openssl-dev libsqlite3-dev libcap-dev libseccomp-dev)
# Tests: cmocka for unit tests, bats for system tests, clang's runtime for libFuzzer and sanitizers,
# python3-jsonschema to validate OCI JSON against the image-spec schemas.
tests=(libcmocka-dev bats libclang-rt-14-dev python3 python3-jsonschema zstd xz-utils) # zstd/xz: images.bats imports .tar.zst/.tar.xz
# Runtime tools gsi drives or is checked against: mmdebstrap makes base images from the Debian archive;
# skopeo, umoci and buildah read our store or serve as peers.
runtime=(mmdebstrap debian-archive-keyring skopeo umoci uidmap)
# buildah: the peer that bench/build-bench.sh times gsi against (same base, same Containerfiles).
runtime+=(buildah)
# time: /usr/bin/time -v gives the benchmark gsi's peak RSS.
runtime+=(time)
# Registry tests: Debian's docker-registry (the CNCF distribution registry) served on 127.0.0.1, openssl to
# make a test CA, apache2-utils for htpasswd, curl to poke the registry from tests.
tests+=(docker-registry openssl apache2-utils curl ca-certificates jq)

export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${build[@]}" "${tests[@]}" "${runtime[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
