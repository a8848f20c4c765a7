#!/usr/bin/env python3
"""The station daemon's benchmarks (`daiban serve`), run by `bench/run.sh
serve` (or as part of `bench/run.sh`). Never a test.

    serve-bench.py --daiban BIN --bench-store BIN --cache DIR [--napps N] [--runs N]
                   [--duration S] [--threads N] [--conns N] [--ui-runs N] [--json FILE]
                   [--variant-sql SQL]

What it measures (docs/BENCHMARKS.md, "The station daemon"):

* The home: a township (330225100, its four villages 330225100201-204)
  with the sample catalogue plus BENCH-20, the 20-field form of the
  validation benchmark (bench/gen-catalog.py SAMPLE OUT 1), and N
  applications (default 200,000) written through the store's own code
  (`bench-store fill`: every event appended by store_append, then the
  derived tables folded), with a status mix by age. It takes a minute or
  two to make, so it is kept in --cache and reused while the sources that
  shape it (bench-store.c, the fold, the store, the catalogue generator,
  the sample) are unchanged; delete the folder to make it again.
* The daemon (DAIBAN_TODAY fixed, so "overdue" is stable) on loopback;
  its resident memory (VmRSS, /proc/PID/status) idle after start, after a
  sign-in, under load (the largest of samples every 20 ms during each wrk
  run) and idle after the load; VmHWM (the peak) too.
* wrk (--threads, --conns, --duration, --latency) against the list route
  with filters and pages, and against POST /api/validate/BENCH-20 with the
  20-field application (bench/app-bench20.py), signed in (session cookie,
  CSRF header). Each route once for 2 s to warm up, then --runs rounds of
  every route in turn; medians of p50, p99 and requests/s.
* The UI's size (every file of agent/ui as served, raw and gzip), and its
  cold start on a 64 kbit/s link (bench/ui/coldstart.js: Chromium, CDP
  throttling, cache disabled): time to a usable sign-in screen.

--variant-sql SQL measures a copy of the cached home with SQL applied
first (a candidate index, say), then deletes the copy.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "tests", "data", "catalog-sample")
TOWNSHIP = "330225100"
VILLAGES = [TOWNSHIP + v for v in ("201", "202", "203", "204")]
TODAY = "2026-11-24"
PASSWORD = "bench-serve-pw"
# what shapes the cached home: a change to any of these makes it again
KEY_FILES = ["bench/bench-store.c", "bench/gen-catalog.py", "sync/fold.c", "sync/store.c"]

procs = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*args, env=None, **kw):
    r = subprocess.run([str(a) for a in args], capture_output=True, text=True, env=env, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))}: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def med(xs):
    return statistics.median(xs)


def env_for(home):
    e = dict(os.environ, DAIBAN_HOME=home, DAIBAN_TODAY=TODAY, LANG="C.UTF-8")
    e.pop("DAIBAN_OPERATOR", None)
    return e


# ---- the home ----------------------------------------------------------------

def home_key(napps):
    h = hashlib.sha256(f"{napps} {TODAY} {TOWNSHIP} {' '.join(VILLAGES)} {PASSWORD}".encode())
    for f in KEY_FILES:
        h.update(open(os.path.join(ROOT, f), "rb").read())
    for f in sorted(os.listdir(SAMPLE)):
        h.update(open(os.path.join(SAMPLE, f), "rb").read())
    return h.hexdigest()


def make_home(a, path, catalog, napps):
    shutil.rmtree(path, ignore_errors=True)
    e = env_for(path)
    sh(a.daiban, "init", "--node", TOWNSHIP, "--role", "township", "--catalog", catalog, env=e)
    sh(a.daiban, "operator", "add", "op01", "--name", "王小红", env=e)
    subprocess.run([a.daiban, "operator", "passwd", "op01"], input=PASSWORD + "\n", text=True, env=e, check=True,
                   capture_output=True)
    if napps:
        out = sh(a.bench_store, "fill", os.path.join(path, "store.db"), napps, TODAY, *VILLAGES)
        log("   " + out.strip())


def prepare(a):
    os.makedirs(a.cache, exist_ok=True)
    cat1 = os.path.join(a.cache, "catalog-x1")
    cat100 = os.path.join(a.cache, "catalog-x100")
    if not os.path.exists(os.path.join(cat1, "matters.csv")):
        sh("python3", os.path.join(HERE, "gen-catalog.py"), SAMPLE, cat1, 1)
    if not os.path.exists(os.path.join(cat100, "matters.csv")):
        sh("python3", os.path.join(HERE, "gen-catalog.py"), SAMPLE, cat100, 100)
    home = os.path.join(a.cache, f"home-{a.napps}")
    key = home_key(a.napps)
    stamp = os.path.join(home, "bench-key")
    if os.path.exists(stamp) and open(stamp).read().split()[0] == key:
        made = open(stamp).read().split()[1:]
        log(f"## reusing the home of {a.napps:,} applications cached at {home} (made {' '.join(made)});"
            f" rm -rf {home} to make it again")
    else:
        log(f"## making a home of {a.napps:,} applications at {home} (bench-store fill; one to three minutes,"
            " kept for later runs)")
        t0 = time.time()
        make_home(a, home, cat1, a.napps)
        with open(stamp, "w") as f:
            f.write(f"{key} on {time.strftime('%Y-%m-%d %H:%M')} in {time.time() - t0:.0f} s\n")
        log(f"   made in {time.time() - t0:.0f} s")
    # a home with the x100 catalogue (1,301 matters) and no applications: idle memory only
    big = os.path.join(a.cache, "home-x100-empty")
    if not os.path.exists(os.path.join(big, "bench-key")):
        make_home(a, big, cat100, 0)
        open(os.path.join(big, "bench-key"), "w").write("x100\n")
    return home, big


# ---- the daemon ----------------------------------------------------------------

class Daemon:
    def __init__(self, a, home, argv=None, env=None):
        """argv and env, when given, start another program the same way
        (bench/wine-bench.py: daiban.exe under Wine)."""
        self.p = subprocess.Popen(argv or [a.daiban, "serve", "--home", home, "--listen", "127.0.0.1:0",
                                           "--sync-every", "3600"], stdout=subprocess.PIPE,
                                  stderr=open(os.path.join(home, "serve-bench.log"), "a"), text=True,
                                  env=env or env_for(home))
        procs.append(self.p)
        line = self.p.stdout.readline()
        m = re.search(r"http://([\d.]+:\d+)/", line)
        if not m:
            raise RuntimeError(f"daiban serve did not start: {line!r}")
        self.base = "http://" + m.group(1)
        self.t_start = time.time()
        self.cookie = self.csrf = None

    def status(self):
        d = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    d[k] = int(v.split()[0])      # kB
        return d

    def cpu_ticks(self):
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])      # utime + stime

    def quiesce(self, timeout=120.0):
        """Wait until the daemon has used no CPU for 0.3 s: when wrk stops,
        the requests already taken in (up to one per connection) are still
        computed, one after another; the next run must not queue behind
        them."""
        end = time.time() + timeout
        last = self.cpu_ticks()
        while time.time() < end:
            time.sleep(0.3)
            now = self.cpu_ticks()
            if now - last <= 1:
                return
            last = now
        raise RuntimeError("the daemon did not go quiet")

    def req(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        if self.cookie:
            h["Cookie"] = self.cookie
        if body is not None:
            h["Content-Type"] = "application/json"
            if self.csrf:
                h["X-CSRF-Token"] = self.csrf
        rq = urllib.request.Request(self.base + path, method=method, headers=h,
                                    data=json.dumps(body).encode() if body is not None else None)
        with urllib.request.urlopen(rq, timeout=60) as r:
            return r.status, dict(r.headers), r.read()

    def sign_in(self):
        _, hdr, body = self.req("POST", "/api/session", {"operator": "op01", "password": PASSWORD})
        self.cookie = hdr["Set-Cookie"].split(";")[0]
        self.csrf = json.loads(body)["csrf"]

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.p in procs:
            procs.remove(self.p)


def idle_rss(d, settle):
    """VmRSS once the daemon has been quiet for `settle` seconds after its
    start (its first sync tick runs 2 s after start)."""
    time.sleep(max(0.0, settle - (time.time() - d.t_start)))
    return d.status()


# ---- wrk -----------------------------------------------------------------------

UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    def ms(s):
        m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
        return float(m.group(1)) * UNIT[m.group(2)]
    pct = {p: ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M)}
    if len(pct) != 4:
        raise RuntimeError("no latency distribution in wrk's output:\n" + out)
    r = {"p50": pct["50"], "p75": pct["75"], "p90": pct["90"], "p99": pct["99"],
         "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
         "requests": int(re.search(r"(\d+) requests in", out).group(1)),
         "max": ms(re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", out).group(1))}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    err = re.search(r"Socket errors: (.*)", out)
    if bad or err:
        raise RuntimeError("wrk saw failures:\n" + out)
    return r


def wrk(a, d, route, seconds, lua_dir):
    path, body = route["path"], route.get("body")
    cmd = ["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{seconds}s", "--timeout", "30s", "--latency", "-H", "Cookie: " + d.cookie]
    if body is not None:
        lua, data = (os.path.join(lua_dir, route["name"].replace(" ", "-") + x) for x in (".lua", ".json"))
        with open(data, "w", encoding="utf-8") as f:
            json.dump(body, f, ensure_ascii=False)
        with open(lua, "w") as f:
            f.write('wrk.method = "POST"\n'
                    f'local f = assert(io.open("{data}", "rb"))\n'
                    'wrk.body = f:read("*a")\n'
                    'f:close()\n'
                    'wrk.headers["Content-Type"] = "application/json"\n'
                    f'wrk.headers["X-CSRF-Token"] = "{d.csrf}"\n')
        cmd += ["-s", lua]
    cmd.append(d.base + path)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], d.status()["VmRSS"])
            done.wait(0.02)
    t = threading.Thread(target=sample)
    d.quiesce()
    t.start()
    try:
        out = sh(*cmd)
    finally:
        done.set()
        t.join()
    d.quiesce()
    r = parse_wrk(out)
    r["rss_peak_kb"] = peak[0]
    # the machine's 1-minute load average at the end (the VM is shared: a
    # figure taken while something else ran shows it here)
    r["loadavg"] = float(open("/proc/loadavg").read().split()[0])
    return r


# ---- the UI ---------------------------------------------------------------------

def ui_sizes(d):
    """Every file of agent/ui as the daemon serves it: raw and gzip bytes."""
    ui = os.path.join(ROOT, "agent", "ui")
    rows = []
    for f in sorted(os.listdir(ui)):
        if not re.search(r"\.(html|css|js)$", f):
            continue
        path = "/" if f == "index.html" else "/ui/" + f
        _, _, raw = d.req("GET", path)
        _, hdr, gz = d.req("GET", path, headers={"Accept-Encoding": "gzip"})
        rows.append({"path": path, "raw": len(raw),
                     "gzip": len(gz) if hdr.get("Content-Encoding") == "gzip" else None})
    return rows


def cold_start(a, d):
    out = sh("node", os.path.join(HERE, "ui", "coldstart.js"), d.base + "/", "--runs", a.ui_runs, "--kbps", 64,
             "--latency-ms", 100, timeout=900)
    return json.loads(out)


# ---- main ----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daiban", required=True)
    ap.add_argument("--bench-store", required=True)
    ap.add_argument("--cache", required=True, help="where the homes are made and kept between runs")
    ap.add_argument("--napps", type=int, default=200000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--conns", type=int, default=8)
    ap.add_argument("--ui-runs", type=int, default=5)
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--variant-sql", help="an experiment: run this SQL (say, a candidate index) on a copy of the"
                    " cached home's store (CACHE/home-variant) and measure that copy instead")
    a = ap.parse_args()
    a.daiban, a.bench_store, a.cache = map(os.path.abspath, (a.daiban, a.bench_store, a.cache))
    res = {"napps": a.napps, "today": TODAY, "wrk": {"threads": a.threads, "conns": a.conns,
                                                       "duration_s": a.duration, "runs": a.runs}}
    home, big = prepare(a)
    if a.variant_sql:
        var = os.path.join(a.cache, "home-variant")
        shutil.rmtree(var, ignore_errors=True)
        shutil.copytree(home, var, symlinks=True)
        os.remove(os.path.join(var, "bench-key"))
        log(f"## the variant: {a.variant_sql}")
        sh("sqlite3", os.path.join(var, "store.db"), a.variant_sql)
        home, res["variant_sql"] = var, a.variant_sql
    res["store_bytes"] = os.path.getsize(os.path.join(home, "store.db"))

    # idle memory with the x100 catalogue (no applications), for comparison
    d = Daemon(a, big)
    res["rss_idle_x100_catalog"] = idle_rss(d, 5.0)
    d.stop()

    d = Daemon(a, home)
    try:
        res["rss_idle_start"] = idle_rss(d, 5.0)
        d.sign_in()
        time.sleep(1.0)
        res["rss_after_signin"] = d.status()
        sh("python3", os.path.join(HERE, "app-bench20.py"), os.path.join(a.cache, "app-bench20.json"), "--wrap")
        app20 = json.load(open(os.path.join(a.cache, "app-bench20.json")))["data"]
        _, _, v = d.req("POST", "/api/validate/BENCH-20", {"data": app20})
        if json.loads(v)["problems"]:
            raise RuntimeError(f"the 20-field application is not valid: {v!r}")

        def page(q):
            _, _, b = d.req("GET", "/api/apps?" + q)
            return json.loads(b)
        v2 = VILLAGES[1]
        routes = [
            {"name": "accepted", "path": "/api/apps?status=accepted&limit=50"},
            {"name": "accepted+village", "path": f"/api/apps?status=accepted&village={v2}&limit=50"},
            {"name": "overdue", "path": "/api/apps?overdue=1&limit=50"},
            {"name": "overdue+village", "path": f"/api/apps?overdue=1&village={v2}&limit=50"},
        ]
        # second pages, after the first page's cursor
        for base in ("status=accepted&limit=50", "overdue=1&limit=50"):
            nxt = page(base)["next"]
            routes.append({"name": base.split("&")[0].replace("status=", "").replace("=1", "") + " page 2",
                           "path": f"/api/apps?{base}&after={nxt}"})
        routes += [
            {"name": "todo (UI default)", "path": "/api/apps?todo=1&limit=50"},
            {"name": "no filter", "path": "/api/apps?limit=50"},
            {"name": "validate 20 fields", "path": "/api/validate/BENCH-20", "body": {"data": app20}},
        ]
        for r in routes:
            if "body" not in r:
                p = page(r["path"].split("?", 1)[1])
                r["rows"], r["total"] = len(p["applications"]), p["total"]
                if r["rows"] != 50:
                    raise RuntimeError(f"{r['path']}: {r['rows']} rows, not a full page")
        lua_dir = os.path.join(a.cache, "lua")
        os.makedirs(lua_dir, exist_ok=True)
        log(f"## warming up ({len(routes)} routes x 2 s)")
        for r in routes:
            wrk(a, d, r, 2, lua_dir)
        for r in routes:
            r["runs"] = []
        for i in range(a.runs):
            log(f"## round {i + 1} of {a.runs}: {len(routes)} routes x {a.duration} s")
            for r in routes:
                r["runs"].append(wrk(a, d, r, a.duration, lua_dir))
        res["routes"] = routes
        time.sleep(2.0)
        res["rss_idle_after_load"] = d.status()
        log("## UI: sizes, then the cold start at 64 kbit/s")
        res["ui_files"] = ui_sizes(d)
        res["cold_start"] = cold_start(a, d)
        res["rss_end"] = d.status()
    finally:
        d.stop()
        if a.variant_sql:
            shutil.rmtree(home, ignore_errors=True)     # the copy (a gigabyte at 200,000)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1, ensure_ascii=False)
    report(a, res)


def report(a, res):
    mb = lambda kb: f"{kb / 1024:.1f} MB"  # noqa: E731
    print(f"home: township {TOWNSHIP}, {res['napps']:,} applications, store.db {res['store_bytes'] / 2**20:,.0f} MiB;"
          f" DAIBAN_TODAY={TODAY}")
    print(f"wrk: {a.threads} threads, {a.conns} connections, {a.duration} s, {a.runs} runs (medians; min-max of p99)")
    print(f"  {'route':22s} {'rows/total':>14s} {'p50':>8s} {'p99':>8s} {'p99 min-max':>16s} {'req/s':>7s}"
          f" {'peak RSS':>9s}  target")
    for r in res["routes"]:
        p99 = [x["p99"] for x in r["runs"]]
        tgt = 10.0 if "body" in r else 50.0
        verdict = "met" if med(p99) < tgt else "MISSED"
        rows = f"{r['rows']}/{r['total']:,}" if "total" in r else "-"
        print(f"  {r['name']:22s} {rows:>14s} {med([x['p50'] for x in r['runs']]):6.2f}ms {med(p99):6.2f}ms"
              f" {min(p99):7.2f}-{max(p99):6.2f}ms {med([x['rps'] for x in r['runs']]):7.0f}"
              f" {mb(max(x['rss_peak_kb'] for x in r['runs'])):>9s}  p99 < {tgt:.0f} ms: {verdict}")
    loads = [x["loadavg"] for r in res["routes"] for x in r["runs"]]
    print(f"  (1-minute load average after each run: {min(loads):.2f} to {max(loads):.2f}; the daemon and wrk"
          f" alone make about 1.5 on 2 cores)")
    idle = res["rss_idle_start"]["VmRSS"]
    peak = max(x["rss_peak_kb"] for r in res["routes"] for x in r["runs"])
    print("memory (VmRSS):")
    print(f"  idle after start:              {mb(idle)}  (target < 30 MB: {'met' if idle < 30 * 1024 else 'MISSED'})")
    print(f"  idle, x100 catalogue (1,301 matters), empty store: {mb(res['rss_idle_x100_catalog']['VmRSS'])}")
    print(f"  after one sign-in:             {mb(res['rss_after_signin']['VmRSS'])}"
          f" (VmHWM {mb(res['rss_after_signin']['VmHWM'])}: the sign-in's argon2id)")
    print(f"  peak sampled under load:       {mb(peak)}")
    print(f"  idle after the load:           {mb(res['rss_idle_after_load']['VmRSS'])}")
    tot_raw = sum(f["raw"] for f in res["ui_files"])
    tot_gz = sum(f["gzip"] or f["raw"] for f in res["ui_files"])
    cs = res["cold_start"]
    first = {r["url"] for r in cs["runs"][0]["requests_before_usable"]}
    f_raw = sum(f["raw"] for f in res["ui_files"] if f["path"] in first)
    f_gz = sum(f["gzip"] or f["raw"] for f in res["ui_files"] if f["path"] in first)
    print(f"UI: {len(res['ui_files'])} files, {tot_raw:,} B raw, {tot_gz:,} B gzip; the first screen"
          f" ({', '.join(sorted(p for p in first if not p.startswith('/api/')))}): {f_raw:,} B raw, {f_gz:,} B gzip")
    for f in res["ui_files"]:
        print(f"  {f['path']:18s} {f['raw']:>8,} B raw {f['gzip'] or 0:>8,} B gzip")
    painted = [r["password_painted_ms"] for r in cs["runs"]]
    wall = [r["wall_ms"] for r in cs["runs"]]
    print(f"cold start at {cs['kbps']} kbit/s ({cs['bytes_per_s']:.0f} B/s each way, {cs['latency_ms']} ms latency),"
          f" cache disabled, Chromium {cs['chromium']}, {len(painted)} runs:")
    print(f"  sign-in screen usable (password input painted): median {med(painted) / 1000:.2f} s"
          f" (min {min(painted) / 1000:.2f}, max {max(painted) / 1000:.2f}); seen from the script"
          f" {med(wall) / 1000:.2f} s; target < 3 s: {'met' if med(painted) < 3000 else 'MISSED'}")
    r0 = cs["runs"][0]
    print(f"  {len(r0['requests_before_usable'])} requests, {r0['bytes_before_usable']:,} B on the wire before it"
          f" (headers included): " + ", ".join(f"{q['url']} {q.get('bytes', 0):,} B {q['start_ms']}-{q.get('end_ms', 0)} ms"
                                               for q in r0["requests_before_usable"]))


if __name__ == "__main__":
    try:
        main()
    finally:
        for p in list(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                p.wait()
