#!/usr/bin/env bash
# The main command of the README: install what is missing, build, and
# show what daiban does so far with the sample county catalogue.
#   packaging/demo.sh [--no-build]   (DAIBAN=path/to/daiban to use a given binary)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-build" ]; then
  packaging/install-deps.sh
  [ -f build/build.ninja ] || meson setup build -Dbuildtype=debugoptimized >/dev/null
  ninja -C build >/dev/null
fi
daiban=${DAIBAN:-build/agent/daiban}

catalog=../shared/catalog-sample
[ -d "$catalog" ] || catalog=tests/data/catalog-sample
village=330225101201      # 下沈村, a village of 西周镇
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "Check the county's catalogue" "$daiban" catalog check "$catalog"
step "What the village station of 下沈村 may accept" "$daiban" catalog accept "$catalog" "$village"
step "The form of the minimum living allowance as the agent walks it" \
  "$daiban" catalog show "$catalog" MZ-DB-001
step "The merged form of the after-death bundle (一件事)" "$daiban" catalog show "$catalog" YJS-SHS-001
step "A complete application" "$daiban" catalog validate "$catalog" MZ-DB-001 \
  tests/data/apps/MZ-DB-001-valid.json --today 2026-11-24
echo
echo "\$ $daiban catalog validate $catalog MZ-DB-001 tests/data/apps/MZ-DB-001-broken.json --today 2026-11-24"
echo "(an application with many problems: every one is listed at once, for the one-time notification)"
"$daiban" catalog validate "$catalog" MZ-DB-001 tests/data/apps/MZ-DB-001-broken.json --today 2026-11-24 || true
step "Due date: 5 working days from 2026-09-30, across National Day and a make-up Saturday" \
  "$daiban" catalog due "$catalog" 2026-09-30 5
step "Due date: 30 working days from 2026-02-10, across the Spring Festival" \
  "$daiban" catalog due "$catalog" 2026-02-10 30
