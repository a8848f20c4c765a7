#!/usr/bin/env python3
"""The Windows station syncs (issue 17, "Proofs"): daiban.exe under Wine
as the village, the Linux daiban as the county hall (`daiban hall serve`,
HTTPS with a pinned self-signed certificate, the real `git http-backend`)
and as the township.

1. Over HTTPS: a wrong pin is refused with nothing fetched; with the
   right pin the village's application reaches the hall, the township
   passes it, the county approves, the decision comes back to the
   village, and the three nodes hold the same applications.
2. By USB stick: the village exports to a folder with Chinese characters
   in its name, the township imports, passes and exports its answer, the
   village imports it; both hold the same applications.
3. The guarded way in: a bundle in which the township forged the
   county's decision, and a bundle with a byte flipped, leave the
   village's refs and store as they were.
4. A silent link: a remote that accepts and never answers is given up
   after DAIBAN_SYNC_IDLE_S, as on Linux (agent/netwatch.c).

The tests run in order on the same four homes (a scenario). Wine 8's
WinHTTP differs from Windows' in two ways that this test works around
in a Wine prefix of its own (docs/windows.md, "HTTPS to the hall",
"Under Wine"): it refuses an untrusted certificate outright where Windows lets
libgit2 call the pin check, so the hall's certificate is made a trusted
root there; and it adds "Content-Length: 0" to a chunked POST, which
the hall refuses, so daiban.exe is told it runs on Windows XP there
(libgit2 then sends a push with its length, as it does before Vista)."""
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(1, os.path.join(os.path.dirname(__file__), "..", "integration"))
import wine  # noqa: E402
from hall import Hall, wait_for  # noqa: E402

COUNTY, TOWNSHIP, VILLAGE = "330225", "330225101", "330225101201"
OP = {"DAIBAN_OPERATOR": "op01"}


def git(repo, *args, input=None):
    r = subprocess.run(["git", "--git-dir", repo, *args], capture_output=True, text=True, input=input)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


class Node:
    """A home on one side: windows (daiban.exe under Wine) or Linux."""

    def __init__(self, root, name, node, role, windows, prefix=None):
        self.home = os.path.join(root, name)
        self.node, self.windows = node, windows
        self.extra = {"WINEPREFIX": prefix} if windows else {}
        os.makedirs(os.path.dirname(self.home), exist_ok=True)
        self.ok("init", "--node", node, "--role", role, "--catalog", ("path", wine.sample()))
        self.ok("operator", "add", "op01", "--name", "王小红")

    def run(self, *args, **kw):
        return wine.run(self.windows, self.home, *args, **dict(self.extra, **OP, **kw))

    # what hall.py's Hall asks of the county's home (the Linux side): its
    # folder for hall.log, and the environment, in English as it parses it
    @property
    def root(self):
        return os.path.dirname(self.home)

    def env(self, operator=None):
        return wine.env(self.home, LANG="C.UTF-8")

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (self.node, args, r.returncode, r.stdout, r.stderr)
        return r.stdout.strip()

    def show(self, app):
        return json.loads(self.ok("app", "show", app, "--json"))

    def status(self, app):
        r = self.run("app", "show", app, "--json")
        return json.loads(r.stdout)["status"] if r.returncode == 0 else None

    def repo(self):
        return os.path.join(self.home, "repo")

    def apps(self):
        with sqlite3.connect("file:%s/store.db?mode=ro" % self.home, uri=True) as c:
            return c.execute("SELECT * FROM apps ORDER BY id").fetchall()

    def state(self):
        """What a refused transfer must leave as it was: every ref, the
        events and the applications with their materials."""
        with sqlite3.connect("file:%s/store.db?mode=ro" % self.home, uri=True) as c:
            events = c.execute("SELECT node, seq, hlc, type, body FROM events ORDER BY node, seq").fetchall()
            mats = c.execute("SELECT * FROM app_materials ORDER BY app, material").fetchall()
        out = git(self.repo(), "for-each-ref", "--format=%(refname) %(objectname)")
        return dict(ln.split() for ln in out.splitlines()), events, self.apps(), mats

    def accept(self):
        """A minimum-allowance application with its five materials,
        accepted here; its id."""
        a = self.ok("app", "new", "MZ-DB-001", "--data", ("path", os.path.join(wine.DATA, "apps", "MZ-DB-001-valid.json")))
        for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
            self.ok("app", "material", a, m, "provided")
        self.ok("app", "submit", a)
        return a


