#!/usr/bin/env python3
"""Integration: the county hall (`daiban hall serve`) on loopback, in front
of the real `git http-backend`, with stations in separate processes.

Covers the review and decision flow through the hall (the hall ingests
at once after a push), partitions hidden from nodes that may not hold
them (also from stock git asking by object id), the dishonest pushes the
hall refuses (another node's ref, a rewrite, a delete, a forged writer, a
village claiming county authority, a corrupt batch, a non-feed ref) with
its repository and store unchanged, wrong and missing tokens, HTTPS with
a pinned self-signed certificate, and the front's limits."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, DAIBAN, TOWNSHIP, VILLAGE, Station, accept_dibao, app_file  # noqa: E402

OTHER_VILLAGE = "330225101202"
NEW_VILLAGE = "330225101203"      # a station set up during a test


def git(repo, *args, input=None, check=True, env=None):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, input=input,
                       env=dict(os.environ, GIT_TERMINAL_PROMPT="0", **(env or {})))
    if check and r.returncode != 0:
        raise AssertionError(f"git {args}: {r.stderr}")
    return r


class Hall:
    """A running `daiban hall serve` on the county's home."""

    def __init__(self, county, *extra, binary=DAIBAN):
        self.county = county
        self.log = open(os.path.join(county.root, "hall.log"), "w+")
        self.proc = subprocess.Popen([binary, "hall", "serve", "--listen", "127.0.0.1:0", *extra],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=county.env(operator=None))
        line = self.proc.stdout.readline()
        m = re.search(r"(https?)://127\.0\.0\.1:(\d+)/feeds", line)
        assert m, "hall did not start: " + line + self.logtext()
        self.scheme, self.port = m.group(1), int(m.group(2))
        self.url = f"{self.scheme}://127.0.0.1:{self.port}/feeds"
        self.pin = None
        if self.scheme == "https":
            pl = self.proc.stdout.readline()
            self.pin = pl.strip().split()[-1]

    def logtext(self):
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def wait_for(pred, timeout=20, what="condition"):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


class HallCase(unittest.TestCase):
    def setUp(self):
        self.county = Station(node=COUNTY, role="county")
        self.hall = Hall(self.county)
        self.township = Station(node=TOWNSHIP, role="township")
        self.village = Station(node=VILLAGE, role="village")
        self.other = Station(node=OTHER_VILLAGE, role="village")
        self.tokens = {}
        for s, code in ((self.township, TOWNSHIP), (self.village, VILLAGE), (self.other, OTHER_VILLAGE)):
            self.tokens[code] = self.county.ok("hall", "token", code, operator=None)
            s.ok("remote", "set", self.hall.url, "--token", self.tokens[code], operator=None)

    def tearDown(self):
        self.hall.stop()
        for s in (self.county, self.township, self.village, self.other):
            s.cleanup()

    def sync(self, s, code=0, timeout=120):
        r = s.run("sync", "--json", operator=None, timeout=timeout)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr + self.hall.logtext())
        return json.loads(r.stdout), r.stderr

    def accepted(self):
        return accept_dibao(self.village)

    def township_gets_scan(self, scan, blob):
        """The township's sync receives the scan, whole."""
        j, _ = self.sync(self.township)
        self.assertEqual(j["scans_received"], 1)
        got = subprocess.run(["git", "-C", os.path.join(self.township.home, "repo"), "cat-file", "blob", blob],
                             capture_output=True, check=True).stdout
        with open(scan, "rb") as f:
            self.assertEqual(got, f.read())

    def county_status(self, a):
        r = self.county.run("app", "show", a, "--json", operator=None)
        return json.loads(r.stdout)["status"] if r.returncode == 0 else None

    def stock_url(self, code):
        return f"http://{code}:{self.tokens[code]}@127.0.0.1:{self.hall.port}/feeds"

    def hall_state(self):
        refs = git(os.path.join(self.county.home, "repo"), "for-each-ref").stdout
        return refs, self.county.nevents(), self.county.dump_derived()


