#!/usr/bin/env python3
"""Homes made by the release before signed change sets (a county, a
township and a village whose feeds hold unsigned change sets,
tests/data/upgrade/pre-signing.tar.gz, made by make-fixture.sh beside
it) keep working with this one: nothing already accepted is judged
again, the county starts its roster, the nodes' next change sets are
signed, a replacement PC ingests the old unsigned history, and from the
roster's entries on an unsigned change set is refused."""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, DATA, TOWNSHIP, Station  # noqa: E402
from forgery import forge, git, refs  # noqa: E402

VILLAGE = "330225101201"
FIXTURE = os.path.join(DATA, "upgrade", "pre-signing.tar.gz")


class Old(Station):
    """A home from the fixture, driven by the current daiban."""
    def __init__(self, root, code, role):
        self.root, self.home, self.today, self.operator = root, os.path.join(root, role), "2026-11-24", "op01"
        self.node, self.role, self.wants_enrolment = code, role, False


def signed(repo, cid):
    return "gpgsig " in git(repo, "cat-file", "commit", cid)


def content(db):
    """What a store holds, whatever its WAL checkpoints did to the file."""
    with sqlite3.connect(db) as c:
        text = "\n".join(c.iterdump()) + f"\nuser_version {c.execute('PRAGMA user_version').fetchone()[0]}"
    return hashlib.sha256(text.encode()).hexdigest()


