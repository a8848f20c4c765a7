"""What the kill -9 tests of sync share (kill9-sync.py through a hub path,
kill9-hall.py through the county hall): four homes, the capture and
decision steps that are not killed, the checks after each kill, and the
final exchange with its checks (nothing acknowledged lost, nothing
duplicated, every node equal to the county, `git fsck`)."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import Station, app_file  # noqa: E402

COUNTY, TOWNSHIP, VILLAGE, USB = "330225", "330225101", "330225101201", "330225101202"


def rows(s, prefix):
    with s.db() as c:
        return c.execute("SELECT id, status, holder, receipt, nconflicts FROM apps WHERE origin LIKE ? ORDER BY id",
                         (prefix + "%",)).fetchall()


class Homes:
    """A county, its township, a village with a link and one (USB) without."""

    def __init__(self):
        self.c = Station(node=COUNTY, role="county")
        self.t = Station(node=TOWNSHIP, role="township")
        self.v = Station(node=VILLAGE, role="village")
        self.u = Station(node=USB, role="village")
        self.nodes = {COUNTY: self.c, TOWNSHIP: self.t, VILLAGE: self.v, USB: self.u}
        self.stick = os.path.join(self.u.root, "stick")
        os.makedirs(self.stick)
        self.acked = set()

    def cleanup(self):
        for s in self.nodes.values():
            s.cleanup()

    def unkilled_step(self, rng, x):
        """x < 0.25: a capture at a village; below 0.33: the offices decide
        what they hold. True when a step was taken (nothing to kill)."""
        if x < 0.25:
            who = rng.choice([self.v, self.u])
            r = who.run("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            if r.returncode == 0:
                self.acked.add(r.stdout.split()[0])
            return True
        if x < 0.33:
            for code in (TOWNSHIP, COUNTY):
                with self.nodes[code].db() as db:
                    held = [a for (a,) in db.execute("SELECT id FROM apps WHERE holder = ? AND status = 'accepted'",
                                                     (code,))]
                for a in held[:2]:
                    self.nodes[code].run("decide", a, "approve")
            return True
        return False

    def check_after_kill(self, test, killed_node, what):
        for code, s in self.nodes.items():
            with s.db() as db:
                test.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok", f"{code} {what}")
        r = killed_node.run("rebuild", "--verify")
        test.assertEqual(r.returncode, 0, f"{what}: {r.stdout}")

    def exchange_and_check(self, test, seed, pause=0.0):
        """A full exchange without kills, then the end state's checks."""
        c, t, v, u = self.c, self.t, self.v, self.u
        for _ in range(2):
            u.ok("bundle", "export", self.stick)
            t.ok("bundle", "import", self.stick)
            u.ok("bundle", "import", self.stick)
            for s in (v, t, c, t, v):
                r = s.run("sync")
                test.assertEqual(r.returncode, 0, r.stderr)
                time.sleep(pause)
        with c.db() as db:
            at_county = {a for (a,) in db.execute("SELECT id FROM apps")}
            dup = db.execute("SELECT app FROM events WHERE type = 'app.created' GROUP BY app"
                             " HAVING count(*) > 1").fetchall()
        test.assertEqual(self.acked - at_county, set(), f"acknowledged applications lost; seed {seed}")
        test.assertEqual(dup, [], f"seed {seed}")
        for code, s in self.nodes.items():
            test.assertEqual(rows(s, code), rows(c, code), f"{code} diverged; seed {seed}")
            subprocess.run(["git", "-C", os.path.join(s.home, "repo"), "fsck", "--strict"], check=True,
                           capture_output=True)
