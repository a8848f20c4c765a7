#!/usr/bin/env python3
"""Convergence property test across processes, over the whole state.

The world is the sample catalogue's whole county (divisions.csv): the
county (whose repository is the hub), its three townships and seven
villages, each a separate home driven by separate `daiban` processes.
Two villages, under two townships, have no link: their feeds go by USB
stick through their township. Random operations of every role
interleave with syncs: captures at villages and townships (single
matters decided by the county, by the township, or reviewed by the
township and decided by the county; the "one thing" after-death bundle;
drafts; 容缺 acceptances; scanned materials), materials, submissions,
edits, resubmissions after a return, withdrawals, reviews (pass and
return), decisions (approve and reject), deliveries, ratings, operators
added and renamed, races (the station withdraws or records a material
while the office that holds the application, not having seen that,
decides, passes or returns it, in either order: the fold must make one
of them a conflict, the same one everywhere), duplicated deliveries (a
node forgets where its ingest stood and receives everything again),
stick trips cut half-way or imported twice, single syncs in random
order and waves of syncs (a random subset of nodes, mostly up then
down the hierarchy, sometimes shuffled). Commands that the lifecycle
refuses are tried on purpose.

Every `daiban` process's exit code is checked: a command that the
lifecycle allows (as the test's own model of docs/lifecycle.md predicts
from the node's local state) must exit 0 and write events; one it
refuses must exit 1 with a `daiban:` message and leave the node's events
unchanged; nothing may die by a signal or print a sanitizer report.
Sync, bundle export and import, rebuild, hall tokens, remote set: always
0; the hall must exit 0 on SIGTERM. Through the hall the county's store
changes while the test looks (the hall ingests each push at once), so a
county command that the model misjudged is judged again on the state
after it (counted as hall_races).

At the end, a full exchange (villages, townships, the county, townships,
villages), then the stations resubmit what was returned, deliver what
was decided and record ratings, and send that up to their township and
the county. Then, for every node and every partition it is entitled to:

* the events (every column, keyed by writer and seq, compared by a hash
  of the whole row) equal the county's;
* every derived table, as the store's schema lists them at run time
  (sqlite_master and PRAGMA table_info: every table but `events`,
  `meta` and `feed_heads`, which are the log, the node's configuration
  and its ingest position; docs/store.md), every column, equals the
  county's. A row belongs to a partition by its `origin`, else by its
  `app` (the partition of that application's events), else by its
  `node`: that is `operators`, which replicates like the rest, since
  `operator.added` is written into the partition of its writer
  (docs/change-set.md), so a node's `operators` rows for a partition
  (its own, a township's villages') equal the county's. A derived table
  with none of these columns fails the test, so a new one cannot be
  left out unnoticed; a new column is compared with the rest;
* its feed refs (`refs/feeds/<partition>/<writer>`) point at the same
  commits as the county's.

Entitlement: a village holds only its own partition, a township its own
and its villages'. Checked in the store (events and every derived
table), in the git refs (every ref naming a partition: feeds, scans,
incoming, scan bookkeeping), and by object id: no commit, tree or blob
reachable only from other partitions' feeds or scans may be in the
node's repository.

The county is not only compared with itself: every writer's own events
(in its own store) must be exactly the county's events of that writer
(nothing acknowledged is lost, nothing is invented), a copy of the
county's home rebuilt from scratch (`daiban rebuild`) must equal the
county's incrementally folded tables, and every node's `rebuild
--verify` passes.

Across the seeds the test counts what happened (at the county, after
convergence) and prints it: applications, events, conflicts, returns,
corrections (resubmissions after a return), approvals, rejections,
deliveries, ratings, withdrawals, refusals, ...; with 20 seeds or more,
conflicts, returns, corrections, approvals, rejections and deliveries
must each have happened.

CONVERGE_SEEDS (default 100) seeds run, CONVERGE_JOBS (default 2; 3
through the hall, which waits on its own work) at a time;
CONVERGE_SEED=N replays one (its figures are printed, not asserted;
syncs race with the clock, so a replay follows the same choices but not
always the same stamps). CONVERGE_STEPS (default 50) random steps per
world. Every failing seed is printed with what went wrong.
CONVERGE_VIA=hall runs the same worlds through the county hall (`daiban
hall serve` on loopback, a token per node) instead of the hub path.

Speed: the nodes' fresh homes (init, operator, the hub path or the hall
tokens) are made once and copied into each world; on the hub path the
remote is the county's repository by a relative path, the same in every
world (each node's commands run in its folder). The homes live under
/dev/shm when it has room (CONVERGE_TMPDIR overrides): the test is about
convergence, not durability, and tmpfs spares the fsyncs."""
import collections
import contextlib
import csv
import hashlib
import json
import multiprocessing
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import DAIBAN, SAMPLE, Station, app_file  # noqa: E402

SEEDS = int(os.environ.get("CONVERGE_SEEDS", "100"))
VIA = os.environ.get("CONVERGE_VIA", "hub")
ONE = os.environ.get("CONVERGE_SEED")
STEPS = int(os.environ.get("CONVERGE_STEPS", "50"))
JOBS = int(os.environ.get("CONVERGE_JOBS", "3" if VIA == "hall" else "2"))   # the hall waits on its own
TODAY = "2026-11-24"