class Upgrade(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="daiban-upgrade-")
        with tarfile.open(FIXTURE) as t:
            t.extractall(self.root)
        with open(os.path.join(self.root, "apps.txt")) as f:
            self.a, self.draft = f.read().split()
        self.c = Old(self.root, COUNTY, "county")
        self.t = Old(self.root, TOWNSHIP, "township")
        self.v = Old(self.root, VILLAGE, "village")
        self.hub = os.path.join(self.c.home, "repo")
        for s in (self.t, self.v):
            s.ok("remote", "set", self.hub)

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_a_store_from_a_newer_daiban_is_refused_untouched(self):
        # an older binary over a newer home (a downgraded package, a
        # restored backup): refused with what to do, the store unchanged
        v = self.v
        v.ok("status")                          # migrated to this binary's schema
        db = os.path.join(v.home, "store.db")
        with sqlite3.connect(db) as c:
            known = c.execute("PRAGMA user_version").fetchone()[0]
            c.execute(f"PRAGMA user_version = {known + 1}")
        before = content(db)
        for cmd in (["status"], ["app", "list"], ["sync"]):
            r = v.run(*cmd)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn(f"written by a newer daiban (schema {known + 1}; this daiban knows up to {known})", r.stderr)
            self.assertIn("nothing was changed", r.stderr)
        self.assertEqual(content(db), before, "the newer store was changed")

    def test_a_store_is_copied_before_its_schema_is_migrated(self):
        v = self.v
        v.ok("status")                          # at this binary's schema
        db = os.path.join(v.home, "store.db")
        with sqlite3.connect(db) as c:
            known = c.execute("PRAGMA user_version").fetchone()[0]
            # the schema one step back: the last migration undone
            c.execute("ALTER TABLE operators DROP COLUMN disabled")
            c.execute(f"PRAGMA user_version = {known - 1}")
        before = content(db)
        copy = f"{db}.before-schema-{known}"
        # (the fixture's own migration to this schema left one: gone)
        if os.path.exists(copy):
            os.remove(copy)
        # no room for the copy (its temporary name taken by a folder):
        # refused, and the old store is not migrated
        os.mkdir(copy + ".tmp")
        r = v.run("status")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("before migrating it (nothing was changed)", r.stderr)
        self.assertEqual(content(db), before)
        self.assertFalse(os.path.exists(copy))
        os.rmdir(copy + ".tmp")
        # migrated, with the copy of the store as it was beside it
        v.ok("status")
        self.assertEqual(content(copy), before)
        with sqlite3.connect(db) as c:
            self.assertEqual(c.execute("PRAGMA user_version").fetchone()[0], known)
        self.assertEqual(os.stat(copy).st_mode & 0o777, 0o600)
        made = os.stat(copy).st_mtime_ns
        v.ok("status")
        self.assertEqual(os.stat(copy).st_mtime_ns, made, "the copy was made again")

    def test_old_homes_keep_working_and_sign_from_now_on(self):
        c, t, v = self.c, self.t, self.v
        vfeed = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        old_heads = refs(self.hub)
        self.assertFalse(signed(self.hub, old_heads[vfeed]), "the fixture's feeds must be unsigned")
        self.assertFalse(os.path.exists(os.path.join(v.home, "node.key")))
        # the old homes open, sync and show what they held
        for s in (c, t, v):
            s.ok("sync")
        self.assertEqual(c.show(self.a)["status"], "passed")
        self.assertNotIn(f"refs/roster/{COUNTY}", refs(self.hub))        # no roster yet: as before
        # the county enrolls its stations; by default from the seq after
        # what it holds of each (what it holds was accepted: not judged again)
        with sqlite3.connect(os.path.join(c.home, "store.db")) as db:
            held = dict(db.execute("SELECT node, max(seq) FROM events GROUP BY node").fetchall())
        out = c.ok("roster", "add", VILLAGE, v.key())
        self.assertIn(f"from seq {held[VILLAGE] + 1}", out)
        c.ok("roster", "add", TOWNSHIP, t.key())
        entries = {e["node"]: e for e in json.loads(c.ok("roster", "list", "--json"))}
        self.assertEqual(entries[COUNTY]["from"], held[COUNTY] + 1)
        # the nodes' next change sets are signed; everyone still agrees
        v.ok("app", "edit", self.draft, "--data", os.path.join(DATA, "apps", "RS-YL-001-valid.json"))
        v.ok("sync")
        t.ok("sync")
        c.ok("sync")
        c.ok("decide", self.a, "approve")
        for s in (c, t, v):
            s.ok("sync")
        now = refs(self.hub)
        self.assertTrue(signed(self.hub, now[vfeed]))
        self.assertTrue(signed(self.hub, now[f"refs/feeds/{VILLAGE}/{COUNTY}"]))
        for s in (c, t, v):
            self.assertEqual(s.show(self.a)["status"], "approved", s.node)
        # a new home for the township (a re-imaged PC) ingests the old
        # unsigned history of the village and the county and their new
        # signed one alike; its own feeds, which this home never wrote, it
        # refuses (a fresh home is not a restored or rejoined one: daiban
        # restore, init --rejoin; docs/backup.md), so it never writes
        # under seqs its predecessor used unnoticed
        t2 = Station(node=TOWNSHIP, role="township", enroll=False)
        try:
            t2.ok("remote", "set", self.hub)
            r = t2.run("sync")
            refused = [ln for ln in r.stderr.splitlines() if "refused" in ln]
            self.assertTrue(refused)
            for ln in refused:
                self.assertIn("claims to be this node's own feed", ln)
            with sqlite3.connect(os.path.join(t2.home, "store.db")) as db:
                got = dict(db.execute("SELECT node, count(*) FROM events WHERE node != ? GROUP BY node",
                                      (TOWNSHIP,)).fetchall())
            with sqlite3.connect(os.path.join(c.home, "store.db")) as db:
                want = dict(db.execute("SELECT node, count(*) FROM events WHERE part LIKE ? AND node != ?"
                                       " GROUP BY node", (TOWNSHIP + "%", TOWNSHIP)).fetchall())
            self.assertEqual(got, want)
        finally:
            t2.cleanup()
        # from the village's entry on, an unsigned change set in its name
        # (written into the hub by whoever could) is refused
        last = json.loads(git(self.hub, "show", f"{vfeed}:changeset.json"))["last_seq"]
        with sqlite3.connect(os.path.join(c.home, "store.db")) as db:
            hlc, wall = db.execute("SELECT max(hlc), max(wall) FROM events").fetchone()
        before = refs(self.hub)[vfeed]
        cid = forge(self.hub, vfeed, VILLAGE, VILLAGE, [{"app": self.a, "body": {}, "hlc": hlc + 1, "node": VILLAGE,
                                                   "operator": "op01", "part": VILLAGE, "seq": last + 1,
                                                   "type": "app.withdrawn", "wall": wall + 1000}])
        r = c.run("sync")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"is not signed, and {VILLAGE} signs from seq {held[VILLAGE] + 1} on", r.stderr)
        self.assertEqual(c.show(self.a)["status"], "approved")
        # and a station fetching from the hub refuses it before its ref
        # moves; its objects waited in the quarantine and went with it
        r = t.run("sync")
        self.assertIn(f"refused {vfeed}", r.stderr)
        self.assertEqual(refs(os.path.join(t.home, "repo"))[vfeed], before)
        self.assertNotEqual(subprocess.run(["git", "--git-dir", os.path.join(t.home, "repo"), "cat-file", "-e", cid],
                                           capture_output=True).returncode, 0)
        self.assertFalse(os.path.exists(os.path.join(t.home, "repo", "daiban-quarantine")))
        self.assertEqual(t.show(self.a)["status"], "approved")


if __name__ == "__main__":
    unittest.main(verbosity=2)
