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
  # daiban doctor's clock test: a sync run with its clock set ahead (LD_PRELOAD)
  faketime
  # operators' passwords for the web UI (argon2id); nodes' Ed25519 keys
  # and change-set signatures
  libsodium-dev
  # backups: one tar.gz file (daiban backup / restore)
  libarchive-dev
  # ssh-keygen: tests check daiban's keys and signatures with OpenSSH's
  # own tools, and git verify-commit (gpg.format=ssh) calls it
  openssh-client
  # the Debian package (packaging/deb.sh) and its install test: debhelper
  # builds it, lintian checks it, mmdebstrap makes a throwaway Debian 12
  # root to install it in, systemd's pkg-config file says where units go
  debhelper lintian mmdebstrap systemd
  # the web UI's end-to-end tests: headless Chromium, CJK fonts for its
  # screenshots and PDFs, pdftotext to read the printed receipt back
  chromium fonts-noto-cjk poppler-utils
)
# playwright-core (npm) drives Chromium; it needs Node.js 18 or later:
# Debian's, unless one is installed already
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo=sudo
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# the end-to-end tests' one npm package, at the version package-lock.json pins
cd "$(dirname "$0")/../tests/e2e"
if [ ! -f node_modules/playwright-core/package.json ] ||
   ! grep -q "\"version\": \"$(sed -n 's/.*"playwright-core": "\([0-9.]*\)".*/\1/p' package.json)\"" node_modules/playwright-core/package.json; then
  echo "install-deps: npm ci in tests/e2e (playwright-core)" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
