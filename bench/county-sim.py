#!/usr/bin/env python3
"""A whole county on one hall (issue 13): the county simulator.

    county-sim.py --daiban BIN --bench-store BIN --work DIR
                  [--townships 18] [--villages 400] [--shaped 40]
                  [--days 7] [--apps-per-day 3] [--interval 60]
                  [--steady-s 300] [--window 60] [--scan-percent 33 | --no-scans]
                  [--scenarios f,b,c,e,d,a] [--json FILE]

One county hall (`daiban hall serve`, HTTPS with a pinned certificate),
its townships and villages, each a real home made by `daiban init` on a
copy of the sample catalogue with this many more townships and villages
(the code depends on no catalogue's codes), each syncing with the real
`daiban sync`. A village's captures are written through the store's own
code (`bench-store day`: created, five materials, accepted, folded, as
the station's commands write them), so a week of a county is made in
seconds; `daiban sync` then commits, signs and pushes them like any.
About one application in three (--scan-percent) has one of its
materials scanned: 60-120 KB for a card, 120-250 KB for a page, random
(incompressible) bytes in a JPEG's frame, stored as the station stores
a scan, so its sync cuts it into pieces and pushes them one a push;
--no-scans writes the days as they were before scans (the same ones for
the same seeds).

The links: --shaped villages each live in a network namespace of their
own, joined to the host by a veth pair with tc tbf at 64 kbit/s both
ways, 2 % loss each way (nftables `numgen random` inside the namespace,
with counters), and 300 ms each way added by a delaying proxy
(bench/proxy.py) on the hall's side of the link, which holds at most 16
KiB ahead each way. (Before 2026-12-07 the proxy sat inside the
namespace, where the station reached it over loopback and it took all
it was given: a station's push left at loopback speed into kernel
buffers of up to 4 MB, its TCP reported loopback's delivery rate, and
it then waited in silence for the hall while the link drained.) The
others reach the hall over
loopback through one delaying proxy (20 ms each way).

Scenarios (each reports its figures; see docs/BENCHMARKS.md, "County"):

a  steady state: every node syncs every --interval seconds (+-20 %
   jitter) for --steady-s seconds while a tenth of the villages capture
   an application per interval; the hall's CPU and memory, the no-op sync
   cost, ingest delays, and a decision's way down to its village.
f  the first day: every node's first sync, all within one minute, after a
   day's captures: every station's key is enrolled at its first push, so
   the roster grows by 418 commits meanwhile and every node fetches it.
   The same figures as b.
b  the Monday herd: nodes that have synced before (every scenario but f
   starts, if none has yet, with all syncing once, unmeasured) are a week offline (--days x
   --apps-per-day per village), then all start their sync within one
   minute; a failed sync is tried again after --interval / 2. Ingest
   delays, the herd's total time against the slowest shaped link's own
   floor (its bytes / 64 kbit/s), requests refused as busy, the hall's
   CPU per sync.
c  a stalled push: one village's push stops after 200 bytes of its body
   (its link dies without a reset) while a wave of loopback villages
   syncs; the wave's sync times with and without it.
d  the hall restarted in the middle of a herd: nothing lost, all converge.
e  a township relays 20 villages' sticks at once (`bundle import` of a
   folder with 20 bundles, then its sync): the times, and the ingest delay
   at the hall.

After each scenario every node syncs until nothing moves, and the
simulator checks that nothing was lost (every application captured is in
the county's store, every scan captured assembled in the county's
repository) and that every node converged (each village's partition
holds the same events at the village, its township and the county, and
its township holds its scans too). Each scenario reports the scans
captured in it, their bytes and the pieces pushed. Time is compressed: --interval stands for the stations' 300 s.

Must run as root (namespaces, tc, nftables). tests/integration/county.py
runs it at CI size and asserts the shape of the figures.
"""
import argparse
import csv
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
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SAMPLE = os.path.join(ROOT, "tests", "data", "catalog-sample")
COUNTY = "330225"
RATE_BPS = 64000
LOSS_PERMILLE = 20
SHAPED_DELAY_MS, LOOP_DELAY_MS = 300, 20
# what the shaped link's delaying proxy holds ahead (bench/proxy.py
# --queue-kib; with its buffers about 6 s of 64 kbit/s)
SHAPED_QUEUE_KIB = 16
TODAY = "2026-11-30"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def sh(*args, check=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.returncode} {r.stdout} {r.stderr}")
    return r


