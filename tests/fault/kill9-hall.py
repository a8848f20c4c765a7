#!/usr/bin/env python3
"""Fault: SIGKILL at random moments of syncs through the county hall
(`daiban hall serve` in front of git http-backend), of the hall itself
while stations push and fetch (it is restarted on the same port), and of
bundle export and import for a village reached only by USB stick through
the township (KILL9_HALL_TRIALS, default 160). After every kill:
integrity_check passes on every store and `rebuild --verify` agrees on the
killed node. At the end, after a full exchange without kills: every
application a village acknowledged is at the county, nothing is
duplicated, every node's rows for its partitions equal the county's, and
`git fsck` passes on every repository. The seed is printed
(KILL9_SEED replays it)."""
import os
import random
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import DAIBAN, Station, app_file  # noqa: E402

TRIALS = int(os.environ.get("KILL9_HALL_TRIALS", "160"))
SEED = int(os.environ.get("KILL9_SEED", str(int(time.time()))))
COUNTY, TOWNSHIP, VILLAGE, USB = "330225", "330225101", "330225101201", "330225101202"


def rows(s, prefix):
    with s.db() as c:
        return c.execute("SELECT id, status, holder, receipt, nconflicts FROM apps WHERE origin LIKE ? ORDER BY id",
                         (prefix + "%",)).fetchall()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HallProc:
    def __init__(self, county, port):
        self.county, self.port, self.proc = county, port, None
        self.log = open(os.path.join(county.root, "hall.log"), "a")

    def start(self):
        for _ in range(50):
            self.proc = subprocess.Popen([DAIBAN, "hall", "serve", "--listen", f"127.0.0.1:{self.port}"],
                                         stdout=subprocess.PIPE, stderr=self.log, text=True,
                                         env=self.county.env(operator=None))
            line = self.proc.stdout.readline()
            if "/feeds" in line:
                return
            self.proc.wait()
            time.sleep(0.1)     # the port is still held by a dying backend
        raise AssertionError("the hall did not restart")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc.stdout.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
            self.proc.stdout.close()
        self.log.close()


class Kill9Hall(unittest.TestCase):
    def test_kill_during_hall_sync(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}, {TRIALS} trials", flush=True)
        c = Station(node=COUNTY, role="county")
        t = Station(node=TOWNSHIP, role="township")
        v = Station(node=VILLAGE, role="village")
        u = Station(node=USB, role="village")
        nodes = {COUNTY: c, TOWNSHIP: t, VILLAGE: v, USB: u}
        stick = os.path.join(u.root, "stick")
        os.makedirs(stick)
        hall = HallProc(c, free_port())
        hall.start()
        url = f"http://127.0.0.1:{hall.port}/feeds"
        for s, code in ((t, TOWNSHIP), (v, VILLAGE)):
            s.ok("remote", "set", url, "--token", c.ok("hall", "token", code, operator=None), operator=None)
        acked = set()
        killed = hall_kills = 0
        try:
            for trial in range(TRIALS):
                x = rng.random()
                if x < 0.25:
                    who = rng.choice([v, u])
                    r = who.run("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
                    if r.returncode == 0:
                        acked.add(r.stdout.split()[0])
                    continue
                if x < 0.33:
                    # an office decides what it holds (not killed: the target is sync)
                    for code in (TOWNSHIP, COUNTY):
                        with nodes[code].db() as db:
                            held = [a for (a,) in db.execute("SELECT id FROM apps WHERE holder = ? AND status ="
                                                             " 'accepted'", (code,))]
                        for a in held[:2]:
                            nodes[code].run("decide", a, "approve")
                    continue
                if x < 0.50:
                    # the hall dies while a station pushes or fetches
                    s = rng.choice([v, t])
                    p = subprocess.Popen([DAIBAN, "sync"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.env())
                    time.sleep(rng.uniform(0, 0.05))
                    hall.kill()
                    hall_kills += 1
                    p.communicate()
                    hall.start()
                    killed_node = c
                else:
                    op = rng.choice([(c, ["sync"]), (t, ["sync"]), (v, ["sync"]), (v, ["sync"]),
                                     (u, ["bundle", "export", stick]), (t, ["bundle", "import", stick]),
                                     (u, ["bundle", "import", stick])])
                    s, args = op
                    p = subprocess.Popen([DAIBAN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.env())
                    time.sleep(rng.uniform(0, 0.05))
                    if p.poll() is None:
                        p.send_signal(signal.SIGKILL)
                        killed += 1
                    p.communicate()
                    killed_node = s
                for code, s2 in nodes.items():
                    with s2.db() as db:
                        self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok",
                                         f"{code} trial {trial} seed {SEED}")
                r = killed_node.run("rebuild", "--verify")
                self.assertEqual(r.returncode, 0, f"trial {trial} seed {SEED}: {r.stdout}")
            # a full exchange without kills
            for _ in range(2):
                u.ok("bundle", "export", stick)
                t.ok("bundle", "import", stick)
                u.ok("bundle", "import", stick)
                for s in (v, t, c, t, v):
                    r = s.run("sync")
                    self.assertEqual(r.returncode, 0, r.stderr)
                    time.sleep(0.2)     # the hall ingests right after each push
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
            print(f"{killed} station kills and {hall_kills} hall kills; {len(acked)} applications acknowledged",
                  flush=True)
            self.assertGreater(killed + hall_kills, TRIALS // 5)
        finally:
            hall.stop()
            for s in nodes.values():
                s.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
