#!/usr/bin/env python3
"""Property: a node's state is a function of the events it holds,
whatever order they arrived in, folded incrementally as they arrive.

A source world of writers works concurrently on the same applications:
two villages that sync through the county's repository (the hub), a
village with no link whose sticks go to the county, and the county,
which decides and returns what it holds, offline from the villages, so
that withdrawals race decisions and materials change after a decision
the village has not seen (conflicts, and events whose stamps are earlier
than events other nodes already hold). A village of another township
works too: its feeds must never reach the receiver. Every writer commits
after small batches (many change sets per feed) and exports a stick for
the township after most of them (bundles at many split points).

The receiver is a fresh township home (330225101: entitled to its
villages' partitions and writing none of them: a node never takes its
own feeds from others, so no writer can be the receiver). For each of
many arrival orders, a fresh receiver is fed, through the real ingest,
in a random order:

* the writers' own sticks (`daiban bundle export` at each split point),
  imported with `daiban bundle import`, in any order: an older stick
  after a newer one is a clean no-op;
* single feeds cut at random change sets, on a hub repository that holds
  only that prefix, fetched with `daiban sync --remote HUB`: every feed
  reaches its end at some random moment, its older prefixes may come
  after (stale), some pieces come twice, and once in some orders the
  receiver forgets where its ingest stood (a duplicated delivery of
  everything).

After every delivery: the receiver holds exactly the events of the
prefixes delivered so far (identical to the source's), `daiban rebuild
--verify` agrees with what the incremental fold wrote, and a delivery
that brought nothing left the store unchanged. At the end every order's
derived tables (every table of the schema but the events, the meta and
the feed positions) are byte-identical to each other, to a `rebuild`,
and to the county's and each village's view of the same partitions.

The test counts what makes it bite and asserts each count is above
zero: events that arrived after a later-stamped event of the same
application had been folded, events that arrived before their
application's creation, conflicts that a later arrival cleared, and
applications whose writers' events arrived in different orders in
different runs.

FOLD_SEED replays a seed (printed first); FOLD_ORDERS (default 16)
arrival orders, FOLD_EPOCHS (default 12) rounds of work in the source,
FOLD_JOBS (default 2) orders at a time."""
import json
import multiprocessing
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, SAMPLE, TOWNSHIP, Station, app_file  # noqa: E402

SEED = int(os.environ.get("FOLD_SEED", str(int(time.time()))))
ORDERS = int(os.environ.get("FOLD_ORDERS", "16"))
EPOCHS = int(os.environ.get("FOLD_EPOCHS", "12"))
JOBS = int(os.environ.get("FOLD_JOBS", "2"))

HUB_VILLAGES = ["330225101201", "330225101202"]     # sync through the county's repository
USB_VILLAGE = "330225101203"                        # no link: sticks to and from the county
OTHER_VILLAGE = "330225100201"                      # another township's: never the receiver's
VILLAGES = HUB_VILLAGES + [USB_VILLAGE, OTHER_VILLAGE]
RECEIVER = TOWNSHIP                                 # 330225101
MATTERS = {"RS-YL-001": ("SFZ", "HKB"),             # decided by the county, no review
           "MZ-LSJZ-001": ("SFZ", "HKB", "JZZM"),   # decided by the township (never here)
           "MZ-DB-001": ("SFZ", "HKB", "HDSQ", "YHK", "SRZM")}  # reviewed by the township
# the store's tables that are not derived from the events
NOT_DERIVED = {"events", "meta", "feed_heads"}
KNOWN_DERIVED = {"apps", "app_materials", "conflicts", "operators"}
# the column of each derived table whose value starts with the partition
# (an application's id is <origin>-<seq>; an operator's node is the writer)
PARTITION_COLUMN = {"apps": "id", "app_materials": "app", "conflicts": "app", "operators": "node"}
EVENT_COLS = "node, seq, hlc, wall, operator, type, app, part, body"


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


def derived_tables(db):
    """Every table of the schema except the events, meta and feed positions."""
    with sqlite3.connect(db) as c:
        names = {n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                         " AND name NOT LIKE 'sqlite_%'")}
    tables = sorted(names - NOT_DERIVED)
    assert KNOWN_DERIVED <= set(tables), tables
    return tables