def sheet(name):
    with open(os.path.join(SAMPLE, name), encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


DIVISIONS = {r["code"]: r for r in sheet("divisions.csv")}
COUNTY = next(c for c, r in DIVISIONS.items() if r["level"] == "county")
TOWNSHIPS = sorted(c for c, r in DIVISIONS.items() if r["level"] == "township")
VILLAGES = sorted(c for c, r in DIVISIONS.items() if r["level"] == "village")
PARENT = {c: r["parent"] for c, r in DIVISIONS.items()}
# no link: the last village of the first and of the last township travels by stick
USB = {sorted(v for v in VILLAGES if PARENT[v] == t)[-1]: t for t in (TOWNSHIPS[0], TOWNSHIPS[-1])}
ROLE = {c: r["level"] for c, r in DIVISIONS.items()}
assert len(TOWNSHIPS) >= 3 and len(VILLAGES) >= 6, "the sample catalogue should have several townships"

# what each matter asks for (required, always relevant), and what may come later (容缺)
REQUIRED = collections.defaultdict(list)
DEFICIENT_OK = set()
for _r in sheet("matter_materials.csv"):
    if _r["required"] == "yes" and not _r["relevant"]:
        REQUIRED[_r["matter"]].append(_r["material"])
    if _r["deficiency_ok"] == "yes":
        DEFICIENT_OK.add((_r["matter"], _r["material"]))
BUNDLES = {r["code"]: r["matters"].split(";") for r in sheet("bundles.csv")}

# what stations capture: village matters decided by the county without
# review, decided by the township, reviewed by the township and decided
# by the county, and the after-death bundle (three county matters)
CAPTURE = {
    "village": [("RS-YL-001", 3), ("MZ-LSJZ-001", 3), ("MZ-DB-001", 3), ("YJS-SHS-001", 1)],
    "township": [("RS-YL-001", 1), ("MZ-LSJZ-001", 1)],
}
OPEN = ("draft", "accepted", "returned", "passed")
NODE_LOCAL = {"events", "meta", "feed_heads"}     # the log, the configuration, the ingest position
PART_RE = re.compile(r"^\d{9}$|^\d{12}$|^\d{6}$")
SANITIZER = re.compile(r"Sanitizer|runtime error:|LeakSanitizer|Segmentation fault|Assertion .* failed")
FIGURES = ["worlds", "applications", "events", "conflicts", "returns", "corrections", "approvals",
           "rejections", "deliveries", "ratings", "withdrawals", "deficient", "bundles", "township_captures",
           "scans", "operators_added", "refusals", "processes", "syncs", "stick_trips", "forgotten_heads",
           "hall_races", "key_rotations", "key_revocations", "roster_lags"]
MUST_HAPPEN = ["conflicts", "returns", "corrections", "approvals", "rejections", "deliveries", "key_rotations", "key_revocations"]


def entitled(node, part):
    """A node holds the partitions whose code starts with its own."""
    return part.startswith(node)


def tmp_root():
    d = os.environ.get("CONVERGE_TMPDIR")
    if d:
        return d
    try:
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize >= 1 << 30 and os.access("/dev/shm", os.W_OK):
            return "/dev/shm"
    except OSError:
        pass
    return None


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_exit(what, r, expect):
    """expect 0: success. expect 1: a refusal, exit 1 with a message."""
    tail = f"{what}: exit {r.returncode}\nstdout: {r.stdout[-1500:]}\nstderr: {r.stderr[-1500:]}"
    check(r.returncode >= 0, f"{what} died by signal {-r.returncode}\n{tail}")
    check(not SANITIZER.search(r.stderr), f"sanitizer report in {tail}")
    if expect == 0:
        check(r.returncode == 0, f"expected success; {tail}")
    else:
        check(r.returncode == 1 and r.stderr.startswith("daiban:"),
              f"expected a refusal (exit 1 and a message); {tail}")


def git(repo, *args, input=None):
    r = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, input=input,
                       env=dict(os.environ, GIT_TERMINAL_PROMPT="0"))
    check(r.returncode == 0, f"git {' '.join(args)} in {repo}: {r.stderr}")
    return r.stdout


# ---- homes ---------------------------------------------------------------------------------------

TEMPLATES = None
HUB = os.path.join("..", COUNTY, "home", "repo")     # from a node's folder in its world


def make_templates():
    """Every node's freshly initialised home (init, operator op01; on the
    hub path its remote, the county's repository by a path relative to
    the node's folder, the same in every world; for the hall, the
    county's token for each node), made once and copied into each world
    (the worlds are independent, so they may share these first events)."""
    root = tempfile.mkdtemp(prefix="daiban-converge-templates-")
    tokens = {}
    for code in [COUNTY] + TOWNSHIPS + VILLAGES:
        os.makedirs(os.path.join(root, code))
        Station(root=os.path.join(root, code), node=code, role=ROLE[code], today=TODAY)
        n = Node(code, root, fresh=False)
        if code != COUNTY and code not in USB:
            if VIA == "hall":
                r = Node(COUNTY, root, fresh=False).run("hall", "token", code, operator=None)
                check_exit(f"template: daiban hall token {code}", r, 0)
                tokens[code] = r.stdout.strip()
            else:
                check_exit(f"template {code}: daiban remote set {HUB}", n.run("remote", "set", HUB, operator=None), 0)
    with open(os.path.join(root, "tokens.json"), "w") as f:
        json.dump(tokens, f)
    return root


class Node(Station):
    """A node's home in a world's folder, copied from its template; its
    commands run in the node's folder (so the hub's relative path works)."""

    def __init__(self, code, world, fresh=True):
        self.code = code
        self.root = os.path.join(world, code)
        self.home = os.path.join(self.root, "home")
        self.today = TODAY
        self.operator = "op01"
        self.repo = os.path.join(self.home, "repo")
        if fresh:
            os.makedirs(self.root)
            shutil.copytree(os.path.join(TEMPLATES, code, "home"), self.home, symlinks=True)

    def run(self, *args, operator="-", lang="C.UTF-8", extra=None, timeout=120):
        return subprocess.run([DAIBAN, *args], capture_output=True, text=True, timeout=timeout,
                              env=self.env(operator, lang, extra), cwd=self.root)


# ---- the state of a store, for comparison --------------------------------------------------------

