#!/usr/bin/env python3
"""Convergence property test across processes.

One county (whose repository is the hub), two townships and five
villages, each a separate home driven by separate `daiban` processes.
Random operations from every role (capture, materials, submission,
withdrawal, review, decision, delivery, rating) interleave with random
partial syncs: direct through the hub, a village that only travels by
USB stick through its township, duplicated deliveries (a node forgets
where its ingest stood and receives everything again) and deliveries
in random order. After a final full exchange, every node's derived
state for every partition it holds must be identical to the county's.

CONVERGE_SEEDS (default 100) seeds run, CONVERGE_JOBS (default 2) at a
time; CONVERGE_SEED=N replays one. The failing seed is printed.
CONVERGE_VIA=hall runs the same worlds through the county hall (`daiban
hall serve` on loopback, a token per node) instead of the hub path."""
import hashlib
import multiprocessing
import os
import random
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import Station, app_file  # noqa: E402

COUNTY = "330225"
TOWNSHIPS = ["330225101", "330225100"]
VILLAGES = ["330225101201", "330225101202", "330225100201", "330225100202", "330225101203"]
USB_VILLAGE = "330225101203"          # no link: its feeds go by stick through 330225101
SEEDS = int(os.environ.get("CONVERGE_SEEDS", "100"))
VIA = os.environ.get("CONVERGE_VIA", "hub")
ONE = os.environ.get("CONVERGE_SEED")
STEPS = int(os.environ.get("CONVERGE_STEPS", "60"))


def digest(s, prefix):
    """Derived rows of the partitions under prefix, as a hash and a sample."""
    with s.db() as c:
        rows = c.execute("SELECT id, matter, origin, reviewer, decider, status, holder, receipt, data, accepted_on,"
                         " due, result, reason, rating, nconflicts FROM apps WHERE origin LIKE ? ORDER BY id",
                         (prefix + "%",)).fetchall()
        mats = c.execute("SELECT m.* FROM app_materials m JOIN apps a ON a.id = m.app WHERE a.origin LIKE ?"
                         " ORDER BY m.app, m.material", (prefix + "%",)).fetchall()
        confs = c.execute("SELECT k.* FROM conflicts k WHERE k.app IN (SELECT id FROM apps WHERE origin LIKE ?)"
                          " ORDER BY k.app, k.node, k.seq", (prefix + "%",)).fetchall()
    text = repr((rows, mats, confs)).encode()
    return hashlib.sha256(text).hexdigest(), len(rows)