def dump(db, prefix=None):
    """The derived tables as sqlite3's .dump prints them (bytes); with
    prefix, only the rows of the partitions under it (on a copy)."""
    tables = derived_tables(db)
    tmp = None
    if prefix is not None:
        fd, tmp = tempfile.mkstemp(prefix="daiban-fold-dump-", suffix=".db")
        os.close(fd)
        with sqlite3.connect(db) as src, sqlite3.connect(tmp) as dst:
            src.backup(dst)
        with sqlite3.connect(tmp) as c:
            for t in tables:
                col = PARTITION_COLUMN.get(t)
                assert col, f"derived table {t}: which column names its partition? (update PARTITION_COLUMN)"
                c.execute(f"DELETE FROM {t} WHERE substr({col}, 1, ?) != ?", (len(prefix), prefix))
        db = tmp
    try:
        return subprocess.run(["sqlite3", db, ".dump " + " ".join(tables)], capture_output=True,
                              check=True).stdout
    finally:
        for f in (tmp, f"{tmp}-wal", f"{tmp}-shm") if tmp else ():
            if os.path.exists(f):
                os.unlink(f)


def rows(db):
    """Every row of the derived tables, in key order (for a quick comparison)."""
    tables = derived_tables(db)
    with sqlite3.connect(db) as c:
        out = []
        for t in tables:
            n = len(c.execute(f"PRAGMA table_info({t})").fetchall())
            out.append((t, c.execute(f"SELECT * FROM {t} ORDER BY " + ", ".join(str(i + 1) for i in range(n)))
                        .fetchall()))
        return out


def read_events(db):
    with sqlite3.connect(db) as c:
        return {(r[0], r[1]): r for r in c.execute(f"SELECT {EVENT_COLS} FROM events")}


def entitled(part):
    return part.startswith(RECEIVER)


class Receiver(Station):
    """A fresh township home: init only, so that every row of its derived
    tables comes from what it received (no operator of its own)."""

    def __init__(self, root):
        self.root = tempfile.mkdtemp(prefix="recv-", dir=root)
        self.home = os.path.join(self.root, "home")
        self.today = "2026-11-24"
        self.operator = None
        r = self.run("init", "--node", RECEIVER, "--role", "township", "--catalog", SAMPLE, operator=None)
        assert r.returncode == 0, r.stderr


# ---- the source world --------------------------------------------------------------------------------------