class Snapshot:
    """Everything a node's store holds, by partition: its events and
    every derived table the schema lists, every column."""

    def __init__(self, s):
        self.code = s.code
        with contextlib.closing(s.db()) as c:
            self.schema = {n: sql for n, sql in c.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
            check("events" in self.schema, f"{s.code}: no events table")
            self.derived = sorted(set(self.schema) - NODE_LOCAL)
            ecols, _ = self.columns(c, "events")
            self.events = {}            # (node, seq) -> (part, sha256 of the whole row)
            self.event_rows = []
            for row in c.execute("SELECT %s FROM events" % ",".join(ecols)):
                d = dict(zip(ecols, row))
                self.events[(d["node"], d["seq"])] = (d["part"], hashlib.sha256(repr(row).encode()).hexdigest())
                self.event_rows.append(d)
            self.app_part = {}
            for d in self.event_rows:
                if d["app"] is not None:
                    p = self.app_part.setdefault(d["app"], d["part"])
                    check(p == d["part"],
                          f"{s.code}: application {d['app']} has events in partitions {p} and {d['part']}")
                elif d["type"] == "operator.added":
                    check(d["part"] == d["node"],
                          f"{s.code}: operator event {d['node']}/{d['seq']} in partition {d['part']}")
            self.tables = {}            # table -> (columns, {partition: sorted rows})
            for t in self.derived:
                cols, key = self.columns(c, t)
                if not {"origin", "app", "node"} & set(cols):
                    raise Failure(f"derived table {t} has no origin, app or node column: the test cannot tell "
                                  "the partition of its rows; teach converge.py where they belong")
                rows = c.execute("SELECT %s FROM \"%s\" ORDER BY %s" % (",".join(f'"{x}"' for x in cols), t,
                                                                         ",".join(f'"{x}"' for x in key))).fetchall()
                parts = collections.defaultdict(list)
                for row in rows:
                    parts[self.partition(t, dict(zip(cols, row)))].append(row)
                self.tables[t] = (cols, key, dict(parts))

    @staticmethod
    def columns(c, t):
        info = c.execute(f'PRAGMA table_info("{t}")').fetchall()
        cols = [r[1] for r in info]
        key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0] or cols
        return cols, key

    def partition(self, t, row):
        if "origin" in row:
            p = row["origin"]
            if "id" in row:
                check(self.app_part.get(row["id"]) == p,
                      f"{self.code}: {t} row {row['id']} of origin {p}, but its events are in "
                      f"{self.app_part.get(row['id'])}")
            return p
        if "app" in row:
            check(row["app"] in self.app_part, f"{self.code}: {t} row for {row['app']}, which has no events here")
            return self.app_part[row["app"]]
        return row["node"]

    def parts(self):
        ps = {p for p, _ in self.events.values()}
        for _, _, by in self.tables.values():
            ps |= set(by)
        return ps

    def events_of(self, part):
        return {k: h for k, (p, h) in self.events.items() if p == part}


def diff_rows(t, cols, key, mine, ref):
    """The first difference between two lists of rows, for the message."""
    ki = [cols.index(k) for k in key]
    a = {tuple(r[i] for i in ki): r for r in mine}
    b = {tuple(r[i] for i in ki): r for r in ref}
    for k in sorted(set(a) | set(b), key=repr):
        if k not in a:
            return f"{t} {k}: missing (the reference has {dict(zip(cols, b[k]))})"
        if k not in b:
            return f"{t} {k}: extra row {dict(zip(cols, a[k]))}"
        if a[k] != b[k]:
            cs = [f"{c}: {x!r} vs {y!r}" for c, x, y in zip(cols, a[k], b[k]) if x != y]
            return f"{t} {k}: " + "; ".join(cs)
    return f"{t}: rows differ in order"


def compare(mine, ref, parts, label):
    """Events and every derived table of the partitions parts, mine
    against ref; the list of differences."""
    out = []
    if mine.schema != ref.schema:
        out.append(f"{label}: the schemas differ")
        return out
    for p in sorted(parts):
        ea, eb = mine.events_of(p), ref.events_of(p)
        if ea != eb:
            miss = sorted(set(eb) - set(ea))[:5]
            extra = sorted(set(ea) - set(eb))[:5]
            changed = sorted(k for k in set(ea) & set(eb) if ea[k] != eb[k])[:5]
            out.append(f"{label}: events of partition {p} differ: missing {miss}, extra {extra}, "
                       f"different content {changed}")
        for t in mine.derived:
            cols, key, by = mine.tables[t]
            ra, rb = by.get(p, []), ref.tables[t][2].get(p, [])
            if ra != rb:
                out.append(f"{label}: partition {p}: " + diff_rows(t, cols, key, ra, rb))
    return out


def refs(repo):
    out = {}
    for line in git(repo, "for-each-ref", "--format=%(refname) %(objectname)").splitlines():
        name, oid = line.split()
        out[name] = oid
    return out


def ref_partition(name):
    """The partition a ref carries (feeds, scans, incoming, scan
    bookkeeping), or None (the catalogue and the key roster, which every
    node of the county holds)."""
    comps = name.split("/")
    if comps[:2] in (["refs", "catalog"], ["refs", "roster"]) or \
            comps[:3] in (["refs", "incoming", "catalog"], ["refs", "incoming", "roster"]):
        return None
    for c in comps:
        if PART_RE.match(c):
            return c
    raise Failure(f"unexpected ref {name}: the test cannot tell its partition")


# ---- the world -----------------------------------------------------------------------------------

