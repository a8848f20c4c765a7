#!/usr/bin/env bash
# The county hall's CPU for one sync, at the size of a county the
# simulator built (bench/county-sim.py leaves its homes in its --work
# folder): a hall is started on that county's home, one village syncs N
# times with nothing new (a no-op sync), then N times with one new
# application each (written through the store's code), and the hall's
# CPU (its own and its finished children's, from /proc) is divided by N.
#
#   bench/hall-sync-cost.sh DAIBAN BENCH_STORE SIMWORK [N] [VILLAGE]
#
# Give two DAIBAN binaries' results from one county to compare them (a
# hall of one version leaves hooks another rewrites; each run writes its
# own). docs/BENCHMARKS.md, "A county on one hall".
set -euo pipefail
D=$(readlink -f "$1"); BS=$(readlink -f "$2"); W=$(readlink -f "$3"); N=${4:-20}; V=${5:-}
C=$W/homes/330225
[ -d "$C" ] || { echo "no county home at $C: run bench/county-sim.py --work $W first" >&2; exit 2; }
[ -n "$V" ] || V=$(ls "$W/homes" | grep -E '^[0-9]{12}$' | head -1)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
OUT=$(mktemp -d)
trap 'kill $HP 2>/dev/null || true; rm -rf "$OUT"' EXIT
"$D" hall serve --home "$C" --listen 127.0.0.1:$PORT --cert "$W/hall.pem" --key "$W/hall.key" >"$OUT/out" 2>"$OUT/log" &
HP=$!
for _ in $(seq 300); do [ "$(wc -l < "$OUT/out")" -ge 2 ] && break; sleep 0.1; done
PIN=$(sed -n 2p "$OUT/out" | awk '{print $NF}')
"$D" remote set https://127.0.0.1:$PORT/feeds --pin "$PIN" --home "$W/homes/$V" >/dev/null
"$D" sync --home "$W/homes/$V" >/dev/null 2>&1 || true
sleep 6
cpu() { awk '{print $14+$15+$16+$17}' /proc/$HP/stat; }
tick=$(getconf CLK_TCK)
c0=$(cpu)
for _ in $(seq "$N"); do "$D" sync --home "$W/homes/$V" >/dev/null 2>&1; done
sleep 6
c1=$(cpu)
for i in $(seq "$N"); do
  "$BS" day "$W/homes/$V/store.db" 1 "2027-01-$(printf %02d $(( (i % 28) + 1 )))" "$i" >/dev/null
  "$D" sync --home "$W/homes/$V" >/dev/null 2>&1
done
sleep 6
c2=$(cpu)
echo "$D: hall CPU per no-op sync $(( (c1 - c0) * 1000 / tick / N )) ms, per sync pushing one application $(( (c2 - c1) * 1000 / tick / N )) ms (N=$N, village $V)"
