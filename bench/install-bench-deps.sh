#!/usr/bin/env bash
# What the benchmarks need beyond packaging/install-deps.sh (which
# bench/run.sh runs first): Node.js and npm (the PouchDB side of the sync
# benchmarks, and the UI's cold start), wrk (the station daemon's load)
# and Debian's Chromium (the UI's cold start); then the npm packages
# pinned by bench/pouch/package-lock.json (PouchDB) and
# bench/ui/package-lock.json (playwright-core, which drives
# /usr/bin/chromium) into their node_modules. iproute2 and nftables (the
# shaped link) come with install-deps. Does nothing when all is there.
set -euo pipefail
cd "$(dirname "$0")"
missing=()
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-bench-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
for d in pouch ui; do
  if [ ! -f $d/node_modules/.package-lock.json ] || ! cmp -s $d/package-lock.json $d/.installed-lock; then
    (cd $d && npm ci --no-audit --no-fund --loglevel=error >&2 && cp package-lock.json .installed-lock)
  fi
done