class Source:
    def __init__(self, rng, root):
        self.rng = rng
        self.root = root
        self.county = Station(node=COUNTY, role="county")
        self.hub = os.path.join(self.county.home, "repo")
        self.nodes = {COUNTY: self.county}
        for v in VILLAGES:
            self.nodes[v] = Station(node=v, role="village")
            if v != USB_VILLAGE:
                self.nodes[v].ok("remote", "set", self.hub, operator=None)
        self.stick = os.path.join(root, "stick")
        os.makedirs(self.stick)
        self.snaps = []                 # (sender, directory) in the order written
        self.races = self.sure_conflicts = 0

    def cleanup(self):
        for s in self.nodes.values():
            s.cleanup()

    def status(self, code, a):
        with self.nodes[code].db() as c:
            row = c.execute("SELECT status, holder, matter FROM apps WHERE id = ?", (a,)).fetchone()
            have = {m for (m,) in c.execute("SELECT material FROM app_materials WHERE app = ?"
                                            " AND state IN ('provided', 'deficient')", (a,))}
        return row, have

    def mine(self, v, statuses=None):
        with self.nodes[v].db() as c:
            q = "SELECT id FROM apps WHERE origin = ?"
            args = [v]
            if statuses:
                q += " AND status IN (%s)" % ",".join("?" * len(statuses))
                args += statuses
            return [r[0] for r in c.execute(q + " ORDER BY id", args)]

    def village_step(self, v):
        s, rng = self.nodes[v], self.rng
        apps = self.mine(v)
        x = rng.random()
        if not apps or x < 0.25:
            matter = rng.choice(["RS-YL-001", "RS-YL-001", "RS-YL-001", "MZ-LSJZ-001", "MZ-DB-001"])
            r = s.run("app", "new", matter, "--data", app_file(matter + "-valid.json"))
            assert r.returncode == 0, r.stderr
            a = r.stdout.split()[0]
            if x < 0.2:
                for m in MATTERS[matter]:
                    s.ok("app", "material", a, m, "deficient" if m == "SRZM" else "provided")
                s.ok("app", "submit", a)
            return
        a = rng.choice(apps)
        (status, _, matter), have = self.status(v, a)
        if rng.random() < 0.8:
            # the natural next step for its state, as this village sees it
            if status in ("draft", "returned"):
                need = [m for m in MATTERS[matter] if m not in have]
                cmd = (["app", "material", a, need[0], "provided"] if need else ["app", "submit", a])
            elif status in ("approved", "rejected"):
                cmd = ["app", "deliver", a]
            elif status == "delivered":
                cmd = ["app", "rate", a, "--level", str(rng.randint(1, 5))]
            elif status in ("accepted", "passed") and rng.random() < 0.5:
                cmd = ["app", "material", a, rng.choice(MATTERS[matter]), rng.choice(["provided", "deficient"])]
            else:
                return
        else:
            cmd = rng.choice([["app", "material", a, "SFZ", "missing"], ["app", "withdraw", a, "--reason", "撤回"],
                              ["app", "submit", a], ["app", "deliver", a], ["app", "rate", a, "--level", "3"]])
        s.run(*cmd)                     # a refusal is part of the walk

    def county_step(self):
        """The county works through some of what it holds, as it sees it:
        decides, or returns for correction."""
        s, rng = self.county, self.rng
        with s.db() as c:
            held = [r[0] for r in c.execute("SELECT id FROM apps WHERE holder = ? AND status IN ('accepted', 'passed')"
                                            " ORDER BY id", (COUNTY,))]
        for a in rng.sample(held, min(len(held), rng.randint(1, 3))):
            if rng.random() < 0.75:
                s.ok("decide", a, rng.choice(["approve", "approve", "reject"]), "--reason", "县审")
            else:
                s.ok("review", a, "return", "--reason", "补正")

    def race(self, v=None, withdraw_first=None):
        """A village and the county act on the same accepted application,
        offline from each other: both are valid where written."""
        v = v or self.rng.choice(HUB_VILLAGES + [USB_VILLAGE])
        with self.county.db() as c:
            held = {r[0] for r in c.execute("SELECT id FROM apps WHERE holder = ? AND status = 'accepted'", (COUNTY,))}
        both = [a for a in self.mine(v, ["accepted"]) if a in held]
        if not both:
            return
        a = self.rng.choice(both)
        self.races += 1
        if withdraw_first is None:
            withdraw_first = self.rng.random() < 0.5
        if withdraw_first:
            # the applicant withdraws at the window while the county decides
            # (or returns): whichever lands second is a conflict
            self.nodes[v].ok("app", "withdraw", a, "--reason", "申请人撤回")
            self.county.ok(*self.rng.choice([["decide", a, "approve"], ["decide", a, "reject", "--reason", "县审"],
                                             ["review", a, "return", "--reason", "补正"]]))
            self.sure_conflicts += 1
        else:
            # the county decides (or returns) first; the village, not knowing,
            # records a material and then withdraws (conflicts after a decision)
            cmd = self.rng.choice([["decide", a, "approve"], ["review", a, "return", "--reason", "补正"]])
            self.county.ok(*cmd)
            self.nodes[v].ok("app", "material", a, "SFZ", "missing")
            self.nodes[v].run("app", "withdraw", a, "--reason", "申请人撤回")
            self.sure_conflicts += cmd[0] == "decide"

    def sync(self, code):
        s = self.nodes[code]
        if code == USB_VILLAGE:
            s.ok("bundle", "export", self.stick, "--for", COUNTY)
            self.county.ok("bundle", "import", self.stick)
            s.ok("bundle", "import", self.stick)
        else:
            s.ok("sync")

    def snapshot(self, code, epoch):
        d = os.path.join(self.root, "snaps", f"{epoch:03d}-{code}")
        os.makedirs(d)
        self.nodes[code].ok("bundle", "export", d, "--for", RECEIVER)
        self.snaps.append((code, d))

    def run_epochs(self, epochs):
        writers = HUB_VILLAGES + [USB_VILLAGE, COUNTY]
        for e in range(epochs):
            order = VILLAGES[:]
            self.rng.shuffle(order)
            for v in order:
                for _ in range(self.rng.randint(1, 3)):
                    self.village_step(v)
            for _ in range(2):
                if self.rng.random() < 0.7:
                    self.race()
            self.county_step()
            for code in HUB_VILLAGES + [OTHER_VILLAGE]:
                if self.rng.random() < 0.6:
                    self.sync(code)
            if self.rng.random() < 0.4:
                self.sync(USB_VILLAGE)
            if self.rng.random() < 0.8:
                self.sync(COUNTY)
            # a stick for the township after most batches: a change set each
            for code in writers:
                if self.rng.random() < 0.8:
                    self.snapshot(code, e)
        if self.races < 2 or not self.sure_conflicts:
            # every world races at least twice, once to a sure conflict:
            # applications accepted at a village and seen by the county,
            # then acted on by both offline
            v = self.rng.choice(HUB_VILLAGES)
            for _ in range(2):
                a = self.nodes[v].ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json")).split()[0]
                for m in MATTERS["RS-YL-001"]:
                    self.nodes[v].ok("app", "material", a, m, "provided")
                self.nodes[v].ok("app", "submit", a)
            self.sync(v)
            self.sync(COUNTY)
            self.race(v, withdraw_first=True)
            self.race(v)
        # everything everywhere, then the last sticks
        for _ in range(2):
            for code in HUB_VILLAGES + [OTHER_VILLAGE, USB_VILLAGE, COUNTY]:
                self.sync(code)
        for code in writers:
            self.snapshot(code, epochs)


