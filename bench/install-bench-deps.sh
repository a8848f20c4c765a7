#!/usr/bin/env bash
# What the sync benchmarks need beyond packaging/install-deps.sh (which
# bench/run.sh runs first): Node.js and npm for the PouchDB side, then
# PouchDB itself from npm into bench/pouch/node_modules (the versions
# pinned by bench/pouch/package-lock.json). iproute2 and nftables (the
# shaped link) come with install-deps. Does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")"
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-bench-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
if [ ! -f pouch/node_modules/.package-lock.json ] || ! cmp -s pouch/package-lock.json pouch/.installed-lock; then
  (cd pouch && npm ci --no-audit --no-fund --loglevel=error >&2 && cp package-lock.json .installed-lock)
fi