class Flow(HallCase):
    def test_review_and_decision_through_the_hall(self):
        st = json.loads(self.village.ok("status", "--json"))["link"]
        self.assertEqual((st["remote"], st["last_sync"]), (self.hall.url, None))
        a = self.accepted()
        self.assertGreater(json.loads(self.village.ok("status", "--json"))["link"]["waiting_events"], 0)
        j, _ = self.sync(self.village)
        self.assertEqual(j["committed"], 1)
        st = json.loads(self.village.ok("status", "--json"))["link"]
        self.assertEqual(st["waiting_events"], 0)
        self.assertTrue(st["last_sync"])
        self.assertIn("waiting to be sent", self.village.ok("status"))
        # the hall ingests at once after the push: no county command runs
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        self.sync(self.township)
        self.assertEqual(self.township.show(a)["status"], "accepted")
        self.township.ok("review", a, "pass")
        self.sync(self.township)
        wait_for(lambda: self.county_status(a) == "passed", what="the review at the hall")
        # the county decides on its own store while the hall runs; the hall
        # commits that to its feed on its next tick
        self.county.ok("decide", a, "approve")

        def decided_at_village():
            self.sync(self.village)
            return self.village.show(a)["status"] == "approved"
        wait_for(decided_at_village, timeout=30, what="the decision to reach the village")
        self.village.ok("app", "deliver", a)
        self.sync(self.village)
        wait_for(lambda: self.county_status(a) == "delivered", what="the delivery at the hall")
        # stock git reads and checks every repository involved
        for s in (self.county, self.township, self.village):
            git(os.path.join(s.home, "repo"), "fsck", "--strict")
        # a second round moves nothing
        j, _ = self.sync(self.village)
        self.assertEqual((j["committed"], j["ingested_events"], j["updated_refs"]), (0, 0, 0))

    def test_partitions_are_hidden(self):
        a = self.accepted()
        self.sync(self.village)
        self.sync(self.other)
        feeds = "refs/feeds/"
        # stock git with the other village's token sees only its own partition
        ls = git(self.county.root, "ls-remote", self.stock_url(OTHER_VILLAGE)).stdout
        self.assertIn(feeds + OTHER_VILLAGE + "/", ls)
        self.assertNotIn(feeds + VILLAGE + "/", ls)
        # ... and cannot fetch the village's commit by its id
        head = git(os.path.join(self.village.home, "repo"), "rev-parse", f"{feeds}{VILLAGE}/{VILLAGE}").stdout.strip()
        tmp = tempfile.mkdtemp()
        try:
            git(tmp, "init", "-q", "--bare", ".")
            r = git(tmp, "fetch", self.stock_url(OTHER_VILLAGE), head, check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertNotEqual(git(tmp, "cat-file", "-t", head, check=False).returncode, 0)
        finally:
            shutil.rmtree(tmp)
        # the township sees both of its villages
        ls = git(self.county.root, "ls-remote", self.stock_url(TOWNSHIP)).stdout
        self.assertIn(feeds + VILLAGE + "/", ls)
        self.assertIn(feeds + OTHER_VILLAGE + "/", ls)
        # daiban's own sync: the other village holds no application of the first
        self.sync(self.other)
        with self.other.db() as c:
            self.assertEqual(c.execute("SELECT count(*) FROM apps WHERE id = ?", (a,)).fetchone()[0], 0)

    def test_tokens(self):
        # missing and wrong tokens are refused with 401, and nothing moves
        self.accepted()
        before = self.hall_state()
        self.village.ok("remote", "set", self.hall.url, "--token", VILLAGE + ".00", operator=None)
        _, err = self.sync(self.village, code=1)
        self.assertRegex(err, r"(?i)401|auth")
        r = git(self.county.root, "ls-remote", f"http://127.0.0.1:{self.hall.port}/feeds", check=False)
        self.assertNotEqual(r.returncode, 0)
        # a token is bound to its node: another node's name with it fails
        bad = f"http://{OTHER_VILLAGE}:{self.tokens[VILLAGE]}@127.0.0.1:{self.hall.port}/feeds"
        self.assertNotEqual(git(self.county.root, "ls-remote", bad, check=False).returncode, 0)
        self.assertEqual(self.hall_state(), before)
        # a new token replaces the old one; a revoked token is refused
        new = self.county.ok("hall", "token", VILLAGE, operator=None)
        self.assertNotEqual(git(self.county.root, "ls-remote", self.stock_url(VILLAGE), check=False).returncode, 0)
        self.tokens[VILLAGE] = new
        self.assertEqual(git(self.county.root, "ls-remote", self.stock_url(VILLAGE), check=False).returncode, 0)
        self.county.ok("hall", "token", VILLAGE, "--revoke", operator=None)
        self.assertNotEqual(git(self.county.root, "ls-remote", self.stock_url(VILLAGE), check=False).returncode, 0)
        # tokens are only issued for this county's divisions, by the county
        self.assertEqual(self.county.run("hall", "token", "110101001001", operator=None).returncode, 1)
        self.assertEqual(self.village.run("hall", "token", VILLAGE, operator=None).returncode, 1)


class BusyStore(HallCase):
    """A push whose check finds the county's store locked (a long ingest
    round, a herd of other checks) waits its turn, tells the pusher so
    every 10 s, and goes in; it is not refused as busy after 30 s."""

    def test_a_push_waits_for_the_store_and_says_so(self):
        import sqlite3
        import threading
        a = self.accepted()
        db = sqlite3.connect(os.path.join(self.county.home, "store.db"), timeout=60, isolation_level=None,
                             check_same_thread=False)
        db.execute("BEGIN IMMEDIATE")           # the write lock, held
        held = 34                               # past the 30 s a command waits
        release = threading.Timer(held, lambda: db.execute("ROLLBACK"))
        release.start()
        # while it waits: the push's processes (git's, the check's) run at
        # the hall's priority, not below it (the check holds the store's
        # write lock: lowered, it kept the ingest and the other checks
        # waiting behind it)
        niced = {}

        def look():
            for d in os.listdir("/proc"):
                try:
                    with open(f"/proc/{d}/cmdline", "rb") as f:
                        cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
                    if d.isdigit() and ("pre-receive" in cmd or "receive-pack" in cmd):
                        niced[cmd[:80]] = nice_of(d)
                except OSError:
                    pass
        looking = threading.Timer(15, look)
        looking.start()
        t0 = time.monotonic()
        try:
            r = self.village.run("sync", "--json", operator=None, timeout=300)
        finally:
            release.join()
            looking.join()
            db.close()
        took = time.monotonic() - t0
        self.assertTrue(niced, "no process of the push was seen while it waited")
        self.assertEqual(set(niced.values()), {nice_of(self.hall.proc.pid)}, niced)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.hall.logtext())
        self.assertGreaterEqual(took, held - 1, "the push did not wait for the lock: was it held?")
        told = re.findall(r"this push waits its turn \((\d+) s\)", r.stderr)
        self.assertGreaterEqual(len(told), 3, r.stderr)
        self.assertEqual([int(x) for x in told[:3]], [10, 20, 30])
        self.assertNotIn("could not check it now", self.hall.logtext())
        wait_for(lambda: self.county_status(a) == "accepted", what="the application at the county")

    def test_a_fetch_yields_the_cpu(self):
        # A fetch's body sent in part: its `daiban hall cgi` waits for the
        # rest, after it has lowered its priority (a herd's fetches must
        # not starve the ingest and the pushes' checks: agent/hallcgi.h)
        hall_nice = nice_of(self.hall.proc.pid)
        with socket.create_connection(("127.0.0.1", self.hall.port), timeout=10) as s:
            s.sendall(b"POST /feeds/git-upload-pack HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + self.tokens[VILLAGE].encode() + b"\r\n"
                      b"Content-Type: application/x-git-upload-pack-request\r\n"
                      b"Content-Length: 1000\r\n\r\n0032want ")

            def cgi():
                for d in os.listdir("/proc"):
                    try:
                        with open(f"/proc/{d}/cmdline", "rb") as f:
                            cmd = f.read().split(b"\0")
                        if d.isdigit() and b"cgi" in cmd[1:3] and ppid_of(d) == self.hall.proc.pid:
                            return d
                    except (OSError, IndexError):
                        pass
            pid = wait_for(cgi, what="the fetch's gate (`hall cgi`)")
            # its nice is set as it starts: give it the moment
            got = wait_for(lambda: nice_of(pid) != hall_nice and nice_of(pid), timeout=5, what="a lowered nice")
            self.assertEqual(got, min(hall_nice + 10, 19))
        # and a push, the same minute, is not lowered (test above); the
        # fetch cut off is answered and leaves nothing behind
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), what="the cut fetch's process to end")


    def test_the_ingest_runs_ahead_of_the_requests(self):
        # An ingest round runs above the hall, so that a herd's backends
        # do not starve it: seen on its thread while a round of the
        # hall's tick (every 5 s) waits for the store's write lock, which
        # the test holds; /health says how the last round ran
        import sqlite3
        pid = self.hall.proc.pid
        hall_nice, want = nice_of(pid), expected_ahead(pid)
        db = sqlite3.connect(os.path.join(self.county.home, "store.db"), timeout=60, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        seen, t0 = set(), time.monotonic()
        try:
            while time.monotonic() - t0 < 11 and not (want and hall_nice - want in seen):
                seen |= thread_nices(pid)
                time.sleep(0.05)
        finally:
            db.execute("ROLLBACK")
            db.close()
        self.assertEqual(min(seen), hall_nice - want, f"the threads' nice levels seen: {seen}, the hall's {hall_nice}")
        # and a push's round: /health
        def health():
            c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=10)
            c.request("GET", "/health")
            j = json.loads(c.getresponse().read())
            c.close()
            return j["ingest"]
        before = health()["rounds"]
        a = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(a) == "accepted", what="the application at the county")
        got = health()
        self.assertGreater(got["rounds"], before)
        self.assertEqual(got["ahead"], want, got)
        (self.assertNotIn if want else self.assertIn)("the ingest runs at the hall's CPU priority", self.hall.logtext())
        # and the pool thread it ran on is back at the hall's priority
        # (once no round runs: the hall's tick may start one)
        wait_for(lambda: thread_nices(pid) == {hall_nice}, what="every thread of the hall at its priority")


def thread_nices(pid):
    """The nice levels of a process's threads (a thread that ends
    meanwhile is left out)."""
    out = set()
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            out.add(nice_of(f"{pid}/task/{t}"))
        except (OSError, IndexError):
            pass
    return out


def expected_ahead(pid):
    """How many nice levels above process pid its ingest may run: 10 with
    CAP_SYS_NICE, else as far as its RLIMIT_NICE lets it."""
    nice = nice_of(pid)
    with open(f"/proc/{pid}/status") as f:
        if int(re.search(r"(?m)^CapEff:\s+([0-9a-f]+)", f.read()).group(1), 16) >> 23 & 1:
            return min(10, nice + 20)
    with open(f"/proc/{pid}/limits") as f:
        soft = re.search(r"(?m)^Max nice priority\s+(\S+)", f.read()).group(1)
    floor = -20 if soft == "unlimited" else 20 - int(soft)
    return max(0, nice - max(floor, nice - 10, -20))


def nice_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def ppid_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


