#!/usr/bin/env python3
"""Property: the state is a deterministic function of the set of events.

Random operations (capture, review, decision, withdrawal, delivery,
rating, by the village, the township and the county, valid or not) are
played on one station; extra events from other nodes are injected with
random clock stamps, as concurrent offline work arrives by sync. Then
the same events are inserted into fresh stores in several random orders
and rebuilt: every store's derived tables must be byte-identical to the
original's. Seeds are printed; FOLD_SEED replays one."""
import json
import os
import random
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, TOWNSHIP, VILLAGE, Station, app_file  # noqa: E402

SEED = int(os.environ.get("FOLD_SEED", str(int(time.time()))))
ROUNDS = int(os.environ.get("FOLD_ROUNDS", "3"))


def next_step(s, a):
    """The natural next command for application a, from its state."""
    j = s.show(a)
    st = j["status"]
    have = {m["material"] for m in j["materials"] if m["state"] in ("provided", "deficient")}
    need = [m for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM") if m not in have]
    if st in ("draft", "returned"):
        if need:
            return ["app", "material", a, need[0], "deficient" if need[0] == "SRZM" else "provided"]
        return ["app", "submit", a]
    return {"accepted": ["review", a, "pass", "--node", TOWNSHIP],
            "passed": ["decide", a, "approve", "--node", COUNTY],
            "approved": ["app", "deliver", a],
            "rejected": ["app", "deliver", a],
            "delivered": ["app", "rate", a, "--level", "4"]}.get(st)


def random_walk(s, rng, steps):
    apps = []
    for _ in range(steps):
        op = rng.random()
        if op < 0.15 or not apps:
            r = s.run("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
            if r.returncode == 0:
                apps.append(r.stdout.split()[0])
            continue
        a = rng.choice(apps)
        cmd = next_step(s, a) if op < 0.75 else None
        if not cmd:
            cmd = rng.choice([
                ["app", "material", a, rng.choice(["SFZ", "HKB", "HDSQ", "YHK", "SRZM"]),
                 rng.choice(["provided", "missing", "deficient"])],
                ["app", "submit", a],
                ["review", a, "pass", "--node", TOWNSHIP],
                ["review", a, "return", "--node", TOWNSHIP, "--reason", "补正"],
                ["decide", a, rng.choice(["approve", "reject"]), "--node", COUNTY, "--reason", "理由"],
                ["app", "withdraw", a, "--reason", "撤回"],
                ["app", "deliver", a],
                ["app", "rate", a, "--level", str(rng.randint(1, 5))],
            ])
        s.run(*cmd)          # refusals are part of the walk
    return apps


def inject(s, rng, apps, n):
    """Events written elsewhere, arriving late: random types, nodes and stamps."""
    with s.db() as c:
        hi = c.execute("SELECT max(hlc) FROM events").fetchone()[0]
        lo = c.execute("SELECT min(hlc) FROM events").fetchone()[0]
        seqs = {}
        for node in (VILLAGE, TOWNSHIP, COUNTY, "330225101202"):
            seqs[node] = c.execute("SELECT coalesce(max(seq), 0) FROM events WHERE node = ?", (node,)).fetchone()[0]
        for _ in range(n):
            node = rng.choice(list(seqs))
            seqs[node] += 1
            typ, body = rng.choice([
                ("app.withdrawn", {"reason": "offline"}),
                ("app.decided", {"result": "approve"}),
                ("app.decided", {"result": "reject", "reason": "x"}),
                ("app.reviewed", {"result": "pass"}),
                ("app.reviewed", {"result": "return", "reason": "y"}),
                ("app.delivered", {}),
                ("app.material", {"material": "SRZM", "state": "provided"}),
                ("app.rated", {"level": 3}),
                ("app.bogus", {}),
            ])
            c.execute("INSERT INTO events VALUES (?, ?, ?, 0, 'op01', ?, ?, ?, ?)",
                      (node, seqs[node], rng.randint(lo, hi + 1000), typ, rng.choice(apps), VILLAGE,
                       json.dumps(body, sort_keys=True)))


class FoldOrders(unittest.TestCase):
    def test_any_order_same_state(self):
        print(f"seed {SEED}", flush=True)
        rng = random.Random(SEED)
        for rnd in range(ROUNDS):
            s = Station()
            copies = []
            try:
                apps = random_walk(s, rng, 80)
                # the tables folded one application at a time as commands
                # ran must equal a fold of everything at once
                s.ok("rebuild", "--verify")
                inject(s, rng, apps, 25)
                s.ok("rebuild")
                want = s.dump_derived()
                with s.db() as c:
                    events = c.execute("SELECT * FROM events").fetchall()
                    nconf = c.execute("SELECT count(*) FROM conflicts").fetchone()[0]
                self.assertGreater(nconf, 0, "the walk should produce conflicts to compare")
                for k in range(3):
                    t = Station()
                    copies.append(t)
                    with t.db() as c:
                        c.execute("DELETE FROM operators")
                        # drop the copy's own events via a fresh table (events are immutable)
                        c.executescript("DROP TRIGGER events_immutable_d; DELETE FROM events;")
                        shuffled = events[:]
                        rng.shuffle(shuffled)
                        c.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?)", shuffled)
                    t.ok("rebuild")
                    got = t.dump_derived()
                    self.assertEqual(got, want, f"round {rnd}, order {k}, seed {SEED}")
            finally:
                s.cleanup()
                for t in copies:
                    t.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