def private_prefix(path, trust_pem):
    """A Wine prefix for this test alone: the build's registry copied, its
    drive C shared. The hall's certificate a trusted root in it, and
    daiban.exe told it runs on Windows XP (the module's docstring says
    why)."""
    base = os.environ.get("WINEPREFIX")
    if not base or not os.path.isfile(os.path.join(base, "system.reg")):
        raise SystemExit("set WINEPREFIX to the build's Wine prefix (packaging/windows/build.sh does)")
    os.makedirs(os.path.join(path, "dosdevices"))
    for f in ("system.reg", "user.reg", "userdef.reg", ".update-timestamp"):
        shutil.copy(os.path.join(base, f), path)
    os.symlink(os.path.join(os.path.abspath(base), "drive_c"), os.path.join(path, "drive_c"))
    os.symlink("../drive_c", os.path.join(path, "dosdevices", "c:"))
    os.symlink("/", os.path.join(path, "dosdevices", "z:"))
    # a wineserver, and Wine's own services, that stay until
    # tearDownClass (or 2 minutes after the last program, should the test
    # be killed), started here with no pipe of the test's: each command
    # would else start them anew, and they would hold its output pipes
    # open for their linger (2.5 s a command)
    quiet = dict(env=wine.env("", WINEPREFIX=path), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL, check=True, timeout=120)
    subprocess.run(["wineserver", "-p120"], **quiet)
    with open(trust_pem) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    blob = struct.pack("<III", 32, 1, len(der)) + der       # CERT_CERT_PROP_ID: the certificate's DER
    keys = [("HKCU\\Software\\Microsoft\\SystemCertificates\\Root\\Certificates\\" + hashlib.sha1(der).hexdigest().upper(),
             ["/v", "Blob", "/t", "REG_BINARY", "/d", blob.hex()]),
            ("HKCU\\Software\\Wine\\AppDefaults\\daiban.exe", ["/v", "Version", "/d", "winxp64"])]
    for key, val in keys:
        subprocess.run(["wine", "reg", "add", key, *val, "/f"], **quiet)