class Catalogue(HallCase):
    """The county publishes catalogue versions as a feed; every node
    receives them, by the hall or on a stick, and applications keep the
    version they were captured under."""

    def new_version(self):
        src = os.path.join(self.county.root, "cat2")
        shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "catalog-sample"), src)
        with open(os.path.join(src, "matters.csv"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        head = lines[0].split(",")
        col = head.index("time_limit_days")
        for i, line in enumerate(lines):
            if line.startswith("MZ-DB-001,"):
                cells = line.split(",")
                cells[col] = str(int(cells[col]) + 5)
                lines[i] = ",".join(cells)
        with open(os.path.join(src, "matters.csv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        self.county.ok("catalog", "install", src, operator=None)
        self.county.ok("sync", operator=None)       # publish now (the hall also does on its tick)
        return os.listdir(os.path.join(self.county.home, "catalogs"))

    def versions(self, s):
        return sorted(v for v in os.listdir(os.path.join(s.home, "catalogs")) if len(v) == 40)

    def test_versions_reach_every_node(self):
        old = self.accepted()
        v_old = self.village.show(old)["catalog"]
        self.new_version()
        newest = [v for v in self.versions(self.county) if v != v_old]
        self.assertEqual(len(newest), 1)
        j, err = self.sync(self.village)
        self.assertEqual(j["catalogs_installed"], 1, err)
        self.assertEqual(self.versions(self.village), self.versions(self.county))
        # new applications use the new version (its longer time limit); the old one keeps its own
        new = self.accepted()
        self.assertEqual(self.village.show(new)["catalog"], newest[0])
        self.assertEqual(self.village.show(old)["catalog"], v_old)
        self.assertGreater(self.village.show(new)["due"], self.village.show(old)["due"])
        # a second round installs nothing
        j, _ = self.sync(self.village)
        self.assertEqual(j["catalogs_installed"], 0)
        # the other village has no link: the township carries the catalogue down on the stick
        self.sync(self.township)
        stick = tempfile.mkdtemp()
        try:
            self.other.ok("bundle", "export", stick)
            self.township.ok("bundle", "import", stick)
            r = self.other.run("bundle", "import", stick)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("received and installed", r.stderr)
            self.assertEqual(self.versions(self.other), self.versions(self.county))
        finally:
            shutil.rmtree(stick)
        # only the county writes the catalogue: a village's push of it is refused
        before = self.hall_state()
        r = git(os.path.join(self.village.home, "repo"), "push", self.stock_url(VILLAGE),
                "refs/feeds/%s/%s:refs/catalog/330225" % (VILLAGE, VILLAGE), "--force", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(self.hall_state(), before)


class Scans(HallCase):
    """Scanned materials travel in pieces, a few per push on loopback (up
    to 32, growing from one), and an interrupted transfer resumes where
    the hall stands."""

    def test_scan_pieces_resume_and_reach_the_township(self):
        scan = os.path.join(self.village.root, "scan.jpg")
        size = 19 * 1024 * 1024     # 406 pieces: pushes of 1, 2, 4 ... 32 and then 32 each
        with open(scan, "wb") as f:
            f.write(os.urandom(size))
        blob = subprocess.run(["git", "hash-object", scan], capture_output=True, text=True, check=True).stdout.strip()
        a = self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        self.village.ok("app", "material", a, "SFZ", "provided", "--file", scan)
        hall_repo = os.path.join(self.county.home, "repo")
        ref = f"refs/scans/{VILLAGE}/{VILLAGE}"

        def pieces_at_hall():
            r = git(hall_repo, "rev-list", "--count", ref, check=False)
            return int(r.stdout) if r.returncode == 0 else 0
        # the link drops mid-transfer: the sync is killed after a few pieces
        p = subprocess.Popen([DAIBAN, "sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=self.village.env(operator=None))
        wait_for(lambda: pieces_at_hall() >= 5, timeout=60, what="the first pieces at the hall")
        p.kill()
        p.communicate()
        landed = pieces_at_hall()
        total = -(-size // (48 * 1024))
        self.assertLess(landed, total, "the transfer was not interrupted; make the scan larger")
        self.assertNotEqual(git(hall_repo, "cat-file", "-e", blob, check=False).returncode, 0)
        # the next sync sends only what the hall lacks (at most the push in
        # flight again), each push made durable at the hall; on loopback a
        # push soon carries 32 pieces (sync/scanwrite.c scan_next_batch)
        pushes0 = self.hall.logtext().count(" push: exit 0")
        j, _ = self.sync(self.village, timeout=900)
        self.assertLessEqual(j["scan_pieces_sent"], total - landed + 1)
        self.assertGreater(j["scan_pieces_sent"], 0)
        pushes = self.hall.logtext().count(" push: exit 0") - pushes0
        self.assertLessEqual(pushes, 1 + 6 + -(-j["scan_pieces_sent"] // 32),
                             f"{j['scan_pieces_sent']} pieces in {pushes} pushes")
        self.assertGreater(pushes, 1)
        wait_for(lambda: git(hall_repo, "cat-file", "-e", blob, check=False).returncode == 0,
                 what="the scan whole at the hall")
        # the township receives it for its review
        self.township_gets_scan(scan, blob)
        # nothing more moves on the next round
        j, _ = self.sync(self.village)
        self.assertEqual(j["scan_pieces_sent"], 0)
        git(hall_repo, "fsck", "--strict")

    def test_the_next_sync_starts_at_the_pieces_the_last_one_ended_with(self):
        """A sync's scan pushes start where the last sync's ended (on
        loopback, 32 pieces a push), not at one piece again, and take the
        hall's chains from the sync's own fetch instead of listing them
        again: two requests for the second scan, one push carrying it
        all. Each push costs the hall a receive-pack and its checks. The
        second sync runs over libgit2's own streams, which give no
        delivery rate: only the remembered batch can start it high."""
        a = self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        blobs = []
        for m, kib, extra in (("SFZ", 4 * 1024, None), ("HKB", 1400, {"DAIBAN_TLS": "libgit2"})):  # 86 pieces, 30
            scan = os.path.join(self.village.root, m + ".jpg")
            with open(scan, "wb") as f:
                f.write(os.urandom(kib * 1024))
            blobs.append(subprocess.run(["git", "hash-object", scan], capture_output=True, text=True,
                                        check=True).stdout.strip())
            log0 = self.hall.logtext()
            self.village.ok("app", "material", a, m, "provided", "--file", scan)
            r = self.village.run("sync", "--json", operator=None, timeout=300, extra=extra)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.hall.logtext())
            j = json.loads(r.stdout)
            log = self.hall.logtext()[len(log0):]
            pushes = log.count(" push: exit 0")
            adverts = log.count("receive-pack advertisement: exit 0")
            pieces = j["scan_pieces_sent"]
            print(f"{m}: {pieces} pieces in {pushes} pushes ({adverts} receive-pack advertisements)")
            self.assertEqual(pieces, -(-kib * 1024 // (48 * 1024)))
            # every receive-pack advertisement belongs to a push: none lists the chains again
            self.assertEqual(adverts, pushes, log)
        # the second scan went whole in one push, after the event's
        self.assertEqual(pushes, 2, f"the second scan's {pieces} pieces took {pushes - 1} pushes")
        hall_repo = os.path.join(self.county.home, "repo")
        for b in blobs:
            wait_for(lambda: git(hall_repo, "cat-file", "-e", b, check=False).returncode == 0,
                     what="the scan whole at the hall")

    def test_a_township_leaves_alone_a_chain_the_hall_holds_further(self):
        """A township fetches a village's scan chain in the middle of the
        village's pieces, and the village pushes on before the township
        pushes what it relays: the township's sync leaves that chain
        alone and succeeds (found by bench/county-sim.py: it pushed the
        chain, the hall refused it, and the sync failed)."""
        a = self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        for m in ("SFZ", "HKB"):
            scan = os.path.join(self.village.root, m + ".jpg")
            with open(scan, "wb") as f:
                f.write(os.urandom(100 * 1024))         # 3 pieces each
            self.village.ok("app", "material", a, m, "provided", "--file", scan)
        self.sync(self.village)
        hall_repo = os.path.join(self.county.home, "repo")
        township_repo = os.path.join(self.township.home, "repo")
        ref = f"refs/scans/{VILLAGE}/{VILLAGE}"
        full = git(hall_repo, "rev-parse", ref).stdout.strip()
        half = git(hall_repo, "rev-parse", ref + "~3").stdout.strip()
        # the hall as it stood after the village's first scan
        git(hall_repo, "update-ref", ref, half, full)
        # the township reaches the hall over a slow link (1 s each way),
        # so that the hall moves on between its fetch and its push
        proxy = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(__file__), "..", "..", "bench", "proxy.py"),
                                  "--listen", "127.0.0.1:0", "--to", f"127.0.0.1:{self.hall.port}", "--delay-ms", "1000"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (proxy.terminate(), proxy.wait(10), proxy.stdout.close()))
        port = int(proxy.stdout.readline().split()[1])
        self.township.ok("remote", "set", f"http://127.0.0.1:{port}/feeds", "--token", self.tokens[TOWNSHIP],
                         operator=None)
        p = subprocess.Popen([DAIBAN, "sync", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=self.township.env(operator=None))
        end = time.time() + 120
        while git(township_repo, "rev-parse", "-q", "--verify", ref, check=False).stdout.strip() != half:
            self.assertLess(time.time(), end, "the township did not fetch the village's first scan")
            self.assertIsNone(p.poll(), "the township's sync ended before it held the village's first scan")
            time.sleep(0.05)
        # the village's second scan reaches the hall meanwhile
        git(hall_repo, "update-ref", ref, full, half)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 0, out + err + self.hall.logtext())
        j = json.loads(out)
        self.assertEqual((j["scans_received"], j["scan_pieces_sent"]), (1, 0), j)
        self.assertEqual(git(hall_repo, "rev-parse", ref).stdout.strip(), full)
        # its next sync takes the rest
        j, _ = self.sync(self.township)
        self.assertEqual((j["scans_received"], j["scan_pieces_sent"]), (1, 0), j)


    def test_a_round_joins_scans_for_a_limited_time(self):
        """--assemble-ms: an ingest round stops joining scans when its
        time is up and leaves the rest to the next round, which takes in
        the feeds that came meanwhile first (a herd's round once joined
        755 scans for a minute while 96 feeds waited). Every round joins
        at least one, so a short time still gets them all."""
        self.hall.stop()
        self.hall = Hall(self.county, "--assemble-ms", "1")
        self.village.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        hall_repo = os.path.join(self.county.home, "repo")
        a = self.accepted()

        def scans(kib, *materials):
            blobs = []
            for m in materials:
                scan = os.path.join(self.village.root, m + ".jpg")
                with open(scan, "wb") as f:
                    f.write(os.urandom(kib * 1024))
                blobs.append(git(self.village.root, "hash-object", scan).stdout.strip())
                self.village.ok("app", "material", a, m, "provided", "--file", scan)
            return blobs
        # the first sync enrolls the village's key and takes its pushes up
        # to 32 pieces; the next sync starts there
        first = scans(4 * 1024, "SFZ")
        self.sync(self.village, timeout=300)
        # its round logged (the line comes once the round has ended)
        wait_for(lambda: re.search(r"\d+ scans received whole", self.hall.logtext()), what="the first scan's round")
        self.assertEqual(git(hall_repo, "cat-file", "-e", first[0], check=False).returncode, 0)
        log0 = len(self.hall.logtext())
        blobs = scans(400, "HKB", "SRZM", "HDSQ")       # 9 pieces each: one push
        j, _ = self.sync(self.village, timeout=300)
        self.assertEqual(j["scan_pieces_sent"], 27)
        log = self.hall.logtext()[log0:]
        self.assertEqual(log.count(" push: exit 0"), 2, log)   # the event's, the three scans'
        for b in blobs:
            wait_for(lambda: git(hall_repo, "cat-file", "-e", b, check=False).returncode == 0,
                     what="every scan whole at the hall")
        # the round's line comes when the round has ended, after its last blob is stored
        def joined():
            r = re.findall(r"(\d+) scans received whole(; more in the next round)?", self.hall.logtext()[log0:])
            return r if sum(int(n) for n, _ in r) >= 3 else None
        rounds = wait_for(joined, what="the rounds that joined the three scans to be logged")
        print(f"rounds joining the three scans: {rounds}")
        # a scan of 400 KiB takes longer than 1 ms to hash and store: one a round
        self.assertEqual([int(n) for n, _ in rounds], [1, 1, 1], rounds)
        self.assertEqual([bool(more) for _, more in rounds], [True, True, False], rounds)
        git(hall_repo, "fsck", "--strict")


class Maintenance(HallCase):
    """The hall packs its loose objects, scans no ref reaches included,
    while it goes on serving: nothing is lost and nothing refused."""

    def loose_and_packs(self):
        out = git(os.path.join(self.county.home, "repo"), "count-objects", "-v").stdout
        v = dict(line.split(": ") for line in out.splitlines())
        return int(v["count"]), int(v["packs"])

    def test_loose_objects_are_packed_and_still_served(self):
        self.hall.stop()
        loose0, packs0 = self.loose_and_packs()
        self.assertEqual(packs0, 0)
        self.assertLess(loose0, 40, "the county starts with too many loose objects for this threshold")
        self.hall = Hall(self.county, "--pack-loose", "40")
        for s, code in ((self.township, TOWNSHIP), (self.village, VILLAGE)):
            s.ok("remote", "set", self.hall.url, "--token", self.tokens[code], operator=None)
        scan = os.path.join(self.village.root, "scan.jpg")
        with open(scan, "wb") as f:
            f.write(os.urandom(1024 * 1024))
        blob = subprocess.run(["git", "hash-object", scan], capture_output=True, text=True, check=True).stdout.strip()
        a = self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        self.village.ok("app", "material", a, "SFZ", "provided", "--file", scan)
        self.sync(self.village, timeout=300)
        hall_repo = os.path.join(self.county.home, "repo")
        wait_for(lambda: "packed " in self.hall.logtext(), timeout=30, what="the hall packing its objects")
        m = re.search(r"packed (\d+) loose objects into pack-([0-9a-f]{40}) and pack-([0-9a-f]{40}) "
                      r"\((\d+) objects, (\d+) of them scans, with no delta search\)", self.hall.logtext())
        self.assertTrue(m, self.hall.logtext())
        self.assertGreaterEqual(int(m.group(1)), 40)
        loose, packs = self.loose_and_packs()
        self.assertEqual(packs, 2)
        self.assertLess(loose, int(m.group(1)))
        # the scan, a blob no tree names, and its pieces are in the scans'
        # pack, whole (no delta), and the packs are sound
        self.assertEqual(git(hall_repo, "cat-file", "-e", blob, check=False).returncode, 0)
        pieces = git(hall_repo, "log", "--format=%T", "--all", "--", "piece").stdout.split()
        piece_blobs = {git(hall_repo, "rev-parse", f"{t}:piece").stdout.strip() for t in pieces}
        self.assertGreaterEqual(len(piece_blobs), 20, "a 1 MiB scan is more than 20 pieces of 48 KiB")
        stored = git(hall_repo, "verify-pack", "-v",
                     os.path.join(hall_repo, "objects", "pack", f"pack-{m.group(3)}.idx")).stdout
        rows = {line.split()[0]: line.split() for line in stored.splitlines() if re.match(r"[0-9a-f]{40} ", line)}
        self.assertIn(blob, rows)
        self.assertLessEqual(piece_blobs, set(rows))
        self.assertEqual(int(m.group(5)), len(rows))
        # verify-pack -v names a delta's depth and base after its sizes: none here
        self.assertEqual([r for r in rows.values() if len(r) > 5], [])
        other = git(hall_repo, "verify-pack", "-v",
                    os.path.join(hall_repo, "objects", "pack", f"pack-{m.group(2)}.idx")).stdout
        self.assertNotIn(blob, other)
        git(hall_repo, "fsck", "--strict", "--no-dangling")
        self.assertEqual(self.county_status(a), "draft")
        # served from the pack: the township gets the scan whole
        self.township_gets_scan(scan, blob)
        # and pushes go on as before
        b = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(b) == "accepted", what="the second application at the county")
        self.assertIsNone(re.search(r"[1-9][0-9]* refused|refusing", self.hall.logtext()))


class Helper(HallCase):
    """The hall runs daiban-hall-helper for requests and the
    reference-transaction hook, and daiban-hall-check for the pre-receive
    check and a fetch's gate; without them beside it (daiban copied
    alone) it runs itself, and pushes and fetches work the same."""

    def test_with_and_without_the_helper(self):
        hooks = os.path.join(self.county.home, "hall", "hooks")
        ref_hook = os.path.join(hooks, "reference-transaction")
        check_hook = os.path.join(hooks, "pre-receive")
        with open(ref_hook) as f:
            self.assertRegex(f.read(), r"\nexec /proc/\d+/fd/\d+ reference-transaction \"\$1\"\n")
        with open(check_hook) as f:
            self.assertRegex(f.read(), r"\nexec /proc/\d+/fd/\d+ pre-receive\n")
        a = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(a) == "accepted", what="the application at the county")
        self.assertNotIn("daiban-hall-helper", self.hall.logtext())
        self.assertNotIn("daiban-hall-check", self.hall.logtext())
        # daiban alone, in a folder of its own
        self.hall.stop()
        alone = os.path.join(self.county.root, "alone")
        os.makedirs(alone)
        shutil.copy2(DAIBAN, os.path.join(alone, "daiban"))
        self.hall = Hall(self.county, binary=os.path.join(alone, "daiban"))
        self.village.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        with open(ref_hook) as f:
            self.assertIn("hall ref-sync", f.read())
        with open(check_hook) as f:
            self.assertIn("/exe hall pre-receive", f.read())
        b = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(b) == "accepted", what="the second application at the county")
        self.assertIn("no daiban-hall-helper beside", self.hall.logtext())
        self.assertIn("no daiban-hall-check beside", self.hall.logtext())
        self.assertIsNone(re.search(r"[1-9][0-9]* refused|cannot sync", self.hall.logtext()))
        # a helper of another version beside it is not used
        self.hall.stop()
        for name in ("daiban-hall-helper", "daiban-hall-check"):
            fake = os.path.join(alone, name)
            with open(fake, "w") as f:
                f.write(f"#!/bin/sh\necho {name} 0.0.1\n")
            os.chmod(fake, 0o755)
        self.hall = Hall(self.county, binary=os.path.join(alone, "daiban"))
        self.village.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        with open(ref_hook) as f:
            self.assertIn("hall ref-sync", f.read())
        with open(check_hook) as f:
            self.assertIn("/exe hall pre-receive", f.read())
        self.assertEqual(self.hall.logtext().count("is not this daiban's"), 2, self.hall.logtext())
        c = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(c) == "accepted", what="the third application at the county")


class Dishonest(HallCase):
    """Pushes made with stock git, as a dishonest or broken peer would."""

    def setUp(self):
        super().setUp()
        self.app = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(self.app) == "accepted", what="ingest")
        self.work = tempfile.mkdtemp(prefix="daiban-evil-")
        shutil.copytree(os.path.join(self.village.home, "repo"), os.path.join(self.work, "repo"))
        self.repo = os.path.join(self.work, "repo")
        self.ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"

    def tearDown(self):
        shutil.rmtree(self.work, ignore_errors=True)
        super().tearDown()

    def blob(self, text):
        return git(self.repo, "hash-object", "-w", "--stdin", input=text).stdout.strip()

    def changeset(self, writer, part, events, header=None, parent=None):
        lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                        for e in events)
        seqs = [e["seq"] for e in events] or [1]
        hdr = header or json.dumps({"format": "daiban-changeset", "version": 1, "writer": writer, "partition": part,
                                    "first_seq": seqs[0], "last_seq": seqs[-1], "count": len(events)},
                                   sort_keys=True, separators=(",", ":"))
        tree = git(self.repo, "mktree", input=f"100644 blob {self.blob(hdr)}\tchangeset.json\n"
                   f"100644 blob {self.blob(lines)}\tevents.jsonl\n").stdout.strip()
        args = ["commit-tree", tree, "-m", "forged"] + (["-p", parent] if parent else [])
        return git(self.repo, *args).stdout.strip()

    def event(self, node, seq, typ, body=None):
        return {"node": node, "seq": seq, "hlc": (1 << 60) + seq, "wall": 0, "operator": "x", "type": typ,
                "app": self.app, "part": VILLAGE, "body": body or {}}

    def refused(self, spec, want, code=VILLAGE, force=False):
        before = self.hall_state()
        r = git(self.repo, "push", *(["--force"] if force else []), self.stock_url(code), spec, check=False)
        self.assertNotEqual(r.returncode, 0, f"{spec} was accepted: {r.stderr}")
        if os.environ.get("HALL_DEBUG"):
            print(spec[-40:], [l for l in r.stderr.splitlines() if "remote:" in l or "rejected" in l or "error" in l])
        self.assertRegex(r.stderr, want)
        time.sleep(0.3)
        self.assertEqual(self.hall_state(), before, spec)
        self.assertEqual(self.county_status(self.app), "accepted")

    def last_seq(self):
        return json.loads(git(self.repo, "show", self.ref + ":changeset.json").stdout)["last_seq"]

    def test_scan_piece_cannot_name_a_hidden_object(self):
        # the other village's scan is at the hall; this village crafts a scan
        # piece that names that blob without carrying it, hoping to fetch
        # it back through its own chain
        scan = os.path.join(self.other.root, "id.jpg")
        with open(scan, "wb") as f:
            f.write(os.urandom(1000))
        b = self.other.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        self.other.ok("app", "material", b, "SFZ", "provided", "--file", scan)
        self.sync(self.other)
        blob = git(self.repo, "hash-object", scan).stdout.strip()
        hall_repo = os.path.join(self.county.home, "repo")
        wait_for(lambda: git(hall_repo, "cat-file", "-e", blob, check=False).returncode == 0, what="the scan")
        self.assertNotEqual(git(self.repo, "cat-file", "-e", blob, check=False).returncode, 0)
        meta = json.dumps({"blob": blob, "count": 1, "format": "daiban-scan", "index": 0, "size": 1000, "version": 1},
                          sort_keys=True, separators=(",", ":"))
        mb = self.blob(meta)
        tree = git(self.repo, "mktree", "--missing",
                   input=f"100644 blob {mb}\tscan.json\n100644 blob {blob}\tpiece\n").stdout.strip()
        # signed with the village's own key: the signature passes, the
        # piece's bytes must still be the push's own
        body = (f"tree {tree}\nauthor {VILLAGE} <daiban@localhost> 0 +0000\n"
                f"committer {VILLAGE} <daiban@localhost> 0 +0000\n\nscan {blob} piece 1/1\n")
        msgf = os.path.join(self.work, "piece")
        with open(msgf, "w") as f:
            f.write(body)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", os.path.join(self.village.home, "node.key"),
                        msgf], check=True, capture_output=True)
        with open(msgf + ".sig") as f:
            sig = f.read().rstrip("\n")
        head, rest = body.split("\n\n", 1)
        commit = git(self.repo, "hash-object", "-t", "commit", "-w", "--stdin",
                     input=head + "\ngpgsig " + sig.replace("\n", "\n ") + "\n\n" + rest).stdout.strip()
        pack = subprocess.run(["git", "-C", self.repo, "pack-objects", "--stdout"], input=f"{commit}\n{tree}\n{mb}\n".encode(),
                              capture_output=True, check=True).stdout
        ref = f"refs/scans/{VILLAGE}/{VILLAGE}"
        line = f"{'0' * 40} {commit} {ref}\0report-status\n".encode()
        body = b"%04x" % (len(line) + 4) + line + b"0000" + pack
        before = self.hall_state()
        c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=30)
        c.request("POST", "/feeds/git-receive-pack", body=body,
                  headers={"Authorization": "Bearer " + self.tokens[VILLAGE],
                           "Content-Type": "application/x-git-receive-pack-request"})
        resp = c.getresponse()
        out = resp.read()
        self.assertEqual(resp.status, 200)
        self.assertIn(b"ng " + ref.encode(), out)
        time.sleep(0.3)
        self.assertEqual(self.hall_state(), before)
        self.assertRegex(self.hall.logtext(), "names an object the push does not carry")
        self.assertNotEqual(git(hall_repo, "rev-parse", "--verify", "-q", ref, check=False).returncode, 0)

    def test_refusals(self):
        head = git(self.repo, "rev-parse", self.ref).stdout.strip()
        nxt = self.last_seq() + 1
        # another node's feed (the other village's partition is hidden from this one)
        c = self.changeset(OTHER_VILLAGE, OTHER_VILLAGE, [self.event(OTHER_VILLAGE, 1, "app.withdrawn")])
        self.refused(f"{c}:refs/feeds/{OTHER_VILLAGE}/{OTHER_VILLAGE}", r"may not write")
        # the township's feed in this village's partition
        c = self.changeset(TOWNSHIP, VILLAGE, [self.event(TOWNSHIP, 1, "app.reviewed", {"result": "pass"})])
        self.refused(f"{c}:refs/feeds/{VILLAGE}/{TOWNSHIP}", r"may not write")
        # a rewrite of its own feed (a new root with the same tree)
        tree = git(self.repo, "rev-parse", self.ref + "^{tree}").stdout.strip()
        c = git(self.repo, "commit-tree", tree, "-m", "rewritten").stdout.strip()
        self.refused(f"+{c}:{self.ref}", r"not a fast-forward", force=True)
        # a delete
        self.refused(f":{self.ref}", r"delet")
        # a change set on its own feed claiming another writer's events
        c = self.changeset(VILLAGE, VILLAGE, [self.event(OTHER_VILLAGE, nxt, "app.withdrawn")], parent=head)
        self.refused(f"{c}:{self.ref}", r"writer")
        # the village claims the county's authority
        c = self.changeset(VILLAGE, VILLAGE, [self.event(VILLAGE, nxt, "app.decided", {"result": "approve"})],
                           parent=head)
        self.refused(f"{c}:{self.ref}", r"only a township or the county")
        # a corrupt batch
        c = self.changeset(VILLAGE, VILLAGE, [self.event(VILLAGE, nxt, "app.withdrawn")], header="{{{", parent=head)
        self.refused(f"{c}:{self.ref}", r"JSON")
        # an unknown version
        c = self.changeset(VILLAGE, VILLAGE, [self.event(VILLAGE, nxt, "app.withdrawn")], parent=head,
                           header=json.dumps({"format": "daiban-changeset", "version": 9, "writer": VILLAGE,
                                              "partition": VILLAGE, "first_seq": nxt, "last_seq": nxt, "count": 1}))
        self.refused(f"{c}:{self.ref}", r"version")
        # a ref that is not a feed
        self.refused(f"{head}:refs/heads/main", r"only feeds")
        # a good push after all that still lands and is ingested
        self.village.ok("app", "withdraw", self.app, "--reason", "申请人撤回")
        self.sync(self.village)
        wait_for(lambda: self.county_status(self.app) == "withdrawn", what="the good push")
        # every refusal is in the hall's log too, with the pusher
        log = self.hall.logtext()
        for want in ("may not write", "not a fast-forward", "never deleted", "only a township or the county",
                     "unsupported version", "only feeds"):
            self.assertRegex(log, f"push by {VILLAGE} refused .*{want}")