class World:
    def __init__(self, seed, rng):
        self.seed = seed
        self.rng = rng
        self.stats = collections.Counter()
        self.nodes = {}
        self.mine = {c: [] for c in TOWNSHIPS + VILLAGES}     # applications each station took
        self.ops = {c: ["op01"] for c in [COUNTY] + TOWNSHIPS + VILLAGES}   # operators registered at each node
        self.hall = None
        self.conns = {}
        self.rekeyed = set()        # stations that got a new key in this world
        self.dir = tempfile.mkdtemp(prefix="daiban-world-")
        try:
            for code in [COUNTY] + TOWNSHIPS + VILLAGES:
                self.nodes[code] = Node(code, self.dir)
            self.county = self.nodes[COUNTY]
            self.hub = self.county.repo
            if VIA == "hall":
                from hall import Hall
                self.hall = Hall(self.county)
                with open(os.path.join(TEMPLATES, "tokens.json")) as f:
                    tokens = json.load(f)
                for code, token in sorted(tokens.items()):
                    self.run(code, "remote", "set", self.hall.url, "--token", token, operator=None)
            self.sticks = {}
            for v in USB:
                self.sticks[v] = os.path.join(self.nodes[v].root, "stick")
                os.makedirs(self.sticks[v])
        except BaseException:
            self.cleanup()
            raise

    def db(self, code):
        """A connection to a node's store, kept for the world's life
        (autocommit: every read sees what the last process wrote)."""
        c = self.conns.get(code)
        if c is None:
            c = self.conns[code] = sqlite3.connect(os.path.join(self.nodes[code].home, "store.db"), timeout=60,
                                                   isolation_level=None)
        return c

    def cleanup(self):
        for c in self.conns.values():
            c.close()
        self.conns = {}
        if self.hall and self.hall.proc.returncode is None:
            self.hall.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # -- processes --

    def own_events(self, code):
        return self.db(code).execute("SELECT count(*) FROM events WHERE node = ?", (code,)).fetchone()[0]

    def run(self, code, *args, expect=0, operator="-", recheck=None):
        """Run daiban at a node and check its exit code. recheck: the
        model's answer on the state as it is now, for the county, whose
        store the hall changes while the test looks (it ingests every
        push at once)."""
        s = self.nodes[code]
        before = self.own_events(code)
        if operator == "-":
            operator = self.rng.choice(self.ops[code])
        r = s.run(*args, operator=operator)
        self.stats["processes"] += 1
        if recheck and self.hall and code == COUNTY and r.returncode in (0, 1) and r.returncode != expect:
            # refused: the state it was judged on must forbid it now; accepted:
            # what the hall brought in meanwhile made it valid
            self.stats["hall_races"] += 1
            if r.returncode == 1:
                check(not recheck(), f"node {code}: daiban {' '.join(args)} refused, though valid in the state"
                      f" before and after: {r.stderr}")
            expect = r.returncode
        if r.returncode == 1 and expect == 0 and args[0] in ("sync", "bundle") and self.rekeyed:
            # a station's new key reaches a node with the county's roster:
            # until then the node refuses that station's newest change sets
            # (and takes them at a later exchange). Nothing else may be refused.
            refused = [ln for ln in r.stderr.splitlines() if "refused" in ln]
            lag = [ln for ln in refused if any(f"does not give {k}" in ln for k in self.rekeyed)]
            if refused and lag == refused:
                self.stats["roster_lags"] += 1
                expect = 1
        check_exit(f"node {code}: daiban {' '.join(args)}", r, expect)
        after = self.own_events(code)
        if expect and args[0] in ("sync", "bundle"):
            pass        # a sync commits the node's own events before it reports a refusal
        elif expect:
            self.stats["refusals"] += 1
            check(after == before, f"node {code}: daiban {' '.join(args)} was refused but wrote events")
        elif args[0] in ("app", "review", "decide", "operator"):
            check(after > before, f"node {code}: daiban {' '.join(args)} succeeded but wrote no event")
        return r

    def out(self, code, *args, **kw):
        return self.run(code, *args, **kw).stdout.strip()

    # -- the local view --

    def row(self, code, a):
        c = self.db(code)
        cur = c.execute("SELECT * FROM apps WHERE id = ?", (a,))
        r = cur.fetchone()
        if r is None:
            return None, {}
        mats = dict(c.execute("SELECT material, state FROM app_materials WHERE app = ?", (a,)).fetchall())
        return dict(zip([d[0] for d in cur.description], r)), mats

    @staticmethod
    def complete(row, mats):
        return all(mats.get(m) in ("provided", "deficient") for m in REQUIRED[row["matter"]])

    @staticmethod
    def station_allows(cmd, row, mats):
        """docs/lifecycle.md, for the station that took the application."""
        st = row["status"]
        if cmd == "edit":
            return st in ("draft", "returned")
        if cmd == "material":
            return st in OPEN
        if cmd == "submit":
            return st in ("draft", "returned") and World.complete(row, mats)
        if cmd == "withdraw":
            return st in OPEN
        if cmd == "deliver":
            return st in ("approved", "rejected")
        if cmd == "rate":
            return st == "delivered"
        raise ValueError(cmd)

    @staticmethod
    def office_allows(code, action, row):
        """docs/lifecycle.md, for an office: pass, return or decide."""
        st, rev, dec = row["status"], row["reviewer"] or None, row["decider"]
        separate = rev is not None and rev != dec
        if action == "pass":
            return separate and code == rev and st == "accepted"
        if action == "return":
            return (code == rev and st == "accepted") or \
                   (code == dec and (st == "passed" or (st == "accepted" and not separate)))
        if action == "decide":
            return code == dec and (st == "passed" or (st == "accepted" and not separate))
        raise ValueError(action)

    # -- stations --

    def data_file(self, code, matter):
        with open(app_file(matter + "-valid.json"), encoding="utf-8") as f:
            d = json.load(f)
        rng = self.rng
        if "phone" in d and d["phone"].startswith("1"):
            d["phone"] = "13" + "".join(rng.choice("0123456789") for _ in range(9))
        if matter == "RS-YL-001":
            d["tier"] = rng.choice(["100", "200", "300", "500", "800", "1000", "1500", "2000"])
        if matter == "MZ-LSJZ-001":
            d["amount"] = "%d.%02d" % (rng.randint(1, 19999), rng.randint(0, 99))
            d["emergency_type"] = rng.choice(["fire", "accident", "illness", "disaster", "other"])
        if matter == "MZ-DB-001":
            d["members"][0]["monthly_income"] = "%d.50" % rng.randint(0, 900)
        return self.nodes[code].write_json(d, "data.json")

    def scan_file(self, code):
        p = os.path.join(self.nodes[code].root, "scan.bin")
        with open(p, "wb") as f:
            f.write(self.rng.randbytes(self.rng.randint(200, 3000)))
        return p

    def capture(self, code):
        rng = self.rng
        matter = rng.choices(*zip(*CAPTURE[ROLE[code]]))[0]
        members = BUNDLES.get(matter, [matter])
        asked = sorted({m for x in members for m in REQUIRED[x]})
        x = rng.random()
        mats, submit = [], False
        if x < 0.7:
            # accepted at the window in one step, 容缺 where every member allows it
            for m in asked:
                late = all((x2, m) in DEFICIENT_OK for x2 in members if m in REQUIRED[x2])
                mats.append({"material": m, "state": "deficient" if late and rng.random() < 0.4 else "provided"})
            submit = True
        elif x < 0.8 and len(members) == 1:
            # --submit with a material missing: refused, nothing saved
            gone = rng.choice(asked)
            mats = [{"material": m, "state": "provided"} for m in asked if m != gone]
            args = ["app", "new", matter, "--data", self.data_file(code, matter), "--submit"]
            if mats:
                args += ["--materials", self.nodes[code].write_json(mats, "materials.json")]
            self.run(code, *args, expect=1)
            return
        elif len(members) == 1:
            # a draft, some materials given
            mats = [{"material": m, "state": "provided"} for m in asked if rng.random() < 0.5]
        else:
            return
        args = ["app", "new", matter, "--data", self.data_file(code, matter)]
        if mats:
            args += ["--materials", self.nodes[code].write_json(mats, "materials.json")]
        if submit:
            args.append("--submit")
        a = self.out(code, *args).split()[0]
        if a.startswith("B"):
            ids = [r[0] for r in self.db(code).execute("SELECT id FROM apps WHERE bundle = ? ORDER BY id", (a,))]
            check(len(ids) == len(members), f"node {code}: bundle {a} has {ids}")
            self.mine[code] += ids
        else:
            self.mine[code].append(a)

    def material_cmd(self, code, a, row, mats):
        """Supply a missing (or deficient) material: provided, sometimes
        with a scan, or deficient where the matter allows it."""
        need = [m for m in REQUIRED[row["matter"]] if mats.get(m) != "provided"]
        if not need:
            return None
        m = self.rng.choice(need)
        if (row["matter"], m) in DEFICIENT_OK and mats.get(m) != "deficient" and self.rng.random() < 0.3:
            return ["app", "material", a, m, "deficient"]
        if self.rng.random() < 0.15:
            return ["app", "material", a, m, "provided", "--file", self.scan_file(code)]
        return ["app", "material", a, m, "provided"]

    def station_step(self, code):
        """The natural next step, as the station sees the application."""
        rng = self.rng
        if not self.mine[code]:
            return self.capture(code)
        # mostly what waits for the station: drafts, returns, results to
        # deliver, ratings, 容缺 materials to supply
        todo = [r[0] for r in self.db(code).execute(
            "SELECT id FROM apps WHERE origin = ?1"
            " AND (status IN ('draft','returned','approved','rejected','delivered')"
            " OR (status IN ('accepted','passed') AND id IN (SELECT app FROM app_materials WHERE state = 'deficient')))"
            " ORDER BY id", (code,))]
        self.station_act(code, rng.choice(todo if todo and rng.random() < 0.85 else self.mine[code]))

    def station_act(self, code, a, closing=False):
        """One step on one application; closing: only what ends or
        resumes its course (resubmit, deliver, rate). True when it ran."""
        rng = self.rng
        row, mats = self.row(code, a)
        st = row["status"]
        cmd = None
        if closing and st not in ("returned", "approved", "rejected", "delivered"):
            return False
        if st in ("draft", "returned"):
            if row["bundle"] is None and rng.random() < 0.2:
                cmd = ["app", "edit", a, "--data", self.data_file(code, row["matter"])]
            elif not self.complete(row, mats) or rng.random() < 0.1:
                cmd = self.material_cmd(code, a, row, mats)
            if cmd is None:
                cmd = ["app", "submit", a]
        elif st in ("accepted", "passed"):
            if "deficient" in mats.values() and rng.random() < 0.5:
                cmd = ["app", "material", a, rng.choice([m for m, s in mats.items() if s == "deficient"]), "provided"]
            elif rng.random() < 0.1:
                cmd = ["app", "withdraw", a, "--reason", "申请人撤回"]
        elif st in ("approved", "rejected"):
            cmd = ["app", "deliver", a]
        elif st == "delivered":
            cmd = ["app", "rate", a, "--level", str(rng.randint(1, 5))]
            if rng.random() < 0.3:
                cmd += ["--comment", rng.choice(["很满意", "办事快", "等太久"])]
        if cmd:
            self.run(code, *cmd, expect=0 if self.station_allows(cmd[1], row, mats) else 1)
        return bool(cmd)

    def station_wrong(self, code):
        """Any station command on any of its applications: the model says
        whether it is allowed."""
        if not self.mine[code]:
            return
        rng = self.rng
        a = rng.choice(self.mine[code])
        row, mats = self.row(code, a)
        kind = rng.choice(["material", "deficient", "submit", "withdraw", "deliver", "rate", "edit"])
        if kind == "material":
            m = rng.choice(REQUIRED[row["matter"]])
            ok = self.station_allows("material", row, mats)
            self.run(code, "app", "material", a, m, rng.choice(["missing", "provided"]), expect=0 if ok else 1)
        elif kind == "deficient":
            m = rng.choice(REQUIRED[row["matter"]])
            ok = self.station_allows("material", row, mats) and (row["matter"], m) in DEFICIENT_OK
            self.run(code, "app", "material", a, m, "deficient", expect=0 if ok else 1)
        elif kind == "edit":
            if row["bundle"] is None:
                self.run(code, "app", "edit", a, "--data", self.data_file(code, row["matter"]),
                         expect=0 if self.station_allows("edit", row, mats) else 1)
        else:
            args = {"submit": ["app", "submit", a], "withdraw": ["app", "withdraw", a, "--reason", "x"],
                    "deliver": ["app", "deliver", a], "rate": ["app", "rate", a, "--level", "3"]}[kind]
            self.run(code, *args, expect=0 if self.station_allows(kind, row, mats) else 1)
        # a station never acts on another station's application
        others = [c for c in self.mine if c != code and self.mine[c]]
        if others and rng.random() < 0.2:
            o = rng.choice(others)
            b = rng.choice(self.mine[o])
            if self.row(code, b)[0] is not None:
                self.run(code, "app", rng.choice(["deliver", "submit"]), b, expect=1)

    # -- offices --

    def office_act(self, code, a, row, action=None):
        if action is None:
            can = [x for x in ("pass", "return", "decide") if self.office_allows(code, x, row)]
            if not can:
                return
            w = {"pass": 4, "return": 1.5, "decide": 4}
            action = self.rng.choices(can, [w[x] for x in can])[0]
        ok = self.office_allows(code, action, row)
        recheck = lambda: self.office_allows(code, action, self.row(code, a)[0])  # noqa: E731
        if action == "decide":
            self.run(code, "decide", a, self.rng.choice(["approve", "approve", "reject"]), "--reason", "依规审查",
                     expect=0 if ok else 1, recheck=recheck)
        else:
            self.run(code, "review", a, action, "--reason", "材料不清晰，请补正", expect=0 if ok else 1,
                     recheck=recheck)

    def held(self, code):
        return [r[0] for r in self.db(code).execute("SELECT id FROM apps WHERE holder = ? AND status IN"
                                                    " ('accepted','passed') ORDER BY id", (code,))]

    def office_step(self, code):
        """An office works through some of what it holds."""
        queue = self.held(code)
        for a in self.rng.sample(queue, min(len(queue), self.rng.randint(1, 5))):
            self.office_act(code, a, self.row(code, a)[0])

    def office_wrong(self, code):
        """Any office action on any application this office can see."""
        ids = [r[0] for r in self.db(code).execute("SELECT id FROM apps ORDER BY id")]
        if ids:
            a = self.rng.choice(ids)
            self.office_act(code, a, self.row(code, a)[0], self.rng.choice(["pass", "return", "decide"]))

    def race(self):
        """The station withdraws an application (or records a material)
        while the office that holds it, not having seen that, acts on
        it; in either order."""
        cands = []
        for v in sorted(self.mine):
            for a in self.mine[v]:
                row, _ = self.row(v, a)
                if row["status"] in ("accepted", "passed") and row["holder"] in self.nodes and row["holder"] != v:
                    orow = self.row(row["holder"], a)[0]
                    if orow and orow["holder"] == row["holder"] and orow["status"] in ("accepted", "passed"):
                        cands.append((v, a))
        if not cands:
            return
        v, a = self.rng.choice(cands)
        row, mats = self.row(v, a)
        office = row["holder"]
        orow = self.row(office, a)[0]
        if self.rng.random() < 0.6:
            station = ["app", "withdraw", a, "--reason", "申请人撤回"]
        else:
            station = ["app", "material", a, self.rng.choice(REQUIRED[row["matter"]]), "provided"]
        if self.rng.random() < 0.5:
            self.run(v, *station)
            self.office_act(office, a, orow)
        else:
            self.office_act(office, a, orow)
            self.run(v, *station)

    def add_operator(self, code):
        rng = self.rng
        x = rng.random()
        if x < 0.5 or len(self.ops[code]) == 1:
            new = "op%02d" % (len(self.ops[code]) + 1)
            self.run(code, "operator", "add", new, "--name", rng.choice(["李四", "张三", "陈芳"]))
            self.ops[code].append(new)
        else:
            op = rng.choice(self.ops[code])
            name = self.db(code).execute("SELECT name FROM operators WHERE node = ? AND id = ?",
                                         (code, op)).fetchone()[0]
            if x < 0.8:
                self.run(code, "operator", "add", op, "--name", name + "改")      # renamed
            else:
                self.run(code, "operator", "add", op, "--name", name, expect=1)  # the same again

    def new_key(self, code):
        """A station gets a new key mid-run: its PC replaced (the county
        rotates the key) or stolen (the county revokes the old key, then
        enrolls the replacement's). The new key takes over after the last
        seq the station has committed to its feeds; its events not yet
        committed are signed with the new key."""
        repo = os.path.join(self.nodes[code].home, "repo")
        at = 1
        for name in refs(repo):
            if name.startswith("refs/feeds/") and name.endswith("/" + code):
                at = max(at, json.loads(git(repo, "show", f"{name}:changeset.json"))["last_seq"] + 1)
        os.unlink(os.path.join(self.nodes[code].home, "node.key"))
        self.rekeyed.add(code)
        key = json.loads(self.out(code, "key", "show", "--json", operator=None))["key"]
        # the kinds alternate, the first chosen by the seed's parity: every
        # world rekeys at least once (random_round), so any two consecutive
        # seeds show both kinds
        revoke = (self.seed + self.stats["key_rotations"] + self.stats["key_revocations"]) % 2 == 1
        if not revoke:
            self.run(COUNTY, "roster", "rotate", code, key, "--at", str(at))
            self.stats["key_rotations"] += 1
        else:
            self.run(COUNTY, "roster", "revoke", code, "--from", str(at), "--reason", "电脑被盗")
            self.run(COUNTY, "roster", "rotate", code, key, "--at", str(at))
            self.stats["key_revocations"] += 1

    # -- syncs --

    def trip(self, v, partial=False, back=True, out=True):
        """A stick's trip: the village exports, the township imports (and
        writes its answer), the stick comes back and the village imports.
        out=False: the stick still holds the village's last export."""
        t, stick = USB[v], self.sticks[v]
        self.stats["stick_trips"] += 1
        if out and (not partial or self.rng.random() < 0.7):
            self.run(v, "bundle", "export", stick, operator=None)
        self.run(t, "bundle", "import", stick, operator=None)
        if partial and self.rng.random() < 0.1:
            self.run(t, "bundle", "import", stick, operator=None)    # imported twice
        if back and (not partial or self.rng.random() < 0.7):
            self.run(v, "bundle", "import", stick, operator=None)

    def sync(self, code, partial=False, back=True, out=True):
        if code in USB:
            return self.trip(code, partial, back, out)
        if self.rng.random() < 0.08:
            # a duplicated delivery: forget where ingest stood
            self.db(code).execute("DELETE FROM feed_heads")
            self.stats["forgotten_heads"] += 1
        self.stats["syncs"] += 1
        self.run(code, "sync", operator=None)

    def wave(self):
        """Some nodes sync, most in the order that moves work along
        (villages, townships, the county up; townships, villages down),
        the rest against it; each in random order within its level."""
        rng = self.rng
        up, down = [], []
        for c in self.nodes:
            if rng.random() < (0.6 if c == COUNTY else 0.2 if c in USB else 0.3):
                (up if rng.random() < 0.5 else down).append(c)
        order = sorted(up, key=lambda c: (-len(c), rng.random())) + sorted(down, key=lambda c: (len(c), rng.random()))
        if rng.random() < 0.15:
            rng.shuffle(order)
        for c in order:
            self.sync(c, partial=True)

    def random_round(self, steps):
        rng = self.rng
        stations = TOWNSHIPS + VILLAGES
        offices = [COUNTY] + TOWNSHIPS
        until_wave = rng.randint(6, 13)
        rekey_at = rng.randrange(steps) if steps else -1
        for step in range(steps):
            x = rng.random()
            if step == rekey_at:
                self.new_key(rng.choice(TOWNSHIPS + VILLAGES))
            elif x < 0.08:
                self.race()
            elif x < 0.23:
                self.capture(rng.choice(VILLAGES) if rng.random() < 0.85 else rng.choice(TOWNSHIPS))
            elif x < 0.54:
                self.station_step(rng.choice(stations))
            elif x < 0.58:
                self.station_wrong(rng.choice(stations))
            elif x < 0.88:
                self.office_step(rng.choice(offices))
            elif x < 0.91:
                self.office_wrong(rng.choice(offices))
            elif x < 0.92:
                self.add_operator(rng.choice(list(self.nodes)))
            elif x < 0.93:
                self.new_key(rng.choice(TOWNSHIPS + VILLAGES))
            else:
                self.sync(rng.choice(list(self.nodes)), partial=True)
            until_wave -= 1
            if until_wave == 0:
                self.wave()
                until_wave = rng.randint(6, 13)

    def full_exchange(self):
        """Up, across the county and down again, in random order within
        each level; then the stations resubmit what was returned, deliver
        what was decided and record ratings, and send that up to their
        township and the county (a station's partition is held by no one
        else): enough for everything to reach everyone entitled."""
        shuffled = lambda xs: self.rng.sample(xs, len(xs))  # noqa: E731
        if self.rekeyed:
            # the county's roster down to the townships first, so that they
            # take the sticks of stations with new keys
            for t in shuffled(TOWNSHIPS):
                self.sync(t)
        for v in shuffled(VILLAGES):
            self.sync(v, back=False)            # a stick's answer comes on its way down
        for code in shuffled(TOWNSHIPS) + [COUNTY] + shuffled(TOWNSHIPS):
            self.sync(code)
        for v in shuffled(VILLAGES):
            self.sync(v, out=False)             # nothing new to export since its way up
        wrote = set()
        for code in TOWNSHIPS + VILLAGES:
            for a in list(self.mine[code]):
                # a step at a time: a return may need a material, then a resubmission
                for _ in range(3):
                    if not self.station_act(code, a, closing=True):
                        break
                    wrote.add(code)
        if wrote:
            for v in shuffled(VILLAGES):
                if v in wrote:
                    self.sync(v, back=False)
            for t in shuffled(TOWNSHIPS):
                if t in wrote or any(PARENT[v] == t for v in wrote):
                    self.sync(t)
            self.sync(COUNTY)

    # -- the checks --

    def verify(self):
        problems = []
        snaps = {code: Snapshot(s) for code, s in self.nodes.items()}
        county = snaps[COUNTY]
        all_parts = county.parts()
        # the county's events against each writer's own
        for w, sn in snaps.items():
            own = {k: v for k, v in sn.events.items() if k[0] == w}
            there = {k: v for k, v in county.events.items() if k[0] == w}
            if own != there:
                problems.append(f"the county's events of writer {w} are not {w}'s own: missing "
                                f"{sorted(set(own) - set(there))[:5]}, extra {sorted(set(there) - set(own))[:5]}, "
                                f"different {sorted(k for k in set(own) & set(there) if own[k] != there[k])[:5]}")
        writers = {k[0] for k in county.events}
        if not writers <= set(snaps):
            problems.append(f"the county holds events of unknown writers {sorted(writers - set(snaps))}")
        # the county against a fresh fold of a copy of its events
        copy = tempfile.mkdtemp(prefix="daiban-rebuilt-")
        try:
            shutil.copytree(self.county.home, os.path.join(copy, "home"), symlinks=True)
            fresh = Node(COUNTY, copy, fresh=False)
            fresh.root = copy
            fresh.home = os.path.join(copy, "home")
            r = fresh.run("rebuild", operator=None)
            check_exit("county copy: daiban rebuild", r, 0)
            problems += compare(county, Snapshot(fresh), all_parts, "county vs. its events folded afresh")
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        # each node against the county, and what it may hold
        county_refs = refs(self.hub)
        for code, sn in snaps.items():
            s = self.nodes[code]
            r = s.run("rebuild", "--verify", operator=None)
            self.stats["processes"] += 1
            try:
                check_exit(f"node {code}: daiban rebuild --verify", r, 0)
            except Failure as e:
                problems.append(str(e))
            foreign = sorted(p for p in sn.parts() if not entitled(code, p))
            if foreign:
                problems.append(f"node {code} holds partitions {foreign} in its store")
            if code == COUNTY:
                continue
            mine = [p for p in all_parts if entitled(code, p)]
            problems += compare(sn, county, mine, f"node {code} vs. the county")
            have = refs(s.repo)
            bad = sorted(n for n in have if ref_partition(n) and not entitled(code, ref_partition(n)))
            if bad:
                problems.append(f"node {code} holds refs of other partitions: {bad[:5]}")
            feeds = {n: o for n, o in have.items() if n.startswith("refs/feeds/")}
            want = {n: o for n, o in county_refs.items()
                    if n.startswith("refs/feeds/") and entitled(code, ref_partition(n))}
            if feeds != want:
                problems.append(f"node {code}'s feeds differ from the county's: "
                                f"{sorted(set(feeds.items()) ^ set(want.items()))[:6]}")
            # by object id: nothing reachable only from others' partitions
            held = {n: entitled(code, ref_partition(n)) for n in county_refs if ref_partition(n)}
            theirs = sorted({county_refs[n] for n, ok in held.items() if not ok})
            ours = sorted({county_refs[n] for n, ok in held.items() if ok})
            if theirs:
                walk = "\n".join(theirs + ["^" + o for o in ours]) + "\n"
                listed = git(self.hub, "rev-list", "--objects", "--stdin", input=walk)
                objs = [ln.split()[0] for ln in listed.splitlines()]
                asked = "\n".join(objs) + "\n"
                found = [ln for ln in git(s.repo, "cat-file", "--batch-check", input=asked).splitlines()
                         if not ln.endswith(" missing")]
                if found:
                    problems.append(f"node {code} holds {len(found)} objects of other partitions: {found[:3]}")
        return problems, county

    def figures(self, county):
        st = self.stats
        st["worlds"] += 1
        st["applications"] += sum(len(v) for v in county.tables["apps"][2].values())
        st["events"] += len(county.events)
        st["conflicts"] += sum(len(v) for v in county.tables["conflicts"][2].values())
        for d in county.event_rows:
            t, body = d["type"], json.loads(d["body"])
            if t == "app.reviewed" and body.get("result") == "return":
                st["returns"] += 1
            elif t == "app.resubmitted":
                st["corrections"] += 1
            elif t == "app.decided":
                st["approvals" if body["result"] == "approve" else "rejections"] += 1
            elif t == "app.delivered":
                st["deliveries"] += 1
            elif t == "app.rated":
                st["ratings"] += 1
            elif t == "app.withdrawn":
                st["withdrawals"] += 1
            elif t == "app.material" and body.get("blob"):
                st["scans"] += 1
            elif t == "app.submitted" and body.get("deficiencies"):
                st["deficient"] += 1
            elif t == "app.created" and body.get("bundle") and d["app"] == body["bundle"][1:]:
                st["bundles"] += 1
            elif t == "app.created" and d["node"] in TOWNSHIPS:
                st["township_captures"] += 1
            elif t == "operator.added" and d["seq"] > 1:
                st["operators_added"] += 1