def pct(xs, p):
    """The p-th percentile (nearest rank) of xs, or None."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def summary(xs):
    return {"n": len(xs), "p50": pct(xs, 50), "p99": pct(xs, 99), "max": max(xs) if xs else None}


def day_str(offset):
    t = time.mktime(time.strptime(TODAY, "%Y-%m-%d")) + offset * 86400 + 43200
    return time.strftime("%Y-%m-%d", time.localtime(t))


class Node:
    def __init__(self, w, code, role, ns=None):
        self.w, self.code, self.role, self.ns = w, code, role, ns
        self.home = os.path.join(w.work, "homes", code)
        self.apps = []              # application ids captured here
        self.scans = []             # (blob id, bytes) of the scans captured here

    def env(self, operator="op01"):
        e = dict(os.environ, DAIBAN_HOME=self.home, LANG="C.UTF-8", LC_ALL="")
        e.pop("DAIBAN_OPERATOR", None)
        if operator:
            e["DAIBAN_OPERATOR"] = operator
        return e

    def cmd(self, *args):
        c = [self.w.daiban, *args]
        return ["ip", "netns", "exec", self.ns, *c] if self.ns else c

    def run(self, *args, operator="op01", timeout=600, input=None):
        # a station's own PC: here it shares the hall's cores, so it runs
        # below the hall (--client-nice), as if elsewhere
        nice = self.w.a.client_nice
        return subprocess.run(self.cmd(*args), capture_output=True, text=True, timeout=timeout, input=input,
                              env=self.env(operator), preexec_fn=(lambda: os.nice(nice)) if nice else None)

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        if r.returncode != 0:
            raise RuntimeError(f"{self.code} {args}: {r.returncode} {r.stdout} {r.stderr}")
        return r.stdout

    def db(self):
        return sqlite3.connect(os.path.join(self.home, "store.db"), timeout=60)

    def own_seq(self):
        with self.db() as c:
            return c.execute("SELECT coalesce(max(seq), 0) FROM events WHERE node = ?", (self.code,)).fetchone()[0]

    def capture(self, n, day):
        """n applications of that day, written through the store's code."""
        if n <= 0:
            return []
        r = sh(self.w.bench_store, "day", os.path.join(self.home, "store.db"), str(n), day,
               str(self.w.rng.randrange(1 << 30)), str(self.w.a.scan_percent))
        # a line an application: its id, then its scan's blob and bytes if it has one
        ids = []
        for line in r.stdout.splitlines():
            f = line.split()
            ids.append(f[0])
            if len(f) == 3:
                self.scans.append((f[1], int(f[2])))
        self.apps += ids
        return ids

    def missing_blobs(self, blobs):
        """Those of blobs that this home's repository does not hold."""
        if not blobs:
            return []
        r = subprocess.run(["git", "--git-dir", os.path.join(self.home, "repo"), "cat-file", "--batch-check"],
                           input="".join(b + "\n" for b in blobs), capture_output=True, text=True, check=True)
        return [line.split()[0] for line in r.stdout.splitlines() if line.endswith(" missing")]


class Link:
    """One shaped village's own link: namespace, veth, tbf, loss, delay."""

    def __init__(self, i, hall_port):
        self.ns = f"dbsim{i}"
        self.host_if, self.ns_if = f"dbs{i}h", f"dbs{i}n"
        self.host_ip, self.ns_ip = f"10.203.{i // 64}.{(i % 64) * 4 + 1}", f"10.203.{i // 64}.{(i % 64) * 4 + 2}"
        self.down()
        sh("ip", "netns", "add", self.ns)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
        for dev in (self.host_if, self.ns_if):
            sh("ip", "link", "set", "dev", dev, "gso_max_segs", "1", "gso_max_size", "1500")
        sh("ip", "link", "set", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        nsx = ["ip", "netns", "exec", self.ns]
        sh(*nsx, "ip", "addr", "add", self.ns_ip + "/30", "dev", self.ns_if)
        sh(*nsx, "ip", "link", "set", self.ns_if, "up")
        sh(*nsx, "ip", "link", "set", "lo", "up")
        for pre, dev in ((nsx, self.ns_if), ([], self.host_if)):
            sh(*pre, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", f"{RATE_BPS // 1000}kbit", "burst",
               "2kb", "limit", "32kb")
        sh(*nsx, "nft", "-f", "-", input=f"""
table inet daiban_sim {{
  chain out {{ type filter hook output priority 0; policy accept;
    oifname "{self.ns_if}" counter
    oifname "{self.ns_if}" numgen random mod 1000 < {LOSS_PERMILLE} counter drop
  }}
  chain in {{ type filter hook input priority 0; policy accept;
    iifname "{self.ns_if}" counter
    iifname "{self.ns_if}" numgen random mod 1000 < {LOSS_PERMILLE} counter drop
  }}
}}
""")
        # the delay on the hall's side of the link: the station's own TCP
        # crosses the shaped link and feels its rate, as over a real one
        self.proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "proxy.py"),
                                       "--listen", f"{self.host_ip}:0", "--to", f"{self.host_ip}:{hall_port}",
                                       "--same-source", "--delay-ms", str(SHAPED_DELAY_MS),
                                       "--queue-kib", str(SHAPED_QUEUE_KIB)],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.port = int(self.proxy.stdout.readline().split()[1])

    def bytes(self):
        """Bytes that crossed the link each way (out of the village, in):
        what each end's tbf sent at 64 kbit/s. (Not nftables' counters:
        they count what TCP offered, and a push of scans offers several
        times what crosses, the packets the full tbf queue drops sent
        again.)"""
        def sent(*pre, dev):
            j = json.loads(sh(*pre, "tc", "-s", "-j", "qdisc", "show", "dev", dev).stdout)
            return sum(q["bytes"] for q in j if q["kind"] == "tbf")
        return sent("ip", "netns", "exec", self.ns, dev=self.ns_if), sent(dev=self.host_if)

    def stop(self):
        if self.proxy.poll() is None:
            self.proxy.terminate()
            self.proxy.wait(10)
        self.down()

    def down(self):
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)


