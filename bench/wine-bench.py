#!/usr/bin/env python3
"""The Windows station under Wine beside the Linux build, in one run
(docs/BENCHMARKS.md, "The Windows station under Wine"). Never a test.
Wine is not Windows: these figures are indications of the Windows
build's cost, not of a Windows PC's speed.

    bench/wine-bench.py --daiban LINUX_DAIBAN --exe DAIBAN_EXE --bench-store BIN --cache DIR
                        [--rounds 3] [--n 150] [--duration 10] [--json FILE]

* Captures per second: an acceptance (受理) through `daiban serve`, as
  bench/serve-accept.py makes it (a fresh village home per round, N
  low-income applications one client at a time, then N with four
  clients); the Linux and the Windows daemon alternate round by round.
* The station's list over 200,000 applications: the township home of
  bench/serve-bench.py (made once and kept in --cache), served in turn
  by each daemon; wrk (2 threads, 8 connections, --duration s) on
  `status=accepted&village=…` and `todo=1` (the UI's default), a 2 s
  warm-up first; p50, p99 and requests/s per round, and their medians.
Both daemons read the same home, one after the other, never at once."""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


sb = load("serve_bench", "serve-bench.py")
sa = load("serve_accept", "serve-accept.py")


def daemon(a, home, daiban):
    """serve-bench.py's daemon, for either build (a .exe under Wine)."""
    env = sb.env_for(home)
    if daiban.endswith(".exe"):
        env.update(DAIBAN_HOME=sa.winpath(home), LC_CTYPE="C.UTF-8", WINEDEBUG="-all")
    return sb.Daemon(a, home, sa.argv(daiban, "serve", "--home", home, "--listen", "127.0.0.1:0",
                                      "--sync-every", "3600"), env)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daiban", required=True, help="the Linux build's daiban")
    ap.add_argument("--exe", required=True, help="the Windows build's daiban.exe")
    ap.add_argument("--bench-store", required=True)
    ap.add_argument("--cache", required=True)
    ap.add_argument("--napps", type=int, default=200000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--json")
    ap.add_argument("--names", default="linux,wine",
                    help="what to call the two in the output; --exe may be another Linux build (then: old,new)")
    ap.add_argument("--lists-only", action="store_true", help="skip the captures")
    a = ap.parse_args()
    a.threads, a.conns = 2, 8
    a.daiban, a.exe, a.bench_store = (os.path.abspath(x) for x in (a.daiban, a.exe, a.bench_store))
    na, nb = a.names.split(",")
    bins = {na: a.daiban, nb: a.exe}
    res = {"nproc": os.cpu_count(), "captures": {k: [] for k in bins}, "lists": {}}

    # ---- captures ----
    with open(os.path.join(sa.DATA, "apps", "MZ-DB-001-valid.json"), encoding="utf-8") as f:
        data = json.load(f)
    mats = ([{"material": m, "state": "provided"} for m in ("SFZ", "HKB", "HDSQ", "YHK")]
            + [{"material": "SRZM", "state": "deficient", "promise": "2026-11-30"}])
    body = {"matter": "MZ-DB-001", "data": data, "materials": mats}
    for r in range(0 if a.lists_only else a.rounds):
        for k, b in bins.items():
            x = sa.one_round(b, a.n, body)
            res["captures"][k].append(x)
            print(f"captures round {r + 1} {k}: p50 {x['p50_ms']:.1f} ms, {x['per_s_4_clients']:.1f}/s with 4"
                  f" clients (load {os.getloadavg()[0]:.1f})", flush=True)

    # ---- lists over the 200,000 ----
    prep = argparse.Namespace(daiban=a.daiban, bench_store=a.bench_store, cache=a.cache, napps=a.napps)
    home, _ = sb.prepare(prep)
    village = sb.VILLAGES[1]
    routes = {"accepted+village": f"/api/apps?status=accepted&village={village}&limit=50",
              "todo (UI default)": "/api/apps?todo=1&limit=50"}
    lua_dir = os.path.join(a.cache, "lua")
    os.makedirs(lua_dir, exist_ok=True)
    for name in routes:
        res["lists"][name] = {k: [] for k in bins}
    res["names"] = [na, nb]
    for r in range(a.rounds):
        for k, b in bins.items():
            d = daemon(a, home, b)
            try:
                d.sign_in()
                for name, path in routes.items():
                    route = {"name": name, "path": path}
                    sb.wrk(a, d, route, 2, lua_dir)
                    w = sb.wrk(a, d, route, a.duration, lua_dir)
                    res["lists"][name][k].append(w)
                    print(f"list round {r + 1} {k} {name}: p50 {w['p50']:.2f} ms, p99 {w['p99']:.2f} ms,"
                          f" {w['rps']:.0f}/s (load {w['loadavg']:.1f})", flush=True)
            finally:
                d.stop()

    # ---- medians and ratios ----
    def med(xs, f):
        return statistics.median(x[f] for x in xs)
    print(f"\nmedians ({nb} / {na}):")
    c = res["captures"]
    for f, unit in (("p50_ms", "ms"), ("per_s_4_clients", "/s")):
        if c[na]:
            lw, ww = med(c[na], f), med(c[nb], f)
            print(f"  capture {f}: {na} {lw:.1f} {unit}, {nb} {ww:.1f} {unit}, ratio {ww / lw:.2f}")
    for name, per in res["lists"].items():
        for f in ("p50", "p99", "rps"):
            lw, ww = med(per[na], f), med(per[nb], f)
            print(f"  {name} {f}: {na} {lw:.2f}, {nb} {ww:.2f}, ratio {ww / lw:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