def run_seed(seed):
    """One world, one seed: (None or what went wrong, its figures)."""
    rng = __import__("random").Random(seed)
    w = None
    try:
        w = World(seed, rng)
        w.random_round(STEPS)
        w.full_exchange()
        if w.hall:
            check(" push: exit 0" in w.hall.logtext(), "the hall saw no push")
            log = w.hall.log.name
            w.hall.stop()
            with open(log) as f:
                text = f.read()
            check(w.hall.proc.returncode == 0, f"the hall exited {w.hall.proc.returncode} on SIGTERM: {text[-2000:]}")
            # what the hall had not ingested yet when it stopped
            w.run(COUNTY, "sync", operator=None)
        problems, county = w.verify()
        w.figures(county)
        if problems:
            return "seed %d: %d problems:\n  %s" % (seed, len(problems), "\n  ".join(problems[:20])), w.stats
        return None, w.stats
    except Failure as e:
        return f"seed {seed}: {e}", w.stats if w else collections.Counter()
    except Exception:
        return f"seed {seed}: {traceback.format_exc()}", w.stats if w else collections.Counter()
    finally:
        if w:
            w.cleanup()


def init_worker(root, templates):
    global TEMPLATES
    TEMPLATES = templates
    if root:
        tempfile.tempdir = root


