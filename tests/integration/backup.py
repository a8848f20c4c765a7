#!/usr/bin/env python3
"""Backup and restore (docs/backup.md), through the real commands and a
real hall: a backup taken while captures run, restored on a fresh home
after the node had sent newer events; the restored node refuses to write
until a sync has brought those back, then goes on after them, and the
county sees no sequence number used twice. Bad backups are refused with
nothing written."""
import io
import shutil
import json
import os
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from hall import OTHER_VILLAGE, Hall, HallCase, git, wait_for  # noqa: E402
from station import COUNTY, DAIBAN, SAMPLE, TOWNSHIP, VILLAGE, accept_dibao  # noqa: E402


def own(s):
    """This node's events: (count, highest seq)."""
    with sqlite3.connect(os.path.join(s.home, "store.db")) as c:
        return c.execute("SELECT count(*), coalesce(max(seq), 0) FROM events WHERE node = ?", (s.node,)).fetchone()


def meta(home, key):
    with sqlite3.connect(os.path.join(home, "store.db")) as c:
        row = c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def events_of(home, node, part=""):
    """node's events in home (in the partitions under part)."""
    with sqlite3.connect(os.path.join(home, "store.db")) as c:
        return c.execute("SELECT seq, hlc, type, app, body FROM events WHERE node = ? AND part LIKE ? ORDER BY seq",
                         (node, part + "%")).fetchall()


