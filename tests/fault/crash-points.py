#!/usr/bin/env python3
"""Fault: each operation killed at its Nth write point, N swept over the
points it has (see tests/fault/crashpoints.py and crashpoint.c).

Operations: capture (app new with a request key, app material with a
scan, app submit), rebuild, sync to a hub path (committing local events,
pushing change sets and scan pieces, fetching, ingesting), the county
hall receiving a push (git http-backend, the pre-receive check and the
hall's ingest: the hall's whole process group dies), bundle export,
bundle import, catalog install, and an acceptance through `daiban serve`
(the daemon and its writing child die together).

After every crash: PRAGMA integrity_check on every store, `rebuild
--verify`, `git fsck --strict` on every repository touched; an
acknowledged write is present, and present once; then the same operation
run again completes and the nodes converge.

CRASH_MODE=power (tests/fault/powercut.py sets it) replaces the watched
homes after each kill by what a power cut would leave: every write not
yet made durable by fsync (of the file, and of the directory for a new
entry, a rename or an unlink) is lost.

CRASH_LIMIT (default 40; 20 for the hall and 24 for the daemon, whose
trials start servers) bounds the trials per operation: the points are
sampled evenly plus every point next to a WAL sync and the last eight;
0 sweeps every point (the slow suite). CRASH_SEED replays a sampling;
name one test to run one operation (crash-points.py CrashPoints.test_app_new). Each operation prints its figures:
trials that died before the commit, between the commit and the
acknowledgement, after it, and in the git half; the ones that must
occur are asserted above zero."""
import http.client
import json
import os
import signal
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import crashpoints as cp  # noqa: E402

cp.use_memory_tmpdir()
from station import DAIBAN, SAMPLE, Station, app_file  # noqa: E402

COUNTY, TOWNSHIP, VILLAGE, USB = "330225", "330225101", "330225101201", "330225101202"
POWER = os.environ.get("CRASH_MODE", "kill") == "power"
LIMIT = int(os.environ.get("CRASH_LIMIT", "40"))
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()))))
FIGURES = []


def git(repo, *args):
    return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout


def feeds(repo):
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/feeds", "refs/scans")


def count(s, sql, *args):
    with s.db() as c:
        return c.execute(sql, args).fetchone()[0]


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


