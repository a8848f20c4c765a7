#!/usr/bin/env python3
"""Fault: SIGKILL at random moments of sync, ingest, bundle export and
import (KILL9_TRIALS, default 240), between a county hub, a township and
two villages, one of them reached only by USB stick. After every kill:
integrity_check passes on every store and `rebuild --verify` agrees.
At the end, after a full exchange without kills: every application a
village printed is at the county, nothing is duplicated, every node's
rows for its partitions equal the county's, and `git fsck` passes on
every repository. The seed is printed (KILL9_SEED replays it)."""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import DAIBAN, Station, app_file  # noqa: E402

TRIALS = int(os.environ.get("KILL9_TRIALS", "240"))
SEED = int(os.environ.get("KILL9_SEED", str(int(time.time()))))
COUNTY, TOWNSHIP, VILLAGE, USB = "330225", "330225101", "330225101201", "330225101202"


def rows(s, prefix):
    with s.db() as c:
        return c.execute("SELECT id, status, holder, receipt, nconflicts FROM apps WHERE origin LIKE ? ORDER BY id",
                         (prefix + "%",)).fetchall()


class Kill9Sync(unittest.TestCase):
    def test_kill_during_sync(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}, {TRIALS} trials", flush=True)
        c = Station(node=COUNTY, role="county")
        hub = os.path.join(c.home, "repo")
        t = Station(node=TOWNSHIP, role="township")
        v = Station(node=VILLAGE, role="village")
        u = Station(node=USB, role="village")
        nodes = {COUNTY: c, TOWNSHIP: t, VILLAGE: v, USB: u}
        stick = os.path.join(u.root, "stick")
        os.makedirs(stick)
        for s in (t, v):
            s.ok("remote", "set", hub)
        acked = set()
        killed = 0
        try:
            for trial in range(TRIALS):
                x = rng.random()
                if x < 0.25:
                    who = rng.choice([v, u])
                    r = who.run("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
                    if r.returncode == 0:
                        acked.add(r.stdout.split()[0])
                    continue
                if x < 0.35:
                    # an office decides what it holds (not killed: the target is sync)
                    for code in (TOWNSHIP, COUNTY):
                        with nodes[code].db() as db:
                            held = [a for (a,) in db.execute("SELECT id FROM apps WHERE holder = ? AND status ="
                                                             " 'accepted'", (code,))]
                        for a in held[:2]:
                            nodes[code].run("decide", a, "approve")
                    continue
                op = rng.choice([(c, ["sync"]), (t, ["sync"]), (v, ["sync"]), (u, ["bundle", "export", stick]),
                                 (t, ["bundle", "import", stick]), (u, ["bundle", "import", stick])])
                s, args = op
                p = subprocess.Popen([DAIBAN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.env())
                time.sleep(rng.uniform(0, 0.03))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    killed += 1
                p.communicate()
                for code, s2 in nodes.items():
                    with s2.db() as db:
                        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok",
                                         f"{code} trial {trial} seed {SEED}")
                r = s.run("rebuild", "--verify")
                self.assertEqual(r.returncode, 0, f"trial {trial} ({' '.join(args)}) seed {SEED}: {r.stdout}")
            # a full exchange without kills
            for _ in range(2):
                u.ok("bundle", "export", stick)
                t.ok("bundle", "import", stick)
                u.ok("bundle", "import", stick)
                for s in (v, t, c, t, v):
                    r = s.run("sync")
                    self.assertEqual(r.returncode, 0, r.stderr)
            with c.db() as db:
                at_county = {a for (a,) in db.execute("SELECT id FROM apps")}
                dup = db.execute("SELECT app FROM events WHERE type = 'app.created' GROUP BY app"
                                 " HAVING count(*) > 1").fetchall()
            self.assertEqual(acked - at_county, set(), f"acknowledged applications lost; seed {SEED}")
            self.assertEqual(dup, [], f"seed {SEED}")
            for code, s in nodes.items():
                self.assertEqual(rows(s, code), rows(c, code), f"{code} diverged; seed {SEED}")
                subprocess.run(["git", "-C", os.path.join(s.home, "repo"), "fsck", "--strict"], check=True,
                               capture_output=True)
            print(f"{killed} kills landed while running; {len(acked)} applications acknowledged", flush=True)
            self.assertGreater(killed, TRIALS // 5)
        finally:
            for s in nodes.values():
                s.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
