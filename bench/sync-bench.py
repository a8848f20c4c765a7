#!/usr/bin/env python3
"""The sync benchmarks of issue 5 ("Replicate change sets", Speed), run by
`bench/run.sh sync` (or as part of `bench/run.sh`). Never a test.

    sync-bench.py --daiban BIN --bench-store BIN --work DIR [--runs N] [--only PART,...]

PART is one of backlog, pouch, layout, ingest (default: all). Must run as
root on Linux (network namespaces, tc, nftables) for the shaped link;
with --no-shaped only loopback is measured.

What it measures (docs/BENCHMARKS.md, "Sync"):

* backlog: a village home with a week's backlog (300 applications made
  with the real CLI: 200 captured, given their five materials and
  accepted, 100 drafts still waiting; about 1,500 events, no scans) syncs
  to a fresh county hall (`daiban hall serve`, plain HTTP on loopback):
  wall time of `daiban sync`, time until the hall has ingested every
  event, and the bytes each way through a counting TCP proxy; then syncs
  with nothing new. Once over loopback, once over the shaped link, and
  over loopback through HTTPS with a pinned certificate. Against the
  zlib -9 size of the village's events as its store holds them.
* pouch: the same 300 applications as documents (each the application as
  `daiban app show --json` prints it, saved once per event so it has the
  same number of revisions), replicated by PouchDB to an express-pouchdb
  server on loopback (in-memory adapter), through the same proxies and
  the same link; then a replication with nothing new.
* layout: the village's no-op sync against a hall holding only its own
  partition, then against the same hall holding the feeds of 400 villages
  (each partition: the village's feed, its township's reviews, the
  county's decisions; about 1,200 refs); and the ref advertisements the
  county's token receives (the whole repository) against the village's.
* ingest: 500 partitions x 2,000 events written as change sets into a
  county home's repository, then `daiban sync` (no remote) ingests and
  folds them: events per second.

The shaped link: the village runs in a network namespace joined to the
host by a veth pair, with tc tbf at 64 kbit/s on both ends, 2 % loss each
way by nftables `numgen random` drop rules inside the namespace, and
300 ms added each way by a delaying TCP proxy (bench/proxy.py) inside the
namespace (this kernel has no netem). The station talks to that proxy on
its namespace's loopback; the proxy crosses the veth to a counting proxy
on the host, which forwards to the hall on the host's loopback (so the
hall still sees a loopback peer and accepts the token over plain HTTP).
"""
import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import ids  # noqa: E402

SAMPLE = os.path.join(ROOT, "tests", "data", "catalog-sample")
VILLAGE, TOWNSHIP, COUNTY = "330225101201", "330225101", "330225"
TODAY = "2026-11-24"
NS, VETH_HOST, VETH_NS = "daiban-bench-v", "dbb0", "dbb1"
HOST_IP, NS_IP = "10.201.77.1", "10.201.77.2"
RATE, DELAY_MS, LOSS_PERMILLE = "64kbit", 300, 20

procs = []          # background processes to stop at exit


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.returncode} {r.stdout} {r.stderr}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, ns=False, **kw):
    if ns:
        args = ["ip", "netns", "exec", NS, *args]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, **kw)
    procs.append(p)
    return p


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in procs:
        procs.remove(p)


def med(xs):
    return statistics.median(xs)


def fmt_range(xs, unit="", f="{:.2f}"):
    return f"{f.format(med(xs))}{unit} (min {f.format(min(xs))}, max {f.format(max(xs))}, n={len(xs)})"


