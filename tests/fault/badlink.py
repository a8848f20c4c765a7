#!/usr/bin/env python3
"""Fault: bad links. Villages in their own network namespaces reach the
county hall through a veth pair shaped like a village's 2G dongle:

* rate: `tc` tbf at 64 kbit/s on both ends of the veth;
* loss: nftables `numgen random` drops 2% of the packets each way on the
  village's side of the veth (netdev ingress and egress hooks);
* delay: this kernel has no netem, so a small relay in this script adds
  300 ms each way to everything between the village's link and the hall
  (a TCP relay in the root namespace, listening on the veth's far end).

The hall (`daiban hall serve`) listens on the veth's address, beyond
loopback, so it serves HTTPS with a self-signed certificate made here
with openssl, and every station pins it. The villages' `daiban sync`
runs inside their namespace (`ip netns exec`); the township syncs on the
root namespace's side.

1. Two villages capture a few applications each and sync over the bad
   links at the same time; the hall ingests; the township reviews, the
   county decides, and the decisions reach the villages, which deliver;
   every node's derived rows for its partitions equal the county's.
2. A larger backlog is pushing when the link is cut:
   a. cut for a few seconds and restored, the TCP session survives: the
      same sync completes;
   b. cut and the session lost (the relay resets its connections, as a
      dongle's re-dial does): the sync exits 1 with a clear error, the
      hall holds nothing of the broken push (same refs, same events,
      `PRAGMA integrity_check` and `git fsck` pass); once the link is
      back the next sync completes and everything converges.

Needs root, `ip`, `tc` and `nft`; exits 77 (skipped) without them or
when network namespaces cannot be made. Every namespace, veth and
process it makes has a per-run name and is removed at the end, also on
failure, on SIGTERM (meson's timeout) and on SIGINT. BADLINK_KEEP=1
keeps the homes for a post-mortem (printed)."""
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from station import COUNTY, DAIBAN, TOWNSHIP, VILLAGE, Station, app_file  # noqa: E402
from hall import Hall, git, wait_for  # noqa: E402
from converge import digest  # noqa: E402

OTHER_VILLAGE = "330225101202"
RATE = "64kbit"
DELAY = 0.300           # seconds, each way
LOSS = 2                # percent, each way
SYNC_TIMEOUT = 150      # seconds for one `daiban sync` over a bad link
BACKLOG = 40            # applications pushing when the link is cut (about 75 KB)
MATERIALS = ("SFZ", "HKB", "HDSQ", "YHK", "SRZM")

# ---- cleanup that also runs on SIGTERM / SIGINT / a crash ----------------------------

_cleanups = []          # callables, run last-in first-out, each once
_cleanup_lock = threading.Lock()


def at_cleanup(fn):
    with _cleanup_lock:
        _cleanups.append(fn)
    return fn


def run_cleanups():
    while True:
        with _cleanup_lock:
            if not _cleanups:
                return
            fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # keep going: the rest must still be removed
            print(f"badlink: cleanup: {e}", file=sys.stderr)


def _on_signal(signum, frame):
    print(f"badlink: signal {signum}: removing namespaces and processes", file=sys.stderr, flush=True)
    run_cleanups()
    os._exit(128 + signum)


