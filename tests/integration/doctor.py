#!/usr/bin/env python3
"""Integration: `daiban doctor` on a healthy station, then on each broken
condition it claims to find (one test each): a home others can read, a
nearly full disk, a damaged store, a damaged repository, a key the county
has not enrolled or has closed, a link without its pin, events waiting with no good
sync, a clock behind the county's, and a folder that is not a home. Each
asserts the finding's check and level, that the exit status says a
person is needed, and that the healthy checks stay "ok"."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from hall import HallCase  # noqa: E402
from serve import Daemon  # noqa: E402
from station import Station, VILLAGE  # noqa: E402

NEW_VILLAGE = "330225101203"


class Doctor(HallCase):
    def doctor(self, s, want=1, home=None, lang="C.UTF-8"):
        args = ["doctor", "--json"] + (["--home", home] if home else [])
        r = s.run(*args, operator=None, lang=lang)
        self.assertEqual(r.returncode, want, r.stdout + r.stderr)
        return {f["check"]: f for f in json.loads(r.stdout)}

    def assert_finding(self, found, check, level, *words):
        f = found.get(check)
        self.assertIsNotNone(f, f"no {check} finding: {found}")
        self.assertEqual(f["level"], level, f)
        for w in words:
            self.assertIn(w, f["en"] + " " + f.get("todo_en", ""), f)
        if level != "ok":
            self.assertTrue(f.get("todo_en") and f.get("todo_zh"), f"a {level} finding without what to do: {f}")
        print(f"  {check}: {level}: {f['en']}", file=sys.stderr)

    def event_ahead(self, v, node, ms):
        """An event of node in v's store, stamped ms past this clock."""
        ahead = int(time.time() * 1000) + ms
        with v.db() as c:
            c.execute("INSERT INTO events(node, seq, hlc, wall, operator, type, app, part, body)"
                      " VALUES (?, 999999, ?, ?, 'op', 'note', NULL, ?, '{}')", (node, ahead << 16, ahead, node))

    def healthy(self):
        """The village after an accepted application went to the hall,
        backed up, its station running."""
        self.accepted()
        self.sync(self.village)
        self.village.ok("backup", "--to", os.path.join(self.village.root, "backups"), operator=None)
        d = Daemon(self.village, "--sync-every", "3600")
        self.addCleanup(d.stop)
        return self.village

    def test_a_healthy_station_is_all_well(self):
        v = self.healthy()
        found = self.doctor(v, want=0)
        self.assertEqual(sorted(found), sorted(["home", "disk", "store", "repository", "key", "link", "waiting",
                                                "clock", "backup", "catalogue", "service"]))
        self.assertRegex(found["catalogue"]["en"], r"catalogue [0-9a-f]{12}, the county's newest \(1 versions\)")
        self.assertRegex(found["backup"]["en"], r"last backup 0 hours ago: .*/backups/daiban-")
        for check, f in found.items():
            self.assertEqual(f["level"], "ok", f)
            self.assertTrue(f["name_en"] and f["name_zh"], f)
        self.assertRegex(found["repository"]["en"], r"feed whole \([1-9]\d* change sets\)")
        self.assertRegex(found["link"]["en"], r"last sync with \S+ [0-2] minutes ago")
        # the same in a time zone far from UTC (the last sync is kept in
        # local time with its offset)
        for tz in ("Asia/Shanghai", "America/Los_Angeles"):
            r = v.run("sync", operator=None, extra={"TZ": tz})
            self.assertEqual(r.returncode, 0, r.stderr)
            with v.db() as c:
                kept = c.execute("SELECT value FROM meta WHERE key = 'sync.last_ok'").fetchone()[0]
            self.assertRegex(kept, r"[+-]0[78]00$", "the sync did not keep its local time")
            r = v.run("doctor", "--json", operator=None, extra={"TZ": tz})
            link = {f["check"]: f for f in json.loads(r.stdout)}["link"]["en"]
            self.assertRegex(link, r"last sync with \S+ [0-2] minutes ago", tz)
        # the station's language: Chinese under zh_CN, with the verdict
        r = v.run("doctor", operator=None, lang="zh_CN.UTF-8")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("一切正常", r.stdout)
        self.assertIn("签名密钥", r.stdout)

    def test_backups_never_made_or_old_and_a_restore_not_caught_up(self):
        self.accepted()
        self.sync(self.village)
        v = self.village
        self.assert_finding(self.doctor(v), "backup", "warn", "never been backed up", "daiban backup")
        d = os.path.join(v.root, "backups")
        v.ok("backup", "--to", d, operator=None)
        self.assert_finding(self.doctor(v), "backup", "ok", "last backup")     # (no station running: exit 1)
        with v.db() as c:
            c.execute("UPDATE meta SET value = '2026-01-02T03:04:05Z' WHERE key = 'backup.last'")
        self.assert_finding(self.doctor(v), "backup", "warn", "days old", "daiban-backup.timer")
        # restored, not yet synced: writing is refused, and doctor says why
        path = os.path.join(d, [f for f in os.listdir(d) if f.endswith(".tar.gz")][0])
        home = os.path.join(v.root, "restored")
        r = v.run("restore", path, "--home", home, "--key", os.path.join(v.home, "node.key"), operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_finding(self.doctor(v, home=home), "backup", "fail", "restored from a backup", "daiban sync")
        # restored offline: it writes, and doctor says what waits for what
        home = os.path.join(v.root, "restored-offline")
        r = v.run("restore", path, "--home", home, "--offline", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_finding(self.doctor(v, home=home), "backup", "warn", "restored offline", "roster rotate")
        # the county hall restored: it waits for the townships
        c = self.county
        cd = os.path.join(c.root, "backups")
        c.ok("backup", "--to", cd, operator=None)
        path = os.path.join(cd, [f for f in os.listdir(cd) if f.endswith(".tar.gz")][0])
        home = os.path.join(c.root, "restored")
        r = c.run("restore", path, "--home", home, "--key", os.path.join(c.home, "node.key"), operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_finding(self.doctor(c, home=home), "backup", "warn", "county hall was restored", "hall resume")

    def test_the_station_or_the_hall_not_running(self):
        v = self.village
        self.assert_finding(self.doctor(v), "service", "warn", "the station is not running",
                            "systemctl start daiban-station")
        d = Daemon(v, "--sync-every", "3600")
        try:
            self.assertEqual(self.doctor(v)["service"]["level"], "ok")
            # a second station on the same home is refused, saying why
            r = v.run("serve", "--listen", "127.0.0.1:0", operator=None, timeout=30)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("another 'daiban serve' is running on", r.stderr)
        finally:
            d.stop()
        self.assertEqual(self.doctor(v)["service"]["level"], "warn")
        # the county's is its hall (running in this case); a second is refused
        self.assertEqual(self.doctor(self.county)["service"]["level"], "ok")
        r = self.county.run("hall", "serve", "--listen", "127.0.0.1:0", operator=None, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("another 'daiban hall serve' is running on", r.stderr)

    def test_a_catalogue_behind_the_countys(self):
        v = self.healthy()
        cur = self.doctor(v, want=0)["catalogue"]
        # the county's newest version is not the one in use here (as when a
        # version was refused): said, with what to do
        with v.db() as c:
            newest = c.execute("SELECT value FROM meta WHERE key = 'catalog.current'").fetchone()[0]
            c.execute("UPDATE meta SET value = ? WHERE key = 'catalog.current'", ("0" * 40,))
        cats = os.path.join(v.home, "catalogs")
        shutil.copytree(os.path.join(cats, newest), os.path.join(cats, "0" * 40))
        found = self.doctor(v)
        self.assert_finding(found, "catalogue", "warn", "the county published catalogue", "uses 000000000000",
                            "tell the county")
        self.assertNotIn("not installed", found["catalogue"]["en"])
        shutil.rmtree(os.path.join(cats, newest))
        self.assert_finding(self.doctor(v), "catalogue", "warn", "the newer one is not installed here")
        # a node that never received the county's chain
        n = Station(node=NEW_VILLAGE, role="village")
        self.addCleanup(n.cleanup)
        self.assert_finding(self.doctor(n), "catalogue", "warn", "no version from the county has come yet",
                            "import the township's USB stick")
        self.assertEqual(cur["level"], "ok")

    def test_a_home_others_can_read(self):
        v = self.healthy()
        os.chmod(v.home, 0o755)
        os.chmod(os.path.join(v.home, "node.key"), 0o644)
        found = self.doctor(v)
        self.assert_finding(found, "home", "warn", v.home, "node.key", "rotate")
        # reported, and made private again
        self.assertEqual(os.stat(v.home).st_mode & 0o777, 0o700)
        self.assertEqual(os.stat(os.path.join(v.home, "node.key")).st_mode & 0o777, 0o600)
        self.assertEqual(self.doctor(v, want=0)["home"]["level"], "ok")

    @unittest.skipIf(os.geteuid() != 0, "mounting a small file system needs root")
    def test_a_nearly_full_disk(self):
        v = self.healthy()
        small = tempfile.mkdtemp(prefix="daiban-small-")
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", small], check=True)
        self.addCleanup(shutil.rmtree, small, ignore_errors=True)
        self.addCleanup(subprocess.run, ["umount", small])
        home = os.path.join(small, "home")
        shutil.copytree(v.home, home, symlinks=True)
        os.chmod(home, 0o700)
        found = self.doctor(v, home=home)
        self.assert_finding(found, "disk", "fail", "MiB free", "free space")
        self.assertEqual(found["store"]["level"], "ok")

    def test_a_damaged_store(self):
        v = self.healthy()
        db = os.path.join(v.home, "store.db")
        with sqlite3.connect(db) as c:
            c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            page = c.execute("PRAGMA page_size").fetchone()[0]
            root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events'").fetchone()[0]
        with open(db, "r+b") as f:
            f.seek((root - 1) * page + 8)
            f.write(b"\xa5" * 64)           # the events table's root page, past its header
        found = self.doctor(v)
        self.assert_finding(found, "store", "fail", "damaged", "restore")
        self.assertNotIn("repository", found, "checks past a damaged store ran on it")

    def drop_object(self, v, rev, what):
        """Delete the loose object rev names in v's repository; returns the
        own feed's ref."""
        repo = os.path.join(v.home, "repo")
        ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        oid = subprocess.run(["git", "-C", repo, "rev-parse", rev.format(ref=ref)], capture_output=True,
                             text=True, check=True).stdout.strip()
        loose = os.path.join(repo, "objects", oid[:2], oid[2:])
        self.assertTrue(os.path.exists(loose), f"the feed's {what} {oid} is not a loose object (packed?)")
        os.chmod(loose, 0o600)
        os.unlink(loose)
        return ref

    def test_a_damaged_repository(self):
        v = self.healthy()
        ref = self.drop_object(v, "{ref}^{{tree}}", "tree")
        found = self.doctor(v)
        self.assert_finding(found, "repository", "fail", "damaged", ref)

    def test_an_older_change_set_missing(self):
        v = self.healthy()
        self.accepted()
        self.sync(v)
        ref = self.drop_object(v, "{ref}~1", "older commit")
        found = self.doctor(v)
        self.assert_finding(found, "repository", "fail", "damaged", ref)

    def test_a_key_the_county_has_not_enrolled(self):
        # a re-imaged PC: the county holds the old installation's key for
        # this village, and this one's is not on the roster
        old = Station(node=NEW_VILLAGE, role="village", enroll=False)
        self.addCleanup(old.cleanup)
        self.county.enroll(old)
        s = Station(node=NEW_VILLAGE, role="village", enroll=False)
        self.addCleanup(s.cleanup)
        token = self.county.ok("hall", "token", NEW_VILLAGE, operator=None)
        s.ok("remote", "set", self.hall.url, "--token", token, operator=None)
        s.run("sync", operator=None)            # brings the roster; its push is refused
        found = self.doctor(s)
        self.assert_finding(found, "key", "warn", "not enrolled", "daiban key show")

    def test_a_key_the_county_closed(self):
        v = self.healthy()
        self.county.ok("roster", "revoke", VILLAGE, "--from", "1", "--reason", "PC stolen")
        self.sync(self.county)
        v.run("sync", operator=None)
        found = self.doctor(v)
        self.assert_finding(found, "key", "fail", "closed this node's key", "from seq 1", "roster rotate")

    def test_a_link_without_its_pin(self):
        v = self.healthy()
        v.ok("remote", "set", "https://127.0.0.1:9/feeds", "--token", self.tokens[VILLAGE], operator=None)
        found = self.doctor(v)
        self.assert_finding(found, "link", "fail", "without a certificate pin", "--pin")

    def test_events_waiting_with_no_good_sync(self):
        v = self.village
        self.accepted()                         # never synced
        found = self.doctor(v)
        self.assert_finding(found, "link", "warn", "no sync", "daiban sync")
        self.assert_finding(found, "waiting", "warn", "not sent yet", "bundle export")
        self.sync(v)
        found = self.doctor(v)                  # (never backed up, no station running: warnings of their own)
        self.assertEqual((found["link"]["level"], found["waiting"]["level"], found["backup"]["level"]),
                         ("ok", "ok", "warn"))

    def test_a_clock_behind_the_county(self):
        v = self.healthy()
        self.event_ahead(v, self.county.node, 3600 * 1000)      # an hour past this PC's clock
        found = self.doctor(v)
        self.assert_finding(found, "clock", "warn", "behind", self.county.node, "date and time")

    def test_a_clock_against_the_halls_own(self):
        """Measured against the hall itself: its pre-receive hook says its
        time first, and the pushing sync keeps the difference. A sync run
        under libfaketime two hours ahead (Debian's faketime) is told."""
        import shutil as sh
        self.assertTrue(sh.which("faketime"), "faketime is missing: run packaging/install-deps.sh")
        v = self.village
        self.accepted()
        self.sync(v)
        f = self.doctor(v)["clock"]
        self.assertEqual(f["level"], "ok", f)
        self.assertIn("of the hall's clock at the last push", f["en"])
        # a new event to push, then a sync on a clock two hours ahead
        v.ok("operator", "add", "op77", "--name", "王五")
        from station import DAIBAN
        # (under the sanitizer build libfaketime comes first in LD_PRELOAD,
        # and LeakSanitizer's stop-the-world at exit trips over its futex
        # wrappers: leaks are checked by every other test)
        asan = ":".join(x for x in (os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0", "detect_leaks=0") if x)
        r = subprocess.run(["faketime", "-f", "+2h", DAIBAN, "sync", "--json"], capture_output=True, text=True,
                           env=v.env(operator=None, extra={"ASAN_OPTIONS": asan, "DONT_FAKE_MONOTONIC": "1"}),
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotIn("hall time", r.stderr, "the hall's clock line is not for the person")
        found = self.doctor(v)
        self.assert_finding(found, "clock", "warn", "ahead of the hall's", "date and time")
        self.assertRegex(found["clock"]["en"], r"\b1(19|20) minutes ahead")
        # the clock set right: the next push says so
        v.ok("operator", "add", "op78", "--name", "赵六")
        self.sync(v)
        self.assertEqual(self.doctor(v)["clock"]["level"], "ok")

    def test_another_village_ahead_does_not_make_this_clock_wrong(self):
        v = self.healthy()
        self.event_ahead(v, self.other.node, 24 * 3600 * 1000)
        self.assertEqual(self.doctor(v, want=0)["clock"]["level"], "ok")

    def test_a_folder_that_is_not_a_home(self):
        empty = tempfile.mkdtemp(prefix="daiban-nothome-")
        self.addCleanup(shutil.rmtree, empty, ignore_errors=True)
        found = self.doctor(self.village, home=empty)
        self.assertEqual(list(found), ["home"])
        self.assert_finding(found, "home", "fail", "not a daiban home", "daiban init")


if __name__ == "__main__":
    unittest.main(verbosity=2)