class Hall:
    def __init__(self, w, port):
        self.w, self.port = w, port
        self.logf = open(os.path.join(w.work, "hall.log"), "a")
        extra = ["--max-conns", str(w.a.hall_max_conns)] if w.a.hall_max_conns else []
        self.p = subprocess.Popen([w.daiban, "hall", "serve", "--listen", f"0.0.0.0:{port}", "--cert", w.cert,
                                   "--key", w.key, *extra], stdout=subprocess.PIPE, stderr=self.logf, text=True,
                                  env=w.county.env(operator=None))
        line = self.p.stdout.readline()
        if "/feeds" not in line:
            raise RuntimeError("the hall did not start: " + line)
        self.pin = self.p.stdout.readline().split()[-1]

    def cpu_s(self):
        """The hall's CPU seconds, with its finished children (git http-backend)."""
        with open(f"/proc/{self.p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        got = {}
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                    got[k] = int(v.split()[0])
        return got

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.p.stdout.close()


class Sampler(threading.Thread):
    """The hall's open files, its children (git http-backend) and its
    resident memory while a scenario runs: the most of each. Resident
    memory is split as the kernel counts it: RssAnon is the heap (what the
    hall allocated), RssFile the pages of mapped files (libgit2 maps its
    packs), which the kernel can drop when it needs them."""

    def __init__(self, hall):
        super().__init__(daemon=True)
        self.hall, self.stop_ev = hall, threading.Event()
        self.max_fds = self.max_children = self.max_anon = self.max_file = 0

    def run(self):
        while not self.stop_ev.is_set():
            pid = self.hall.p.pid
            try:
                fds = len(os.listdir(f"/proc/{pid}/fd"))
                kids = 0
                for d in os.listdir("/proc"):
                    if d.isdigit():
                        try:
                            with open(f"/proc/{d}/stat") as f:
                                if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                                    kids += 1
                        except OSError:
                            pass
                self.max_fds, self.max_children = max(self.max_fds, fds), max(self.max_children, kids)
                with open(f"/proc/{pid}/status") as f:
                    st = dict(x.split(":", 1) for x in f.read().splitlines() if ":" in x)
                self.max_anon = max(self.max_anon, int(st.get("RssAnon", "0 kB").split()[0]))
                self.max_file = max(self.max_file, int(st.get("RssFile", "0 kB").split()[0]))
            except (OSError, ValueError):
                pass
            time.sleep(0.25)

    def done(self):
        self.stop_ev.set()
        self.join()
        return {"max_open_files": self.max_fds, "max_backends": self.max_children,
                "max_rss_anon_kib": self.max_anon, "max_rss_file_kib": self.max_file}


class Watcher(threading.Thread):
    """Polls the county's store: when each node's events first reached a seq."""

    def __init__(self, county):
        super().__init__(daemon=True)
        self.county, self.stop_ev = county, threading.Event()
        self.seen = {}              # node -> [(t, max seq)]
        self.lock = threading.Lock()

    def run(self):
        c = sqlite3.connect(os.path.join(self.county.home, "store.db"), timeout=60)
        while not self.stop_ev.is_set():
            try:
                rows = c.execute("SELECT node, max(seq) FROM events GROUP BY node").fetchall()
            except sqlite3.OperationalError:
                rows = []
            t = time.monotonic()
            with self.lock:
                for node, seq in rows:
                    h = self.seen.setdefault(node, [])
                    if not h or h[-1][1] != seq:
                        h.append((t, seq))
            time.sleep(0.1)
        c.close()

    def when(self, node, seq):
        with self.lock:
            for t, s in self.seen.get(node, []):
                if s >= seq:
                    return t
        return None


class World:
    def __init__(self, a):
        self.a, self.daiban, self.bench_store = a, os.path.abspath(a.daiban), os.path.abspath(a.bench_store)
        self.work = os.path.abspath(a.work)
        self.rng = random.Random(20261206)
        self.links, self.syncs = [], []
        self.slock = threading.Lock()
        self.active = 0             # syncs running now
        self.synced = False         # every node has synced once (settle)

    # ---- building the county ---------------------------------------------------------

    def build(self):
        a = self.a
        t0 = time.monotonic()
        shutil.rmtree(self.work, ignore_errors=True)
        os.makedirs(os.path.join(self.work, "homes"))
        cat = os.path.join(self.work, "catalog")
        shutil.copytree(SAMPLE, cat)
        self.townships, self.villages = [], []
        per = [a.villages // a.townships + (1 if i < a.villages % a.townships else 0) for i in range(a.townships)]
        with open(os.path.join(cat, "divisions.csv"), "a", newline="", encoding="utf-8") as f:
            wr = csv.writer(f)
            for i in range(a.townships):
                t = f"{COUNTY}{301 + i:03d}"
                wr.writerow([t, f"模拟{i + 1}镇", "township", COUNTY])
                self.townships.append(t)
                for j in range(per[i]):
                    v = f"{t}{201 + j:03d}"
                    wr.writerow([v, f"模拟{i + 1}镇{j + 1}村", "village", t])
                    self.villages.append(v)
        self.county = Node(self, COUNTY, "county")
        self.county.ok("init", "--node", COUNTY, "--role", "county", "--catalog", cat, operator=None)
        self.county.ok("operator", "add", "op01", "--name", "县审批员", operator=None)
        self.cert, self.key = os.path.join(self.work, "hall.pem"), os.path.join(self.work, "hall.key")
        self.county.ok("hall", "cert", "--cert", self.cert, "--key", self.key, operator=None)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.hall_port = s.getsockname()[1]
        self.hall = Hall(self, self.hall_port)
        # one delaying proxy for the loopback villages, each of which calls
        # it at an address of its own (127.0.x.y), so that the hall sees
        # them as distinct peers
        self.loop_proxy = subprocess.Popen([sys.executable, os.path.join(HERE, "proxy.py"), "--listen", "0.0.0.0:0",
                                            "--to", f"127.0.0.1:{self.hall_port}", "--delay-ms", str(LOOP_DELAY_MS),
                                            "--same-source"],
                                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.loop_port = int(self.loop_proxy.stdout.readline().split()[1])
        # the shaped villages: spread over the townships
        shaped = set(self.villages[i * len(self.villages) // a.shaped] for i in range(a.shaped)) if a.shaped else set()
        self.nodes = {}
        for t in self.townships:
            self.nodes[t] = Node(self, t, "township")
        for i, v in enumerate(self.villages):
            self.nodes[v] = Node(self, v, "village")
        for i, v in enumerate(sorted(shaped)):
            link = Link(i, self.hall_port)
            self.links.append(link)
            self.nodes[v].ns, self.nodes[v].link = link.ns, link
        tokens = {}
        for code in self.nodes:
            tokens[code] = self.county.ok("hall", "token", code, operator=None).strip()

        def make(n):
            n.ok("init", "--node", n.code, "--role", n.role, "--catalog", cat, "--county-key",
                 self.county_key(), operator=None)
            n.ok("operator", "add", "op01", "--name", "经办人", operator=None)
            n.ok("remote", "set", self.url_of(n), "--token", "-", "--pin", self.hall.pin, operator=None,
                 input=tokens[n.code] + "\n")
        with ThreadPoolExecutor(4) as ex:
            list(ex.map(make, self.nodes.values()))
        self.watcher = Watcher(self.county)
        self.watcher.start()
        log(f"built: 1 county, {len(self.townships)} townships, {len(self.villages)} villages ({len(self.links)} on"
            f" shaped links) in {time.monotonic() - t0:.0f} s")

    def url_of(self, n):
        if n.ns:
            return f"https://{n.link.host_ip}:{n.link.port}/feeds"
        i = list(self.nodes).index(n.code) + 2
        return f"https://127.0.{i // 250}.{i % 250 + 1}:{self.loop_port}/feeds"

    def county_key(self):
        if not hasattr(self, "_ck"):
            self._ck = json.loads(self.county.ok("key", "show", "--json", operator=None))["key"]
        return self._ck

    def stop(self):
        self.watcher.stop_ev.set()
        self.hall.stop()
        self.loop_proxy.terminate()
        self.loop_proxy.wait(10)
        for link in self.links:
            link.stop()

    # ---- syncing ---------------------------------------------------------------------

    def sync(self, n, tag):
        """One `daiban sync` of node n: a record of it."""
        target = n.own_seq() if n.role == "village" else 0
        b0 = n.link.bytes() if n.ns else None
        t0 = time.monotonic()
        with self.slock:
            self.active += 1
        try:
            r = n.run("sync", "--json", operator=None, timeout=3600)
        finally:
            with self.slock:
                self.active -= 1
        t1 = time.monotonic()
        rec = {"node": n.code, "tag": tag, "start": t0, "end": t1, "rc": r.returncode, "target": target,
               "shaped": bool(n.ns),
               # refused as busy (and sent again), or told to wait its turn and then taken
               "busy": r.returncode != 0 and ("busy" in r.stderr or "too many connections" in r.stderr
                                              or "could not check it now" in r.stderr),
               "waited": "waits its turn" in r.stderr}
        try:
            rec["json"] = json.loads(r.stdout)
        except ValueError:
            rec["json"] = None
        if r.returncode:
            rec["stderr"] = r.stderr[-400:]
        if n.ns:
            b1 = n.link.bytes()
            rec["bytes"] = (b1[0] - b0[0], b1[1] - b0[1])
        with self.slock:
            self.syncs.append(rec)
        return rec

    def sync_until_ok(self, n, tag, retry_s, give_up_s=1800):
        """Syncs of n until one succeeds: the last one's record, with the
        link's bytes (bytes_all) and the scan pieces pushed (pieces_all)
        of every attempt: a failed attempt's pieces stay pushed."""
        end = time.monotonic() + give_up_s
        bytes_all, pieces_all = [0, 0], 0
        while True:
            rec = self.sync(n, tag)
            for i, b in enumerate(rec.get("bytes") or ()):
                bytes_all[i] += b
            pieces_all += (rec["json"] or {}).get("scan_pieces_sent", 0)
            if rec["rc"] == 0 or time.monotonic() > end:
                rec["pieces_all"] = pieces_all
                if n.ns:
                    rec["bytes_all"] = tuple(bytes_all)
                return rec
            time.sleep(retry_s * (0.8 + 0.4 * self.rng.random()))

    def herd(self, nodes, tag, within_s, retry_s):
        """Every node syncs once (until it succeeds), all starting within
        within_s seconds."""
        offsets = {n.code: self.rng.uniform(0, within_s) for n in nodes}
        t0 = time.monotonic()
        out = []

        def one(n):
            time.sleep(offsets[n.code])
            out.append(self.sync_until_ok(n, tag, retry_s))
        threads = [threading.Thread(target=one, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return t0, out

    def ingest_delays(self, recs):
        """Seconds from each village's successful sync until the county's
        store held what it pushed (0 when the hall had it before the
        sync process ended)."""
        d = []
        end = time.monotonic() + 60         # for them all: what is not in by then is counted as never
        for r in recs:
            if r["rc"] != 0 or not r["target"]:
                continue
            t = None
            while t is None and time.monotonic() < end:
                t = self.watcher.when(r["node"], r["target"])
                if t is None:
                    time.sleep(0.2)
            d.append(max(0.0, t - r["end"]) if t is not None else float("inf"))
        return d

    def settle(self, rounds=3):
        """Every node syncs until nothing moves; then check."""
        order = list(self.nodes.values())
        for i in range(rounds):
            moved = 0
            with ThreadPoolExecutor(8) as ex:
                for rec in ex.map(lambda n: self.sync_until_ok(n, "settle", 2, 600), order):
                    j = rec.get("json") or {}
                    moved += (j.get("committed", 0) + j.get("ingested_events", 0) + j.get("scan_pieces_sent", 0)
                              + j.get("scans_received", 0) + (rec["rc"] != 0))
            time.sleep(6)           # the hall's tick commits what the county wrote
            if moved == 0:
                break
        self.synced = True
        return self.check()

    def check(self):
        """Nothing lost, and every village's partition alike everywhere;
        every scan captured assembled at the county (whose hall assembles
        what its last pushes brought on its worker: waited for a while)
        and at the village's township."""
        scans = [b for n in self.nodes.values() for b, _ in n.scans]
        missing = self.county.missing_blobs(scans)
        end = time.monotonic() + 30
        while missing and time.monotonic() < end:
            time.sleep(1)
            missing = self.county.missing_blobs(missing)
        missing_t = 0
        for t in self.townships:
            missing_t += len(self.nodes[t].missing_blobs([b for v in self.villages if v.startswith(t)
                                                          for b, _ in self.nodes[v].scans]))
        with self.county.db() as c:
            held = {r[0] for r in c.execute("SELECT id FROM apps")}
            parts = dict(c.execute("SELECT part, count(*) FROM events GROUP BY part").fetchall())
        lost = [a for n in self.nodes.values() for a in n.apps if a not in held]
        differ = []
        for v in self.villages:
            n = self.nodes[v]
            t = self.nodes[v[:9]]
            for who in (n, t):
                with who.db() as c:
                    k = c.execute("SELECT count(*) FROM events WHERE part = ?", (v,)).fetchone()[0]
                if k != parts.get(v, 0):
                    differ.append((v, who.code, k, parts.get(v, 0)))
        captured = sum(len(n.apps) for n in self.nodes.values())
        return {"captured": captured, "lost": len(lost), "differ": len(differ), "differ_sample": differ[:5],
                "scans": len(scans), "scans_missing": len(missing), "scans_missing_sample": missing[:5],
                "scans_missing_at_townships": missing_t}

    def hall_cpu(self):
        return self.hall.cpu_s()

    def scans_captured(self):
        """(how many, their bytes) of the scans captured so far."""
        got = [b for n in self.nodes.values() for _, b in n.scans]
        return len(got), sum(got)

    @staticmethod
    def pieces_sent(recs):
        return sum((r["json"] or {}).get("scan_pieces_sent", 0) for r in recs)


# ---- scenarios ------------------------------------------------------------------------


def reasons(recs):
    """Why attempts failed: the last line of each one's errors, counted."""
    import re
    out = {}
    for r in recs:
        if r["rc"]:
            lines = [x for x in (r.get("stderr") or "").strip().splitlines() if x.strip()]
            # git's progress ("remote: Checking connectivity") can come
            # after the reason: the last line that says what went wrong
            said = [x for x in lines if re.search(r"refus|error|fail|cannot|could not|timed out", x, re.I)]
            last = said[-1] if said else lines[-1] if lines else f"exit {r['rc']}"
            why = re.sub(r"33022[0-9]+|[0-9]+(\.[0-9]+)?", "N", last)[:160]
            out[why] = out.get(why, 0) + 1
    return dict(sorted(out.items(), key=lambda kv: -kv[1])[:8])


def scenario_f(w):
    """The first day: every node's first sync at once."""
    if w.synced:
        raise SystemExit("scenario f needs nodes that have never synced: give it first")
    return scenario_b(w, days=1, tag="first", first=True)


def scenario_b(w, days=None, tag="herd", first=False):
    a = w.a
    days = days or a.days
    for v in w.villages:
        for d in range(days):
            w.nodes[v].capture(a.apps_per_day, day_str(d - days))
    nodes = list(w.nodes.values())
    cpu0 = w.hall_cpu()
    sampler = Sampler(w.hall)
    sampler.start()
    t0, recs = w.herd(nodes, tag, a.window, a.interval / 2)
    hall_procs = sampler.done()
    t1 = max(r["end"] for r in recs)
    cpu1 = w.hall_cpu()
    delays = w.ingest_delays([r for r in recs if w.nodes[r["node"]].role == "village"])
    attempts = [r for r in w.syncs if r["tag"] == tag]
    # a link's floor: all it carried for the node in the herd (every
    # attempt: the events and the scan pieces) at 64 kbit/s
    floors = [max(r["bytes_all"]) * 8 / RATE_BPS for r in recs if r.get("bytes_all")]
    shaped_took = [r["end"] - r["start"] for r in recs if r["shaped"]]
    res = {"nodes": len(nodes), "events_per_village": days * a.apps_per_day * 7,
           "total_s": t1 - t0, "ok": sum(r["rc"] == 0 for r in recs), "attempts": len(attempts),
           "refused_busy": sum(r["busy"] for r in attempts),
           "told_to_wait": sum(r.get("waited", False) for r in attempts),
           "failed_attempts": sum(r["rc"] != 0 for r in attempts),
           "failed_shaped": sum(r["rc"] != 0 and r["shaped"] for r in attempts),
           "why_failed": reasons(attempts),
           "ingest_delay_s": summary(delays),
           "start_window_s": a.window,
           "scan_pieces_sent": sum(r["pieces_all"] for r in recs),
           "shaped_link_bytes": summary([max(r["bytes_all"]) for r in recs if r.get("bytes_all")]),
           "slowest_link_floor_s": max(floors) if floors else None, "sum_of_link_floors_s": sum(floors),
           "shaped_sync_s": summary(shaped_took),
           "shaped_sync_over_own_floor": summary([(r["end"] - r["start"]) / (max(r["bytes"]) * 8 / RATE_BPS)
                                                  for r in recs if r.get("bytes") and max(r["bytes"])]),
           "hall_cpu_s": cpu1 - cpu0, "hall_cpu_per_sync_ms": 1000 * (cpu1 - cpu0) / max(1, len(attempts)),
           "hall_mem_kib": w.hall.rss_kib(), "hall": hall_procs}
    if res["slowest_link_floor_s"]:
        # the target: done within the minute of starts plus 1.5x the
        # slowest link's own floor (its bytes at 64 kbit/s)
        res["target_s"] = a.window + 1.5 * res["slowest_link_floor_s"]
    return res


def scenario_a(w):
    """Steady state for --steady-s seconds."""
    a = w.a
    stop_at = time.monotonic() + a.steady_s
    capturers = set(w.rng.sample(w.villages, max(1, len(w.villages) // 10)))
    cpu0, t0 = w.hall_cpu(), time.monotonic()
    recs = []

    def loop(n):
        time.sleep(w.rng.uniform(0, a.interval))
        while time.monotonic() < stop_at:
            if n.code in capturers:
                n.capture(1, TODAY)
            recs.append(w.sync(n, "steady"))
            time.sleep(a.interval * (0.8 + 0.4 * w.rng.random()))
    threads = [threading.Thread(target=loop, args=(n,)) for n in w.nodes.values()]
    # a decision's way down: the township reviews and the county decides
    # some of the capturers' applications while the nodes sync
    sample = []
    for v in sorted(capturers)[:10]:
        sample += w.nodes[v].capture(1, TODAY)
    for t in threads:
        t.start()
    decided = {}
    deadline = time.monotonic() + a.steady_s * 0.7

    def status(n, app):
        with n.db() as c:
            row = c.execute("SELECT status FROM apps WHERE id = ?", (app,)).fetchone()
        return row[0] if row else None
    pending, reviewed = list(sample), set()
    while pending and time.monotonic() < deadline:
        for app in list(pending):
            t = w.nodes[app.split("-")[0][:9]]
            if app not in reviewed and status(t, app) == "accepted":
                t.ok("review", app, "pass")
                reviewed.add(app)
            if status(w.county, app) == "passed":
                w.county.ok("decide", app, "approve")
                decided[app] = time.monotonic()
                pending.remove(app)
        time.sleep(0.5)
    reached = []
    while time.monotonic() < stop_at:
        time.sleep(1)
    for t in threads:
        t.join()
    cpu1, t1 = w.hall_cpu(), time.monotonic()
    for app, td in decided.items():
        v = w.nodes[app.split("-")[0]]
        seen = None
        with v.db() as c:
            row = c.execute("SELECT status FROM apps WHERE id = ?", (app,)).fetchone()
        if row and row[0] == "approved":
            # when: the village's first sync after the decision that ended
            # with it held (its sync records, in order)
            after = [r for r in recs if r["node"] == v.code and r["end"] > td and r["rc"] == 0]
            seen = min(r["end"] for r in after) - td if after else None
        reached.append(seen)
    noop = [r for r in recs if r["rc"] == 0 and r["json"] and not r["json"]["committed"]
            and not r["json"]["ingested_events"] and not r["json"]["updated_refs"]
            and not r["json"]["scan_pieces_sent"] and not r["json"]["scans_received"]]
    delays = w.ingest_delays([r for r in recs if w.nodes[r["node"]].role == "village" and r["json"]
                              and r["json"]["committed"]])
    return {"seconds": t1 - t0, "syncs": len(recs), "failed": sum(r["rc"] != 0 for r in recs),
            "hall_cpu_pct_of_one_core": 100 * (cpu1 - cpu0) / (t1 - t0),
            "hall_cpu_per_sync_ms": 1000 * (cpu1 - cpu0) / max(1, len(recs)),
            "noop_syncs": len(noop), "noop_sync_s": summary([r["end"] - r["start"] for r in noop if not r["shaped"]]),
            "ingest_delay_s": summary(delays),
            "decisions": len(decided), "decision_to_village_s": summary([x for x in reached if x is not None]),
            "decisions_not_reached": sum(x is None for x in reached), "hall_mem_kib": w.hall.rss_kib()}


class StalledPush(threading.Thread):
    """A push whose body stops after 200 bytes; the socket stays open."""

    def __init__(self, port, node, token):
        super().__init__(daemon=True)
        self.port, self.node, self.token = port, node, token
        self.stop_ev, self.started = threading.Event(), threading.Event()

    def run(self):
        import base64
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        auth = base64.b64encode(f"{self.node}:{self.token}".encode()).decode()
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.port), timeout=30))
        s.sendall((f"POST /feeds/git-receive-pack HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
                   "Content-Type: application/x-git-receive-pack-request\r\nContent-Length: 100000\r\n\r\n").encode()
                  + b"0" * 200)
        self.started.set()
        self.stop_ev.wait()
        s.close()


def scenario_c(w):
    """A wave of loopback villages syncs, without and with a stalled push."""
    a = w.a
    loop_v = [w.nodes[v] for v in w.villages if not w.nodes[v].ns]
    wave = w.rng.sample(loop_v, min(len(loop_v) - 1, max(10, len(loop_v) // 4)))
    out = {}
    for label in ("alone", "stalled"):
        stall = None
        if label == "stalled":
            v = w.rng.choice([n for n in loop_v if n not in wave])
            stall = StalledPush(w.hall_port, v.code, w.county.ok("hall", "token", v.code, operator=None).strip())
            # (the token was just reissued: its old one no longer syncs)
            v.ok("remote", "set", w.url_of(v), "--token", "-", "--pin", w.hall.pin, operator=None,
                 input=stall.token + "\n")
            stall.start()
            stall.started.wait(10)
        for n in wave:
            n.capture(1, TODAY)
        _, recs = w.herd(wave, "wave-" + label, 5, 2)
        out[label] = {"sync_s": summary([r["end"] - r["start"] for r in recs]),
                      "ingest_delay_s": summary(w.ingest_delays(recs)), "ok": sum(r["rc"] == 0 for r in recs)}
        if stall:
            out[label]["stall_still_open"] = stall.is_alive()
            stall.stop_ev.set()
            stall.join(5)
    out["added_p50_s"] = out["stalled"]["sync_s"]["p50"] - out["alone"]["sync_s"]["p50"]
    return out


def scenario_d(w):
    """A herd (a day more each) with the hall restarted in its middle."""
    for v in w.villages:
        w.nodes[v].capture(w.a.apps_per_day, TODAY)
    result = {}
    t0 = time.monotonic()

    def restart():
        # in the middle: once the herd is under way and syncs are running
        time.sleep(10)
        while w.active < 2 and time.monotonic() < t0 + 40:
            time.sleep(0.05)
        with w.slock:
            result["in_flight_at_restart"] = w.active
        result["restarted_at_s"] = time.monotonic() - t0
        w.hall.stop()
        result["down_s"] = time.monotonic() - t0 - result["restarted_at_s"]
        w.hall = Hall(w, w.hall_port)
        result["back_after_s"] = time.monotonic() - t0 - result["restarted_at_s"]
    t = threading.Thread(target=restart)
    t.start()
    _, recs = w.herd(list(w.nodes.values()), "restart", max(20, w.a.window * 2 / 3), 3)
    t.join()
    attempts = [r for r in w.syncs if r["tag"] == "restart"]
    cut = t0 + result["restarted_at_s"]
    result.update({"total_s": max(r["end"] for r in recs) - t0, "ok": sum(r["rc"] == 0 for r in recs),
                   "failed_attempts": sum(r["rc"] != 0 for r in attempts), "why_failed": reasons(attempts),
                   "cut_by_the_restart": sum(r["start"] < cut < r["end"] for r in attempts),
                   "ingest_delay_s": summary(w.ingest_delays([r for r in recs
                                                              if w.nodes[r["node"]].role == "village"]))})
    return result


def scenario_e(w):
    """A township relays 20 villages' sticks at once."""
    t = w.nodes[w.townships[0]]
    vs = [w.nodes[v] for v in w.villages if v.startswith(t.code)][:20]
    stick = os.path.join(w.work, "stick")
    shutil.rmtree(stick, ignore_errors=True)
    os.makedirs(stick)
    targets = {}
    for v in vs:
        v.capture(w.a.apps_per_day, TODAY)
        targets[v.code] = v.own_seq()
        v.ok("bundle", "export", stick, operator=None)
    t0 = time.monotonic()
    r = t.run("bundle", "import", stick, operator=None)
    t1 = time.monotonic()
    rec = w.sync(t, "relay")
    delays = []
    end = time.monotonic() + 60
    for code, seq in targets.items():
        seen = None
        while seen is None and time.monotonic() < end:
            seen = w.watcher.when(code, seq)
            if seen is None:
                time.sleep(0.2)
        delays.append(max(0.0, seen - rec["end"]) if seen else float("inf"))
    return {"villages": len(vs), "import_rc": r.returncode, "import_s": t1 - t0, "sync_rc": rec["rc"],
            "sync_s": rec["end"] - rec["start"], "ingest_delay_s": summary(delays)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daiban", required=True)
    ap.add_argument("--bench-store", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--townships", type=int, default=18)
    ap.add_argument("--villages", type=int, default=400)
    ap.add_argument("--shaped", type=int, default=40)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--apps-per-day", type=int, default=3)
    ap.add_argument("--interval", type=float, default=60)
    ap.add_argument("--steady-s", type=float, default=300)
    ap.add_argument("--window", type=float, default=60, help="the herd's nodes all start within this many seconds")
    ap.add_argument("--scan-percent", type=int, default=33,
                    help="applications with one material scanned (60-250 KB), percent (default 33)")
    ap.add_argument("--no-scans", dest="scan_percent", action="store_const", const=0,
                    help="no scans: the days as before scans were simulated")
    ap.add_argument("--scenarios", default="f,b,c,e,d,a")
    ap.add_argument("--hall-max-conns", type=int, default=0, help="the hall's --max-conns (default: its own)")
    ap.add_argument("--client-nice", type=int, default=19,
                    help="the stations' processes run this much below the hall (they stand for PCs of their own;"
                         " 0: as runs before 2026-12-07's fourth session)")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        sys.exit("county-sim.py needs root: network namespaces, tc and nftables")
    w = World(a)
    report = {"config": {k: v for k, v in vars(a).items() if k not in ("daiban", "bench_store", "work", "json")},
              "compression": f"a sync interval of {a.interval:g} s stands for 300 s ({300 / a.interval:.1f}x)",
              "cores": os.cpu_count()}
    try:
        w.build()
        fns = {"a": scenario_a, "b": scenario_b, "c": scenario_c, "d": scenario_d, "e": scenario_e, "f": scenario_f}
        for s in a.scenarios.split(","):
            if s != "f" and not w.synced:
                log("every node syncs once first (enrolls its key; not measured) ...")
                w.settle()
            log(f"scenario {s} ...")
            t0 = time.monotonic()
            k0, scans0 = len(w.syncs), w.scans_captured()
            report[s] = fns[s](w)
            k1, scans1 = len(w.syncs), w.scans_captured()
            report[s]["converged"] = w.settle()
            report[s]["scans"] = {"captured": scans1[0] - scans0[0], "bytes": scans1[1] - scans0[1],
                                  "bytes_per_village": round((scans1[1] - scans0[1]) / max(1, len(w.villages))),
                                  "pieces_sent": w.pieces_sent(w.syncs[k0:k1]),
                                  "pieces_sent_settling": w.pieces_sent(w.syncs[k1:])}
            report[s]["scenario_s"] = time.monotonic() - t0
            log(json.dumps(report[s], ensure_ascii=False, default=str))
    finally:
        w.stop()
    out = json.dumps(report, ensure_ascii=False, indent=1, default=str)
    if a.json:
        with open(a.json, "w") as f:
            f.write(out)
    print(out)
    return report


if __name__ == "__main__":
    main()
