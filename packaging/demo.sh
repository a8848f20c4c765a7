#!/usr/bin/env bash
# The main command of the README: install what is missing, build, and
# show what daiban does with the sample county catalogue; at the end the
# four demo nodes serve their stations in the browser until Ctrl-C.
#   packaging/demo.sh [--no-build] [--no-wait]   (DAIBAN=path/to/daiban to use a given binary)
#   --no-wait: start the stations, check that each answers, and stop.
set -euo pipefail
cd "$(dirname "$0")/.."

build=1 wait=1
for a in "$@"; do
  case $a in
    --no-build) build=0 ;;
    --no-wait) wait=0 ;;
    *) echo "usage: packaging/demo.sh [--no-build] [--no-wait]" >&2; exit 2 ;;
  esac
done
if [ $build = 1 ]; then
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

# ---- Replication: a county hall, a township and two villages, as separate homes ----
net=$demo_home/net
mkdir -p "$net/stick"
unset DAIBAN_HOME
as() { local who=$1; shift; DAIBAN_HOME=$net/$who "$daiban" "$@"; }
# the same for a daemon started with '&': exec, so that $! is daiban's own
# pid and the exit trap stops it (not only a subshell around it)
daemon() { local who=$1; shift; DAIBAN_HOME=$net/$who exec "$daiban" "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$1"; }
say "Four homes: 象山县 (county hall), 西周镇 (township), 下沈村 (syncs with the hall), 儒雅洋村 (USB only)"
as county init --node 330225 --role county --catalog "$catalog" >/dev/null
as town init --node 330225101 --role township --catalog "$catalog" >/dev/null
as v1 init --node 330225101201 --role village --catalog "$catalog" >/dev/null
as v2 init --node 330225101202 --role village --catalog "$catalog" >/dev/null
for who in county town v1 v2; do as $who operator add wxh --name 王小红 >/dev/null; done
say "The county hall serves HTTPS with a self-signed certificate; stations pin it"
as county hall cert --cert "$net/hall.pem" --key "$net/hall.key" --name 象山县行政服务中心
pin=$(as county hall pin --cert "$net/hall.pem")
daemon county hall serve --listen 127.0.0.1:0 --cert "$net/hall.pem" --key "$net/hall.key" \
  >"$net/hall.out" 2>"$net/hall.log" &
hall_pid=$!
trap 'kill $hall_pid 2>/dev/null; rm -rf "$demo_home"' EXIT
for _ in $(seq 50); do grep -q /feeds "$net/hall.out" 2>/dev/null && break; sleep 0.1; done
cat "$net/hall.out"
url=$(grep -o 'https://[0-9.:]*/feeds' "$net/hall.out")
as town remote set "$url" --token "$(as county hall token 330225101)" --pin "$pin"
as v1 remote set "$url" --token "$(as county hall token 330225101201)" --pin "$pin"
say "Every node signs its change sets; the county enrolls the USB-only village's key (the others are enrolled at their first push)"
as v2 key show
as county roster add 330225101202 "$(as v2 key show --json | sed 's/.*"key": *"\([^"]*\)".*/\1/')"
capture() {
  local who=$1 a
  a=$(as "$who" app new RS-YL-001 --data tests/data/apps/RS-YL-001-valid.json)
  as "$who" app material "$a" SFZ provided >/dev/null
  as "$who" app material "$a" HKB provided >/dev/null
  as "$who" app submit "$a" >&2
  echo "$a"
}
say "下沈村 captures a pension enrolment and syncs"
a1=$(capture v1)
as v1 sync
say "儒雅洋村 has no link: it captures and writes a USB stick for the township"
a2=$(capture v2)
as v2 bundle export "$net/stick"
say "The township imports the stick (the answer goes back on it) and syncs, relaying 儒雅洋村's feeds"
as town bundle import "$net/stick"
as town sync
say "The hall has ingested both at once; the county decides them on its own home"
as county app list
as county decide "$a1" approve
as county decide "$a2" approve
as county sync      # commit the decisions to the county's feeds now (the hall also does every 5 s)
as town sync
say "下沈村 syncs and sees its decision"
as v1 sync
as v1 app show "$a1" | head -2
say "儒雅洋村's stick makes another trip through the township"
as v2 bundle export "$net/stick" >/dev/null
as town bundle import "$net/stick" >/dev/null
as v2 bundle import "$net/stick"
as v2 app show "$a2" | head -2
say "The hall's log: who fetched and pushed what"
sed 's/^/  /' "$net/hall.log" | grep -v advertisement | head -20
say "Stock git reads the feeds, and checks their signatures against the county's roster"
git -C "$net/county/repo" for-each-ref --format='%(refname)' refs/feeds/
git -C "$net/county/repo" log --format='%an  %s' refs/feeds/330225101201/330225101201
as county roster list
as county roster export --allowed-signers "$net/allowed_signers"
git -C "$net/county/repo" -c gpg.format=ssh -c gpg.ssh.allowedSignersFile="$net/allowed_signers" \
  verify-commit refs/feeds/330225101202/330225101202
git -C "$net/county/repo" bundle verify "$net/stick/daiban-330225101202-to-330225101.bundle"

# ---- The stations in a browser: every node runs `daiban serve` ----
say "The four stations serve their web UI (sign in as wxh, password daiban123)"
for who in county town v1 v2; do echo daiban123 | as $who operator passwd wxh >/dev/null; done
pids=()
port=8410
declare -A label=([v1]="下沈村便民服务站 (village, syncs with the hall)" [v2]="儒雅洋村便民服务站 (village, no link: USB stick)"
                  [town]="西周镇便民服务中心 (township: review queue)" [county]="象山县行政服务中心 (county: decisions, catalogue, supervision)")
urls=()
for who in v1 v2 town county; do
  # a port in use (another demo?) moves on to the next
  while (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do port=$((port + 1)); done
  daemon $who serve --listen 127.0.0.1:$port --sync-every 20 >"$net/serve-$who.out" 2>"$net/serve-$who.log" &
  pids+=($!)
  urls+=("http://127.0.0.1:$port/  ${label[$who]}")
  port=$((port + 1))
done
trap 'kill $hall_pid ${pids[*]} 2>/dev/null; wait 2>/dev/null; rm -rf "$demo_home"' EXIT
for u in "${urls[@]}"; do
  for _ in $(seq 50); do curl -sf "${u%% *}api/session" >/dev/null && break; sleep 0.1; done
  curl -sf "${u%% *}api/session" >/dev/null || { echo "demo: the station at ${u%% *} did not start" >&2; exit 1; }
done
echo
echo "Open a station in a browser (Chromium 109 or later) and sign in as wxh / daiban123:"
for u in "${urls[@]}"; do echo "  $u"; done
echo "The logs are in $net/serve-*.log."
if [ $wait = 1 ]; then
  echo "Press Ctrl-C to stop the stations and remove the demo homes."
  wait "${pids[@]}" 2>/dev/null || true
fi
