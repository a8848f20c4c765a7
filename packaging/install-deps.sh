#!/usr/bin/env bash
# Install the Debian 12 packages that daiban needs to build, run its demo
# and run its tests. Does nothing when they are all installed already.
# Every package and its reason is listed in README.md ("Dependencies").
set -euo pipefail

pkgs=(
  # build
  meson ninja-build pkg-config gcc libc6-dev
  # real parts, found by meson through pkg-config
  libsqlite3-dev libgit2-dev zlib1g-dev libuv1-dev libjansson-dev
  libhttp-parser-dev libssl-dev
  # pinyin search: Unihan's kMandarin readings, turned into a table at build time
  unicode-data
  # fuzzing (libFuzzer) and the sanitizer builds
  clang libclang-rt-14-dev llvm
  # integration tests and the demo
  python3 git sqlite3 openssl curl
  # the bad-link fault test (network namespaces, tc, nftables)
  iproute2 nftables
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo=sudo
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