class World:
    def __init__(self, rng):
        self.rng = rng
        self.root = None
        self.county = Station(node=COUNTY, role="county")
        self.hub = os.path.join(self.county.home, "repo")
        self.nodes = {COUNTY: self.county}
        for t in TOWNSHIPS:
            self.nodes[t] = Station(node=t, role="township")
        for v in VILLAGES:
            self.nodes[v] = Station(node=v, role="village")
        self.hall = None
        if VIA == "hall":
            from hall import Hall
            self.hall = Hall(self.county)
        for code, s in self.nodes.items():
            if code not in (COUNTY, USB_VILLAGE):
                if self.hall:
                    token = self.county.ok("hall", "token", code, operator=None)
                    s.ok("remote", "set", self.hall.url, "--token", token, operator=None)
                else:
                    s.ok("remote", "set", self.hub)
        self.stick = os.path.join(self.nodes[USB_VILLAGE].root, "stick")
        os.makedirs(self.stick)
        self.apps = {v: [] for v in VILLAGES}

    def cleanup(self):
        if self.hall:
            self.hall.stop()
        for s in self.nodes.values():
            s.cleanup()

    def held(self, code, statuses):
        with self.nodes[code].db() as c:
            q = "SELECT id FROM apps WHERE holder = ? AND status IN (%s) ORDER BY id" % ",".join("?" * len(statuses))
            return [r[0] for r in c.execute(q, (code, *statuses))]

    def village_step(self, v):
        s, rng = self.nodes[v], self.rng
        mine = self.apps[v]
        x = rng.random()
        if not mine or x < 0.35:
            # an application captured and accepted at the window (or left a draft)
            # half decided by the county without review, half by the township
            matter = rng.choice(["RS-YL-001", "MZ-LSJZ-001"])
            r = s.run("app", "new", matter, "--data", app_file(matter + "-valid.json"))
            if r.returncode == 0:
                a = r.stdout.split()[0]
                mine.append(a)
                if x < 0.3:
                    for m in ("SFZ", "HKB", "JZZM") if matter == "MZ-LSJZ-001" else ("SFZ", "HKB"):
                        s.run("app", "material", a, m, "provided")
                    s.run("app", "submit", a)
            return
        a = rng.choice(mine)
        if rng.random() < 0.75:
            # the natural next step for its state (as this village sees it)
            with s.db() as c:
                row = c.execute("SELECT status FROM apps WHERE id = ?", (a,)).fetchone()
                have = {m for (m,) in c.execute("SELECT material FROM app_materials WHERE app = ?"
                                                " AND state = 'provided'", (a,))}
            status = row[0] if row else None
            if status in ("draft", "returned"):
                need = [m for m in ("SFZ", "HKB", "JZZM") if m not in have]
                if need and need[0] == "JZZM":
                    with s.db() as c:
                        if c.execute("SELECT matter FROM apps WHERE id = ?", (a,)).fetchone()[0] != "MZ-LSJZ-001":
                            need = []
                cmd = ["app", "material", a, need[0], "provided"] if need else ["app", "submit", a]
            elif status in ("approved", "rejected"):
                cmd = ["app", "deliver", a]
            elif status == "delivered":
                cmd = ["app", "rate", a, "--level", str(rng.randint(1, 5))]
            else:
                return
        else:
            cmd = rng.choice([["app", "material", a, "SFZ", "missing"], ["app", "withdraw", a, "--reason", "x"],
                              ["app", "submit", a], ["app", "deliver", a], ["app", "rate", a, "--level", "3"]])
        s.run(*cmd)

    def office_step(self, code):
        s, rng = self.nodes[code], self.rng
        # an office works through what it holds: decide, or return
        for a in self.held(code, ["accepted", "passed"]):
            if rng.random() < 0.8:
                s.run("decide", a, rng.choice(["approve", "approve", "reject"]), "--reason", "r")
            else:
                s.run("review", a, "return", "--reason", "r")

    def race(self, v):
        """The applicant withdraws at the village while the office, offline
        from it, decides: both are valid where written; the fold must make
        one of them a conflict, the same one everywhere."""
        s = self.nodes[v]
        with s.db() as c:
            rows = c.execute("SELECT id, holder FROM apps WHERE status = 'accepted'").fetchall()
        if not rows:
            return
        a, holder = self.rng.choice(rows)
        s.run("app", "withdraw", a, "--reason", "race")
        if holder in self.nodes:
            self.office_step(holder)

    def sync(self, code):
        s = self.nodes[code]
        if code == USB_VILLAGE:
            s.run("bundle", "export", self.stick)
            self.nodes[TOWNSHIPS[0]].run("bundle", "import", self.stick)
            s.run("bundle", "import", self.stick)
        else:
            if self.rng.random() < 0.1:
                # a duplicated delivery: forget where ingest stood
                with s.db() as c:
                    c.execute("DELETE FROM feed_heads")
            r = s.run("sync")
            assert r.returncode == 0, (code, r.stdout, r.stderr)

    def random_round(self, steps):
        codes = list(self.nodes)
        for _ in range(steps):
            x = self.rng.random()
            if x < 0.06:
                self.race(self.rng.choice(VILLAGES))
            elif x < 0.4:
                self.village_step(self.rng.choice(VILLAGES))
            elif x < 0.65:
                self.office_step(self.rng.choice([COUNTY] + TOWNSHIPS))
            else:
                self.sync(self.rng.choice(codes))

    def full_exchange(self):
        order = VILLAGES + TOWNSHIPS + [COUNTY] + TOWNSHIPS + VILLAGES
        for _ in range(2):
            for code in order:
                self.sync(code)


def run_seed(seed):
    """One world, one seed: None when it converged, else what diverged."""
    rng = random.Random(seed)
    w = World(rng)
    try:
        w.random_round(STEPS)
        w.full_exchange()
        if w.hall and " push: exit 0" not in w.hall.logtext():
            return f"the hall saw no push; seed {seed}"
        time.sleep(0.3 if w.hall else 0)       # the hall ingests right after the last push
        if w.hall:
            w.county.ok("sync", operator=None)
        for code, s in w.nodes.items():
            got, want = digest(s, code), digest(w.county, code)
            if got != want:
                return f"node {code} diverged from the county ({got[1]} vs {want[1]} applications); seed {seed}"
            r = s.run("rebuild", "--verify")
            if r.returncode != 0:
                return f"node {code}: {r.stdout.strip()}; seed {seed}"
        return None
    except AssertionError as e:
        return f"{e}; seed {seed}"
    finally:
        w.cleanup()


class Converge(unittest.TestCase):
    def test_random_syncs_converge(self):
        seeds = [int(ONE)] if ONE else [int(time.time()) * 1000 + i for i in range(SEEDS)]
        jobs = int(os.environ.get("CONVERGE_JOBS", "2"))
        with multiprocessing.Pool(jobs) as pool:
            for failure in pool.imap_unordered(run_seed, seeds):
                self.assertIsNone(failure)
        print(f"{len(seeds)} seeds converged ({seeds[0]}..{seeds[-1]})", flush=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