class Signatures(HallCase):
    """Keys through the hall: a station's first signed push with its own
    token enrolls its key; a stick-only station relayed by its township
    must be enrolled by hand; a second signed history pushed is kept as
    evidence and raised as an alarm at the county."""

    def roster(self):
        return {e["node"]: e for e in json.loads(self.county.ok("roster", "list", "--json"))}

    def test_first_signed_push_enrolls_the_pushers_key(self):
        new = Station(node=NEW_VILLAGE, role="village", enroll=False)
        try:
            self.assertNotIn(NEW_VILLAGE, self.roster())
            token = self.county.ok("hall", "token", NEW_VILLAGE, operator=None)
            new.ok("remote", "set", self.hall.url, "--token", token, operator=None)
            a = new.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            keys = json.loads(new.ok("status", "--json"))["keys"]
            self.assertEqual((keys["roster"], keys["enrolled"]), (False, None))
            new.ok("sync")
            keys = json.loads(new.ok("status", "--json"))["keys"]
            self.assertEqual((keys["roster"], keys["enrolled"]), (True, {"from": 1, "until": None}))
            self.assertEqual(keys["fingerprint"], json.loads(new.ok("key", "show", "--json"))["fingerprint"])
            self.assertIn("on the county's roster from seq 1", new.ok("status"))
            entry = self.roster()[NEW_VILLAGE]
            self.assertEqual((entry["by"], entry["from"], entry["until"]), ("hall", 1, None))
            self.assertEqual(entry["key"], " ".join(new.key().split()[:2]))
            self.assertIn(f"enrolled {NEW_VILLAGE}'s key", wait_for(lambda: "enrolled" in self.hall.logtext() and
                                                                     self.hall.logtext(), what="the hall's log"))
            wait_for(lambda: self.county.run("app", "show", a).returncode == 0, what="the county to ingest it")
            # the roster reaches the stations with their next fetch
            self.village.ok("sync")
            self.assertIn(f"refs/roster/{COUNTY}", git(os.path.join(self.village.home, "repo"), "for-each-ref").stdout)
        finally:
            new.cleanup()

    def test_a_relayed_station_must_be_enrolled_by_hand(self):
        new = Station(node=NEW_VILLAGE, role="village", enroll=False)
        stick = os.path.join(new.root, "stick")
        os.makedirs(stick)
        t = self.township
        try:
            a = new.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            new.ok("bundle", "export", stick)
            # a township that has never synced holds no roster yet: it
            # takes the stick as before signatures; the hall refuses the
            # relayed feed of a station it does not know, and the
            # township's own feeds of the same push still land
            t.ok("operator", "add", "op55", "--name", "孙七")
            t.ok("bundle", "import", stick)
            r = t.run("sync")
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"{NEW_VILLAGE} has no key on the county's roster", r.stderr.replace("\ndaiban: remote: ", ""))
            wait_for(lambda: self.county.db().execute("SELECT count(*) FROM operators WHERE node = ? AND id = 'op55'",
                                                      (TOWNSHIP,)).fetchone()[0] == 1,
                     what="the township's own event at the county")
            self.assertNotEqual(self.county.run("app", "show", a).returncode, 0)
            # now it holds the roster: a stick from an unknown station is refused at once
            new.ok("app", "material", a, "SFZ", "provided")
            new.ok("bundle", "export", stick)
            r = t.run("bundle", "import", stick)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"{NEW_VILLAGE} has no key on the county's roster; the county enrolls it with 'daiban roster"
                          f" add {NEW_VILLAGE} KEY'", r.stderr)
            # enrolled by hand, it goes through
            self.county.ok("roster", "add", NEW_VILLAGE, new.key())
            t.ok("sync")                    # the roster comes down, the relay goes up
            t.ok("bundle", "import", stick)
            t.ok("sync")
            wait_for(lambda: self.county.run("app", "show", a).returncode == 0, what="the county to hold it")
        finally:
            new.cleanup()

    def test_a_township_forging_a_village_through_the_hall(self):
        """The township relays its villages' feeds to the hall; a change
        set it writes in a village's name, signed with its own key, is
        refused there and changes nothing."""
        from forgery import forge, state
        v, t = self.village, self.township
        a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        v.ok("sync")
        t.ok("sync")
        trepo = os.path.join(t.home, "repo")
        feed = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        last = json.loads(git(trepo, "show", f"{feed}:changeset.json").stdout)["last_seq"]
        forge(trepo, feed, VILLAGE, VILLAGE, [{"app": a, "body": {"reason": "伪造"}, "hlc": (1 << 60), "node": VILLAGE,
                                               "operator": "op01", "part": VILLAGE, "seq": last + 1,
                                               "type": "app.withdrawn", "wall": 1796000000000}],
              key=os.path.join(t.home, "node.key"))
        before = state(self.county)
        r = t.run("sync")
        self.assertEqual(r.returncode, 1)
        # the hall's reason comes back as remote text (split into chunks)
        remote = "".join(ln.split("remote: ", 1)[1] for ln in r.stderr.splitlines() if "remote: " in ln)
        self.assertRegex(remote, rf"daiban: refused {feed}: the change set \(seq {last + 1}\.\.{last + 1}\) is"
                         rf" signed with a key \(SHA256:\S+\) that the roster does not give {VILLAGE}")
        self.assertIn(f"the remote refused {feed}: pre-receive hook declined", r.stderr)
        time.sleep(0.5)
        self.assertEqual(state(self.county), before)
        self.assertEqual(self.county.show(a)["status"], "draft")

    def test_equivocation_by_push_is_kept_at_the_county(self):
        v = self.village
        a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        v.ok("sync")
        backup = os.path.join(v.root, "backup")
        shutil.copytree(v.home, backup, symlinks=True)
        v.ok("app", "edit", a, "--data", app_file("RS-YL-001-valid.json"))
        v.ok("sync")
        hub = os.path.join(self.county.home, "repo")
        feed = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        held = git(hub, "rev-parse", feed).stdout.strip()
        shutil.rmtree(v.home)
        shutil.copytree(backup, v.home, symlinks=True)
        v.ok("operator", "add", "op77", "--name", "赵六")
        r = v.run("sync")           # signs its second history; libgit2 will not push a non-fast-forward
        self.assertEqual(r.returncode, 1)
        self.assertIn("claims to be this node's own feed, but this node never wrote it", r.stderr)
        # pushed by force with stock git and the station's own token
        vrepo = os.path.join(v.home, "repo")
        mine = git(vrepo, "rev-parse", feed).stdout.strip()
        self.assertNotEqual(mine, held)
        r = git(vrepo, "push", "--force", self.stock_url(VILLAGE), f"{mine}:{feed}", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"ALARM: {VILLAGE} signed two different histories of this feed", r.stderr)
        self.assertEqual(git(hub, "rev-parse", feed).stdout.strip(), held)
        evidence = [ln.split()[1] for ln in git(hub, "for-each-ref", "--format=%(objectname) %(refname)",
                                                 "refs/evidence/").stdout.splitlines()]
        self.assertEqual(len(evidence), 1)
        other = git(hub, "rev-parse", evidence[0]).stdout.strip()
        self.assertNotEqual(other, held)
        git(hub, "cat-file", "-e", other)                 # its objects outlived git's quarantine
        st = json.loads(self.county.ok("status", "--json"))
        self.assertEqual([(x["writer"], x["held"], x["other"]) for x in st["alarms"] if x["kind"] == "equivocation"],
                         [(VILLAGE, held, other)])

    def test_the_countys_own_key_rotates(self):
        """The county replaces its own key: the old one vouches for the new
        in the roster, the county's change sets go on under the new one,
        and stations old and new take every chain (roster, catalogue,
        feeds) signed by either key."""
        a = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        self.sync(self.township)
        self.township.ok("review", a, "pass")
        self.sync(self.township)
        wait_for(lambda: self.county_status(a) == "passed", what="the review at the hall")
        old = self.county.key()
        # not while the hall signs with the key it loaded
        r = self.county.run("key", "rotate")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("the hall is running on this home", r.stderr)
        self.hall.stop()
        keyfile = os.path.join(self.county.home, "node.key")
        with open(keyfile, "rb") as f:
            old_secret = f.read()
        # a rotation cut short before must be settled first
        shutil.copy(os.path.join(self.village.home, "node.key"), keyfile + ".next")
        r = self.county.run("key", "rotate")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("a rotation was cut short here", r.stderr)
        self.assertEqual(self.county.key(), old)            # (the roster never named it: dropped)
        self.assertFalse(os.path.exists(keyfile + ".next"))
        out = self.county.ok("key", "rotate")
        self.assertIn("the county's key is now SHA256:", out)
        new = self.county.key()
        self.assertNotEqual(new, old)
        mine = [e for e in json.loads(self.county.ok("roster", "list", "--json")) if e["node"] == COUNTY]
        self.assertEqual([e["key"] for e in mine], [" ".join(old.split()[:2]), " ".join(new.split()[:2])])
        self.assertEqual(mine[0]["until"], mine[1]["from"])
        at = mine[1]["from"]
        with self.county.db() as c:
            self.assertEqual(c.execute("SELECT max(seq) FROM events WHERE node = ?", (COUNTY,)).fetchone()[0], at - 1)
        self.assertEqual(sorted(f for f in os.listdir(self.county.home) if f.startswith("node.key")), ["node.key"])
        # a rotation cut short after the roster named the new key (it waits in
        # node.key.next) is finished by the next command; one the roster
        # never named is dropped
        with open(keyfile, "rb") as f:
            new_secret = f.read()
        os.rename(keyfile, keyfile + ".next")
        with open(keyfile, "wb") as f:
            f.write(old_secret)
        os.chmod(keyfile, 0o600)
        self.assertEqual(self.county.key(), new)
        self.assertFalse(os.path.exists(keyfile + ".next"))
        shutil.copy(os.path.join(self.village.home, "node.key"), keyfile + ".next")
        self.assertEqual(self.county.key(), new)
        self.assertFalse(os.path.exists(keyfile + ".next"))
        with open(keyfile, "rb") as f:
            self.assertEqual(f.read(), new_secret)
        # the hall again; the county decides under its new key
        self.hall = Hall(self.county)
        for s, code in ((self.township, TOWNSHIP), (self.village, VILLAGE)):
            s.ok("remote", "set", self.hall.url, operator=None)
        self.county.ok("decide", a, "approve")

        def decided_at_village():
            self.sync(self.village)
            return self.village.show(a)["status"] == "approved"
        wait_for(decided_at_village, timeout=30, what="the decision under the new key to reach the village")
        self.sync(self.township)
        self.assertEqual(self.township.show(a)["status"], "approved")
        # the county's change sets from `at` on are signed by the new key, and
        # stock git says so with the roster's allowed signers
        hub = os.path.join(self.county.home, "repo")
        allowed = os.path.join(self.county.root, "allowed")
        self.county.ok("roster", "export", "--allowed-signers", allowed)
        head = git(hub, "rev-parse", f"refs/feeds/{VILLAGE}/{COUNTY}").stdout.strip()
        r = subprocess.run(["git", "--git-dir", hub, "-c", "gpg.format=ssh", "-c",
                            f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", head],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        fp = json.loads(self.county.ok("key", "show", "--json"))["fingerprint"]
        self.assertIn(f'Good "git" signature for {COUNTY} with ED25519 key {fp}', r.stderr)
        # a station set up now takes the whole roster chain (signed by the old
        # key, then the new) and the catalogue published under the old one
        fresh = Station(node=NEW_VILLAGE, role="village")
        try:
            token = self.county.ok("hall", "token", NEW_VILLAGE, operator=None)
            fresh.ok("remote", "set", self.hall.url, "--token", token, operator=None)
            j, _ = self.sync(fresh)
            self.assertEqual(j["refused"], 0)
            self.assertIn(f"refs/roster/{COUNTY}", git(os.path.join(fresh.home, "repo"), "for-each-ref").stdout)
            keys = json.loads(fresh.ok("status", "--json"))["keys"]
            self.assertTrue(keys["roster"])
        finally:
            fresh.cleanup()

    def test_a_refused_feed_fetched_from_the_hall_leaves_nothing(self):
        """A feed the station refuses, served by a hall whose repository was
        written behind its checks (a compromised or buggy hall), leaves no
        object in the station's repository: the fetch waits in a quarantine
        until its refs are accepted."""
        from forgery import forge
        a = self.accepted()
        self.sync(self.village)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        hub = os.path.join(self.county.home, "repo")
        # a review in the township's name, signed with the village's key,
        # written straight into the hall's repository
        with self.county.db() as c:
            seq = (c.execute("SELECT max(seq) FROM events WHERE node = ?", (TOWNSHIP,)).fetchone()[0] or 0) + 1
        now = int(time.time() * 1000)
        ev = {"app": a, "body": {"result": "return", "reason": "伪造"}, "hlc": now << 16, "node": TOWNSHIP,
              "operator": "op01", "part": VILLAGE, "seq": seq, "type": "app.reviewed", "wall": now}
        cid = forge(hub, f"refs/feeds/{VILLAGE}/{TOWNSHIP}", TOWNSHIP, VILLAGE, [ev],
                    key=os.path.join(self.village.home, "node.key"))
        trepo = os.path.join(self.township.home, "repo")
        j, err = self.sync(self.township, code=1)
        self.assertGreaterEqual(j["refused"], 1, err)
        self.assertIn(f"refused refs/feeds/{VILLAGE}/{TOWNSHIP}", err)
        self.assertNotEqual(subprocess.run(["git", "--git-dir", trepo, "cat-file", "-e", cid]).returncode, 0,
                            "the refused change set's commit is in the township's repository")
        tree = git(hub, "rev-parse", f"{cid}^{{tree}}").stdout.strip()
        self.assertNotEqual(subprocess.run(["git", "--git-dir", trepo, "cat-file", "-e", tree]).returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(trepo, "daiban-quarantine")))
        self.assertEqual(self.township.show(a)["status"], "accepted")

    def test_equivocation_seen_on_a_stick_reaches_the_county(self):
        """The township keeps evidence of a second history a village's stick
        brought; its next sync passes it on, the hall checks it itself, and
        the county's alarms show it. Evidence that is none is refused."""
        v, t = self.village, self.township
        a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        v.ok("sync")
        backup = os.path.join(v.root, "backup")
        shutil.copytree(v.home, backup, symlinks=True)
        v.ok("app", "edit", a, "--data", app_file("RS-YL-001-valid.json"))
        v.ok("sync")
        t.ok("sync")
        hub = os.path.join(self.county.home, "repo")
        feed = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        held = git(hub, "rev-parse", feed).stdout.strip()
        # the old copy goes back on the PC and works on; its stick goes to the township
        shutil.rmtree(v.home)
        shutil.copytree(backup, v.home, symlinks=True)
        v.ok("operator", "add", "op77", "--name", "赵六")
        stick = os.path.join(v.root, "stick")
        os.makedirs(stick)
        v.ok("bundle", "export", stick, "--for", TOWNSHIP)
        r = t.run("bundle", "import", stick)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"ALARM: {VILLAGE} signed two different histories", r.stderr)
        trepo = os.path.join(t.home, "repo")
        kept = git(trepo, "for-each-ref", "--format=%(refname)", "refs/evidence/").stdout.split()
        self.assertEqual(len(kept), 1, kept)
        other = kept[0].rsplit("/", 1)[1]
        self.assertEqual(git(hub, "for-each-ref", "refs/evidence/").stdout, "")
        # the township's sync passes it on; the county's alarms show it
        self.sync(t)
        self.assertEqual(git(hub, "rev-parse", kept[0]).stdout.strip(), other)
        self.assertEqual(git(hub, "rev-parse", feed).stdout.strip(), held, "the feed held moved")
        st = json.loads(self.county.ok("status", "--json"))
        self.assertEqual([(x["writer"], x["held"], x["other"]) for x in st["alarms"] if x["kind"] == "equivocation"],
                         [(VILLAGE, held, other)])
        # once there, it is not sent again
        self.sync(t)
        self.assertEqual(self.hall.logtext().count(f"passed on evidence: {VILLAGE} signed two histories"), 1)
        # a township's "evidence" that is the history held, or nothing signed, is refused
        before = self.hall_state()
        for target, why in ((held, "not a second one"), (git(trepo, "rev-parse", f"{feed}~1").stdout.strip(),
                                                          "not a second one")):
            ref = f"refs/evidence/{VILLAGE}/{VILLAGE}/{target}"
            r = git(trepo, "push", self.stock_url(TOWNSHIP), f"{target}:{ref}", check=False)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertIn("not evidence of a second history", r.stderr)
            self.assertIn(why, r.stderr)
        # and no node passes on evidence about a partition it may not hold
        # (the real evidence, under another village's token)
        r = git(trepo, "push", self.stock_url(OTHER_VILLAGE), f"{other}:refs/evidence/{VILLAGE}/{VILLAGE}/{held}",
                check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"node {OTHER_VILLAGE} may not hold partition {VILLAGE}", r.stderr)
        self.assertEqual(self.hall_state(), before)


