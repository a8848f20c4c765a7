#!/usr/bin/env bash
# Run every benchmark on a release build and print the figures recorded
# in docs/BENCHMARKS.md.
#   bench/run.sh         everything
#   bench/run.sh sync    only the sync benchmarks (bench/sync-bench.py: the
#                        backlog over loopback and a shaped link, PouchDB
#                        side by side, the hall's layout at 400 villages,
#                        the hall's ingest); needs root for the shaped link
#   bench/run.sh serve   only the station daemon (bench/serve-bench.py: wrk
#                        on the list and validation routes over 200,000
#                        applications, its memory, the UI's size and cold
#                        start at 64 kbit/s); its home is kept in
#                        build-bench/serve-bench/ between runs
#   bench/run.sh county  only the county simulator (bench/county-sim.py: 18
#                        townships and 400 villages on one hall, 40 on shaped
#                        links; the steady state, the Monday herd, a stalled
#                        push, a hall restart, a township's relay); needs root;
#                        figures in build-bench/county.json (about 30 minutes)
#   bench/run.sh spawn   only the hall's spawner against libuv's uv_spawn, with
#                        16 busy processes (bench/bench-spawn.c, about a minute)
set -euo pipefail
cd "$(dirname "$0")/.."
packaging/install-deps.sh
[ -f build-bench/build.ninja ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null

sync_bench() {
  bench/install-bench-deps.sh
  local work
  work=$(mktemp -d /tmp/daiban-sync-bench.XXXXXX)
  local shaped=()
  [ "$(id -u)" -eq 0 ] || { echo "## not root: the shaped link is skipped" >&2; shaped=(--no-shaped); }
  echo "## sync (issue 5): the work folder is $work (results.json there)"
  python3 bench/sync-bench.py --daiban build-bench/agent/daiban --bench-store build-bench/bench/bench-store \
    --work "$work" "${shaped[@]}"
  rm -rf "$work"
}

serve_bench() {
  bench/install-bench-deps.sh
  echo "## the station daemon (daiban serve): figures in build-bench/serve-bench/results.json"
  python3 bench/serve-bench.py --daiban build-bench/agent/daiban --bench-store build-bench/bench/bench-store \
    --cache build-bench/serve-bench --json build-bench/serve-bench/results.json
}

spawn_bench() {
  echo "## the hall's spawner against uv_spawn: how long the loop waits while a backend starts"
  build-bench/bench/bench-spawn 400 16 5
}

county_bench() {
  local work
  work=$(mktemp -d /tmp/daiban-county.XXXXXX)
  echo "## a county on one hall (issue 13): the work folder is $work"
  python3 bench/county-sim.py --daiban build-bench/agent/daiban --bench-store build-bench/bench/bench-store \
    --work "$work" --json build-bench/county.json
  rm -rf "$work"
}

case "${1:-}" in
sync | serve | county | spawn)
  echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  "$1"_bench
  exit 0
  ;;
esac

sample=tests/data/catalog-sample
big=build-bench/catalog-x100
rm -rf "$big"
python3 bench/gen-catalog.py "$sample" "$big" 100
python3 bench/app-bench20.py "$big/app-bench20.json"

echo "## machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "## catalogue: sample (x1)"
build-bench/bench/bench-catalog "$sample" 51
echo "## catalogue: x100 (target: under 200 ms)"
build-bench/bench/bench-catalog "$big" 21
echo "## validation (target: at least 200,000 applications/s for a 20-field form, one core)"
taskset -c 0 build-bench/bench/bench-validate "$big" BENCH-20 "$big/app-bench20.json" 1.0 7

echo "## capture (target: durable captures at least 50% of a bare SQLite insert loop)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build-bench/bench/bench-store capture "$tmp" 7 200
echo "## a station with 215,000 applications (about 1,000,000 events)"
DAIBAN_HOME=$tmp/home build-bench/agent/daiban init --node 330225101201 --role village \
  --catalog tests/data/catalog-sample >/dev/null
build-bench/bench/bench-store populate "$tmp/home/store.db" 215000
echo "## rebuild (target: at least 100,000 events/s)"
build-bench/bench/bench-store rebuild "$tmp/home/store.db" 3
echo "## app list over 215,000 applications, filtered and paged (target: under 20 ms)"
DAIBAN_HOME=$tmp/home DAIBAN_TODAY=2026-11-24 python3 bench/time-cli.py build-bench/agent/daiban

echo "## sync: a week's backlog of one village (300 applications, 1,500 events) as a USB bundle"
mkdir -p "$tmp/sync"
build-bench/bench/bench-store backlog "$tmp/sync" 300
echo "## sync: hall ingest of 500 partitions x 2,000 events in-process (target: at least 50,000 events/s)"
build-bench/bench/bench-store ingest "$tmp/sync" 500 2000
rm -rf "$tmp/sync"
sync_bench
serve_bench
spawn_bench
county_bench
