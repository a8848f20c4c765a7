#!/usr/bin/env python3
"""Instructions per list request of the station daemon, under callgrind:
counts, not times, so two binaries compare on a noisy machine. Never a
test.

    serve-callgrind.py --daiban BIN [--daiban BIN...] --bench-store BIN --cache DIR
                       [--napps N] [--requests N] [--cache-sim]

Each daemon runs under `valgrind --tool=callgrind`, collecting only
inside apps_list (the GET /api/apps handler: the query, the JSON built
and sent), on its own copy of serve-bench.py's home (made or reused in
--cache, the same 200,000 applications). After a sign-in and three
warm-up requests a route (the home made, if it must be, by the last
--daiban), each route is sent --requests times and the
counts dumped; the table gives instructions (Ir) per request, and with
--cache-sim the D1 misses and the last-level misses (a 2 MB LL, this
VM's L2) per request. Every response must be the same bytes each time
and the same for every binary. See docs/BENCHMARKS.md, issue 15.
"""
import argparse
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("serve_bench", os.path.join(HERE, "serve-bench.py"))
sb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sb)

ROUTES = {
    "accepted+village": f"/api/apps?status=accepted&village={sb.VILLAGES[1]}&limit=50",
    "todo": "/api/apps?todo=1&limit=50",
    "accepted": "/api/apps?status=accepted&limit=50",
}
EVENTS = ["Ir", "D1mr", "D1mw", "DLmr", "DLmw"]


def measure(a, daiban, home, out):
    """{route: {event: count per request}} and {route: body} for one binary."""
    args = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}.%p", "--collect-atstart=no",
            "--toggle-collect=apps_list", "--compress-strings=no", "--compress-pos=no"]
    if a.cache_sim:
        args += ["--cache-sim=yes", "--D1=49152,12,64", "--LL=2097152,16,64"]
    p = subprocess.Popen(args + [daiban, "serve", "--home", home, "--listen", "127.0.0.1:0", "--sync-every", "3600"],
                         stdout=subprocess.PIPE, stderr=open(out + ".log", "w"), text=True, env=sb.env_for(home))
    sb.procs.append(p)
    try:
        m = re.search(r"http://([\d.]+:\d+)/", p.stdout.readline())
        if not m:
            raise RuntimeError(f"{daiban} serve did not start (see {out}.log)")
        base, cookie = "http://" + m.group(1), None

        def req(method, path, body=None):
            h = {"Cookie": cookie} if cookie else {}
            if body is not None:
                h["Content-Type"] = "application/json"
            rq = urllib.request.Request(base + path, method=method, headers=h,
                                        data=json.dumps(body).encode() if body is not None else None)
            with urllib.request.urlopen(rq, timeout=600) as r:
                return dict(r.headers), r.read()

        hdr, _ = req("POST", "/api/session", {"operator": "op01", "password": sb.PASSWORD})
        cookie = hdr["Set-Cookie"].split(";")[0]
        bodies = {}
        for name, path in ROUTES.items():
            for _ in range(3):
                bodies[name] = req("GET", path)[1]
        ctl = ["callgrind_control", "-d"]
        subprocess.run(ctl + ["warmup", str(p.pid)], check=True, capture_output=True)
        dumps = set(os.listdir(os.path.dirname(out)))
        res = {}
        for name, path in ROUTES.items():
            for _ in range(a.requests):
                if req("GET", path)[1] != bodies[name]:
                    raise RuntimeError(f"{path}: a different response from the same daemon")
            subprocess.run(ctl + [name, str(p.pid)], check=True, capture_output=True)
            new = sorted(set(os.listdir(os.path.dirname(out))) - dumps)
            dumps |= set(new)
            text = open(os.path.join(os.path.dirname(out), new[-1])).read()
            ev = re.search(r"^events: (.*)$", text, re.M).group(1).split()
            tot = dict(zip(ev, map(int, re.search(r"^totals: (.*)$", text, re.M).group(1).split())))
            res[name] = {e: tot.get(e, 0) / a.requests for e in EVENTS}
        return res, bodies
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()
        sb.procs.remove(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daiban", action="append", required=True, help="a daemon to measure (give several)")
    ap.add_argument("--bench-store", required=True)
    ap.add_argument("--cache", required=True, help="serve-bench.py's cache: the home is made or reused there")
    ap.add_argument("--napps", type=int, default=200000)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--cache-sim", action="store_true")
    a = ap.parse_args()
    home, _ = sb.prepare(argparse.Namespace(daiban=a.daiban[-1], bench_store=a.bench_store, cache=a.cache,
                                            napps=a.napps))
    outdir = os.path.join(a.cache, "callgrind")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    results, first = [], None
    for i, daiban in enumerate(a.daiban):
        copy = os.path.join(a.cache, "home-callgrind")
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(home, copy)
        sb.log(f"## {daiban}: {len(ROUTES)} routes x {a.requests} requests under callgrind")
        t0 = time.time()
        res, bodies = measure(a, daiban, copy, os.path.join(outdir, f"bin{i}"))
        sb.log(f"   {time.time() - t0:.0f} s")
        if first is None:
            first = bodies
        elif bodies != first:
            sb.log(f"   warning: {daiban} answers differently from {a.daiban[0]}")
        results.append(res)
        shutil.rmtree(copy, ignore_errors=True)
    print("per request, inside apps_list:")
    for name in ROUTES:
        print(f"  {name}")
        for daiban, res in zip(a.daiban, results):
            r = res[name]
            cache = (f"  D1 misses {r['D1mr'] + r['D1mw']:>9,.0f}  LL misses {r['DLmr'] + r['DLmw']:>7,.0f}"
                     if a.cache_sim else "")
            print(f"    {r['Ir']:>12,.0f} Ir{cache}  {daiban}")


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in list(sb.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait()