class WindowsSync(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        wine.need()
        cls.t0 = time.time()
        cls.tmp = tempfile.mkdtemp(prefix="daiban-winsync-")
        cls.hall = None
        cls.prefix = os.path.join(cls.tmp, "wine")
        try:
            cls.start()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def start(cls):
        root = cls.tmp
        cls.county = Node(root, "县/home", COUNTY, "county", False)
        cert, key = os.path.join(root, "县", "hall.pem"), os.path.join(root, "县", "hall.key")
        # named for the address the station dials: Wine checks the name
        # (the pin is what daiban checks)
        cls.county.ok("hall", "cert", "--cert", cert, "--key", key, "--name", "127.0.0.1")
        cls.hall = Hall(cls.county, "--cert", cert, "--key", key, binary=wine.LINUX)
        cls.url, cls.pin = cls.hall.url, cls.hall.pin
        assert cls.url.startswith("https://") and re.fullmatch(r"[0-9a-f]{64}", cls.pin), (cls.url, cls.pin)
        private_prefix(cls.prefix, cert)
        cls.township = Node(root, "镇/home", TOWNSHIP, "township", False)
        cls.village = Node(root, "下沈村服务站/数据", VILLAGE, "village", True, cls.prefix)
        cls.tokens = {}
        for n in (cls.township, cls.village):
            k = json.loads(n.ok("key", "show", "--json"))["key"]
            cls.county.ok("roster", "add", n.node, k)
            cls.tokens[n.node] = cls.county.ok("hall", "token", n.node)
        cls.township.ok("remote", "set", cls.url, "--token", cls.tokens[TOWNSHIP], "--pin", cls.pin)
        cls.township.ok("sync")
        cls.stick = os.path.join(root, "U盘-下沈村")
        os.makedirs(cls.stick)

    @classmethod
    def tearDownClass(cls):
        if cls.hall:
            cls.hall.stop()
        if os.path.isdir(cls.prefix):
            # this prefix's wineserver, which lingers after the last program
            subprocess.run(["wineserver", "-k"], env=wine.env("", WINEPREFIX=cls.prefix), capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)
        print("\n%s: %.0f s" % (os.path.basename(__file__), time.time() - cls.t0), file=sys.stderr)

    def sync(self, n, code=0):
        r = n.run("sync", "--json")
        self.assertEqual(r.returncode, code, r.stdout + r.stderr + self.hall.logtext())
        return json.loads(r.stdout), r.stderr

    def same_everywhere(self, a, nodes):
        shows = [n.show(a) for n in nodes]
        for n, s in zip(nodes[1:], shows[1:]):
            self.assertEqual(s, shows[0], n.node)
        rows = nodes[0].apps()
        for n in nodes[1:]:
            self.assertEqual(n.apps(), rows, n.node)
        return shows[0]

    def test_1_https_with_a_pinned_certificate(self):
        v, t, c = self.village, self.township, self.county
        a = v.accept()
        # a wrong pin: refused, the message says so, nothing is fetched
        # (the roster and catalogue the hall holds stay there) and nothing
        # reaches the hall
        v.ok("remote", "set", self.url, "--token", self.tokens[VILLAGE], "--pin", "0" * 64)
        refs0, events0, apps0, mats0 = v.state()
        r = v.run("sync")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("does not match the pinned SHA-256", r.stderr)
        refs1, events1, apps1, mats1 = v.state()
        own = "refs/feeds/%s/%s" % (VILLAGE, VILLAGE)      # the round's own change set, made before the fetch
        self.assertEqual({k: x for k, x in refs1.items() if k != own}, refs0)
        self.assertFalse([k for k in refs1 if not k.startswith("refs/feeds/%s/" % VILLAGE)], refs1)
        self.assertEqual((events1, apps1, mats1), (events0, apps0, mats0))
        self.assertNotIn(VILLAGE, git(c.repo(), "for-each-ref"))
        # the right pin: the application reaches the hall, which ingests it
        v.ok("remote", "set", self.url, "--token", self.tokens[VILLAGE], "--pin", self.pin)
        self.sync(v)
        self.assertIn("refs/roster/" + COUNTY, v.state()[0])
        wait_for(lambda: c.status(a) == "accepted", what="the hall to ingest the village's push")
        # the township passes it, the county approves it
        self.sync(t)
        self.assertEqual(t.show(a)["holder"], TOWNSHIP)
        t.ok("review", a, "pass")
        self.sync(t)
        wait_for(lambda: c.status(a) == "passed", what="the township's review at the hall")
        c.ok("decide", a, "approve")

        def approved_at_village():
            self.sync(v)
            return v.status(a) == "approved"
        wait_for(approved_at_village, what="the decision to reach the Windows village")
        self.sync(t)
        s = self.same_everywhere(a, [v, t, c])
        self.assertEqual(s["status"], "approved")
        nodes = {e["node"] for e in json.loads(v.ok("app", "log", a, "--json"))}
        self.assertEqual(nodes, {VILLAGE, TOWNSHIP, COUNTY})
        # a second round moves nothing
        j, _ = self.sync(v)
        self.assertEqual((j["committed"], j["ingested_events"], j["updated_refs"]), (0, 0, 0))
        # what the Windows station wrote, stock git reads and checks
        git(v.repo(), "fsck", "--strict")
        self.assertIn("派生表与事件一致", v.ok("rebuild", "--verify"))

    def test_2_usb_stick_round_trip(self):
        v, t = self.village, self.township
        b = v.accept()
        v.ok("bundle", "export", ("path", self.stick))
        out = os.path.join(self.stick, "daiban-%s-to-%s.bundle" % (VILLAGE, TOWNSHIP))
        self.assertTrue(os.path.isfile(out), os.listdir(self.stick))
        # stock git reads the bundle the Windows station wrote
        heads = git(t.repo(), "bundle", "list-heads", out)
        self.assertIn("refs/feeds/%s/%s" % (VILLAGE, VILLAGE), heads)
        t.ok("bundle", "import", ("path", self.stick))
        self.assertEqual(t.show(b)["status"], "accepted")
        t.ok("review", b, "pass")
        t.ok("bundle", "export", ("path", self.stick), "--for", VILLAGE)
        v.ok("bundle", "import", ("path", self.stick))
        s = self.same_everywhere(b, [v, t])
        self.assertEqual(s["status"], "passed")
        # the same stick again changes nothing
        before = v.state()
        v.ok("bundle", "import", ("path", self.stick))
        self.assertEqual(v.state(), before)

    def forged_stick(self, name, make):
        """A stick holding one bundle for the village, made by make(path)."""
        d = os.path.join(self.tmp, name)
        os.makedirs(d)
        make(os.path.join(d, "daiban-%s-to-%s.bundle" % (TOWNSHIP, VILLAGE)))
        return d

    def refused(self, stick, want):
        v = self.village
        before = v.state()
        r = v.run("bundle", "import", ("path", stick))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, want)
        self.assertEqual(v.state(), before)
        self.assertFalse(os.path.exists(os.path.join(v.repo(), "daiban-quarantine")))
        return r

    def test_3_a_forged_bundle_leaves_the_station_as_it_was(self):
        v, t = self.village, self.township
        a = v.accept()
        v.ok("bundle", "export", ("path", self.stick))
        t.ok("bundle", "import", ("path", self.stick))
        t.ok("review", a, "pass")
        answer = os.path.join(self.tmp, "answer")
        os.makedirs(answer)
        t.ok("bundle", "export", ("path", answer), "--for", VILLAGE)
        honest = os.path.join(answer, "daiban-%s-to-%s.bundle" % (TOWNSHIP, VILLAGE))
        # the township forges the county's approval in a copy of its
        # repository (its own stays honest): an unsigned change set
        # continuing the county's feed for the village
        forger = os.path.join(self.tmp, "forger.git")
        shutil.copytree(t.repo(), forger)
        ref = "refs/feeds/%s/%s" % (VILLAGE, COUNTY)
        head = git(forger, "rev-parse", ref).strip()
        seq = json.loads(git(forger, "show", ref + ":changeset.json"))["last_seq"] + 1
        with sqlite3.connect("file:%s/store.db?mode=ro" % t.home, uri=True) as c:
            hlc, wall = c.execute("SELECT max(hlc), max(wall) FROM events").fetchone()
        ev = {"app": a, "body": {"result": "approve"}, "hlc": hlc + (1 << 30), "node": COUNTY, "operator": "op01",
              "part": VILLAGE, "seq": seq, "type": "app.decided", "wall": wall + 60000}
        header = json.dumps({"count": 1, "first_seq": seq, "format": "daiban-changeset", "last_seq": seq,
                             "partition": VILLAGE, "version": 1, "writer": COUNTY}, sort_keys=True, separators=(",", ":"))
        lines = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        hb = git(forger, "hash-object", "-w", "--stdin", input=header).strip()
        eb = git(forger, "hash-object", "-w", "--stdin", input=lines).strip()
        tree = git(forger, "mktree", input="100644 blob %s\tchangeset.json\n100644 blob %s\tevents.jsonl\n" % (hb, eb)).strip()
        when = wall // 1000 + 60
        body = ("tree %s\nparent %s\nauthor %s <daiban@localhost> %d +0000\ncommitter %s <daiban@localhost> %d +0000\n\n"
                "change set: 1 events of %s in partition %s\n" % (tree, head, COUNTY, when, COUNTY, when, COUNTY, VILLAGE))
        forged = git(forger, "hash-object", "-t", "commit", "-w", "--stdin", input=body).strip()
        git(forger, "update-ref", ref, forged)
        stick = self.forged_stick("forged", lambda p: git(forger, "bundle", "create", "-q", p, ref))
        self.refused(stick, r"refs/feeds/%s/%s.*not signed" % (VILLAGE, COUNTY))
        self.assertNotEqual(subprocess.run(["git", "--git-dir", v.repo(), "cat-file", "-e", forged],
                                           capture_output=True).returncode, 0, "the forged commit came in")
        self.assertEqual(v.status(a), "accepted")

        # the township's honest answer with one byte of its pack flipped
        def flipped(p):
            with open(honest, "rb") as f:
                data = bytearray(f.read())
            data[len(data) - 40] ^= 0x55             # inside the pack, before its checksum
            with open(p, "wb") as f:
                f.write(data)
        self.refused(self.forged_stick("flipped", flipped), r"its pack is corrupt or truncated")
        self.assertEqual(v.status(a), "accepted")
        # and the answer itself, whole, goes in
        v.ok("bundle", "import", ("path", answer))
        self.assertEqual(self.same_everywhere(a, [v, t])["status"], "passed")

    def test_4_a_silent_link_is_given_up(self):
        """A remote that accepts and then says nothing (a link gone silent
        without a reset): WinHTTP would wait for ever; the watch ends the
        sync after DAIBAN_SYNC_IDLE_S with the Linux build's message and
        exit code, the store as it was (hall.py's SilentLink on Linux)."""
        v = self.village
        v.accept()
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        conns = []

        def serve():
            while True:
                try:
                    conns.append(server.accept()[0])
                except OSError:
                    return
        threading.Thread(target=serve, daemon=True).start()
        try:
            before = v.state()
            t0 = time.time()
            r = v.run("sync", "--remote", "http://127.0.0.1:%d/feeds" % server.getsockname()[1],
                      DAIBAN_SYNC_IDLE_S="2", LANG="C.UTF-8")
            took = time.time() - t0
        finally:
            server.close()
            for c in conns:
                c.close()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("was silent for 2 s: the sync gave up", r.stderr)
        self.assertLess(took, 15, "the sync did not give up on a silent link")
        self.assertTrue(conns)
        refs, events, apps, mats = v.state()
        own = "refs/feeds/%s/%s" % (VILLAGE, VILLAGE)      # the round's own change set, made before the fetch
        self.assertEqual({k: x for k, x in refs.items() if k != own}, {k: x for k, x in before[0].items() if k != own})
        self.assertEqual((events, apps, mats), before[1:])
        # what the process left behind is no trouble to the next sync
        self.sync(v)


if __name__ == "__main__":
    unittest.main(verbosity=2)