class World:
    """A county (its repository is the hub, or the hall's), its township,
    a village with a link and one that travels by stick. Built once;
    restore() puts every home back as it was when save() ran."""

    def __init__(self, work):
        self.c = Station(node=COUNTY, role="county")
        self.t = Station(node=TOWNSHIP, role="township")
        self.v = Station(node=VILLAGE, role="village")
        self.u = Station(node=USB, role="village")
        self.all = [self.c, self.t, self.v, self.u]
        self.hub = os.path.join(self.c.home, "repo")
        self.stick = os.path.join(work, "stick")
        os.makedirs(self.stick, exist_ok=True)
        self.dirs = [s.root for s in self.all] + [self.stick]

    def save(self):
        for d in self.dirs:
            shutil.rmtree(d + ".pristine", ignore_errors=True)
            shutil.copytree(d, d + ".pristine", symlinks=True)

    def restore(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(d + ".pristine", d, symlinks=True)

    def cleanup(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
            shutil.rmtree(d + ".pristine", ignore_errors=True)


class CrashPoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.work = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"daiban-crash-{os.getpid()}")
        os.makedirs(cls.work, exist_ok=True)
        cls.points = cp.Points(os.path.join(cls.work, "points"))
        cls.rng = random.Random(SEED)
        print(f"seed {SEED}, mode {'power cut' if POWER else 'kill -9'}, limit {LIMIT} trials per operation",
              flush=True)

    @classmethod
    def tearDownClass(cls):
        for line in FIGURES:
            print(line, flush=True)
        shutil.rmtree(cls.work, ignore_errors=True)

    # ---- the sweep ----

    def sweep(self, name, w, roots, start, acked, effect, after, phases, kill="self", git_half=False,
              homes=(), repos=(), stop=None, limit=None):
        """start(extra) runs the operation with the shim's variables in its
        environment and returns (died, result); acked(result) says whether
        it acknowledged; effect() whether its write is in the stores;
        after(result, acked) runs it again and checks convergence. phases:
        which of before/between/after must have occurred. stop() ends what
        start() left running (a daemon). In power-cut mode one more trial
        runs the operation to the end and cuts the power after it."""
        w.restore()
        died, res = start(self.points.env(roots, 0, kill))
        self.assertFalse(died, f"{name}: the run without a crash died")
        self.assertTrue(acked(res), f"{name}: the run without a crash did not succeed: {res}")
        listed = self.points.read()
        tally = cp.Tally(name, len(listed))
        self.assertGreater(len(listed), 0, f"{name}: no write point under {roots}")
        lim = LIMIT if limit is None or LIMIT == 0 else min(LIMIT, limit)
        for n in cp.sample(listed, lim, self.rng):
            w.restore()
            snap = cp.snapshot(roots) if POWER else None
            died, res = start(self.points.env(roots, n, kill, POWER))
            where = [p for p in self.points.read() if p[0] == n]
            if not died:
                tally.completed += 1
                if snap:
                    cp.drop_snapshot(snap)
                continue
            self.assertTrue(where, f"{name}: died, but not at point {n}")
            what = f"{name}: crash at point {n} ({where[0][1]} {where[0][2]}), seed {SEED}"
            self.after_crash(snap, tally, homes, repos, what)
            a, e = acked(res), effect()
            if a:
                self.assertTrue(e, f"{what}: acknowledged, then lost")
            phase = "after" if a else ("between" if e else "before")
            path = where[0][2]
            tally.add(phase, "/repo/" in path or path.endswith("/repo") or path.endswith(".bundle"))
            after(res, a, what)
        if POWER:
            # the power fails right after the acknowledgement
            w.restore()
            snap = cp.snapshot(roots)
            died, res = start(self.points.env(roots, 0, kill, True))
            if stop:
                stop()
            what = f"{name}: power cut after the acknowledgement, seed {SEED}"
            self.assertFalse(died, what)
            self.assertTrue(acked(res), f"{what}: {res}")
            self.after_crash(snap, tally, homes, repos, what)
            self.assertTrue(effect(), f"{what}: acknowledged, then lost")
            tally.cut_after_ack = True
            after(res, True, what)
        FIGURES.append(tally.line())
        print(tally.line(), flush=True)
        for p in phases:
            self.assertGreater(tally.counts[p], 0, f"{name}: no trial died {p} the commit: {tally.line()}")
        if git_half:
            self.assertGreater(tally.git, 0, f"{name}: no trial died in the git half: {tally.line()}")

    def after_crash(self, snap, tally, homes, repos, what):
        """The power cut (when snap was taken), then the checks every
        crash is followed by."""
        if snap:
            lf, le = cp.cut_power(snap, self.points.shadow)
            tally.lost_files += lf
            tally.lost_entries += le
        for h in homes:
            cp.integrity(self, h.home, what)
            cp.verify(self, h, what)
        for r in repos:
            cp.fsck(self, r, what)

    def cli(self, s, args, timeout=120):
        def start(extra):
            r = cp.run(s, args, extra, timeout)
            return r.returncode == -9, r
        return start

    # ---- capture ----

    def test_app_new(self):
        w = World(self.work)
        try:
            v = w.v
            w.save()
            args = ["app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"), "--request", "k-001"]

            def created():
                return count(v, "SELECT count(*) FROM events WHERE type = 'app.created'")

            def after(r, acked, what):
                self.assertLessEqual(created(), 1, what)
                again = v.run(*args)
                self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")
                if acked:
                    self.assertEqual(again.stdout.split()[0], r.stdout.split()[0], what)
                self.assertEqual(created(), 1, f"{what}: the retry created a second application")
                cp.verify(self, v, what)

            self.sweep("app new", w, [v.home], self.cli(v, args), lambda r: r.returncode == 0 and r.stdout.strip(),
                       lambda: created() == 1, after, ("before", "between"), homes=[v])
        finally:
            w.cleanup()

    def test_app_material_with_a_scan(self):
        w = World(self.work)
        try:
            v = w.v
            a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            scan = os.path.join(w.stick, "..", "scan.jpg")
            with open(scan, "wb") as f:
                f.write(b"\xff\xd8\xff\xe0" + random.Random(1).randbytes(150_000))
            w.save()
            args = ["app", "material", a, "SFZ", "provided", "--file", os.path.abspath(scan)]

            def recorded():
                return count(v, "SELECT count(*) FROM events WHERE app = ? AND type = 'app.material'", a)

            def after(r, acked, what):
                self.assertLessEqual(recorded(), 1, what)
                again = v.run(*args)
                self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")
                self.assertEqual({m["material"]: m["state"] for m in v.show(a)["materials"]}["SFZ"], "provided", what)
                cp.verify(self, v, what)

            self.sweep("app material --file", w, [v.home], self.cli(v, args), lambda r: r.returncode == 0,
                       lambda: recorded() == 1, after, ("before", "between"), git_half=True, homes=[v],
                       repos=[os.path.join(v.home, "repo")])
        finally:
            w.cleanup()

    def test_app_submit(self):
        w = World(self.work)
        try:
            v = w.v
            a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
            v.ok("app", "material", a, "SFZ", "provided")
            v.ok("app", "material", a, "HKB", "provided")
            w.save()

            def status():
                return v.show(a)["status"]

            def after(r, acked, what):
                if status() == "draft":
                    again = v.run("app", "submit", a)
                    self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")
                self.assertEqual(status(), "accepted", what)
                self.assertEqual(count(v, "SELECT count(*) FROM events WHERE app = ? AND type = 'app.submitted'", a),
                                 1, what)
                cp.verify(self, v, what)

            self.sweep("app submit", w, [v.home], self.cli(v, ["app", "submit", a]), lambda r: r.returncode == 0,
                       lambda: status() == "accepted", after, ("before", "between"), homes=[v])
        finally:
            w.cleanup()

    def test_rebuild(self):
        w = World(self.work)
        try:
            v = w.v
            for _ in range(3):
                a = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
                v.ok("app", "material", a, "SFZ", "provided")
            before = v.dump_derived()
            w.save()

            def after(r, acked, what):
                self.assertEqual(v.dump_derived(), before, f"{what}: the derived tables changed")
                again = v.run("rebuild", operator=None)
                self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")

            self.sweep("rebuild", w, [v.home], self.cli(v, ["rebuild"]), lambda r: r.returncode == 0,
                       lambda: True, after, ("between",), homes=[v])
        finally:
            w.cleanup()

    # ---- sync, bundles, catalogue ----

    def hub_world(self):
        """The village has captures (one with a scan) not yet synced; the
        township has reviewed an earlier one, so the village's sync
        commits, pushes, fetches and ingests."""
        w = World(self.work)
        c, t, v = w.c, w.t, w.v
        for s in (t, v):
            s.ok("remote", "set", w.hub, operator=None)
        a = v.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
            v.ok("app", "material", a, m, "provided")
        v.ok("app", "submit", a)
        v.ok("sync")
        t.ok("sync")
        t.ok("review", a, "pass")
        t.ok("sync")
        b = v.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        scan = os.path.join(v.root, "scan.jpg")
        with open(scan, "wb") as f:
            f.write(b"\xff\xd8\xff\xe0" + random.Random(2).randbytes(120_000))
        v.ok("app", "material", b, "SFZ", "provided", "--file", scan)
        v.ok("app", "material", b, "HKB", "provided")
        v.ok("app", "submit", b)
        return w, a, b

    def test_sync_to_a_hub(self):
        w, a, b = self.hub_world()
        try:
            c, t, v = w.c, w.t, w.v
            w.save()

            def landed():
                hub_has = f"refs/feeds/{VILLAGE}/{VILLAGE}" in feeds(w.hub) and \
                    git(w.hub, "rev-parse", f"refs/feeds/{VILLAGE}/{VILLAGE}").strip() == \
                    git(os.path.join(v.home, "repo"), "rev-parse", f"refs/feeds/{VILLAGE}/{VILLAGE}").strip()
                return hub_has and v.show(a)["status"] == "passed"

            def after(r, acked, what):
                again = v.run("sync")
                self.assertEqual(again.returncode, 0, f"{what}: the sync after the crash failed: {again.stderr}")
                self.assertTrue(landed(), f"{what}: the sync after the crash did not complete the exchange")
                self.assertEqual(t.run("sync").returncode, 0, what)
                self.assertEqual(count(t, "SELECT count(*) FROM apps WHERE id = ?", b), 1, what)
                self.assertEqual(t.show(b)["status"], v.show(b)["status"], what)
                cp.fsck(self, os.path.join(v.home, "repo"), what)
                cp.fsck(self, w.hub, what)

            self.sweep("sync (hub)", w, [v.home, w.hub], self.cli(v, ["sync"]), lambda r: r.returncode == 0, landed,
                       after, ("before", "between"), git_half=True, homes=[v],
                       repos=[os.path.join(v.home, "repo"), w.hub])
        finally:
            w.cleanup()

    def test_bundle_export(self):
        w = World(self.work)
        try:
            u = w.u
            a = accept_on(u)
            w.save()
            path = os.path.join(w.stick, f"daiban-{USB}-to-{TOWNSHIP}.bundle")

            def written():
                return os.path.exists(path) and subprocess.run(
                    ["git", "-C", os.path.join(u.home, "repo"), "bundle", "verify", path],
                    capture_output=True).returncode == 0

            def after(r, acked, what):
                # a torn .tmp (or nothing) on the stick: the retry replaces it
                again = u.run("bundle", "export", w.stick)
                self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")
                self.assertTrue(written(), what)
                imp = w.t.run("bundle", "import", w.stick)
                self.assertEqual(imp.returncode, 0, f"{what}: the township could not import: {imp.stderr}")
                self.assertEqual(w.t.show(a)["status"], "accepted", what)

            self.sweep("bundle export", w, [u.home, w.stick], self.cli(u, ["bundle", "export", w.stick]),
                       lambda r: r.returncode == 0, written, after, ("before",), git_half=True, homes=[u],
                       repos=[os.path.join(u.home, "repo")])
        finally:
            w.cleanup()

    def test_bundle_import(self):
        w = World(self.work)
        try:
            t, u = w.t, w.u
            a = accept_on(u)
            u.ok("bundle", "export", w.stick)
            w.save()

            def ingested():
                return count(t, "SELECT count(*) FROM apps WHERE id = ?", a) == 1

            def after(r, acked, what):
                again = t.run("bundle", "import", w.stick)
                self.assertEqual(again.returncode, 0, f"{what}: the retry failed: {again.stderr}")
                self.assertTrue(ingested(), what)
                self.assertEqual(count(t, "SELECT count(*) FROM events WHERE app = ? AND type = 'app.created'", a),
                                 1, what)
                back = u.run("bundle", "import", w.stick)
                self.assertEqual(back.returncode, 0, f"{what}: the answer bundle was refused: {back.stderr}")

            self.sweep("bundle import", w, [t.home, w.stick], self.cli(t, ["bundle", "import", w.stick]),
                       lambda r: r.returncode == 0, ingested, after, ("before", "between"), git_half=True,
                       homes=[t], repos=[os.path.join(t.home, "repo")])
        finally:
            w.cleanup()

    def test_catalog_install(self):
        w = World(self.work)
        try:
            v = w.v
            cat = os.path.join(w.stick, "..", "catalog-next")
            shutil.copytree(SAMPLE, cat)
            with open(os.path.join(cat, "calendar.csv"), "a", encoding="utf-8") as f:
                f.write("2026-12-31,holiday,新版本测试日\n")        # a new version: its id changes
            w.save()

            def versions():
                with v.db() as db:
                    cur = db.execute("SELECT value FROM meta WHERE key = 'catalog.current'").fetchone()
                return cur

            before = versions()

            def after(r, acked, what):
                again = v.run("catalog", "install", cat, operator=None)
                self.assertIn(again.returncode, (0,), f"{what}: the retry failed: {again.stderr}")
                a = v.run("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
                self.assertEqual(a.returncode, 0, f"{what}: capture after the retry: {a.stderr}")

            self.sweep("catalog install", w, [v.home], self.cli(v, ["catalog", "install", cat], 300),
                       lambda r: r.returncode == 0, lambda: versions() != before, after, ("before", "between"), homes=[v])
        finally:
            w.cleanup()

    # ---- the county hall receiving a push ----

    def test_hall_receives_a_push(self):
        """The hall's whole process group (the hall, `hall cgi`, git
        http-backend, receive-pack and the pre-receive check) dies at
        each write point in the county's home: while git writes the
        pushed objects and refs, while the check runs, while the hall
        ingests. The village's push is acknowledged by its sync's exit 0."""
        w = World(self.work)
        try:
            c, v = w.c, w.v
            port = free_port()
            url = f"http://127.0.0.1:{port}/feeds"
            v.ok("remote", "set", url, "--token", c.ok("hall", "token", VILLAGE, operator=None), operator=None)
            a = accept_on(v)
            w.save()
            hall = [None]

            def start_hall(extra):
                p = subprocess.Popen([DAIBAN, "hall", "serve", "--listen", f"127.0.0.1:{port}"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     start_new_session=True, env=c.env(operator=None, extra=extra))
                line = p.stdout.readline()
                if "/feeds" not in line:
                    p.wait()
                    p.stdout.close()
                    return p, False
                hall[0] = p
                return p, True

            def stop_hall():
                p, hall[0] = hall[0], None
                if p and p.poll() is None:
                    p.terminate()
                    p.wait(timeout=20)
                if p:
                    p.stdout.close()

            def hall_ref():
                try:
                    return git(w.hub, "rev-parse", "-q", "--verify", f"refs/feeds/{VILLAGE}/{VILLAGE}").strip()
                except subprocess.CalledProcessError:
                    return None

            def in_county():
                return count(c, "SELECT count(*) FROM apps WHERE id = ?", a) == 1

            def start(extra):
                p, up = start_hall(extra)
                if not up:
                    return p.returncode == -9, None
                r = v.run("sync", timeout=120)
                # the hall ingests right after the push: wait for it, or its death
                end = time.time() + 15
                while time.time() < end and p.poll() is None and not in_county():
                    time.sleep(0.05)
                if p.poll() is None:
                    time.sleep(0.3)     # anything still being written after the ingest
                if p.poll() is not None:
                    p.stdout.close()
                    hall[0] = None
                    return p.returncode == -9, r
                stop_hall()
                return False, r

            def landed():
                try:
                    vref = git(os.path.join(v.home, "repo"), "rev-parse", "-q", "--verify",
                               f"refs/feeds/{VILLAGE}/{VILLAGE}").strip()
                except subprocess.CalledProcessError:
                    return False        # the village has not committed its feed yet
                return hall_ref() == vref

            def after(r, acked, what):
                # whatever the hall's group left running is gone with it
                _, up = start_hall({})
                self.assertTrue(up, f"{what}: the hall did not start again")
                try:
                    again = v.run("sync", timeout=120)
                    self.assertEqual(again.returncode, 0, f"{what}: the sync after the crash failed: {again.stderr}")
                    end = time.time() + 20
                    while time.time() < end and not in_county():
                        time.sleep(0.1)
                    self.assertTrue(in_county(), f"{what}: the county never ingested the application")
                    self.assertEqual(c.show(a)["status"], v.show(a)["status"], what)
                finally:
                    stop_hall()
                cp.fsck(self, w.hub, what)
                cp.integrity(self, c.home, what)
                cp.verify(self, c, what)

            self.sweep("hall receives a push", w, [c.home], start,
                       lambda r: r is not None and r.returncode == 0, landed, after, ("before", "after"),
                       kill="group", git_half=True, homes=[c], repos=[w.hub], stop=stop_hall, limit=20)
        finally:
            w.cleanup()

    # ---- the hall packing its objects ----

    def test_hall_pack(self):
        """`daiban hall pack --merge` on the county's repository (what the
        hall does on its own from --pack-loose) killed at each write point:
        loose objects, reachable or not (a scan no ref names), and two
        packs go into one new pack; every object the repository held is
        still there after, `git fsck --strict` is clean, and the packing
        run again completes."""
        w = World(self.work)
        try:
            c = w.c
            repo = w.hub

            def loose_blob(text):
                return subprocess.run(["git", "-C", repo, "hash-object", "-w", "--stdin"], input=text,
                                      capture_output=True, text=True, check=True).stdout.strip()
            for k in range(2):
                for i in range(4):
                    loose_blob(f"scan {k} piece {i}: bytes of an ID card")
                c.ok("hall", "pack", operator=None)
            scans = [loose_blob(f"a scan no ref names, {i}") for i in range(6)]
            held = set(git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split())
            self.assertTrue(set(scans) <= held)
            self.assertEqual(git(repo, "count-objects", "-v").count("packs: 2"), 1)
            w.save()

            def packs():
                return {f for f in os.listdir(os.path.join(repo, "objects", "pack")) if f.endswith(".idx")}
            packs_before = packs()

            def after(r, acked, what):
                now = set(git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split())
                self.assertEqual(held - now, set(), f"{what}: objects lost")
                cp.fsck(self, repo, what)
                again = c.run("hall", "pack", "--merge", operator=None)
                self.assertEqual(again.returncode, 0, f"{what}: the packing again failed: {again.stderr}")
                v = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
                # the big first pack (the catalogue's objects) waits for the rest to grow
                self.assertEqual(v["count"], "0", f"{what}: {v}")
                self.assertLessEqual(int(v["packs"]), 2, f"{what}: {v}")
                now = set(git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)").split())
                self.assertEqual(held - now, set(), f"{what}: objects lost after the second packing")
                cp.fsck(self, repo, what)

            self.sweep("hall pack", w, [c.home], self.cli(c, ["hall", "pack", "--merge"]),
                       lambda r: r.returncode == 0, lambda: packs() != packs_before, after, ("before", "between"),
                       homes=[c], repos=[repo])
        finally:
            w.cleanup()

    # ---- an acceptance through the station daemon ----

    def test_serve_acceptance(self):
        """The daemon dies at each write point in the home, its writer
        thread's (the acceptance) and its loop's; the acknowledgement is
        the 201 answer. After the crash the daemon is started again and
        the same request (the same draft id) is sent again."""
        import serve as sv  # tests/integration/serve.py
        w = World(self.work)
        try:
            v = w.v
            subprocess.run([DAIBAN, "operator", "passwd", v.operator], input=sv.PASSWORD + "\n", check=True,
                           capture_output=True, text=True, env=v.env(operator=None))
            d = sv.Daemon(v)
            headers = d.signin(operator=v.operator).headers()
            port = d.port       # each restart listens there again: the session cookie is named for the port
            d.stop()
            w.save()
            key = "crash-draft-1"
            body = {"matter": "MZ-DB-001", "data": sv.dibao_data(), "materials": sv.dibao_materials(), "draft": key}
            daemon = [None]

            def created():
                with v.db() as db:
                    return db.execute("SELECT app FROM events WHERE type = 'app.created'"
                                      " AND json_extract(body, '$.request') = ?", (key,)).fetchall()

            def post(dm):
                try:
                    r = dm.request("POST", "/api/apps", body, headers)
                    return r.status, (r.json if r.status == 201 else None)
                except (OSError, http.client.HTTPException):
                    return None, None

            def start(extra):
                dm = sv.Daemon(v, env=extra, start=False, port=port)
                try:
                    dm.start()
                except AssertionError:
                    rc = dm.proc.returncode if dm.proc else None
                    if dm.proc:
                        dm.proc.stdout.close()
                    return rc == -9, (None, None)
                daemon[0] = dm
                res = post(dm)
                time.sleep(0.2)
                alive = dm.alive()
                rc = dm.stop(sig=signal.SIGKILL, group=True) if alive else dm.proc.wait()
                daemon[0] = None
                return (not alive and rc == -9), res

            def after(res, acked, what):
                self.assertLessEqual(len(created()), 1, what)
                dm = sv.Daemon(v, port=port)
                try:
                    again = post(dm)
                    self.assertEqual(again[0], 201, f"{what}: the retried acceptance: {again}")
                    if acked:
                        self.assertEqual(again[1]["id"], res[1]["id"], f"{what}: the retry accepted again")
                    self.assertEqual(len(created()), 1, f"{what}: one request, {len(created())} applications")
                finally:
                    dm.stop()
                cp.integrity(self, v.home, what)
                cp.verify(self, v, what)

            # The writer thread answers as soon as the commit's WAL sync
            # returns: no write point lies between the commit and the 201,
            # so a power cut (which dies before its point's call) finds
            # none there; a kill, after which unsynced writes survive,
            # does (the WAL sync's own point).
            self.sweep("serve: 受理", w, [v.home], start, lambda res: res[0] == 201, lambda: len(created()) == 1,
                       after, ("before",) if POWER else ("before", "between"), kill="group", homes=[v], limit=24)
        finally:
            w.cleanup()


def accept_on(s):
    a = s.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
    s.ok("app", "material", a, "SFZ", "provided")
    s.ok("app", "material", a, "HKB", "provided")
    s.ok("app", "submit", a)
    return a


if __name__ == "__main__":
    unittest.main(verbosity=2)
