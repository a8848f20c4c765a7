#!/usr/bin/env python3
"""Integration: change sets and feeds between separate homes (separate
processes), exchanged through one bare repository used as the hub (the
county's). Covers the review and decision flow across nodes, stock git
reading every repository, idempotent ingest, and the refusals: rewritten
feeds, change sets claiming another writer, a village claiming county
authority, corrupt batches, and partitions a node may not hold."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, TOWNSHIP, VILLAGE, Station, accept_dibao, app_file  # noqa: E402

OTHER_VILLAGE = "330225101202"
OTHER_TOWNSHIP = "330225100"


def git(repo, *args, input=None):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, input=input, check=True).stdout.strip()


class Sync(unittest.TestCase):
    def setUp(self):
        self.county = Station(node=COUNTY, role="county")
        self.hub = os.path.join(self.county.home, "repo")
        self.township = Station(node=TOWNSHIP, role="township")
        self.village = Station(node=VILLAGE, role="village")
        for s in (self.township, self.village):
            s.ok("remote", "set", self.hub)

    def tearDown(self):
        for s in (self.county, self.township, self.village):
            s.cleanup()

    def sync(self, s, code=0):
        r = s.run("sync", "--json")
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return json.loads(r.stdout), r.stderr

    def accepted(self):
        return accept_dibao(self.village)

    def test_a_fetch_from_a_path_brings_no_other_partition(self):
        """libgit2 1.5.1's local transport packs every ref a path remote
        holds: a fetch from the county's repository copied other villages'
        applications into a village's object store (found by converge.py).
        A path fetch now packs the wanted refs alone."""
        other = Station(node=OTHER_VILLAGE, role="village")
        try:
            self.sync(self.county)                  # publishes the catalogue in the hub
            other.ok("remote", "set", self.hub)
            b = other.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            self.sync(other)
            self.accepted()
            self.sync(self.village)
            self.sync(self.village)
            theirs = git(self.hub, "rev-list", "--objects", f"refs/feeds/{OTHER_VILLAGE}/{OTHER_VILLAGE}").split()
            objs = [o for o in theirs if len(o) == 40]
            self.assertGreater(len(objs), 2)
            have = subprocess.run(["git", "--git-dir", os.path.join(self.village.home, "repo"), "cat-file",
                                   "--batch-check"], input="\n".join(objs) + "\n", capture_output=True,
                                  text=True).stdout
            self.assertEqual([ln for ln in have.splitlines() if not ln.endswith(" missing")], [])
            # and the village still got what is its own: its partition, the
            # catalogue, the roster
            mine = git(os.path.join(self.village.home, "repo"), "for-each-ref", "--format=%(refname)").split()
            self.assertIn(f"refs/roster/{COUNTY}", mine)
            self.assertIn(f"refs/catalog/{COUNTY}", mine)
            self.assertFalse([r for r in mine if OTHER_VILLAGE in r])
            del b
        finally:
            other.cleanup()

    def test_review_and_decision_flow_across_nodes(self):
        a = self.accepted()
        j, _ = self.sync(self.village)
        self.assertEqual(j["committed"], 1)
        self.sync(self.county)                      # the hall ingests what was pushed to it
        self.assertEqual(self.county.show(a)["status"], "accepted")
        self.sync(self.township)
        self.assertEqual(self.township.show(a)["holder"], TOWNSHIP)
        # a home that syncs writes only as itself: the township's events
        # are the township's to write (the same seq twice would equivocate)
        before = self.village.nevents()
        r = self.village.run("review", a, "pass", "--node", TOWNSHIP)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("writes only as itself", r.stderr)
        self.assertEqual(self.village.nevents(), before)
        self.township.ok("review", a, "pass")        # on its own store, as itself
        self.sync(self.township)
        self.sync(self.county)
        self.assertEqual(self.county.show(a)["status"], "passed")
        self.county.ok("decide", a, "approve")
        self.sync(self.county)
        j, _ = self.sync(self.village)
        self.assertEqual(j["ingested_events"], 2)   # the township's review and the county's decision
        self.assertEqual(self.village.show(a)["status"], "approved")
        self.village.ok("app", "deliver", a)
        self.sync(self.village)
        self.sync(self.county)
        self.assertEqual(self.county.show(a)["status"], "delivered")
        # every node that holds the partition agrees, byte for byte
        self.sync(self.township)
        apps = [json.loads(s.ok("app", "show", a, "--json")) for s in (self.village, self.township, self.county)]
        self.assertEqual(len({json.dumps(x, sort_keys=True) for x in apps}), 1)
        with self.village.db() as c:
            want = c.execute("SELECT * FROM apps").fetchall()
        for s in (self.township, self.county):
            with s.db() as c:
                self.assertEqual(c.execute("SELECT * FROM apps").fetchall(), want)
        # the log records every office
        nodes = {e["node"] for e in json.loads(self.village.ok("app", "log", a, "--json"))}
        self.assertEqual(nodes, {VILLAGE, TOWNSHIP, COUNTY})
        # stock git reads and verifies every repository
        for s in (self.village, self.township, self.county):
            repo = os.path.join(s.home, "repo")
            subprocess.run(["git", "-C", repo, "fsck", "--strict"], capture_output=True, check=True)
        log = git(self.hub, "log", "--format=%an %s", f"refs/feeds/{VILLAGE}/{VILLAGE}")
        self.assertIn(f"{VILLAGE} change set:", log)
        files = git(self.hub, "ls-tree", "--name-only", f"refs/feeds/{VILLAGE}/{TOWNSHIP}")
        self.assertEqual(files.split(), ["changeset.json", "events.jsonl"])

    def test_a_lock_left_in_a_hub_that_never_synced_is_cleared(self):
        """A village killed mid-push into a hub leaves <ref>.lock there.
        The hub's own node had never synced, so its home had no
        repo.flock, and the village's next sync failed ("failed to lock
        file") until the hub's node synced (crash-points.py found it)."""
        a = self.accepted()
        self.sync(self.village)
        if os.path.exists(self.hub + ".flock"):
            os.unlink(self.hub + ".flock")      # as in a home made before this fix
        ref = os.path.join(self.hub, "refs", "feeds", VILLAGE, VILLAGE)
        with open(ref + ".lock", "w") as f:
            f.write("0" * 40 + "\n")           # as a killed push leaves it
        b = accept_dibao(self.village)
        self.sync(self.village)
        self.assertFalse(os.path.exists(ref + ".lock"))
        self.assertEqual(git(self.hub, "rev-parse", f"refs/feeds/{VILLAGE}/{VILLAGE}"),
                         git(os.path.join(self.village.home, "repo"), "rev-parse", f"refs/feeds/{VILLAGE}/{VILLAGE}"))
        self.sync(self.county)
        self.assertEqual(self.county.show(b)["status"], "accepted")

    def test_clock_moves_past_what_it_received(self):
        a = self.accepted()
        self.sync(self.village)
        self.sync(self.county)
        self.sync(self.township)
        self.township.ok("review", a, "return", "--reason", "补正")
        self.sync(self.township)
        self.sync(self.village)
        self.village.ok("app", "edit", a, "--data", app_file("MZ-DB-001-valid.json"))
        ev = json.loads(self.village.ok("app", "log", a, "--json"))
        review = [e for e in ev if e["type"] == "app.reviewed"][0]
        edit = [e for e in ev if e["type"] == "app.edited"][0]
        self.assertGreater(edit["hlc"], review["hlc"])

    def test_sync_twice_changes_nothing(self):
        self.accepted()
        self.sync(self.village)
        self.sync(self.county)
        before = (self.county.nevents(), self.county.dump_derived())
        j, _ = self.sync(self.county)
        self.assertEqual((j["ingested_events"], j["committed"]), (0, 0))
        # forget where ingest stood: the same change sets come again
        with self.county.db() as c:
            c.execute("DELETE FROM feed_heads")
        j, _ = self.sync(self.county)
        self.assertEqual(j["ingested_events"], 0)
        self.assertGreater(j["duplicate_events"], 0)
        self.assertEqual((self.county.nevents(), self.county.dump_derived()), before)

    def test_rewritten_feed_is_refused(self):
        a = self.accepted()
        self.sync(self.village)
        self.sync(self.county)
        before = (self.county.nevents(), self.county.dump_derived())
        # someone rewrites the village's feed on the hall: a new root commit
        ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        tree = git(self.hub, "rev-parse", ref + "^{tree}")
        forged = git(self.hub, "commit-tree", tree, "-m", "rewritten")
        git(self.hub, "update-ref", ref, forged)
        self.village.ok("app", "material", a, "SRZM", "provided")    # so the next commit appends
        j, err = self.sync(self.county, code=1)
        self.assertEqual(j["refused"], 1)
        self.assertIn("rewritten", err)
        self.assertEqual((self.county.nevents(), self.county.dump_derived()), before)

    def forge(self, writer, partition, events, header=None):
        """Write a change set by hand on the hub, as a dishonest peer would."""
        lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)
        seqs = [e["seq"] for e in events] or [1]
        hdr = header or json.dumps({"format": "daiban-changeset", "version": 1, "writer": writer,
                                    "partition": partition, "first_seq": seqs[0], "last_seq": seqs[-1],
                                    "count": len(events)}, sort_keys=True, separators=(",", ":"))
        h = git(self.hub, "hash-object", "-w", "--stdin", input=hdr)
        e = git(self.hub, "hash-object", "-w", "--stdin", input=lines)
        tree = git(self.hub, "mktree", input=f"100644 blob {h}\tchangeset.json\n100644 blob {e}\tevents.jsonl\n")
        c = git(self.hub, "commit-tree", tree, "-m", "forged")
        git(self.hub, "update-ref", f"refs/feeds/{partition}/{writer}", c)

    def event(self, node, seq, typ, app, part=VILLAGE, body=None):
        return {"node": node, "seq": seq, "hlc": (1 << 60) + seq, "wall": 0, "operator": "x", "type": typ,
                "app": app, "part": part, "body": body or {}}

    def test_dishonest_change_sets_are_refused(self):
        a = self.accepted()
        self.sync(self.village)
        self.sync(self.county)
        cases = [
            # a change set on another village's feed that carries this village's events
            (OTHER_VILLAGE, VILLAGE, [self.event(VILLAGE, 50, "app.withdrawn", a)], "writer's events"),
            # the village claims the county's authority
            (VILLAGE, VILLAGE, None, "only a township or the county"),
            # corrupt: not a change set at all
            (TOWNSHIP, VILLAGE, "garbage", "not a JSON object"),
            # unknown version
            (TOWNSHIP, VILLAGE, "v9", "unsupported version"),
        ]
        for writer, part, evs, want in cases:
            before = (self.county.nevents(), self.county.dump_derived())
            if evs == "garbage":
                self.forge(writer, part, [self.event(writer, 1, "app.reviewed", a)], header="{{{")
            elif evs == "v9":
                self.forge(writer, part, [self.event(writer, 1, "app.reviewed", a)], header=json.dumps(
                    {"format": "daiban-changeset", "version": 9, "writer": writer, "partition": part,
                     "first_seq": 1, "last_seq": 1, "count": 1}))
            elif evs is None:
                # append a forged decision to the village's real feed
                ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
                last = json.loads(git(self.hub, "show", ref + ":changeset.json"))["last_seq"]
                lines = json.dumps(self.event(VILLAGE, last + 1, "app.decided", a, body={"result": "approve"}),
                                   sort_keys=True, separators=(",", ":")) + "\n"
                hdr = json.dumps({"format": "daiban-changeset", "version": 1, "writer": VILLAGE, "partition": VILLAGE,
                                  "first_seq": last + 1, "last_seq": last + 1, "count": 1})
                hb = git(self.hub, "hash-object", "-w", "--stdin", input=hdr)
                eb = git(self.hub, "hash-object", "-w", "--stdin", input=lines)
                tree = git(self.hub, "mktree", input=f"100644 blob {hb}\tchangeset.json\n100644 blob {eb}\tevents.jsonl\n")
                c = git(self.hub, "commit-tree", tree, "-p", git(self.hub, "rev-parse", ref), "-m", "forged")
                git(self.hub, "update-ref", ref, c)
            else:
                self.forge(writer, part, evs)
            j, err = self.sync(self.county, code=1)
            self.assertGreaterEqual(j["refused"], 1, want)
            self.assertIn(want, err)
            self.assertEqual((self.county.nevents(), self.county.dump_derived()), before, want)
            self.assertEqual(self.county.show(a)["status"], "accepted")
            # clean the forged ref so the next case stands alone
            if evs is None:
                git(self.hub, "update-ref", f"refs/feeds/{VILLAGE}/{VILLAGE}", git(self.hub, "rev-parse",
                    f"refs/feeds/{VILLAGE}/{VILLAGE}~1"))
            else:
                git(self.hub, "update-ref", "-d", f"refs/feeds/{part}/{writer}")
            with self.county.db() as c:
                c.execute("DELETE FROM feed_heads WHERE ref = ?", (f"refs/feeds/{part}/{writer}",))

    def test_partitions_stay_with_their_nodes(self):
        self.accepted()
        self.sync(self.village)
        other_v = Station(node=OTHER_VILLAGE, role="village")
        other_t = Station(node=OTHER_TOWNSHIP, role="township")
        try:
            for s in (other_v, other_t):
                s.ok("remote", "set", self.hub)
                self.sync(s)
                with s.db() as c:
                    self.assertEqual(c.execute("SELECT count(*) FROM apps").fetchone()[0], 0)
                refs = git(os.path.join(s.home, "repo"), "for-each-ref", "--format=%(refname)")
                self.assertNotIn(VILLAGE + "/", refs)
            self.sync(self.township)
            with self.township.db() as c:
                self.assertEqual(c.execute("SELECT count(*) FROM apps").fetchone()[0], 1)
        finally:
            other_v.cleanup()
            other_t.cleanup()