def inventory(src):
    """What the receivers are fed, read from the source: every feed's chain
    of change sets (the last seq each one reaches), the sticks as the
    prefix of each feed they hold, and the source's events."""
    repo = src.hub
    feeds = {}                          # ref -> [(oid, last_seq)] oldest first
    for ref in git("for-each-ref", "--format=%(refname)", "refs/feeds/", cwd=repo).split():
        part, writer = ref.split("/")[2:4]
        if writer == COUNTY and part == COUNTY:
            continue                    # the county's operators: no piece of anything under the township
        chain = []
        for line in git("log", "--first-parent", "--reverse", "--format=%H %s", ref, cwd=repo).splitlines():
            oid, subject = line.split(" ", 1)
            m = re.search(r"\(seq (\d+)\.\.(\d+)\)$", subject)
            assert m, subject
            chain.append((oid, int(m.group(2))))
        feeds[ref] = chain
    where = {oid: (ref, k + 1) for ref, chain in feeds.items() for k, (oid, _) in enumerate(chain)}
    sticks = []
    for sender, d in src.snaps:
        path = os.path.join(d, f"daiban-{sender}-to-{RECEIVER}.bundle")
        prefix = {}
        for line in git("bundle", "list-heads", path).splitlines():
            oid, ref = line.split()
            if ref.startswith("refs/feeds/"):
                assert entitled(ref.split("/")[2]), (path, ref)     # export honours entitlement
                assert where.get(oid, (None,))[0] == ref, (path, ref, "a stick's head is not on the feed's chain")
                prefix[ref] = where[oid][1]
        sticks.append({"sender": sender, "path": path, "prefix": prefix})
    events = read_events(os.path.join(src.county.home, "store.db"))
    # the chains cover every event of their writer and partition
    for ref, chain in feeds.items():
        part, writer = ref.split("/")[2:4]
        held = sorted(k[1] for k, e in events.items() if e[0] == writer and e[7] == part)
        assert held and held[-1] == chain[-1][1], (ref, "the county's feed does not reach its last event")
    return {"hub_objects": os.path.join(repo, "objects"), "feeds": feeds, "sticks": sticks, "events": events}


def expected_events(inv, prefix):
    """The events of the feed prefixes delivered: {ref: n change sets}."""
    last = {}
    for ref, k in prefix.items():
        part, writer = ref.split("/")[2:4]
        if entitled(part) and k:
            last[(writer, part)] = inv["feeds"][ref][k - 1][1]
    return {key: e for key, e in inv["events"].items() if e[1] <= last.get((e[0], e[7]), 0)}


# ---- one arrival order -------------------------------------------------------------------------------------

