#!/usr/bin/env python3
"""An acceptance (受理) through the station daemon, measured for two
`daiban` binaries in one run: the time from POST /api/apps to its 201,
one client at a time, and the acceptances per second with four clients
at once. Each round makes a fresh village home (the sample catalogue,
operator op01), starts `daiban serve` on loopback, signs in and accepts
N low-income applications (MZ-DB-001 with its five materials, one 容缺),
each with its own request key; the binaries alternate round by round,
and the medians of the rounds are printed with their ratio.

    bench/serve-accept.py --daiban NEW [--old OLD] [--n 150] [--rounds 3]

OLD is a build from before issue 15 (the daemon then ran `daiban app new
--submit` as a child process per write): bench/serve-accept.sh builds it
from a commit and runs this. docs/BENCHMARKS.md, "An acceptance through
the daemon"."""
import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data")
PASSWORD = "bench-password-1"


def winpath(p):
    return "Z:" + os.path.abspath(p).replace("/", "\\")


def argv(daiban, *args):
    """daiban ARGS; a Windows build (a .exe) runs under Wine, its path
    arguments as Wine's Z: drive sees them (bench/wine-bench.py)."""
    if not daiban.endswith(".exe"):
        return [daiban, *args]
    return ["wine", daiban, *[winpath(a) if a.startswith("/") else a for a in args]]


def home_for(daiban, root):
    home = os.path.join(root, "home")
    env = dict(os.environ, DAIBAN_HOME=home, DAIBAN_TODAY="2026-11-24", LANG="C")
    env.pop("DAIBAN_OPERATOR", None)
    if daiban.endswith(".exe"):
        env.update(DAIBAN_HOME=winpath(home), LC_CTYPE="C.UTF-8", WINEDEBUG="-all")
    subprocess.run(argv(daiban, "init", "--node", "330225101201", "--catalog", os.path.join(DATA, "catalog-sample")),
                   env=env, check=True, capture_output=True)
    subprocess.run(argv(daiban, "operator", "add", "op01", "--name", "王芳"), env=env, check=True, capture_output=True)
    subprocess.run(argv(daiban, "operator", "passwd", "op01"), input=PASSWORD + "\n", env=env, check=True,
                   capture_output=True, text=True)
    return home, env


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        h = dict(headers or {})
        if data is not None:
            h["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        return r.status, r.getheader("Set-Cookie"), r.read()
    finally:
        c.close()


def one_round(daiban, n, body):
    root = tempfile.mkdtemp(prefix="serve-accept.")
    proc = None
    try:
        home, env = home_for(daiban, root)
        proc = subprocess.Popen(argv(daiban, "serve", "--home", home, "--listen", "127.0.0.1:0"), env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        m = re.search(r":(\d+)/", proc.stdout.readline())
        port = int(m.group(1))
        st, cookie, raw = request(port, "POST", "/api/session", {"operator": "op01", "password": PASSWORD})
        assert st == 200, raw
        headers = {"Cookie": cookie.split(";")[0], "X-CSRF-Token": json.loads(raw)["csrf"]}

        def accept(key):
            t = time.perf_counter()
            st, _, raw = request(port, "POST", "/api/apps", dict(body, draft=key), headers)
            assert st == 201, (st, raw[:300])
            return time.perf_counter() - t

        for i in range(5):                      # warm up
            accept(f"w{i}")
        lat = [accept(f"s{i}") for i in range(n)]
        t = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(accept, [f"c{i}" for i in range(n)]))
        rate = n / (time.perf_counter() - t)
        lat.sort()
        return {"p50_ms": 1000 * statistics.median(lat), "p90_ms": 1000 * lat[int(0.9 * len(lat))],
                "per_s_4_clients": rate}
    finally:
        if proc:
            proc.terminate()
            proc.wait(30)
        shutil.rmtree(root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daiban", required=True)
    ap.add_argument("--old")
    ap.add_argument("--n", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(os.path.join(DATA, "apps", "MZ-DB-001-valid.json"), encoding="utf-8") as f:
        data = json.load(f)
    mats = ([{"material": m, "state": "provided"} for m in ("SFZ", "HKB", "HDSQ", "YHK")]
            + [{"material": "SRZM", "state": "deficient", "promise": "2026-11-30"}])
    body = {"matter": "MZ-DB-001", "data": data, "materials": mats}
    bins = {"new": a.daiban} if not a.old else {"old": a.old, "new": a.daiban}
    runs = {k: [] for k in bins}
    for r in range(a.rounds):
        for k, b in bins.items():
            res = one_round(os.path.abspath(b), a.n, body)
            runs[k].append(res)
            print(f"round {r + 1} {k}: p50 {res['p50_ms']:.1f} ms, p90 {res['p90_ms']:.1f} ms,"
                  f" {res['per_s_4_clients']:.1f}/s with 4 clients", flush=True)
    med = {k: {f: statistics.median(x[f] for x in v) for f in v[0]} for k, v in runs.items()}
    for k, v in med.items():
        print(f"median {k}: p50 {v['p50_ms']:.1f} ms, p90 {v['p90_ms']:.1f} ms, {v['per_s_4_clients']:.1f}/s")
    if "old" in med:
        print(f"new/old: p50 {med['new']['p50_ms'] / med['old']['p50_ms']:.2f}x,"
              f" throughput {med['new']['per_s_4_clients'] / med['old']['per_s_4_clients']:.2f}x")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"runs": runs, "median": med, "n": a.n, "nproc": os.cpu_count(),
                       "load": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