class Backup(HallCase):
    def setUp(self):
        super().setUp()
        self.dir = tempfile.mkdtemp(prefix="daiban-backups-")
        self.pw = os.path.join(self.dir, "pw")
        with open(self.pw, "w") as f:
            f.write("村里的口令 2026\n")

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.dir])
        super().tearDown()

    def backup(self, s, *extra):
        r = s.run("backup", "--to", self.dir, "--json", *extra, operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def restore(self, path, home, *extra, code=0):
        r = subprocess.run([DAIBAN, "restore", path, "--home", home, *extra], capture_output=True, text=True,
                           env=dict(os.environ, LANG="C.UTF-8"))
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return r

    def test_restored_after_newer_pushes_goes_on_after_them(self):
        v = self.village
        for _ in range(2):
            accept_dibao(v)
        self.sync(v)
        accept_dibao(v)                 # saved, not yet on a feed when the backup is taken
        # captures go on while the backup runs (WAL: the backup reads a
        # snapshot; no capture waits for it)
        made, stop = [], threading.Event()

        def capture():
            while not stop.is_set() and len(made) < 12:
                made.append(accept_dibao(v))
        t = threading.Thread(target=capture)
        t.start()
        try:
            b = self.backup(v, "--key-passphrase", "@" + self.pw)
        finally:
            stop.set()
            t.join()
        print(f"\n{len(made)} applications captured while the backup ran", file=sys.stderr)
        self.assertGreaterEqual(len(made), 1)
        self.assertTrue(b["key_sealed"])
        self.assertGreaterEqual(b["applications"], 2)
        at_backup = b["own_seq"]
        # the file: a tar.gz a person can list, manifest first, the key sealed
        with tarfile.open(b["path"]) as tf:
            names = tf.getnames()
            man = json.load(tf.extractfile("MANIFEST.json"))
            sealed = tf.extractfile("node.key.sealed").read()
        self.assertEqual(names[0], "MANIFEST.json")
        self.assertEqual({"store.db", "repo.bundle", "node.key.sealed"} - set(names), set())
        self.assertEqual("station.db" in names, os.path.exists(os.path.join(v.home, "station.db")))
        self.assertNotIn("node.key", names)
        with open(os.path.join(v.home, "node.key"), "rb") as f:
            self.assertNotIn(f.read()[40:80], sealed)
        self.assertEqual(man["node"], VILLAGE)
        self.assertEqual(sorted(x["path"] for x in man["files"]), sorted(n for n in names if n != "MANIFEST.json"))
        # the village goes on after the backup and sends it all to the hall
        accept_dibao(v)
        self.sync(v)
        sent_count, sent_seq = own(v)
        self.assertGreater(sent_seq, at_backup, "nothing was sent after the backup")
        # the PC dies; the backup is restored on a fresh home
        home = os.path.join(self.dir, "restored")
        self.restore(b["path"], home, "--key-passphrase", "@" + self.pw)
        restored = type(v).__new__(type(v))
        restored.__dict__.update(v.__dict__, home=home)
        self.assertEqual(own(restored)[1], at_backup)
        # it refuses to write until it has caught up, and writes nothing
        before = events_of(home, VILLAGE)
        r = restored.run("app", "new", "MZ-DB-001", "--data", os.path.join(os.environ["DAIBAN_TEST_DATA"], "apps",
                                                                          "MZ-DB-001-valid.json"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("restored from a backup", r.stderr)
        self.assertEqual(events_of(home, VILLAGE), before)
        # nor does a USB export sign anything for it (its events may be on
        # a feed it has not fetched back)
        feed = os.path.join(home, "repo")
        own_ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        head = subprocess.run(["git", "--git-dir", feed, "rev-parse", own_ref], capture_output=True, text=True).stdout
        stick = os.path.join(self.dir, "stick")
        os.makedirs(stick)
        restored.run("bundle", "export", stick, operator=None)
        self.assertEqual(subprocess.run(["git", "--git-dir", feed, "rev-parse", own_ref], capture_output=True,
                                        text=True).stdout, head)
        # a sync that cannot reach the hall does not lift it
        r = restored.run("sync", "--remote", "http://127.0.0.1:9/feeds", operator=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertNotIn("caught up", r.stdout)
        self.assertEqual(restored.run("app", "new", "MZ-DB-001", "--data", os.path.join(
            os.environ["DAIBAN_TEST_DATA"], "apps", "MZ-DB-001-valid.json")).returncode, 1)
        # the sync with the hall brings back what was sent after the backup
        r = restored.run("sync", operator=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.hall.logtext())
        self.assertIn(f"events go on after seq {sent_seq}", r.stdout)
        self.assertEqual(own(restored), (sent_count, sent_seq))
        self.assertEqual(events_of(home, VILLAGE), events_of(v.home, VILLAGE))
        # the restored node writes after them, and the county takes it:
        # no sequence number twice, no equivocation kept as evidence
        a = accept_dibao(restored)
        self.sync(restored)
        self.assertGreater(own(restored)[1], sent_seq)
        # (the hall ingests a push on its own thread, just after the push answers)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        county = events_of(self.county.home, VILLAGE)
        self.assertEqual([e[0] for e in county], list(range(1, own(restored)[1] + 1)))
        self.assertEqual(county, events_of(home, VILLAGE))
        self.assertEqual(git(os.path.join(self.county.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "")
        self.assertNotIn("equivocation", self.hall.logtext().lower())
        r = restored.run("rebuild", "--verify", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)

    def receipts(self, home, node):
        with sqlite3.connect(os.path.join(home, "store.db")) as c:
            return {r[0] for r in c.execute("SELECT receipt FROM apps WHERE origin = ? AND receipt IS NOT NULL",
                                            (node,))}

    def test_an_offline_restore_writes_at_once_in_a_new_epoch(self):
        """No link: the restored station takes applications at once, with a
        new key and numbers above any its old key could have signed; the
        lost PC's later events still come back, nothing collides, and the
        hall takes the new ones once the county enrols the key."""
        v = self.village
        for _ in range(2):
            accept_dibao(v)
        self.sync(v)
        b = self.backup(v)              # no key in it: an offline restore does not need one
        at_backup = b["own_seq"]
        # the old PC goes on the same day, and its events reach the hall
        late = [accept_dibao(v) for _ in range(2)]
        self.sync(v)
        sent_count, sent_seq = own(v)
        old_receipts = self.receipts(v.home, VILLAGE)
        old_key = v.key()
        # it dies; a new PC with no link is restored from the backup
        home = os.path.join(self.dir, "restored")
        r = self.restore(b["path"], home, "--offline", "--json")
        out = json.loads(r.stdout)
        epoch = (at_backup // 2**32 + 1) * 2**32
        self.assertEqual(out["first_seq"], epoch)
        self.assertNotEqual(out["key"].split()[:2], old_key.split()[:2], "an offline restore must make a new key")
        n = type(v).__new__(type(v))
        n.__dict__.update(v.__dict__, home=home)
        self.assertEqual(n.key().split()[:2], out["key"].split()[:2])
        # it writes at once, above the epoch, with receipt numbers the old
        # PC cannot have given that day
        made = [accept_dibao(n) for _ in range(2)]
        new_events = [e for e in events_of(home, VILLAGE) if e[0] > at_backup]
        self.assertTrue(new_events and all(e[0] >= epoch for e in new_events), new_events)
        for a in made:
            self.assertGreaterEqual(int(a.rsplit("-", 1)[1]), epoch, a)
            self.assertNotIn(a, late)
        new_receipts = self.receipts(home, VILLAGE) - old_receipts
        self.assertEqual(len(new_receipts), 2, new_receipts)
        self.assertTrue(all(int(x.rsplit("-", 1)[1]) > 500 for x in new_receipts), new_receipts)
        # a backup of this waiting home, restored without --offline, writes
        # nothing: its numbers could be ones this PC has since signed
        b2 = self.backup(n)
        plain = os.path.join(self.dir, "plain")
        self.restore(b2["path"], plain, "--key", os.path.join(home, "node.key"))
        p = type(v).__new__(type(v))
        p.__dict__.update(v.__dict__, home=plain)
        r = p.run("app", "new", "MZ-DB-001", "--data", os.path.join(os.environ["DAIBAN_TEST_DATA"], "apps",
                                                                    "MZ-DB-001-valid.json"))
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("restored from a backup", r.stderr)
        # nothing of the new epoch is committed before the hall was heard
        feed = os.path.join(home, "repo")
        own_ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        head = git(feed, "rev-parse", own_ref).stdout
        stick = os.path.join(self.dir, "stick")
        os.makedirs(stick)
        n.run("bundle", "export", stick, operator=None)
        self.assertEqual(git(feed, "rev-parse", own_ref).stdout, head)
        # the first sync brings back the lost PC's events; the hall refuses
        # the new key's change sets until the county enrols it
        r = n.run("sync", operator=None)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("caught up after the restore", r.stdout)
        self.assertIn("that the roster does not give", r.stderr)
        mine = events_of(home, VILLAGE)
        self.assertEqual([e for e in mine if e[0] <= sent_seq], events_of(v.home, VILLAGE))
        self.assertEqual(len(mine), sent_count + len(new_events))
        self.assertEqual(self.receipts(home, VILLAGE) & old_receipts, old_receipts)
        self.assertIsNone(self.county_status(made[0]))
        for a in late:
            self.assertEqual(json.loads(n.ok("app", "show", a, "--json", operator=None))["status"], "accepted")
        # the county enrols the new key from the epoch's first number
        self.county.ok("roster", "rotate", VILLAGE, out["key"], "--at", str(epoch), "--note", "offline restore")
        self.sync(n)
        for a in made:
            wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        county = events_of(self.county.home, VILLAGE)
        self.assertEqual(county, events_of(home, VILLAGE))
        self.assertEqual([e[0] for e in county], list(range(1, sent_seq + 1)) + [e[0] for e in new_events])
        self.assertEqual(git(os.path.join(self.county.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "")
        self.assertNotIn("equivocation", self.hall.logtext().lower())
        r = n.run("rebuild", "--verify", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        # the old key can no longer sign the new epoch's numbers
        ended = [x for x in json.loads(self.county.ok("roster", "list", "--json"))
                 if x["node"] == VILLAGE and x["key"].split()[1] == old_key.split()[1]]
        self.assertEqual([x["until"] for x in ended], [epoch])

    def test_an_offline_restore_catches_up_from_the_townships_stick(self):
        """A village that only ever syncs by stick: its township's stick
        brings back what the lost PC sent, lifts the mark, and the answer
        stick carries what the new PC wrote; the township takes it once
        the county has enrolled the new key."""
        v, t = self.village, self.township
        self.sync(t)                    # the township holds the roster that names v

        def carry(frm, to, *extra):
            d = tempfile.mkdtemp(prefix="stick-", dir=self.dir)
            frm.ok("bundle", "export", d, *extra, operator=None)
            r = to.run("bundle", "import", d, operator=None)
            return d, r

        accept_dibao(v)
        _, r = carry(v, t)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        b = self.backup(v)
        late = accept_dibao(v)
        _, r = carry(v, t)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        old = events_of(v.home, VILLAGE)
        home = os.path.join(self.dir, "restored")
        out = json.loads(self.restore(b["path"], home, "--offline", "--json").stdout)
        n = type(v).__new__(type(v))
        n.__dict__.update(v.__dict__, home=home)
        a = accept_dibao(n)
        # the township's stick: the lost PC's last application comes back,
        # and the answer carries the new one
        d, r = carry(t, n, "--for", VILLAGE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("caught up after the restore", r.stdout)
        self.assertEqual([e for e in events_of(home, VILLAGE) if e[0] < out["first_seq"]], old)
        self.assertEqual(json.loads(n.ok("app", "show", late, "--json", operator=None))["status"], "accepted")
        answer = os.path.join(d, f"daiban-{VILLAGE}-to-{TOWNSHIP}.bundle")
        heads = subprocess.run(["git", "bundle", "list-heads", answer], capture_output=True, text=True).stdout
        mine = git(os.path.join(home, "repo"), "rev-parse", f"refs/feeds/{VILLAGE}/{VILLAGE}").stdout.strip()
        self.assertIn(f"{mine} refs/feeds/{VILLAGE}/{VILLAGE}", heads)
        # the township refuses the new key until the county enrols it
        before = events_of(t.home, VILLAGE)
        r = t.run("bundle", "import", d, operator=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("that the roster does not give", r.stdout + r.stderr)
        self.assertEqual(events_of(t.home, VILLAGE), before)
        self.county.ok("roster", "rotate", VILLAGE, out["key"], "--at", str(out["first_seq"]))
        self.sync(t)
        r = t.run("bundle", "import", d, operator=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(events_of(t.home, VILLAGE), events_of(home, VILLAGE))
        self.sync(t)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the township's relay")
        self.assertEqual(events_of(self.county.home, VILLAGE), events_of(home, VILLAGE))
        for s in (t, self.county):
            self.assertEqual(git(os.path.join(s.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "")

    def test_bad_backups_are_refused_and_nothing_is_written(self):
        v = self.village
        accept_dibao(v)
        good = self.backup(v, "--key-passphrase", "@" + self.pw)["path"]
        plain = self.backup(v)["path"]

        def variant(name, change):
            """The good backup rewritten with change(members) applied."""
            out = os.path.join(self.dir, name)
            with tarfile.open(good) as tf:
                members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
            members = change(members)
            with tarfile.open(out, "w:gz") as tf:
                for m, data in members:
                    m.size = len(data)
                    tf.addfile(m, io.BytesIO(data))
            return out

        def flip(members):
            return [(m, d[:5000] + bytes([d[5000] ^ 1]) + d[5001:] if m.name == "store.db" else d) for m, d in members]

        def extra(members):
            m = tarfile.TarInfo("../../etc/evil")
            return members + [(m, b"x")]

        def drop_bundle(members):
            return [(m, d) for m, d in members if m.name != "repo.bundle"]
        # a compression bomb: a store.db of 512 MiB of zeros, in well under
        # 1 MiB of file, stops at the cap (256 MiB: no backup inflates 200
        # times), not at the end of the disk
        bomb = os.path.join(self.dir, "bomb.tar.gz")

        class Zeros:
            def read(self, n=-1):
                return bytes(n if n >= 0 else 0)
        with tarfile.open(good) as tf, tarfile.open(bomb, "w:gz", compresslevel=9) as out:
            for m in tf.getmembers():
                if m.name == "store.db":
                    m.size = 512 << 20
                    out.addfile(m, Zeros())
                else:
                    out.addfile(m, tf.extractfile(m))
        self.assertLess(os.path.getsize(bomb), 1 << 20)
        with open(good, "rb") as f:
            whole = f.read()
        cut = os.path.join(self.dir, "cut.tar.gz")
        with open(cut, "wb") as f:
            f.write(whole[:len(whole) // 2])
        cases = [
            (variant("flip.tar.gz", flip), ["--key-passphrase", "@" + self.pw], "does not match its checksum"),
            (variant("extra.tar.gz", extra), ["--key-passphrase", "@" + self.pw], "which no daiban backup holds"),
            (variant("drop.tar.gz", drop_bundle), ["--key-passphrase", "@" + self.pw], "lacks repo.bundle"),
            (cut, ["--key-passphrase", "@" + self.pw], "damaged or cut short"),
            (bomb, ["--key-passphrase", "@" + self.pw], "inflates to more than 200 times its size"),
            (good, [], "is sealed: give its passphrase"),
            (plain, [], "holds no key"),
        ]
        wrong = os.path.join(self.dir, "wrong")
        with open(wrong, "w") as f:
            f.write("not the passphrase\n")
        cases.append((good, ["--key-passphrase", "@" + wrong], "wrong passphrase"))
        for path, extra_args, want in cases:
            with self.subTest(want=want):
                home = os.path.join(self.dir, "h-" + str(abs(hash(want))))
                r = self.restore(path, home, *extra_args, code=1)
                self.assertIn(want, r.stderr)
                self.assertFalse(os.path.exists(home), "a refused restore left a home")
                self.assertEqual([n for n in os.listdir(self.dir) if ".restoring-" in n], [])
                self.assertFalse(os.path.exists("/etc/evil"))
        # a folder that holds files is never written into
        busy = os.path.join(self.dir, "busy")
        os.makedirs(busy)
        with open(os.path.join(busy, "keep"), "w") as f:
            f.write("mine")
        r = self.restore(good, busy, "--key-passphrase", "@" + self.pw, code=1)
        self.assertIn("already holds files", r.stderr)
        self.assertEqual(os.listdir(busy), ["keep"])
        # the plain backup with the key kept apart restores
        self.restore(plain, os.path.join(self.dir, "ok"), "--key", os.path.join(v.home, "node.key"))
        # Chinese for a person at a zh_CN desktop
        r = subprocess.run([DAIBAN, "restore", good, "--home", os.path.join(self.dir, "zh")], capture_output=True,
                           text=True, env=dict(os.environ, LANG="zh_CN.UTF-8"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("已加密", r.stderr)

    def test_a_copy_to_a_stick_when_one_is_mounted(self):
        """--copy-to: the timer's copy to a USB stick, here a tmpfs mounted
        where the county's fstab would automount a labelled stick."""
        v = self.village
        accept_dibao(v)
        stick = os.path.join(self.dir, "stick")
        os.makedirs(stick)
        # no stick mounted: said, nothing copied, exit 0
        j = self.backup(v, "--copy-to", stick)
        self.assertIsNone(j["copied_to"])
        self.assertEqual(os.listdir(stick), [])
        r = v.run("backup", "--to", self.dir, "--copy-to", stick, operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"no USB stick is mounted at {stick}: not copied", r.stdout)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", stick], check=True)
        try:
            copies = [self.backup(v, "--copy-to", stick, "--keep", "2") for _ in range(3)]
            # the newest two on the stick, byte for byte the backups written
            self.assertEqual(sorted(os.listdir(stick)), sorted(os.path.basename(c["path"]) for c in copies[1:]))
            for c in copies[1:]:
                self.assertEqual(c["copied_to"], os.path.join(stick, os.path.basename(c["path"])))
                with open(c["path"], "rb") as a, open(c["copied_to"], "rb") as b:
                    self.assertEqual(a.read(), b.read())
            self.assertEqual(copies[2]["copy_removed"], 1)
            # a copy restores
            self.restore(copies[2]["copied_to"], os.path.join(self.dir, "from-stick"), "--key",
                         os.path.join(v.home, "node.key"))
        finally:
            subprocess.run(["umount", stick], check=True)
        # a stick too full: the backup is written, the copy refused, no
        # half file left on the stick
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", stick], check=True)
        try:
            r = v.run("backup", "--to", self.dir, "--copy-to", stick, operator=None)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("its copy to the stick at", r.stderr)
            self.assertIn("is the stick full", r.stderr)
            self.assertEqual(os.listdir(stick), [])
        finally:
            subprocess.run(["umount", stick], check=True)

    def test_keep_the_newest_n(self):
        paths = [self.backup(self.village, "--keep", "2")["path"] for _ in range(3)]
        left = sorted(n for n in os.listdir(self.dir) if n.endswith(".tar.gz"))
        self.assertEqual(left, sorted(os.path.basename(p) for p in paths[1:]))
        # a short passphrase, or one on the command line, is refused
        r = self.village.run("backup", "--to", self.dir, "--key-passphrase", "secret", operator=None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("never the passphrase itself", r.stderr)
        short = os.path.join(self.dir, "short")
        with open(short, "w") as f:
            f.write("abc\n")
        r = self.village.run("backup", "--to", self.dir, "--key-passphrase", "@" + short, operator=None)
        self.assertEqual(r.returncode, 2)
        self.assertIn("at least 8 characters", r.stderr)


class CountyRestore(HallCase):
    """The county hall's disk dies. Its backup is older than decisions the
    villages were already told of, and than a key the county enrolled.
    The restored hall writes at once in a new epoch, changes no roster
    and commits nothing until the townships and villages have given back
    what it wrote after the backup; then `hall resume` lets it go on, and
    every node converges with no second history anywhere."""

    def decide(self, a):
        self.sync(self.township)
        self.township.ok("review", a, "pass")
        self.sync(self.township)
        wait_for(lambda: self.county_status(a) == "passed", what="the review at the hall")
        self.county.ok("decide", a, "approve")

    def decided_at(self, s, a):
        def done():
            self.sync(s)
            return s.show(a)["status"] == "approved"
        wait_for(done, timeout=30, what=f"the decision on {a} to reach {s.node}")

    def forgers_try_the_return_path(self):
        """A restored hall takes back its own chains, and nothing else: a
        township's change set under the county's name, signed with the
        township's key (continuing the hall's head, so only the signature
        can tell), another village's return of a partition not its own,
        and a feed pushed as the county's roster are all refused, and the
        hall's refs, events and tables are as before."""
        c, t, v = self.county, self.township, self.village
        feed = f"refs/feeds/{VILLAGE}/{COUNTY}"
        trepo = os.path.join(t.home, "repo")
        held = git(os.path.join(c.home, "repo"), "rev-parse", feed).stdout.strip()
        nxt = git(trepo, "rev-list", "--reverse", f"{held}..{feed}").stdout.split()[0]
        tree = git(trepo, "rev-parse", nxt + "^{tree}").stdout.strip()
        forged = git(trepo, "-c", "gpg.format=ssh", "-c", f"user.signingkey={os.path.join(t.home, 'node.key')}",
                     "-c", "user.name=x", "-c", "user.email=x@x", "commit-tree", tree, "-p", held, "-S", "-m",
                     git(trepo, "log", "-1", "--format=%B", nxt).stdout).stdout.strip()
        before = self.hall_state()
        # an unsigned catalogue version dated before the county's keys (the
        # exemption for an upgraded county's old versions must not apply)
        vrepo = os.path.join(v.home, "repo")
        cat_ref = f"refs/catalog/{COUNTY}"
        ctip = git(os.path.join(c.home, "repo"), "rev-parse", cat_ref).stdout.strip()
        old_date = {"GIT_AUTHOR_DATE": "1970-01-02T00:00:00Z", "GIT_COMMITTER_DATE": "1970-01-02T00:00:00Z"}
        unsigned = git(vrepo, "-c", "user.name=x", "-c", "user.email=x@x", "commit-tree", ctip + "^{tree}", "-p", ctip,
                       "-m", "catalogue version " + "0" * 40, env=old_date).stdout.strip()
        tries = [(trepo, TOWNSHIP, f"{forged}:{feed}", "signed with a key"),
                 (vrepo, VILLAGE, f"{unsigned}:{cat_ref}", "not signed"),
                 (os.path.join(v.home, "repo"), OTHER_VILLAGE, f"{feed}:{feed}", "may not write"),
                 (os.path.join(v.home, "repo"), VILLAGE, f"refs/feeds/{VILLAGE}/{VILLAGE}:refs/roster/{COUNTY}", "")]
        for repo, code, spec, why in tries:
            r = git(repo, "push", self.stock_url(code), spec, check=False)
            self.assertNotEqual(r.returncode, 0, (code, spec, r.stderr))
            self.assertIn(why, r.stderr, (code, spec))
        self.assertEqual(self.hall_state(), before)
        print(f"\nthe return path: {len(tries)} forgeries refused, the hall unchanged", file=sys.stderr)

    def test_a_restored_hall_takes_back_what_it_wrote_and_resumes(self):
        v, t, c = self.village, self.township, self.county
        pw = os.path.join(c.root, "pw")
        with open(pw, "w") as f:
            f.write("县里的口令 2026\n")
        a1 = accept_dibao(v)
        self.sync(v)
        wait_for(lambda: self.county_status(a1) == "accepted", what="the hall to ingest the push")
        self.decide(a1)
        self.decided_at(v, a1)
        r = c.run("backup", "--to", c.root, "--json", "--key-passphrase", "@" + pw, operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        b = json.loads(r.stdout)
        # after the backup: a decision the village and township are told of,
        # and a key the county enrols
        a2 = accept_dibao(v)
        self.sync(v)
        wait_for(lambda: self.county_status(a2) == "accepted", what="the hall to ingest the push")
        self.decide(a2)
        self.decided_at(v, a2)
        self.decided_at(t, a2)
        spare = tempfile.mkdtemp(prefix="daiban-spare-")
        self.addCleanup(subprocess.run, ["rm", "-rf", spare])
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(spare, "k")], check=True)
        with open(os.path.join(spare, "k.pub")) as f:
            spare_key = f.read().split()[1]
        c.ok("roster", "add", "330225101203", "ssh-ed25519 " + spare_key)
        newcat = os.path.join(spare, "catalog")
        shutil.copytree(SAMPLE, newcat)
        with open(os.path.join(newcat, "divisions.csv"), "a", encoding="utf-8") as f:
            f.write("330225101299,备份后新设村,village,330225101\n")
        cat_tip = lambda s: git(os.path.join(s.home, "repo"), "rev-parse", f"refs/catalog/{COUNTY}",  # noqa: E731
                                check=False).stdout.strip()
        old_tip = cat_tip(c)
        c.ok("catalog", "install", newcat)
        wait_for(lambda: cat_tip(c) != old_tip, what="the hall to publish the new catalogue")
        wait_for(lambda: self.sync(t) and cat_tip(t) == cat_tip(c), what="the new catalogue at the township")
        new_version = meta(c.home, "catalog.current")
        self.sync(v)
        told = events_of(c.home, COUNTY)
        roster_tip = git(os.path.join(c.home, "repo"), "rev-parse", f"refs/roster/{COUNTY}").stdout.strip()
        # the hall's disk dies; its home comes back from the backup, at the
        # same address
        self.hall.stop()
        shutil.move(c.home, c.home + ".dead")
        r = subprocess.run([DAIBAN, "restore", b["path"], "--home", c.home, "--key-passphrase", "@" + pw],
                           capture_output=True, text=True, env=dict(os.environ, LANG="C.UTF-8"))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("daiban hall resume", r.stdout)
        epoch = (b["own_seq"] // 2**32 + 1) * 2**32
        self.assertLess(len(events_of(c.home, COUNTY)), len(told), "the backup already held everything")
        self.hall = Hall(c, "--listen", f"127.0.0.1:{self.hall.port}")
        self.forgers_try_the_return_path()
        # it writes at once, above the epoch, but changes no roster
        a3 = accept_dibao(v)
        # (its first sync gives the catalogue back; a3, captured under that
        # version, is taken at the next, once the hall has installed it)
        r = v.run("sync", operator=None)
        if r.returncode:
            self.assertIn("has not reached this node yet", r.stderr)
        wait_for(lambda: meta(c.home, "catalog.current") == new_version, what="the catalogue to come back")
        self.sync(v)
        wait_for(lambda: self.county_status(a3) == "accepted", what="the restored hall to ingest the push")
        r = c.run("roster", "revoke", "330225101203", "--from", "1", "--reason", "x")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("hall resume", r.stderr)
        r = c.run("hall", "resume", operator=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not yet synced since the restore", r.stdout)
        self.decide(a3)         # the township's sync gives back the hall's chains
        self.sync(self.other)   # (every node with a token: it may hold newer decisions)
        mine = [e for e in events_of(c.home, COUNTY) if e[0] >= epoch]
        self.assertTrue(mine, "the decision was not written in the new epoch")
        # what the hall wrote after the backup is back: decisions, roster
        wait_for(lambda: [e for e in events_of(c.home, COUNTY) if e[0] < epoch] == told,
                 what="the hall's own events to come back")
        self.assertEqual(git(os.path.join(c.home, "repo"), "rev-parse", f"refs/roster/{COUNTY}").stdout.strip(),
                         roster_tip)
        self.assertEqual(self.county_status(a2), "approved")
        wait_for(lambda: meta(c.home, "catalog.current") == new_version, what="the catalogue to come back")
        r = c.run("hall", "resume", operator=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("synced since the restore", r.stdout)
        self.assertIn(f"{TOWNSHIP}    西周镇  gave back chains the hall refused", r.stdout)      # the forger's try
        # the decision taken meanwhile goes out after the returned ones
        self.decided_at(v, a3)
        self.decided_at(t, a3)
        for s in (v, t):
            self.assertEqual(events_of(s.home, COUNTY, part=s.node), events_of(c.home, COUNTY, part=s.node))
        self.assertEqual([e[0] for e in events_of(v.home, COUNTY)], [e[0] for e in told if e[0] > 1] + [mine[0][0]])
        for s in (c, t, v):
            self.assertEqual(git(os.path.join(s.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "", s.node)
            git(os.path.join(s.home, "repo"), "fsck", "--strict")
        self.assertNotIn("equivocation", self.hall.logtext().lower())
        # the roster changes again, on the returned chain
        c.ok("roster", "revoke", "330225101203", "--from", "1", "--reason", "备用密钥作废")
        self.sync(t)
        self.assertNotIn("refused the county's roster", self.sync(t)[1])
        r = c.run("rebuild", "--verify", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)


class Rejoin(HallCase):
    """A re-imaged PC with no backup: `init --rejoin` fetches the node's own
    history back from the hall before it writes, with the old key kept
    or with a new one the county enrols from the next sequence number."""

    def old_station(self):
        v = self.village
        for _ in range(2):
            accept_dibao(v)
        self.sync(v)
        return v, own(v), events_of(v.home, VILLAGE)

    def rejoined(self, *extra):
        root = tempfile.mkdtemp(prefix="daiban-rejoin-")
        self.addCleanup(subprocess.run, ["rm", "-rf", root])
        n = type(self.village).__new__(type(self.village))
        n.__dict__.update(self.village.__dict__, root=root, home=os.path.join(root, "home"))
        n.ok("init", "--node", VILLAGE, "--role", "village", "--catalog", SAMPLE, "--rejoin", *extra, operator=None)
        n.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        return n

    def catch_up(self, n, old_seq, old_events):
        # nothing is written before the sync (not even an operator)
        r = n.run("operator", "add", "op09", "--name", "新人", operator=None)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("restored from a backup", r.stderr)
        r = n.run("sync", operator=None)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + self.hall.logtext())
        self.assertIn(f"events go on after seq {old_seq[1]}", r.stdout)
        self.assertEqual(events_of(n.home, VILLAGE), old_events)
        # the operators came back with the history: the old one signs in
        self.assertIn("op01", n.ok("operator", "list", operator=None))

    def test_with_the_old_key(self):
        v, old_seq, old_events = self.old_station()
        n = self.rejoined("--key", os.path.join(v.home, "node.key"))
        self.catch_up(n, old_seq, old_events)
        a = accept_dibao(n)
        self.sync(n)
        # (the hall ingests a push on its own thread, just after the push answers)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        self.assertEqual(events_of(self.county.home, VILLAGE), events_of(n.home, VILLAGE))
        self.assertEqual(git(os.path.join(self.county.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "")

    def test_with_a_new_key_the_county_enrols(self):
        v, old_seq, old_events = self.old_station()
        n = self.rejoined()
        self.catch_up(n, old_seq, old_events)
        a = accept_dibao(n)
        # the hall will not take the new key's change sets until the county says so
        r = n.run("sync", operator=None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("that the roster does not give", r.stderr)
        self.assertIsNone(self.county_status(a))
        # the county enrols it from the next sequence number
        self.county.ok("roster", "rotate", VILLAGE, n.key(), "--at", str(old_seq[1] + 1))
        self.sync(n)
        # (the hall ingests a push on its own thread, just after the push answers)
        wait_for(lambda: self.county_status(a) == "accepted", what="the hall to ingest the push")
        self.assertEqual(events_of(self.county.home, VILLAGE), events_of(n.home, VILLAGE))
        self.assertEqual(git(os.path.join(self.county.home, "repo"), "for-each-ref", "refs/evidence/").stdout, "")

    def test_not_for_a_new_node_or_a_county(self):
        r = self.county.run("init", "--node", "330225", "--role", "county", "--catalog", SAMPLE, "--rejoin",
                            "--home", os.path.join(self.county.root, "again"), operator=None)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--rejoin is for a township or village", r.stderr)
        r = self.village.run("init", "--node", VILLAGE, "--role", "village", "--catalog", SAMPLE, "--key",
                             os.path.join(self.village.home, "node.key"), "--home",
                             os.path.join(self.village.root, "again"), operator=None)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--key is for --rejoin", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