class Front(HallCase):
    def request(self, raw, read=65536):
        with socket.create_connection(("127.0.0.1", self.hall.port), timeout=10) as s:
            s.sendall(raw)
            data = b""
            while True:
                try:
                    chunk = s.recv(read)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
            return data

    def test_limits_and_errors(self):
        # headers too large
        r = self.request(b"GET /feeds/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: x\r\nX-Big: "
                         + b"a" * 40000 + b"\r\n\r\n")
        self.assertTrue(r.startswith(b"HTTP/1.1 431"), r[:80])
        # malformed
        r = self.request(b"NONSENSE\r\n\r\n")
        self.assertTrue(r.startswith(b"HTTP/1.1 400"), r[:80])
        # unknown path: JSON error with zh and en
        c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=10)
        c.request("GET", "/nowhere")
        resp = c.getresponse()
        self.assertEqual(resp.status, 404)
        body = json.loads(resp.read())
        self.assertEqual(body["error"], "not_found")
        self.assertTrue(body["message"]["zh"] and body["message"]["en"])
        # no token
        c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=10)
        c.request("GET", "/feeds/info/refs?service=git-upload-pack")
        resp = c.getresponse()
        self.assertEqual(resp.status, 401)
        self.assertIn("Basic", resp.getheader("WWW-Authenticate"))
        resp.read()
        # a body over the limit is refused before it is read
        auth = "Bearer " + self.tokens[VILLAGE]
        c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=10)
        c.putrequest("POST", "/feeds/git-receive-pack")
        c.putheader("Authorization", auth)
        c.putheader("Content-Type", "application/x-git-receive-pack-request")
        c.putheader("Content-Length", str(1 << 40))
        c.endheaders()
        resp = c.getresponse()
        self.assertEqual(resp.status, 413)
        resp.read()
        # the hall still serves everyone after all that
        self.accepted()
        self.sync(self.village)

    def test_slow_client_does_not_keep_a_slot(self):
        # headers trickled one byte at a time must still be complete within
        # the head timeout from their first byte
        # (one hall per home: the case's own goes first; tearDown stops this one)
        self.hall.stop()
        hall = self.hall = Hall(self.county, "--head-timeout", "2")
        with socket.create_connection(("127.0.0.1", hall.port), timeout=10) as s:
            t0 = time.time()
            got = b""
            for ch in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 40:
                try:
                    s.sendall(bytes([ch]))
                except OSError:
                    break
                time.sleep(0.25)
                if time.time() - t0 > 6:
                    break
            s.settimeout(5)
            try:
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
            except OSError:
                pass
            self.assertLess(time.time() - t0, 6.5, "the slow client kept its connection")
            self.assertTrue(got == b"" or got.startswith(b"HTTP/1.1 408"), got[:60])

    def test_a_port_in_use_is_a_refusal(self):
        """A second county's hall on the first one's port: exit 1 with the
        reason, not a clean exit that a supervisor would take as done."""
        other = Station(node=COUNTY, role="county")
        try:
            r = other.run("hall", "serve", "--listen", f"127.0.0.1:{self.hall.port}", operator=None)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn(str(self.hall.port), r.stderr)
            self.assertNotIn("serving", r.stdout)
        finally:
            other.cleanup()

    def test_plain_http_beyond_loopback_is_refused(self):
        r = self.county.run("hall", "serve", "--listen", "0.0.0.0:0", operator=None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--cert", r.stderr)
        r = self.village.run("remote", "set", "http://192.0.2.1:8420/feeds", "--token", "x.y", operator=None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("https", r.stderr)


class TLS(unittest.TestCase):
    def setUp(self):
        self.county = Station(node=COUNTY, role="county")
        self.village = Station(node=VILLAGE, role="village")
        self.cert = os.path.join(self.county.root, "hall.pem")
        self.key = os.path.join(self.county.root, "hall.key")
        out = self.county.ok("hall", "cert", "--cert", self.cert, "--key", self.key, "--name", "象山县行政服务中心",
                             operator=None)
        self.made_pin = out.split()[-1]
        self.assertEqual(oct(os.stat(self.key).st_mode & 0o777), "0o600")
        # never overwrites
        self.assertEqual(self.county.run("hall", "cert", "--cert", self.cert, "--key", self.key, operator=None)
                         .returncode, 1)
        self.hall = Hall(self.county, "--cert", self.cert, "--key", self.key)
        self.token = self.county.ok("hall", "token", VILLAGE, operator=None)

    def tearDown(self):
        self.hall.stop()
        self.county.cleanup()
        self.village.cleanup()

    def test_pinned_self_signed_certificate(self):
        pin = self.county.ok("hall", "pin", "--cert", self.cert, operator=None)
        self.assertEqual(pin, self.hall.pin)
        self.assertEqual(pin, self.made_pin)
        der = subprocess.run(["openssl", "x509", "-in", self.cert, "-outform", "DER"], capture_output=True,
                             check=True).stdout
        import hashlib
        self.assertEqual(pin, hashlib.sha256(der).hexdigest())
        v = self.village
        a = v.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        # no pin: the self-signed certificate is not trusted
        v.ok("remote", "set", self.hall.url, "--token", self.token, operator=None)
        r = v.run("sync", operator=None)
        self.assertEqual(r.returncode, 1, r.stderr)
        # a wrong pin: refused, and the message says what to do
        v.ok("remote", "set", self.hall.url, "--token", self.token, "--pin", "0" * 64, operator=None)
        r = v.run("sync", operator=None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("pin", r.stderr)
        self.assertNotIn(VILLAGE, git(os.path.join(self.county.home, "repo"), "for-each-ref").stdout)
        # the right pin: the feed arrives and is ingested
        v.ok("remote", "set", self.hall.url, "--token", self.token, "--pin", pin, operator=None)
        r = v.run("sync", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr + self.hall.logtext())
        wait_for(lambda: self.county.run("app", "show", a, operator=None).returncode == 0, what="ingest over TLS")
        # plain HTTP to the TLS port does not get through
        c = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=5)
        with self.assertRaises(Exception):
            c.request("GET", "/health")
            c.getresponse().read()


class Relay:
    """A TCP relay in front of the hall that counts the connections made
    through it (what a village's link sees: each one a TCP and a TLS
    handshake, round trips on a slow link)."""

    def __init__(self, port):
        import threading
        self.port, self.accepted = port, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"https://127.0.0.1:{self.sock.getsockname()[1]}/feeds"
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        import threading

        def pipe(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            h = socket.create_connection(("127.0.0.1", self.port))
            threading.Thread(target=pipe, args=(c, h), daemon=True).start()
            threading.Thread(target=pipe, args=(h, c), daemon=True).start()

    def close(self):
        self.sock.close()


class OneConnection(unittest.TestCase):
    """A sync's steps (the fetch, the push, the listing of the hall's
    scan chains, a push per scan piece) share one TLS connection
    (sync/connpool.c); libgit2's own streams open one per step."""

    setUp = TLS.setUp
    tearDown = TLS.tearDown

    def sync_with_scan(self, relay, extra=None):
        v = self.village
        scan = os.path.join(v.root, "scan-%d.jpg" % relay.port)
        with open(scan, "wb") as f:
            f.write(os.urandom(200 * 1024))     # five pieces of 48 KiB
        a = v.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        v.ok("app", "material", a, "SFZ", "provided", "--file", scan)
        v.ok("remote", "set", relay.url, "--token", self.token, "--pin", self.hall.pin, operator=None)
        r = v.run("sync", "--json", operator=None, extra=extra)
        self.assertEqual(r.returncode, 0, r.stderr + self.hall.logtext())
        j = json.loads(r.stdout)
        self.assertEqual(j["scan_pieces_sent"], 5)
        blob = subprocess.run(["git", "hash-object", scan], capture_output=True, text=True, check=True).stdout.strip()
        wait_for(lambda: git(os.path.join(self.county.home, "repo"), "cat-file", "-e", blob,
                             check=False).returncode == 0, what="the scan whole at the hall")
        wait_for(lambda: self.county.run("app", "show", a, operator=None).returncode == 0, what="ingest")
        return j

    def test_a_sync_makes_one_connection(self):
        relay = Relay(self.hall.port)
        try:
            # the sync's steps, each an advertisement (and then a POST): the
            # fetch, the events' push, and the scan's pushes
            log0 = len(self.hall.logtext())
            j = self.sync_with_scan(relay)
            steps = self.hall.logtext()[log0:].count(" advertisement: exit 0")
            self.assertGreaterEqual(steps, 3, self.hall.logtext()[log0:])
            self.assertEqual(relay.accepted, 1, j)
            self.assertEqual(j["connections"]["made"], 1, j)
            self.assertEqual(j["connections"]["reused"], steps - 1, j)
            # libgit2's streams, for comparison: a connection a step
            before = relay.accepted
            log0 = len(self.hall.logtext())
            j = self.sync_with_scan(relay, extra={"DAIBAN_TLS": "libgit2"})
            steps = self.hall.logtext()[log0:].count(" advertisement: exit 0")
            self.assertGreaterEqual(steps, 3, self.hall.logtext()[log0:])
            self.assertGreaterEqual(relay.accepted - before, steps, j)
            self.assertEqual(j["connections"]["made"], 0, j)
            # and the wrong pin is refused on a kept connection as on a new one
            self.village.ok("remote", "set", relay.url, "--token", self.token, "--pin", "0" * 64, operator=None)
            r = self.village.run("sync", operator=None)
            self.assertEqual(r.returncode, 1)
            self.assertIn("pin", r.stderr)
        finally:
            relay.close()


class SilentLink(unittest.TestCase):
    """A remote that accepts and then says nothing (a link gone silent
    without a reset) is given up after DAIBAN_SYNC_IDLE_S; one that
    answers slowly but steadily is not (tests/fault/badlink.py does the
    same over a real shaped link, as root)."""

    def setUp(self):
        self.village = Station(node=VILLAGE, role="village")
        accept_dibao(self.village)
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/feeds"
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        self.server.close()
        self.village.cleanup()

    def serve(self, trickle):
        import threading

        def answer(c):
            # every connection (the fetch's, the push's) trickles a byte
            # each half second, for longer than the idle limit
            for b in b"HTTP/1.1 200 OK":
                time.sleep(0.5)
                try:
                    c.send(bytes([b]))
                except OSError:
                    return
            c.close()

        def run():
            self.server.settimeout(60)
            while True:
                try:
                    c, _ = self.server.accept()
                except OSError:
                    return
                self.conns.append(c)
                if trickle:
                    threading.Thread(target=answer, args=(c,), daemon=True).start()
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def sync(self):
        before = (self.village.nevents(), self.village.dump_derived())
        t0 = time.time()
        r = self.village.run("sync", "--remote", self.url, extra={"DAIBAN_SYNC_IDLE_S": "2"}, timeout=120)
        took = time.time() - t0
        self.assertEqual((self.village.nevents(), self.village.dump_derived()), before)
        return r, took

    def test_a_silent_remote_is_given_up(self):
        self.serve(trickle=False)
        r, took = self.sync()
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("silent for 2 s", r.stderr)
        self.assertLess(took, 15, "the sync did not give up on a silent link")
        # the round's push is not tried against the silent link
        self.assertNotIn("push to", r.stderr)

    def test_a_slow_remote_is_not_cut(self):
        self.serve(trickle=True)
        r, took = self.sync()
        self.assertEqual(r.returncode, 1, r.stderr)       # the answer is not git's, but it kept coming
        self.assertNotIn("silent", r.stderr)
        self.assertGreater(took, 2 * 2, "the trickling answer was cut")


if __name__ == "__main__":
    unittest.main(verbosity=2)