class USB(unittest.TestCase):
    """A village without a link: its feeds travel on a stick through the
    township, which relays them to the hall and brings the answer back."""

    def setUp(self):
        self.county = Station(node=COUNTY, role="county")
        self.hub = os.path.join(self.county.home, "repo")
        self.township = Station(node=TOWNSHIP, role="township")
        self.township.ok("remote", "set", self.hub)
        self.village = Station(node=OTHER_VILLAGE, role="village")
        self.stick = os.path.join(self.village.root, "stick")
        os.makedirs(self.stick)

    def tearDown(self):
        for s in (self.county, self.township, self.village):
            s.cleanup()

    def test_stick_through_the_township(self):
        v, t, c = self.village, self.township, self.county
        a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        for m in ("SFZ", "HKB"):
            v.ok("app", "material", a, m, "provided")
        v.ok("app", "submit", a)
        self.assertIn(f"daiban-{OTHER_VILLAGE}-to-{TOWNSHIP}.bundle", v.ok("bundle", "export", self.stick))
        path = os.path.join(self.stick, f"daiban-{OTHER_VILLAGE}-to-{TOWNSHIP}.bundle")
        # stock git reads it
        scratch = os.path.join(self.village.root, "scratch.git")
        subprocess.run(["git", "init", "-q", "--bare", scratch], check=True)
        self.assertIn("is okay", subprocess.run(["git", "-C", scratch, "bundle", "verify", path], capture_output=True,
                                                  text=True).stderr + subprocess.run(
            ["git", "-C", scratch, "bundle", "verify", path], capture_output=True, text=True).stdout)
        heads = git(scratch, "bundle", "list-heads", path)
        self.assertIn(f"refs/feeds/{OTHER_VILLAGE}/{OTHER_VILLAGE}", heads)
        # the township takes it in and writes the answer back on the stick
        out = t.ok("bundle", "import", self.stick)
        self.assertIn("answer", out)
        self.assertEqual(t.show(a)["status"], "accepted")
        before = (t.nevents(), t.dump_derived())
        t.ok("bundle", "import", self.stick)                       # the same stick twice
        self.assertEqual((t.nevents(), t.dump_derived()), before)
        # relayed to the hall, decided by the county
        t.ok("sync")
        c.ok("sync")
        self.assertEqual(c.show(a)["status"], "accepted")
        c.ok("decide", a, "approve")
        c.ok("sync")
        t.ok("sync")
        self.assertEqual(t.show(a)["status"], "approved")
        # the next trip of the stick brings the decision to the village
        v.ok("bundle", "export", self.stick)
        t.ok("bundle", "import", self.stick)
        out = v.ok("bundle", "import", self.stick)
        self.assertIn("ingested", out)
        self.assertEqual(v.show(a)["status"], "approved")
        # other villages' partitions never go on this village's stick; the
        # county's catalogue chain and key roster do
        heads = git(scratch, "bundle", "list-heads", os.path.join(self.stick, f"daiban-{TOWNSHIP}-to-{OTHER_VILLAGE}.bundle"))
        for line in heads.splitlines():
            self.assertRegex(line, rf" (refs/feeds/{OTHER_VILLAGE}/\d+|refs/catalog/{COUNTY}|refs/roster/{COUNTY})$")
        self.assertIn(f" refs/catalog/{COUNTY}", heads)
        self.assertIn(f" refs/roster/{COUNTY}", heads)

    def test_bad_bundles_are_refused(self):
        v, t = self.village, self.township
        v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        v.ok("bundle", "export", self.stick)
        path = os.path.join(self.stick, f"daiban-{OTHER_VILLAGE}-to-{TOWNSHIP}.bundle")
        data = open(path, "rb").read()
        for name, bad, want in (("truncated", data[:len(data) - 40], "corrupt or truncated"),
                                ("header", b"# v3 git bundle\n" + data[16:], "not a git bundle"),
                                ("foreign-ref", data.replace(b"refs/feeds/", b"refs/heads/", 1), "not a feed")):
            with open(path, "wb") as f:
                f.write(bad)
            before = (t.nevents(), t.dump_derived())
            r = t.run("bundle", "import", self.stick)
            self.assertEqual(r.returncode, 1, name)
            self.assertIn(want, r.stderr, name)
            self.assertEqual((t.nevents(), t.dump_derived()), before, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