class Home:
    def __init__(self, daiban, path, node):
        self.daiban, self.home, self.node = daiban, path, node

    def env(self, operator="op01"):
        e = dict(os.environ, DAIBAN_HOME=self.home, DAIBAN_TODAY=TODAY, LANG="C.UTF-8", LC_ALL="")
        e.pop("DAIBAN_OPERATOR", None)
        if operator:
            e["DAIBAN_OPERATOR"] = operator
        return e

    def run(self, *args, operator="op01", ns=False, check=True):
        cmd = [self.daiban, *args]
        if ns:
            cmd = ["ip", "netns", "exec", NS, *cmd]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env(operator), timeout=900)
        if check and r.returncode != 0:
            raise RuntimeError(f"daiban {args} on {self.home}: {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def ok(self, *args, **kw):
        return self.run(*args, **kw).stdout.strip()

    def db(self):
        return sqlite3.connect(os.path.join(self.home, "store.db"), timeout=60)

    def count(self, where="1", params=()):
        with self.db() as c:
            return c.execute("SELECT count(*) FROM events WHERE " + where, params).fetchone()[0]

    def copy(self, dest):
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(self.home, dest, symlinks=True)
        return Home(self.daiban, dest, self.node)


def new_home(daiban, path, node, role):
    shutil.rmtree(path, ignore_errors=True)
    h = Home(daiban, path, node)
    h.run("init", "--node", node, "--role", role, "--catalog", SAMPLE, operator=None)
    h.run("operator", "add", "op01", "--name", "王小红", operator=None)
    return h


# ---- the week's backlog -----------------------------------------------------

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭"
GIVEN = ["秀英", "建国", "桂芳", "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
         "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "志强", "海燕", "国华", "春梅", "德明"]
REASONS = ["家庭主要劳动力患病，收入不足以维持基本生活", "本人年老体弱，无固定收入来源，生活困难",
           "因意外事故致残，丧失劳动能力，家庭生活困难", "配偶长期患病需要照料，家庭收入低于当地低保标准",
           "子女在读，家庭仅靠务农收入，人均收入低于低保标准", "房屋受台风损毁，家庭积蓄用尽，生活难以为继"]
VILLAGES = ["下沈村", "儒雅洋村", "西周村", "墩岙村", "隔溪张村"]


def name(rng):
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def birth(rng, y0, y1):
    return f"{rng.randint(y0, y1)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"


def application(rng):
    """A varied, valid MZ-DB-001 (minimum living allowance) application."""
    n = rng.randint(1, 4)
    head = name(rng)
    members = [{"member_name": head, "member_id": ids.id_number(birth(rng, 1940, 1985), seq=f"{rng.randint(100, 999)}"),
                "relation": "self", "monthly_income": f"{rng.randint(0, 1500)}.{rng.randint(0, 99):02d}"}]
    rels = ["spouse", "child", "parent", "child"]
    for i in range(1, n):
        members.append({"member_name": name(rng), "member_id": ids.id_number(birth(rng, 1940, 2020),
                                                                              seq=f"{rng.randint(100, 999)}"),
                        "relation": rels[i - 1], "monthly_income": str(rng.randint(0, 900))})
    phone = rng.choice(["13", "15", "18"]) + "".join(str(rng.randint(0, 9)) for _ in range(9))
    return {"applicant_name": head, "id_number": members[0]["member_id"], "phone": phone,
            "address": f"象山县西周镇{rng.choice(VILLAGES)}{rng.randint(1, 300)}号", "household_size": n,
            "members": members, "reason": rng.choice(REASONS),
            "bank_account": "621700" + "".join(str(rng.randint(0, 9)) for _ in range(13))}


def make_backlog(daiban, work, napps=300):
    """A village home with napps applications made through the CLI: two
    thirds captured with their five materials and accepted (7 events),
    one third drafts waiting for their materials (1 event)."""
    v = new_home(daiban, os.path.join(work, "village0"), VILLAGE, "village")
    rng = random.Random(5)
    t0 = time.time()
    tmp = os.path.join(work, "app.json")
    for i in range(napps):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(application(rng), f, ensure_ascii=False)
        a = v.ok("app", "new", "MZ-DB-001", "--data", tmp)
        if i % 3 == 2:
            continue
        for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
            v.ok("app", "material", a, m, "provided")
        v.ok("app", "submit", a)
    log(f"backlog: {napps} applications, {v.count()} events through the CLI in {time.time() - t0:.1f} s")
    return v


def events_zlib(h, node):
    """The events themselves as the store holds them (tab-separated
    columns, one line each), raw and zlib -9; and as change-set lines."""
    with h.db() as c:
        rows = c.execute("SELECT node, seq, hlc, wall, operator, type, app, part, body FROM events WHERE node = ?"
                         " ORDER BY seq", (node,)).fetchall()
    raw = "".join("\t".join("" if x is None else str(x) for x in r) + "\n" for r in rows).encode()
    lines = []
    for r in rows:
        e = dict(zip(("node", "seq", "hlc", "wall", "operator", "type", "app", "part"), r[:8]))
        if e["app"] is None:
            del e["app"]
        e["body"] = json.loads(r[8])
        lines.append(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
    jl = ("\n".join(lines) + "\n").encode()
    return {"events": len(rows), "raw": len(raw), "zlib": len(zlib.compress(raw, 9)), "jsonl": len(jl),
            "jsonl_zlib": len(zlib.compress(jl, 9))}


# ---- the network: proxies, namespace, shaping ------------------------------

class Proxy:
    def __init__(self, listen, to, stats=None, delay_ms=0, ns=False):
        self.stats = stats
        args = [sys.executable, os.path.join(HERE, "proxy.py"), "--listen", listen, "--to", to]
        if stats:
            args += ["--stats", stats]
        if delay_ms:
            args += ["--delay-ms", str(delay_ms)]
        self.log = open((stats or os.path.join(os.environ.get("TMPDIR", "/tmp"), "daiban-delay")) + ".log", "a")
        self.p = start(args, ns=ns, stderr=self.log)
        line = self.p.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError("proxy did not start: " + line)
        self.port = int(line.split()[1])

    def read(self):
        """The totals now (the proxy writes them on SIGUSR1)."""
        before = -1
        if os.path.exists(self.stats):
            with open(self.stats) as f:
                before = json.load(f)["n"]
        self.p.send_signal(signal.SIGUSR1)
        for _ in range(500):
            try:
                with open(self.stats) as f:
                    s = json.load(f)
                if s["n"] != before:
                    return s
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        raise RuntimeError("proxy stats not written")

    def stop(self):
        stop(self.p)
        self.log.close()


class Link:
    """The shaped link: namespace, veth, tbf both ways, nft loss and counters."""

    def __init__(self):
        self.down()
        sh("ip", "netns", "add", NS)
        sh("ip", "link", "add", VETH_HOST, "type", "veth", "peer", "name", VETH_NS)
        # no segmentation offload: the counters and the shaper see real packets
        for dev in (VETH_HOST, VETH_NS):
            sh("ip", "link", "set", "dev", dev, "gso_max_segs", "1", "gso_max_size", "1500")
        sh("ip", "link", "set", VETH_NS, "netns", NS)
        sh("ip", "addr", "add", HOST_IP + "/30", "dev", VETH_HOST)
        sh("ip", "link", "set", VETH_HOST, "up")
        nsx = ["ip", "netns", "exec", NS]
        sh(*nsx, "ip", "addr", "add", NS_IP + "/30", "dev", VETH_NS)
        sh(*nsx, "ip", "link", "set", VETH_NS, "up")
        sh(*nsx, "ip", "link", "set", "lo", "up")
        # 64 kbit/s each way; a queue of 32 KB (4 s at that rate)
        for pre, dev in ((nsx, VETH_NS), ([], VETH_HOST)):
            sh(*pre, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", RATE, "burst", "2kb", "limit", "32kb")
        # count every packet crossing the veth (IP bytes: headers, ACKs,
        # retransmissions), then drop 2 % of them each way
        rules = f"""
table inet daiban_bench {{
  chain out {{ type filter hook output priority 0; policy accept;
    oifname "{VETH_NS}" counter
    oifname "{VETH_NS}" numgen random mod 1000 < {LOSS_PERMILLE} counter drop
  }}
  chain in {{ type filter hook input priority 0; policy accept;
    iifname "{VETH_NS}" counter
    iifname "{VETH_NS}" numgen random mod 1000 < {LOSS_PERMILLE} counter drop
  }}
}}
"""
        sh(*nsx, "nft", "-f", "-", input=rules)

    def counters(self):
        """(bytes out of the village, packets out, dropped out, bytes in, packets in, dropped in)"""
        j = json.loads(sh("ip", "netns", "exec", NS, "nft", "-j", "list", "table", "inet", "daiban_bench").stdout)
        got = {}
        for item in j["nftables"]:
            r = item.get("rule")
            if not r:
                continue
            cnt = next(e["counter"] for e in r["expr"] if "counter" in e)
            drop = any("drop" in e for e in r["expr"])
            got[(r["chain"], drop)] = (cnt["bytes"], cnt["packets"])
        tbf = 0
        for pre, dev in ((["ip", "netns", "exec", NS], VETH_NS), ([], VETH_HOST)):
            for q in json.loads(sh(*pre, "tc", "-s", "-j", "qdisc", "show", "dev", dev).stdout):
                if q.get("kind") == "tbf":
                    tbf += q.get("drops", 0)
        return {"out_bytes": got[("out", False)][0], "out_packets": got[("out", False)][1],
                "out_dropped": got[("out", True)][1], "in_bytes": got[("in", False)][0],
                "in_packets": got[("in", False)][1], "in_dropped": got[("in", True)][1], "tbf_dropped": tbf}

    @staticmethod
    def diff(a, b):
        return {k: b[k] - a[k] for k in a}

    @staticmethod
    def down():
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["ip", "link", "del", VETH_HOST], capture_output=True)


class Paths:
    """The routes from a station to a server on the host's loopback port:
    .loop (a counting proxy on loopback) and, with a link, .shaped (a
    delaying proxy on the namespace's loopback, over the veth, to a
    counting proxy on the host)."""

    def __init__(self, work, name, port, link):
        self.loop = Proxy(f"127.0.0.1:0", f"127.0.0.1:{port}", stats=os.path.join(work, name + "-loop.json"))
        self.shaped = self.delay = None
        if link:
            self.shaped = Proxy(f"{HOST_IP}:0", f"127.0.0.1:{port}", stats=os.path.join(work, name + "-shaped.json"))
            self.delay = Proxy("127.0.0.1:0", f"{HOST_IP}:{self.shaped.port}", delay_ms=DELAY_MS, ns=True)

    def route(self, shaped):
        """(port the station connects to, counting proxy, in the namespace?)"""
        if shaped:
            return self.delay.port, self.shaped, True
        return self.loop.port, self.loop, False

    def stop(self):
        for p in (self.loop, self.shaped, self.delay):
            if p:
                p.stop()


class Hall:
    def __init__(self, county, port, cert=None):
        self.county = county
        self.logf = open(os.path.join(os.path.dirname(county.home), "hall-%d.log" % port), "a")
        args = [county.daiban, "hall", "serve", "--listen", f"127.0.0.1:{port}"]
        if cert:
            args += ["--cert", cert[0], "--key", cert[1]]
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.logf, text=True,
                                  env=county.env(operator=None))
        procs.append(self.p)
        line = self.p.stdout.readline()
        if "/feeds" not in line:
            raise RuntimeError("hall did not start: " + line)
        self.pin = self.p.stdout.readline().split()[-1] if cert else None

    def stop(self):
        stop(self.p)
        self.logf.close()


def timed_sync(station, port, counter, ns, link, scheme="http", pin=None, token=None):
    """One `daiban sync --json` through the given route: wall s, bytes, result."""
    args = ["remote", "set", f"{scheme}://127.0.0.1:{port}/feeds", "--token", token]
    if pin:
        args += ["--pin", pin]
    station.ok(*args, operator=None)
    s0 = counter.read()
    c0 = link.counters() if ns else None
    t0 = time.monotonic()
    r = station.run("sync", "--json", operator=None, ns=ns)
    wall = time.monotonic() - t0
    s1 = counter.read()
    res = {"wall": wall, "up": s1["up"] - s0["up"], "down": s1["down"] - s0["down"], "conns": s1["conns"] - s0["conns"],
           "json": json.loads(r.stdout)}
    if ns:
        res["ip"] = Link.diff(c0, link.counters())
    return res


def wait_ingested(county, n, since, timeout=300):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if county.count("node = ?", (VILLAGE,)) >= n:
                return time.monotonic() - since
        except sqlite3.OperationalError:
            pass
        time.sleep(0.02)
    raise RuntimeError("the hall did not ingest the backlog")


def bench_backlog(a, work, daiban, village0, link, results):
    county0 = new_home(daiban, os.path.join(work, "county0"), COUNTY, "county")
    county0.ok("sync", operator=None)       # publishes the catalogue chain
    token = county0.ok("hall", "token", VILLAGE, operator=None)
    nev = village0.count("node = ?", (VILLAGE,))
    hport = free_port()
    paths = Paths(work, "hall", hport, link)
    cert = (os.path.join(work, "hall.pem"), os.path.join(work, "hall.key"))
    sh(daiban, "hall", "cert", "--cert", cert[0], "--key", cert[1], "--name", "daiban county hall")
    modes = [("loopback", False, "http"), ("loopback-https", False, "https")]
    if link:
        modes.append(("shaped", True, "http"))
    try:
        for r in range(a.runs):
            for mode, shaped, scheme in modes:
                if shaped and r >= a.shaped_runs:
                    continue
                county = county0.copy(os.path.join(work, "county"))
                village = village0.copy(os.path.join(work, "village"))
                # a station in service has synced before this week: it holds
                # the county's catalogue chain, which its first sync fetched
                # once (about 10 KB); the week's backlog is the events
                sh("git", "-C", os.path.join(village.home, "repo"), "fetch", "-q", os.path.join(county.home, "repo"),
                   f"refs/catalog/{COUNTY}:refs/catalog/{COUNTY}")
                hall = Hall(county, hport, cert if scheme == "https" else None)
                try:
                    port, counter, ns = paths.route(shaped)
                    t0 = time.monotonic()
                    full = timed_sync(village, port, counter, ns, link, scheme, hall.pin, token)
                    full["ingested_at_hall"] = wait_ingested(county, nev, t0)
                    assert full["json"]["committed"] >= 1, full
                    noops = [timed_sync(village, port, counter, ns, link, scheme, hall.pin, token)
                             for _ in range(a.noop_runs)]
                    for n in noops:
                        assert n["json"]["committed"] == 0 and n["json"]["ingested_events"] == 0, n
                finally:
                    hall.stop()
                results.setdefault("backlog", {}).setdefault(mode, []).append({"full": full, "noop": noops})
                log(f"backlog {mode} run {r + 1}: sync {full['wall']:.2f} s, hall has it at "
                    f"{full['ingested_at_hall']:.2f} s, {full['up']} B up + {full['down']} B down in "
                    f"{full['conns']} connections; no-op {noops[0]['up'] + noops[0]['down']} B, "
                    f"{noops[0]['wall']:.2f} s" + (f"; IP {full['ip']}" if shaped else ""))
    finally:
        paths.stop()


# ---- PouchDB -------------------------------------------------------------------

def pouch_docs(village0, path):
    """Each application as a document, saved once per event: its states
    as it grew (the final one is `daiban app show --json`)."""
    with village0.db() as c:
        counts = dict(c.execute("SELECT app, count(*) FROM events WHERE app IS NOT NULL GROUP BY app").fetchall())
    apps = []
    for app_id in sorted(counts, key=lambda x: int(x.split("-")[1])):
        final = json.loads(village0.ok("app", "show", app_id, "--json", operator=None))
        final["_id"] = app_id
        n = counts[app_id]
        states = []
        for k in range(1, n + 1):
            s = dict(final)
            s["materials"] = final.get("materials", [])[:max(0, k - 1)]
            if k < n:
                s["status"] = "draft"
                for f in ("receipt", "accepted_on", "due"):
                    s.pop(f, None)
            states.append(s)
        apps.append(states)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(apps, f, ensure_ascii=False)
    final_bytes = sum(len(json.dumps(s[-1], ensure_ascii=False, separators=(",", ":")).encode()) for s in apps)
    return len(apps), sum(len(s) for s in apps), final_bytes


def bench_pouch(a, work, village0, link, results):
    pdir = os.path.join(HERE, "pouch")
    docs = os.path.join(work, "pouch-docs.json")
    napps, nrevs, nbytes = pouch_docs(village0, docs)
    results["pouch_docs"] = {"docs": napps, "revisions": nrevs, "json_bytes": nbytes,
                             "zlib": len(zlib.compress(open(docs, "rb").read(), 9))}
    log(f"pouch: {napps} documents, {nrevs} revisions, final documents {nbytes} bytes of JSON")
    sport = free_port()
    paths = Paths(work, "pouch", sport, link)
    modes = [("loopback", False)] + ([("shaped", True)] if link else [])
    try:
        for r in range(a.runs):
            for mode, shaped in modes:
                if shaped and r >= a.shaped_runs:
                    continue
                server = start(["node", os.path.join(pdir, "server.js"), str(sport)], cwd=work)
                client = None
                try:
                    line = server.stdout.readline()
                    assert line.startswith("listening"), line
                    port, counter, ns = paths.route(shaped)
                    cmd = ["node", os.path.join(pdir, "replicate.js"), docs, f"http://127.0.0.1:{port}/village"]
                    client = start(cmd, ns=ns, stdin=subprocess.PIPE, cwd=work)
                    loaded = json.loads(client.stdout.readline())
                    assert loaded["phase"] == "loaded", loaded
                    out = []
                    for i in range(1 + a.noop_runs):
                        s0 = counter.read()
                        c0 = link.counters() if ns else None
                        t0 = time.monotonic()
                        client.stdin.write("go\n")
                        client.stdin.flush()
                        rep = json.loads(client.stdout.readline())
                        wall = time.monotonic() - t0
                        s1 = counter.read()
                        res = {"wall": wall, "ms": rep["ms"], "docs_written": rep["docs_written"],
                               "up": s1["up"] - s0["up"], "down": s1["down"] - s0["down"],
                               "conns": s1["conns"] - s0["conns"]}
                        if ns:
                            res["ip"] = Link.diff(c0, link.counters())
                        out.append(res)
                    assert out[0]["docs_written"] == napps and all(o["docs_written"] == 0 for o in out[1:]), out
                finally:
                    if client:
                        client.stdin.close()
                        stop(client)
                    stop(server)
                full, noops = out[0], out[1:]
                results.setdefault("pouch", {}).setdefault(mode, []).append({"full": full, "noop": noops})
                log(f"pouch {mode} run {r + 1}: replicate {full['wall']:.2f} s, {full['up']} B up + {full['down']} B"
                    f" down in {full['conns']} connections; no-op {noops[0]['up'] + noops[0]['down']} B "
                    f"{noops[0]['wall']:.2f} s" + (f"; IP {full['ip']}" if shaped else ""))
    finally:
        paths.stop()


# ---- the hall's repository layout ----------------------------------------------

def fast_import_feeds(repo, template, villages):
    """Write each village's feed (its applications, captured and
    accepted) and its township's feed (a review of each) into repo as
    change sets in the documented format (docs/change-set.md), with git
    fast-import. Template: the real events of one application of the
    measured village (app.created, 5 materials, app.submitted)."""
    stream = []
    mark = [0]

    def blob(data):
        mark[0] += 1
        stream.append(b"blob\nmark :%d\ndata %d\n" % (mark[0], len(data)) + data + b"\n")
        return mark[0]

    def commit(ref, writer, part, events):
        lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                        for e in events).encode()
        hdr = json.dumps({"count": len(events), "first_seq": events[0]["seq"], "format": "daiban-changeset",
                          "last_seq": events[-1]["seq"], "partition": part, "version": 1, "writer": writer},
                         sort_keys=True, separators=(",", ":")).encode()
        bh, bl = blob(hdr), blob(lines)
        when = events[-1]["wall"] // 1000
        msg = (f"change set: {len(events)} events of {writer} in partition {part} "
               f"(seq {events[0]['seq']}..{events[-1]['seq']})\n").encode()
        stream.append(b"commit %s\n" % ref.encode()
                      + b"author %s <daiban@localhost> %d +0000\n" % (writer.encode(), when)
                      + b"committer %s <daiban@localhost> %d +0000\n" % (writer.encode(), when)
                      + b"data %d\n" % len(msg) + msg
                      + b"M 100644 :%d changeset.json\nM 100644 :%d events.jsonl\n\n" % (bh, bl))

    tseq = {}
    for v in villages:
        t = v[:9]
        evs, reviews = [], []
        seq = 0
        app_ids = []
        for k in range(2):      # two applications per village
            app_id = f"{v}-{seq + 1}"
            app_ids.append(app_id)
            for e in template:
                seq += 1
                e = json.loads(json.dumps(e))
                e.update(node=v, part=v, app=app_id, seq=seq, hlc=e["hlc"] + seq, wall=e["wall"] + seq)
                if e["type"] == "app.created":
                    e["body"]["origin"] = v
                    e["body"]["reviewer"] = t
                if e["type"] == "app.submitted":
                    e["body"]["receipt"] = f"{v[6:]}-261124-{k + 1:03d}"
                evs.append(e)
        commit(f"refs/feeds/{v}/{v}", v, v, evs)
        for app_id in app_ids:
            tseq[t] = tseq.get(t, 0) + 1
            last = evs[-1]
            reviews.append({"app": app_id, "body": {"result": "pass"}, "hlc": last["hlc"] + 100 + tseq[t], "node": t,
                            "operator": "op01", "part": v, "seq": tseq[t], "type": "app.reviewed",
                            "wall": last["wall"] + 100 + tseq[t]})
        commit(f"refs/feeds/{v}/{t}", t, v, reviews)
    stream.append(b"done\n")
    r = subprocess.run(["git", "-C", repo, "fast-import", "--quiet", "--done"], input=b"".join(stream),
                       capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("git fast-import: " + r.stderr.decode())


def advert(port, token, service):
    """GET info/refs for a service with a token: (bytes of the response, s)."""
    req = (f"GET /feeds/info/refs?service={service} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
           f"Authorization: Bearer {token}\r\nUser-Agent: git/2.0 (libgit2 1.5.1)\r\nAccept: */*\r\n"
           "Connection: close\r\n\r\n").encode()
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(req)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    return len(req), len(data), time.monotonic() - t0, data


def bench_layout(a, work, daiban, results):
    county = new_home(daiban, os.path.join(work, "l-county"), COUNTY, "county")
    township = new_home(daiban, os.path.join(work, "l-township"), TOWNSHIP, "township")
    village = new_home(daiban, os.path.join(work, "l-village"), VILLAGE, "village")
    tok = {c: county.ok("hall", "token", c, operator=None) for c in (VILLAGE, TOWNSHIP, COUNTY)}
    hport = free_port()
    paths = Paths(work, "layout", hport, None)
    port, counter = paths.loop.port, paths.loop
    url = f"http://127.0.0.1:{port}/feeds"
    rng = random.Random(7)
    hall = Hall(county, hport)
    try:
        # the measured village's partition, for real: capture, review, decision
        apps = []
        tmp = os.path.join(work, "l-app.json")
        for _ in range(2):
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(application(rng), f, ensure_ascii=False)
            x = village.ok("app", "new", "MZ-DB-001", "--data", tmp)
            for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
                village.ok("app", "material", x, m, "provided")
            village.ok("app", "submit", x)
            apps.append(x)
        for h, c in ((village, VILLAGE), (township, TOWNSHIP)):
            h.ok("remote", "set", url, "--token", tok[c], operator=None)
        village.ok("sync", operator=None)
        time.sleep(1)
        township.ok("sync", operator=None)
        for x in apps:
            township.ok("review", x, "pass")
        township.ok("sync", operator=None)
    finally:
        hall.stop()
    county.ok("sync", operator=None)        # ingests anything the hall had not yet
    for x in apps:
        county.ok("decide", x, "approve")
    county.ok("sync", operator=None)        # commits the county's decisions to its feeds
    repo = os.path.join(county.home, "repo")

    def nrefs():
        return len(sh("git", "-C", repo, "for-each-ref", "refs/feeds/").stdout.splitlines())

    def measure(label):
        hall = Hall(county, hport)
        try:
            village.ok("sync", operator=None)   # takes in what is new, then nothing is
            runs = [timed_sync(village, port, counter, False, None, token=tok[VILLAGE]) for _ in range(a.layout_runs)]
            for r in runs:
                assert r["json"]["ingested_events"] == 0 and r["json"]["committed"] == 0, r
            adv = {}
            for who in (VILLAGE, COUNTY):
                for svc in ("git-upload-pack", "git-receive-pack"):
                    xs = [advert(hport, tok[who], svc) for _ in range(a.layout_runs)]
                    adv[f"{who} {svc}"] = {"req": xs[0][0], "bytes": xs[0][1], "s": [x[2] for x in xs],
                                           "refs": xs[0][3].count(b"refs/feeds/")}
        finally:
            hall.stop()
        refs = nrefs()
        results.setdefault("layout", {})[label] = {"refs": refs, "noop": runs, "adverts": adv}
        log(f"layout {label}: {refs} refs; village no-op sync {runs[0]['up'] + runs[0]['down']} B, median "
            f"{med([r['wall'] for r in runs]):.3f} s; adverts " +
            ", ".join(f"{k}: {v['bytes']} B ({v['refs']} refs) {med(v['s']) * 1000:.1f} ms" for k, v in adv.items()))

    measure("1 partition")
    st = json.loads(village.ok("app", "show", apps[0], "--json", operator=None))["status"]
    assert st == "approved", st
    # 399 more villages: 16 townships (330225102..117) of 25 villages
    others = [f"330225{t:03d}{v:03d}" for t in range(102, 118) for v in range(201, 226)][:399]
    with village.db() as c:
        rows = c.execute("SELECT node, seq, hlc, wall, operator, type, app, part, body FROM events WHERE app = ?"
                         " AND node = ? ORDER BY seq", (apps[0], VILLAGE)).fetchall()
    template = []
    for r in rows:
        e = dict(zip(("node", "seq", "hlc", "wall", "operator", "type", "app", "part"), r[:8]))
        e["body"] = json.loads(r[8])
        template.append(e)
    t0 = time.time()
    fast_import_feeds(repo, template, others)
    ing = json.loads(county.ok("sync", "--json", operator=None))
    with county.db() as c:      # the county decides one of each village's two applications
        ids_passed = [r[0] for r in c.execute("SELECT min(id) FROM apps WHERE status = 'passed' AND origin != ?"
                                              " GROUP BY origin", (VILLAGE,)).fetchall()]
    for x in ids_passed:
        county.ok("decide", x, "approve")
    com = json.loads(county.ok("sync", "--json", operator=None))
    log(f"layout: wrote 399 villages' feeds, hall ingested {ing['ingested_events']} events, decided "
        f"{len(ids_passed)}, committed {com['committed']} change sets in {time.time() - t0:.1f} s")
    results["layout_setup"] = {"ingested": ing, "decided": len(ids_passed), "committed": com}
    measure("400 villages")
    sh("git", "-C", repo, "pack-refs", "--all")
    measure("400 villages, packed refs")
    paths.stop()


# ---- hall ingest ------------------------------------------------------------------

def bench_ingest(a, work, daiban, bench_store, results):
    county = new_home(daiban, os.path.join(work, "i-county"), COUNTY, "county")
    t0 = time.time()
    sh(bench_store, "feeds", os.path.join(county.home, "repo"), os.path.join(work, "i-villages.db"),
       str(a.ingest_parts), str(a.ingest_events))
    log(f"ingest: wrote {a.ingest_parts} feeds x {a.ingest_events} events in {time.time() - t0:.1f} s")
    os.unlink(os.path.join(work, "i-villages.db"))
    t0 = time.monotonic()
    j = json.loads(county.ok("sync", "--json", operator=None))
    wall = time.monotonic() - t0
    with county.db() as c:
        napps = c.execute("SELECT count(*) FROM apps").fetchone()[0]
    results["ingest"] = {"parts": a.ingest_parts, "per_part": a.ingest_events, "wall": wall, "json": j, "apps": napps,
                         "rate": j["ingested_events"] / wall}
    log(f"ingest: `daiban sync` on the county home ingested {j['ingested_events']} events ({napps} applications"
        f" folded) in {wall:.2f} s = {j['ingested_events'] / wall:.0f} events/s")
    shutil.rmtree(county.home, ignore_errors=True)


# ---- report --------------------------------------------------------------------------

def report(results):
    out = []
    p = out.append
    z = results.get("events")
    if z:
        p(f"events of the backlog: {z['events']} events, {z['raw']} bytes as stored, {z['zlib']} bytes zlib -9"
          f" (as change-set lines: {z['jsonl']} bytes, {z['jsonl_zlib']} zlib -9)")
    for sysname in ("backlog", "pouch"):
        for mode, runs in results.get(sysname, {}).items():
            full = [r["full"] for r in runs]
            noop = [n for r in runs for n in r["noop"]]
            tot = [f["up"] + f["down"] for f in full]
            line = (f"{sysname} {mode}: full {fmt_range([f['wall'] for f in full], ' s')}, wire "
                    f"{fmt_range(tot, ' B', '{:.0f}')} (up {med([f['up'] for f in full]):.0f}, down "
                    f"{med([f['down'] for f in full]):.0f}, connections {med([f['conns'] for f in full]):.0f})")
            if z:
                line += f" = {med(tot) / z['zlib']:.2f}x zlib"
            if "ingested_at_hall" in full[0]:
                line += f"; at the hall after {fmt_range([f['ingested_at_hall'] for f in full], ' s')}"
            if "ip" in full[0]:
                ipb = [f["ip"]["out_bytes"] + f["ip"]["in_bytes"] for f in full]
                line += (f"; IP bytes on the veth {fmt_range(ipb, ' B', '{:.0f}')}, packets dropped "
                         f"{med([f['ip']['out_dropped'] + f['ip']['in_dropped'] for f in full]):.0f} (loss) + "
                         f"{med([f['ip']['tbf_dropped'] for f in full]):.0f} (shaper queue) of "
                         f"{med([f['ip']['out_packets'] + f['ip']['in_packets'] for f in full]):.0f}")
            p(line)
            line = (f"{sysname} {mode} no-op: {fmt_range([n['wall'] for n in noop], ' s', '{:.3f}')}, wire "
                    f"{fmt_range([n['up'] + n['down'] for n in noop], ' B', '{:.0f}')} (up "
                    f"{med([n['up'] for n in noop]):.0f}, down {med([n['down'] for n in noop]):.0f})")
            if "ip" in noop[0]:
                line += f"; IP bytes {fmt_range([n['ip']['out_bytes'] + n['ip']['in_bytes'] for n in noop], ' B', '{:.0f}')}"
            p(line)
    if "pouch_docs" in results:
        d = results["pouch_docs"]
        p(f"pouch documents: {d['docs']} documents, {d['revisions']} revisions, final documents {d['json_bytes']}"
          " bytes of JSON")
    for label, l in results.get("layout", {}).items():
        p(f"layout {label}: {l['refs']} refs in the hall; village no-op sync wire "
          f"{fmt_range([r['up'] + r['down'] for r in l['noop']], ' B', '{:.0f}')}, time "
          f"{fmt_range([r['wall'] * 1000 for r in l['noop']], ' ms', '{:.1f}')}")
        for k, v in l["adverts"].items():
            p(f"  advertisement {k}: {v['refs']} refs, {v['req']} B request + {v['bytes']} B response, "
              f"{fmt_range([s * 1000 for s in v['s']], ' ms', '{:.1f}')}")
    if "ingest" in results:
        i = results["ingest"]
        p(f"hall ingest of {i['parts']} partitions x {i['per_part']} events through `daiban sync` on the county "
          f"home: {i['json']['ingested_events']} events, {i['apps']} applications folded, {i['wall']:.2f} s = "
          f"{i['rate']:.0f} events/s (target at least 50,000/s)")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--daiban", required=True)
    ap.add_argument("--bench-store", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--shaped-runs", type=int, default=3)
    ap.add_argument("--noop-runs", type=int, default=3)
    ap.add_argument("--layout-runs", type=int, default=9)
    ap.add_argument("--ingest-parts", type=int, default=500)
    ap.add_argument("--ingest-events", type=int, default=2000)
    ap.add_argument("--only", default="backlog,pouch,layout,ingest")
    ap.add_argument("--no-shaped", action="store_true")
    a = ap.parse_args()
    daiban, bench_store = os.path.abspath(a.daiban), os.path.abspath(a.bench_store)
    only = set(a.only.split(","))
    os.makedirs(a.work, exist_ok=True)
    results = {}
    link = None
    try:
        if only & {"backlog", "pouch"}:
            village0 = make_backlog(daiban, a.work)
            results["events"] = events_zlib(village0, VILLAGE)
            if not a.no_shaped:
                link = Link()
            if "backlog" in only:
                bench_backlog(a, a.work, daiban, village0, link, results)
            if "pouch" in only:
                bench_pouch(a, a.work, village0, link, results)
        if "layout" in only:
            bench_layout(a, a.work, daiban, results)
        if "ingest" in only:
            bench_ingest(a, a.work, daiban, bench_store, results)
    finally:
        for p in list(procs):
            stop(p)
        if link:
            Link.down()
        with open(os.path.join(a.work, "results.json"), "w") as f:
            json.dump(results, f, indent=1, default=str)
    print(report(results))


if __name__ == "__main__":
    main()