def sh(*args, check=True, input=None):
    r = subprocess.run(args, capture_output=True, text=True, input=input, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def kill_pid(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- the network ----------------------------------------------------------------------

def free_subnet():
    """A random /30 in 100.64.0.0/10 that no interface or route here uses."""
    used = sh("ip", "-4", "-o", "addr").stdout + sh("ip", "-4", "route").stdout
    for _ in range(100):
        a, b, c = random.randrange(64, 128), random.randrange(256), random.randrange(0, 256, 4)
        net = f"100.{a}.{b}"
        if f"{net}.{c}/" not in used and f"{net}.{c + 1}/" not in used and f"{net}.{c + 2}/" not in used:
            return f"{net}.{c + 1}", f"{net}.{c + 2}"
    raise AssertionError("no free 100.64.0.0/10 subnet")


class Link:
    """A namespace for one village, joined to the root namespace by a veth
    pair: 64 kbit/s each way (tbf), 2% loss each way (nftables on the
    village's end). `cut()` takes the village's end down."""

    def __init__(self, tag, i):
        self.ns = f"daiban-bl-{tag}-{i}"
        self.host_if = f"bl{tag}h{i}"        # at most 15 characters
        self.ns_if = f"bl{tag}v{i}"
        self.host_ip, self.ns_ip = free_subnet()
        sh("ip", "netns", "add", self.ns)
        at_cleanup(self.destroy)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if, "netns", self.ns)
        sh("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        sh("ip", "-n", self.ns, "addr", "add", self.ns_ip + "/30", "dev", self.ns_if)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.ns, "link", "set", self.ns_if, "up")
        # the rate: the hall's side shapes what goes down to the village,
        # the village's side what goes up; a 2G modem's queue of about 1 s
        for ns, dev in ((None, self.host_if), (self.ns, self.ns_if)):
            sh("tc", *(["-n", ns] if ns else []), "qdisc", "add", "dev", dev, "root", "tbf", "rate", RATE,
               "burst", "1600", "latency", "1s")
        # the loss, on the wire (netdev hooks), not in the village's stack
        self.nft(f"""table netdev badlink {{
  chain down {{ type filter hook ingress device "{self.ns_if}" priority 0; policy accept;
    counter; numgen random mod 100 < {LOSS} counter drop; }}
  chain up {{ type filter hook egress device "{self.ns_if}" priority 0; policy accept;
    counter; numgen random mod 100 < {LOSS} counter drop; }}
}}""")
        wait_for(lambda: sh("ip", "netns", "exec", self.ns, "python3", "-c",
                            f"import socket; socket.create_connection(('{self.host_ip}', 9), 1)",
                            check=False).stderr.find("refused") >= 0, timeout=20, what="the veth to come up")

    def nft(self, text):
        sh("ip", "netns", "exec", self.ns, "nft", "-f", "-", input=text)

    def counters(self):
        """(packets seen, packets dropped) each way, from the nft counters."""
        out = sh("ip", "netns", "exec", self.ns, "nft", "list", "table", "netdev", "badlink").stdout
        n = [int(x) for x in re.findall(r"counter packets (\d+)", out)]
        return {"down": (n[0], n[1]), "up": (n[2], n[3])}

    def cut(self):
        sh("ip", "-n", self.ns, "link", "set", self.ns_if, "down")

    def restore(self):
        sh("ip", "-n", self.ns, "link", "set", self.ns_if, "up")

    def exec(self, station, *args, timeout=SYNC_TIMEOUT):
        return subprocess.run(["ip", "netns", "exec", self.ns, DAIBAN, *args], capture_output=True, text=True,
                              env=station.env(operator=None), timeout=timeout)

    def popen(self, station, *args):
        return subprocess.Popen(["ip", "netns", "exec", self.ns, DAIBAN, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=station.env(operator=None))

    def destroy(self):
        # only this run's namespace: its processes are ours
        pids = sh("ip", "netns", "pids", self.ns, check=False).stdout.split()
        for p in pids:
            kill_pid(int(p))
        sh("ip", "netns", "del", self.ns, check=False)
        sh("ip", "link", "del", self.host_if, check=False)   # gone with the namespace; in case


class DelayRelay:
    """A TCP relay that delays every byte by DELAY each way: the link's
    latency, since this kernel has no netem. It listens on the veth's
    far end and forwards to the hall. Counts the bytes sent up per
    connection; `reset()` drops every connection with a TCP reset."""

    def __init__(self, listen_ip, target, delay=DELAY):
        self.target, self.delay = target, delay
        self.conns = {}             # id -> [up bytes, [transports]]
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = self.call(asyncio.start_server(self.serve, listen_ip, 0))
        self.port = self.server.sockets[0].getsockname()[1]
        at_cleanup(self.stop)

    def call(self, coro, timeout=10):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def max_up(self):
        return max((c[0] for c in list(self.conns.values())), default=0)

    async def serve(self, r1, w1):
        key = id(w1)
        try:
            r2, w2 = await asyncio.open_connection(*self.target)
        except OSError:
            w1.close()
            return
        self.conns[key] = [0, [w1.transport, w2.transport]]
        try:
            await asyncio.gather(self.pipe(r1, w2, key), self.pipe(r2, w1, None))
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass    # a reset, or the relay stopping: the connection ends
        finally:
            for w in (w1, w2):
                w.transport.abort()
            self.conns.pop(key, None)

    async def pipe(self, reader, writer, key):
        q = asyncio.Queue(maxsize=256)

        async def later():
            while True:
                due, data = await q.get()
                wait = due - self.loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(later())
        try:
            while True:
                data = await reader.read(16384)
                if key is not None and key in self.conns:
                    self.conns[key][0] += len(data)
                await q.put((self.loop.time() + self.delay, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()

    def reset(self):
        async def go():
            for _, ts in list(self.conns.values()):
                for t in ts:
                    s = t.get_extra_info("socket")
                    if s is not None:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    t.abort()
        self.call(go())

    def stop(self):
        if not self.loop.is_running():
            return
        async def down():
            self.server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.reset()
            self.call(down())
        except Exception as e:
            print(f"badlink: relay: {e}", file=sys.stderr)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


class NetHall(Hall):
    """hall.py's Hall, listening on an address beyond loopback (so HTTPS)."""

    def __init__(self, county, ip, cert, key):
        self.county = county
        self.log = open(os.path.join(county.root, "hall.log"), "w+")
        self.proc = subprocess.Popen([DAIBAN, "hall", "serve", "--listen", f"{ip}:0", "--cert", cert, "--key", key],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=county.env(operator=None))
        at_cleanup(lambda: kill_pid(self.proc.pid) if self.proc.poll() is None else None)
        line = self.proc.stdout.readline()
        m = re.search(r"https://([\d.]+):(\d+)/feeds", line)
        assert m, "hall did not start: " + line + self.logtext()
        self.scheme, self.port = "https", int(m.group(2))
        self.url = f"https://{ip}:{self.port}/feeds"
        self.pin = self.proc.stdout.readline().strip().split()[-1]


# ---- the test -------------------------------------------------------------------------

def preflight():
    """Why network namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root"
    missing = [t for t in ("ip", "tc", "nft") if not shutil.which(t)]
    if missing:
        return "missing " + ", ".join(missing) + " (packaging/install-deps.sh installs iproute2 and nftables)"
    probe = f"daiban-bl-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return "ip netns add: " + r.stderr.strip()
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


class BadLink(unittest.TestCase):
    def setUp(self):
        self.t0 = time.time()
        self.addCleanup(run_cleanups)   # also when setUp fails half-way
        tag = f"{os.getpid() % 10000:04d}{random.randrange(256):02x}"
        keep = os.environ.get("BADLINK_KEEP")
        self.county = Station(node=COUNTY, role="county")
        self.township = Station(node=TOWNSHIP, role="township")
        self.villages = [Station(node=VILLAGE, role="village"), Station(node=OTHER_VILLAGE, role="village")]
        for s in [self.county, self.township] + self.villages:
            at_cleanup(s.cleanup if not keep else (lambda s=s: print("kept", s.root, file=sys.stderr)))
        self.links = [Link(tag, i) for i in (1, 2)]
        cert, key = os.path.join(self.county.root, "hall.pem"), os.path.join(self.county.root, "hall.key")
        sh(DAIBAN, "hall", "cert", "--cert", cert, "--key", key, "--name", "daiban county hall")
        self.hall = NetHall(self.county, self.links[0].host_ip, cert, key)
        at_cleanup(self.hall.stop)
        self.assertEqual(self.hall.pin, self.county.ok("hall", "pin", "--cert", cert, operator=None))
        self.relays = []
        for v, link in zip(self.villages, self.links):
            relay = DelayRelay(link.host_ip, (self.links[0].host_ip, self.hall.port))
            self.relays.append(relay)
            token = self.county.ok("hall", "token", self.code(v), operator=None)
            v.ok("remote", "set", f"https://{link.host_ip}:{relay.port}/feeds", "--token", token,
                 "--pin", self.hall.pin, operator=None)
        token = self.county.ok("hall", "token", TOWNSHIP, operator=None)
        self.township.ok("remote", "set", self.hall.url, "--token", token, "--pin", self.hall.pin, operator=None)

    def tearDown(self):
        for link in self.links:
            print(f"  {link.ns}: packets (seen, dropped) {link.counters()}", file=sys.stderr)
        print(f"  {self.id().split('.')[-1]}: {time.time() - self.t0:.1f} s", file=sys.stderr, flush=True)

    # -- helpers

    def code(self, s):
        return json.loads(s.ok("status", "--json", operator=None))["node"]

    def accepted(self, v, n, noise=0):
        """n accepted applications at v; with noise, each one's reason holds
        that many random characters, so that the backlog does not compress
        to nothing (a real week's applications differ from each other)."""
        ids = []
        with open(app_file("MZ-DB-001-valid.json"), encoding="utf-8") as f:
            base = json.load(f)
        for _ in range(n):
            data = app_file("MZ-DB-001-valid.json")
            if noise:
                base["reason"] = "家庭困难：" + "".join(chr(random.randrange(0x4E00, 0x9FA5)) for _ in range(noise))
                data = v.write_json(base)
            a = v.ok("app", "new", "MZ-DB-001", "--data", data)
            for m in MATERIALS:
                v.ok("app", "material", a, m, "provided")
            v.ok("app", "submit", a)
            ids.append(a)
        return ids

    def sync_villages(self, which=None, code=0):
        """`daiban sync` in each village's namespace, all at once."""
        which = which if which is not None else range(len(self.villages))
        procs = [(i, self.links[i].popen(self.villages[i], "sync", "--json")) for i in which]
        out = {}
        for i, p in procs:
            try:
                o, e = p.communicate(timeout=SYNC_TIMEOUT)
            except subprocess.TimeoutExpired:
                p.kill()
                o, e = p.communicate()
                self.fail(f"sync of village {i} over the bad link took over {SYNC_TIMEOUT} s: {e}")
            self.assertEqual(p.returncode, code, f"village {i}: {o}{e}\n--- hall log\n{self.hall.logtext()}")
            out[i] = json.loads(o) if code == 0 else (o, e)
        return out

    def sync_township(self):
        r = self.township.run("sync", "--json", operator=None, timeout=SYNC_TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.hall.logtext())

    def statuses(self, s, ids):
        with s.db() as c:
            got = dict(c.execute(f"SELECT id, status FROM apps WHERE id IN ({','.join('?' * len(ids))})", ids))
        return [got.get(a) for a in ids]

    def all_status(self, s, ids, status):
        return all(x == status for x in self.statuses(s, ids))

    def hall_state(self):
        refs = git(os.path.join(self.county.home, "repo"), "for-each-ref", "refs/feeds").stdout
        return refs, self.county.nevents()

    def assert_sound(self, stations):
        for s in stations:
            with s.db() as c:
                self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", s.root)
            git(os.path.join(s.home, "repo"), "fsck", "--strict")

    def assert_converged(self):
        """Every node's derived rows for its partitions equal the county's."""
        for v in self.villages:
            code = self.code(v)
            want = digest(self.county, code)
            self.assertGreater(want[1], 0)
            self.assertEqual(digest(v, code), want, code)
        self.assertEqual(digest(self.township, TOWNSHIP), digest(self.county, TOWNSHIP))
        for s in [self.county, self.township] + self.villages:
            r = s.run("rebuild", "--verify", operator=None)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assert_sound([self.county, self.township] + self.villages)

    def settle(self, ids_by_village, status, what):
        """Sync the villages until each sees its applications in status."""
        def done():
            self.sync_villages()
            return all(self.all_status(self.villages[i], ids, status) for i, ids in ids_by_village.items())
        wait_for(done, timeout=120, what=what)

    # -- the scenarios

    def test_flow_over_bad_links(self):
        """Capture, review, decision and delivery, villages over the bad links."""
        ids = {i: self.accepted(v, 3) for i, v in enumerate(self.villages)}
        every = ids[0] + ids[1]
        got = self.sync_villages()
        for i in ids:
            self.assertEqual(got[i]["committed"], 1, got[i])
        wait_for(lambda: self.all_status(self.county, every, "accepted"), what="the hall to ingest both villages")
        self.sync_township()
        for a in every:
            self.township.ok("review", a, "pass")
        self.sync_township()
        wait_for(lambda: self.all_status(self.county, every, "passed"), what="the reviews at the hall")
        for a in every[:-1]:
            self.county.ok("decide", a, "approve")
        self.county.ok("decide", every[-1], "reject", "--reason", "材料不符")
        decided = {0: ids[0], 1: ids[1][:-1]}
        # the hall commits the county's decisions on its next tick (5 s)
        self.settle(decided, "approved", "the decisions to reach the villages over the bad links")
        self.assertEqual(self.statuses(self.villages[1], ids[1][-1:]), ["rejected"])
        for i, v in enumerate(self.villages):
            for a in decided[i]:
                v.ok("app", "deliver", a)
        self.sync_villages()
        wait_for(lambda: all(self.all_status(self.county, decided[i], "delivered") for i in decided),
                 what="the deliveries at the hall")
        self.sync_township()
        self.sync_villages()
        self.assert_converged()
        # traffic really went through the shaped, lossy link
        for link in self.links:
            c = link.counters()
            self.assertGreater(c["up"][0], 50, c)
            self.assertGreater(c["down"][0], 50, c)

    def push_backlog_and_cut(self, v, link, relay, n, **kw):
        """Capture n applications at v, start its sync, and return the
        running process once the push is well under way."""
        self.accepted(v, n, noise=1000)
        before = self.hall_state()
        p = link.popen(v, "sync", "--json", **kw)
        at_cleanup(lambda: kill_pid(p.pid) if p.poll() is None else None)
        # only the push's request body is this large; the fetch's are small
        wait_for(lambda: relay.max_up() > 12000 or p.poll() is not None, timeout=SYNC_TIMEOUT,
                 what="the push to get under way")
        self.assertIsNone(p.poll(), "the push ended before the cut: make the backlog larger")
        return p, before

    def test_cut_mid_transfer(self):
        v, link, relay = self.villages[0], self.links[0], self.relays[0]
        other = self.villages[1]
        code = self.code(v)
        base = self.accepted(other, 1)
        self.sync_villages([1])
        # a. a short cut: the TCP session rides it out, the sync completes
        p, _ = self.push_backlog_and_cut(v, link, relay, BACKLOG)
        link.cut()
        time.sleep(4)
        link.restore()
        o, e = p.communicate(timeout=SYNC_TIMEOUT)
        self.assertEqual(p.returncode, 0, o + e + self.hall.logtext())
        self.assertEqual(json.loads(o)["committed"], 1)
        with v.db() as c:
            ids = [a for (a,) in c.execute("SELECT id FROM apps WHERE origin = ?", (code,))]
        wait_for(lambda: self.all_status(self.county, ids, "accepted"), what="the hall to ingest after the short cut")
        # b. a cut that loses the session: the sync fails, the hall holds
        # nothing of the broken push
        ended = self.hall.logtext().count(f"{code} push: exit")
        p, before = self.push_backlog_and_cut(v, link, relay, BACKLOG)
        link.cut()
        relay.reset()
        time.sleep(2)
        link.restore()
        o, e = p.communicate(timeout=SYNC_TIMEOUT)
        self.assertEqual(p.returncode, 1, o + e + self.hall.logtext())
        self.assertRegex(e, r"push to https://\S+ failed")
        print(f"  the village's error: {e.strip()}", file=sys.stderr)
        # the hall has seen the broken push end (its backend stopped)
        wait_for(lambda: self.hall.logtext().count(f"{code} push: exit") > ended, what="the hall to end the push")
        time.sleep(1)
        self.assertEqual(self.hall_state(), before, "the hall moved on a broken push")
        self.assert_sound([self.county, v])
        # the link is back: the next sync completes
        self.sync_villages()
        with v.db() as c:
            ids = [a for (a,) in c.execute("SELECT id FROM apps WHERE origin = ?", (code,))]
        self.assertEqual(len(ids), 2 * BACKLOG)
        wait_for(lambda: self.all_status(self.county, ids, "accepted"), what="the hall to ingest after the cut")
        self.sync_township()
        self.sync_villages()
        self.assertEqual(self.statuses(self.county, base), ["accepted"])
        self.assert_converged()


def main():
    why = preflight()
    if why:
        print(f"badlink: skipped: cannot make network namespaces: {why}", flush=True)
        sys.exit(77)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        unittest.main(verbosity=2)
    finally:
        run_cleanups()


if __name__ == "__main__":
    main()