def plan(inv, rng):
    """Pieces in arrival order: ("stick", i) or ("hub", ref, k) or ("forget",).
    Each feed's cuts come in its own order, a stale one (an older prefix)
    now and then after a newer; the feeds are interleaved at random, and
    the sticks, any split point of any sender, go anywhere."""
    lanes = []
    for ref, chain in inv["feeds"].items():
        n = len(chain)
        if not entitled(ref.split("/")[2]):
            # another township's village: offered now and then, never taken
            lanes.append([("hub", ref, rng.randint(1, n))] if rng.random() < 0.5 else [])
            continue
        cuts = sorted(set(rng.sample(range(1, n + 1), min(n, rng.randint(2, 5)))) | {n})
        lane = []
        for c in cuts:
            lane.append(("hub", ref, c))
            if rng.random() < 0.2:      # an older prefix comes again, late
                lane.append(("hub", ref, rng.randint(1, c)))
        lanes.append(lane)
    lanes.append([("stick", i) for i in rng.sample(range(len(inv["sticks"])), rng.randint(3, 6))])
    pieces = []
    while any(lanes):
        lane = rng.choice([x for x in lanes if x])
        pieces.append(lane.pop(0))
    for _ in range(2):                  # some pieces come twice
        p = rng.choice(pieces)
        pieces.insert(rng.randint(pieces.index(p) + 1, len(pieces)), p)
    if rng.random() < 0.5:
        pieces.insert(rng.randint(len(pieces) // 3, len(pieces)), ("forget",))
    return pieces


def make_hub(root, objects, ref, oid):
    """A bare repository holding one feed prefix (objects borrowed from the source)."""
    hub = tempfile.mkdtemp(prefix="hub-", dir=root)
    os.rmdir(hub)
    template = os.path.join(root, "hub-template")
    if not os.path.isdir(template):
        subprocess.run(["git", "init", "-q", "--bare", "--template=", template], check=True)
        with open(os.path.join(template, "objects", "info", "alternates"), "w") as f:
            f.write(objects + "\n")
    shutil.copytree(template, hub)
    path = os.path.join(hub, *ref.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(oid + "\n")
    return hub


def feed_heads(db):
    with sqlite3.connect(db) as c:
        return sorted(c.execute("SELECT * FROM feed_heads"))


def run_order(args):
    """Feed a fresh receiver in order k of seed; its final tables, figures
    and the order each application's writers first arrived in."""
    inv, k, seed, root = args
    rng = random.Random(seed * 1000 + k)
    pieces = plan(inv, rng)
    t = Receiver(root)                  # under the test's directory: removed even if the pool is stopped
    db = os.path.join(t.home, "store.db")
    got = {}                            # ref -> change sets delivered (max)
    stats = {"deliveries": 0, "stale": 0, "late": 0, "orphans": 0, "late_creations": 0, "duplicates": 0,
             "forgotten": 0, "cleared_conflicts": 0, "sticks": 0, "hubs": 0, "foreign": 0}
    arrival = {}                        # app -> [writers whose first event came, per delivery]
    seen_conflicts = set()
    try:
        held = read_events(db)
        before = rows(db)
        for p in pieces:
            where = f"FOLD_SEED={seed}, order {k}, delivery {stats['deliveries']} {p}"
            heads_before = feed_heads(db)
            if p[0] == "forget":
                # a duplicated delivery: the node forgets where its ingest stood
                with t.db() as c:
                    c.execute("DELETE FROM feed_heads")
                stats["forgotten"] += 1
                heads_before = []
                r = t.run("sync", "--json", operator=None)
                assert r.returncode == 0, (where, r.stdout, r.stderr)
                rep = json.loads(r.stdout)
                stats["duplicates"] += rep["duplicate_events"]
                assert rep["ingested_events"] == 0 and rep["refused"] == 0, (where, rep)
                assert rep["duplicate_events"] == len(held), (where, rep, len(held))
            elif p[0] == "stick":
                s = inv["sticks"][p[1]]
                d = tempfile.mkdtemp(prefix="stick-", dir=t.root)
                shutil.copy(s["path"], d)
                r = t.run("bundle", "import", d, operator=None)
                # an older stick after a newer one is no refusal: nothing moves
                assert r.returncode == 0, (where, r.returncode, r.stdout, r.stderr)
                m = re.match(r"imported 1 bundles: (\d+) feeds advanced; (\d+) events ingested \((\d+) already held\);"
                             r" (\d+) refused", r.stdout)
                assert m and m.group(4) == "0", (where, r.stdout, r.stderr)
                stats["sticks"] += 1
                for ref, n in s["prefix"].items():
                    got[ref] = max(got.get(ref, 0), n)
            else:
                _, ref, n = p
                hub = make_hub(t.root, inv["hub_objects"], ref, inv["feeds"][ref][n - 1][0])
                r = t.run("sync", "--remote", hub, "--json", operator=None)
                assert r.returncode == 0, (where, r.returncode, r.stdout, r.stderr)
                rep = json.loads(r.stdout)
                assert rep["refused"] == 0 and rep["ok"], (where, rep)
                shutil.rmtree(hub)
                stats["hubs"] += 1
                if entitled(ref.split("/")[2]):
                    got[ref] = max(got.get(ref, 0), n)
                else:
                    stats["foreign"] += 1
            stats["deliveries"] += 1
            # exactly the events of the prefixes delivered, as the writers wrote them
            now = read_events(db)
            want = expected_events(inv, got)
            assert set(now) == set(want), (where, "missing", sorted(set(want) - set(now))[:5],
                                           "extra", sorted(set(now) - set(want))[:5])
            assert now == want, (where, "an event differs from the source's")
            new = [now[key] for key in sorted(set(now) - set(held), key=lambda x: now[x][2])]
            after = rows(db)
            if not new:
                # nothing came: the store is as it was (the feed positions too,
                # unless they were just forgotten and learnt again)
                assert after == before, (where, "a delivery that brought nothing changed the tables")
                if p[0] != "forget":
                    stats["stale"] += 1
                    assert feed_heads(db) == heads_before, (where, "a stale delivery moved a feed")
            else:
                # what the incremental fold wrote is what a fold from scratch gives
                # (a delivery that brought nothing left what was verified)
                r = t.run("rebuild", "--verify", operator=None)
                assert r.returncode == 0, (where, r.stdout, r.stderr)
            # measures of disorder, against what was folded before this delivery
            by_app = {}
            for e in held.values():
                if e[6]:
                    by_app.setdefault(e[6], []).append(e)
            firsts = {}
            for e in new:
                a = e[6]
                if not a:
                    continue
                folded = by_app.get(a, [])
                if any(b[2] > e[2] for b in folded):
                    stats["late"] += 1      # earlier stamp than something already folded
                if e[5] == "app.created":
                    if folded:
                        stats["late_creations"] += 1
                elif not any(b[5] == "app.created" for b in folded) and not any(
                        x[6] == a and x[5] == "app.created" for x in new):
                    stats["orphans"] += 1   # folded before its application exists here
                if not any(b[0] == e[0] for b in folded):
                    firsts.setdefault(a, set()).add(e[0])
            for a, ws in firsts.items():
                arrival.setdefault(a, []).append(tuple(sorted(ws)))
            with sqlite3.connect(db) as c:
                conflicts = set(c.execute("SELECT app, node, seq, reason FROM conflicts"))
            seen_conflicts |= conflicts
            held, before = now, after
        # the end: everything, and the same state as a rebuild gives
        assert set(held) == {key for key, e in inv["events"].items() if entitled(e[7])}, \
            f"FOLD_SEED={seed}, order {k}: incomplete"
        final = dump(db)
        with sqlite3.connect(db) as c:
            conflicts = set(c.execute("SELECT app, node, seq, reason FROM conflicts"))
        stats["cleared_conflicts"] = len(seen_conflicts - conflicts)
        t.ok("rebuild", operator=None)
        assert dump(db) == final, f"FOLD_SEED={seed}, order {k}: the incremental fold differs from a rebuild"
        views = {v: dump(db, v) for v in HUB_VILLAGES + [USB_VILLAGE]}
        return k, final, stats, {a: tuple(w) for a, w in arrival.items()}, views
    finally:
        t.cleanup()


class FoldOrders(unittest.TestCase):
    def test_any_arrival_order_same_state(self):
        print(f"seed {SEED} (FOLD_SEED={SEED} replays it)", flush=True)
        t0 = time.time()
        rng = random.Random(SEED)
        root = tempfile.mkdtemp(prefix="daiban-fold-")
        src = Source(rng, root)
        try:
            src.run_epochs(EPOCHS)
            inv = inventory(src)
            mine = {key: e for key, e in inv["events"].items() if entitled(e[7])}
            nwriters = {e[0] for e in mine.values()}
            with src.county.db() as c:
                napps, nconf = c.execute("SELECT count(*), sum(nconflicts) FROM apps WHERE id LIKE ?",
                                         (RECEIVER + "%",)).fetchone()
            print(f"source: {len(mine)} events for the township's villages from {len(nwriters)} writers, "
                  f"{napps} applications, {nconf} conflicts, {src.races} races; "
                  f"{len(inv['feeds'])} feeds of {sum(len(c) for c in inv['feeds'].values())} change sets, "
                  f"{len(inv['sticks'])} sticks ({time.time() - t0:.1f} s)", flush=True)
            self.assertGreater(nconf, 0, "the world should produce conflicts to compare")
            self.assertTrue({COUNTY, *HUB_VILLAGES, USB_VILLAGE} <= nwriters, nwriters)
            self.assertTrue(all(len(c) >= 3 for r, c in inv["feeds"].items()
                                if entitled(r.split("/")[2]) and r.endswith("/" + r.split("/")[2])),
                            "every village's own feed should be many change sets")
            # the views of the partitions the receiver holds, as the writers see them
            want = dump(os.path.join(src.county.home, "store.db"), RECEIVER)
            village_views = {v: dump(os.path.join(src.nodes[v].home, "store.db"), v)
                             for v in HUB_VILLAGES + [USB_VILLAGE]}

            jobs = [(inv, k, SEED, root) for k in range(ORDERS)]
            results = []
            with multiprocessing.Pool(JOBS) as pool:
                for res in pool.imap_unordered(run_order, jobs):
                    results.append(res)
            results.sort()
            total = {key: sum(r[2][key] for r in results) for key in results[0][2]}
            print(f"{ORDERS} arrival orders: {total['deliveries']} deliveries ({total['sticks']} sticks, "
                  f"{total['hubs']} hub fetches of a feed prefix, {total['foreign']} of another township's, "
                  f"{total['forgotten']} forgotten positions); {total['stale']} brought nothing", flush=True)
            print(f"  late events (stamped before an event of their application already folded): {total['late']}, "
                  f"in {sum(1 for r in results if r[2]['late'])} of {ORDERS} orders", flush=True)
            print(f"  events folded before their application's creation arrived: {total['orphans']}; "
                  f"creations arriving after later events: {total['late_creations']}; "
                  f"conflicts cleared by a later arrival: {total['cleared_conflicts']}; "
                  f"duplicate events after a forgotten position: {total['duplicates']}", flush=True)
            # the orders really differed: per application, the writers in the
            # order their events first arrived
            multi = {a for r in results for a, w in r[3].items() if len({x for b in w for x in b}) > 1}
            differing = {a for a in multi if len({r[3].get(a) for r in results}) > 1}
            firsts = {a: {r[3][a][0] for r in results if a in r[3]} for a in multi}
            print(f"  applications written by several nodes: {len(multi)}; whose writers' events arrived in different "
                  f"orders across the runs: {len(differing)}; whose first arriving event came from different writers: "
                  f"{sum(1 for f in firsts.values() if len(f) > 1)}", flush=True)
            for k, final, _, _, views in results:
                self.assertEqual(final, results[0][1], f"FOLD_SEED={SEED}: order {k} differs from order 0")
                self.assertEqual(final, want, f"FOLD_SEED={SEED}: order {k} differs from the county's view")
                for v, view in village_views.items():
                    self.assertEqual(views[v], view, f"FOLD_SEED={SEED}: order {k} differs from village {v}'s view")
            self.assertGreater(total["late"], 0)
            self.assertGreaterEqual(sum(1 for r in results if r[2]["late"]), (ORDERS + 1) // 2)
            self.assertGreater(total["orphans"], 0)
            self.assertGreater(total["late_creations"], 0)
            self.assertGreater(total["cleared_conflicts"], 0)
            self.assertGreater(total["stale"], 0)
            if ORDERS > 1:
                self.assertGreater(len(differing), 0)
            print(f"{ORDERS} orders agree with each other, with a rebuild and with the writers' views "
                  f"({len(results[0][1])} bytes of derived tables; {time.time() - t0:.1f} s)", flush=True)
        finally:
            src.cleanup()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
