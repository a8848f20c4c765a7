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

# ---- Capture at the village station (offline: no network is used) ----
demo_home=$(mktemp -d /tmp/daiban-demo.XXXXXX)
export DAIBAN_HOME=$demo_home/home DAIBAN_TODAY=2026-11-24 DAIBAN_OPERATOR=wxh
trap 'rm -rf "$demo_home"' EXIT
step "A village station's home: store, git repository, installed catalogue" \
  "$daiban" init --node "$village" --role village --catalog "$catalog" --name 下沈村便民服务站
step "The agent at the window" "$daiban" operator add wxh --name 王小红
echo
echo "\$ $daiban app new MZ-DB-001 --data tests/data/apps/MZ-DB-001-valid.json"
app=$("$daiban" app new MZ-DB-001 --data tests/data/apps/MZ-DB-001-valid.json)
echo "$app"
echo
echo "\$ $daiban app submit $app    (the materials are not recorded yet: refused, nothing written)"
"$daiban" app submit "$app" || true
step "The one-time notification (一次性告知单): everything missing, at once" "$daiban" app notice "$app"
for m in SFZ HKB HDSQ YHK; do "$daiban" app material "$app" "$m" provided >/dev/null; done
step "The income proof will come later: acceptance with a deficiency (容缺)" \
  "$daiban" app material "$app" SRZM deficient
step "Accept: receipt number and due date (30 working days)" "$daiban" app submit "$app"
step "The acceptance receipt (受理回执) for the villager" "$daiban" app receipt "$app"
step "The township returns it for correction (written as 西周镇 on this store until sync)" \
  "$daiban" review "$app" return --node 330225101 --reason "收入证明需村委会盖章"
step "Corrected and resubmitted" "$daiban" app submit "$app"
step "The township passes it up" "$daiban" review "$app" pass --node 330225101
step "The county decides" "$daiban" decide "$app" approve --node 330225
step "The villager is told the result and rates the service" "$daiban" app deliver "$app"
"$daiban" app rate "$app" --level 5 --comment 不用跑腿
step "The audit trail (电子监察): every event, time, node and operator" "$daiban" app log "$app"
step "The station at a glance" "$daiban" status
step "The derived tables are a pure fold of the events" "$daiban" rebuild --verify