class Converge(unittest.TestCase):
    def test_random_syncs_converge(self):
        global TEMPLATES
        seeds = [int(ONE)] if ONE else [int(time.time()) * 1000 + i for i in range(SEEDS)]
        root = tmp_root()
        if root:
            tempfile.tempdir = root
        TEMPLATES = make_templates()
        print(flush=True)
        start = time.time()
        total = collections.Counter()
        failures = []
        try:
            with multiprocessing.Pool(JOBS, initializer=init_worker, initargs=(root, TEMPLATES)) as pool:
                for failure, stats in pool.imap_unordered(run_seed, seeds):
                    total += stats
                    if failure:
                        failures.append(failure)
                        print("FAILED " + failure, flush=True)
        finally:
            shutil.rmtree(TEMPLATES, ignore_errors=True)
        took = time.time() - start
        print(f"\n{len(seeds)} seeds via {VIA} ({seeds[0]}..{seeds[-1]}), {STEPS} steps each, "
              f"{JOBS} jobs, {took:.0f} s; homes under {root or tempfile.gettempdir()}")
        print("figures (at the county after convergence, summed over the worlds):")
        for k in FIGURES:
            print(f"  {k:18} {total[k]:7}" + (f"  ({total[k] / max(total['worlds'], 1):.1f} per world)"
                                              if k not in ("worlds",) else ""))
        sys.stdout.flush()
        if failures:
            self.fail(f"{len(failures)} of {len(seeds)} seeds failed (each listed above); the first:\n{failures[0]}")
        if len(seeds) >= 20:
            for k in MUST_HAPPEN:
                self.assertGreater(total[k], 0, f"no {k} happened in {len(seeds)} worlds: the worlds are too tame")


if __name__ == "__main__":
    unittest.main(verbosity=2)
