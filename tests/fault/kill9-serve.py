#!/usr/bin/env python3
"""Fault: the station daemon (`daiban serve`) killed with SIGKILL at a
counted write point while a signed-in client accepts applications
(POST /api/apps) and saves drafts (PUT /api/drafts/ID) as fast as it can
(KILL9_SERVE_TRIALS or TRIALS, default 300). The daemon runs under the
crash-point shim (tests/fault/crashpoint.c), which numbers every write
in the home; each trial picks a point 1-200 writes past the counter's
value when the writes begin, and the shim kills the daemon there, on
its writer thread (acceptances, in store.db) or its loop (drafts, in
station.db). A trial whose point is not reached within 3 s ends with a
SIGKILL at that moment. After every kill the daemon is started again on
the same home, with the same session cookie, and:

  * every acceptance the API answered 201 for is in `daiban app list
    --json`, with status accepted;
  * every acceptance carries its own draft id (the request key); one
    whose answer the kill cut off is sent again after the restart and
    answers 201 with what the store already holds for that key (the
    same id) or, if nothing, a new acceptance; no key ever creates two
    applications;
  * every draft the API answered 200 for is returned by
    GET /api/drafts/ID with the data last saved (or, for a draft whose
    later save was in flight at the kill, with that save's data);
  * `daiban rebuild --verify` passes and both databases pass
    PRAGMA integrity_check.

The kills are counted and the coverage asserted: how many died in the
store's write of an acceptance before its commit, how many after its
commit's writes and before its answer (the kill left the WAL frames, so
the retry finds it committed), and how many in a draft's write. Every
trial's daemon must have died of the shim's SIGKILL at its point (a
crash of its own would fail the trial).

The windows are not left to chance: few points fall between a commit
and its answer (under Wine, where the server makes the opens and
renames, 150 random points once hit none). Every other trial, while a
class has fewer than QUOTA kills, is aimed at the class furthest short:
from its random point on, the shim kills at the first point of that
class's kind (AIMS). Each kill is still classified by what it left, as
a random one is.

The seed is printed (KILL9_SEED or SEED replays it)."""
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from serve import Daemon, dibao_data, dibao_materials, station  # noqa: E402

SHIM = os.environ.get("CRASHPOINT", "build/tests/libcrashpoint.so")
TRIALS = int(os.environ.get("KILL9_SERVE_TRIALS", os.environ.get("TRIALS", "300")))
SEED = int(os.environ.get("KILL9_SEED", os.environ.get("SEED", str(int(time.time())))))

# The kinds of point an aimed trial kills at, per class, as the shim's
# CRASH_AT_FILE takes them after the point's number ("OPS PART": one of
# OPS on a path ending with PART, tests/fault/crashpoint.c). Between a
# commit and its answer: a write of store.db itself, which only the
# checkpoint SQLite runs inside a commit once the WAL is long makes (the
# commit is in the WAL index by then; a kill at the WAL's sync just
# after the commit frame may leave it out of the index, and then a
# reader that finds the index live does not see it). Before: a frame of
# store.db's WAL. A draft: station.db's WAL. The classes short of QUOTA
# are aimed at in this order on ties.
AIMS = {"between": "* /store.db", "draft": "* station.db-wal", "before": "pwrite,write,writev store.db-wal"}
QUOTA = max(1, TRIALS // 50)


# The writers' connections open now (call, hang_up).
waiting = set()
waiting_lock = threading.Lock()


def call(port, method, path, body, headers):
    """One request on its own connection: (status, JSON or None); raises
    OSError when the daemon went away."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    with waiting_lock:
        waiting.add(c)
    try:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        c.request(method, path, body=data, headers=dict(headers, **{"Content-Type": "application/json"}))
        r = c.getresponse()
        raw = r.read()
        try:
            return r.status, json.loads(raw)
        except ValueError:
            return r.status, None
    finally:
        with waiting_lock:
            waiting.discard(c)
        c.close()


def hang_up():
    """Shut the connections still waiting for a daemon that is dead: under
    Wine its server can hold the daemon's sockets open a while after the
    process is gone, and a request on one would wait out its 30 s (a dead
    daemon's connection on Linux is reset at once)."""
    with waiting_lock:
        socks = [c.sock for c in waiting if c.sock is not None]
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class Writer(threading.Thread):
    """Writes until the daemon goes away, recording what it acknowledged."""

    def __init__(self, port, headers, fn):
        super().__init__(daemon=True)
        self.port, self.headers, self.fn = port, headers, fn
        self.failures = []

    def run(self):
        while True:
            try:
                if not self.fn(self):
                    return
            except (OSError, http.client.HTTPException):
                return


def read_counter(path):
    """The shim's counter: the write points counted so far."""
    with open(path, "rb") as f:
        return int.from_bytes(f.read(8), sys.byteorder)


def point_path(log, n, aim=None):
    """The path of the write point the shim killed at, from its log ("N
    pid op path" lines): point n, or with aim ("OPS PART"), the first
    point from n on of one of OPS on a path ending with PART; "" when it
    is not there."""
    ops, part = aim.split(" ", 1) if aim else (None, None)
    found, where = None, ""
    try:
        with open(log, "rb") as f:
            for line in f:
                parts = line.rstrip(b"\n").split(b" ", 3)
                if len(parts) != 4 or not parts[0].isdigit():
                    continue
                at, path = int(parts[0]), parts[3].decode(errors="replace")
                if aim is None:
                    if at == n:
                        return path
                elif (n <= at and (found is None or at < found) and path.endswith(part)
                      and ("*" in ops.split(",") or parts[2].decode() in ops.split(","))):
                    found, where = at, path
    except FileNotFoundError:
        pass
    return where


class Kill9Serve(unittest.TestCase):
    def test_kill_the_daemon_while_it_writes(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}, {TRIALS} trials", flush=True)
        home = station()
        try:
            self.run_trials(home, rng)
        finally:
            home.cleanup()

    def run_trials(self, home, rng):
        # the crash-point shim kills the daemon at the point written in
        # points.at (0: never), and logs every point it counts
        points = os.path.join(home.root, "points")
        with open(points + ".counter", "wb") as f:
            f.write(b"\0" * 8)
        with open(points + ".at", "w") as f:
            f.write("0")
        shim = {"LD_PRELOAD": os.path.abspath(SHIM), "CRASH_ROOT": home.home, "CRASH_COUNTER": points + ".counter",
                "CRASH_AT_FILE": points + ".at", "CRASH_LOG": points + ".log"}
        d = Daemon(home, env=shim)
        killed = {"before": 0, "between": 0, "draft": 0}
        killed_elsewhere = unreached = 0
        aimed = {c: 0 for c in AIMS}
        session = d.signin()
        headers = session.headers()
        acked_apps = set()
        keys = {}           # request key -> the id answered for it
        # per draft id, its saves in order: [data, acknowledged]
        drafts = {}
        n_acked_drafts = 0
        retried_done = [0]      # retries whose first try had committed
        base = dibao_data()
        try:
            for trial in range(TRIALS):
                port = d.port
                touched = set()
                lock = threading.Lock()

                unanswered = []

                def accept(w):
                    key = f"a{trial}-{len(keys) + len(unanswered)}"
                    unanswered.append(key)
                    st, j = call(port, "POST", "/api/apps", {"matter": "MZ-DB-001", "data": base,
                                                             "materials": dibao_materials(), "draft": key}, headers)
                    unanswered.remove(key)
                    if st == 201:
                        acked_apps.add(j["id"])
                        keys[key] = j["id"]
                    elif st != 503:
                        w.failures.append((st, j))
                    return True

                n = [0]
                trng = random.Random(rng.random())

                def save(w):
                    # a new draft, or a later save of one of this trial's
                    with lock:
                        if touched and trng.random() < 0.3:
                            did = trng.choice(sorted(touched))
                        else:
                            did = f"t{trial}-{n[0]}"
                            n[0] += 1
                        data = {"applicant_name": "李建国", "phone": f"0574-{trial:04d}{n[0]:04d}",
                                "household_size": trng.randint(1, 9), "note": f"{trial}/{did}/{trng.random()}"}
                        entry = [data, False]
                        drafts.setdefault(did, []).append(entry)
                        touched.add(did)
                    st, j = call(port, "PUT", f"/api/drafts/{did}",
                                 {"matter": "MZ-DB-001", "data": data, "materials": [{"material": "SFZ",
                                                                                      "state": "provided"}]},
                                 headers)
                    if st == 200 and j.get("id") == did:
                        entry[1] = True
                    elif st != 503:
                        w.failures.append((st, j))
                    return True

                writers = [Writer(port, headers, accept), Writer(port, headers, save)]
                # the point: counted from now, when the writes begin;
                # every other trial aimed at the class furthest short of
                # its quota, if one is (the same draws either way: SEED
                # replays)
                target = read_counter(points + ".counter") + rng.randint(1, 200)
                short = [c for c in AIMS if killed[c] < QUOTA]
                aim = min(short, key=lambda c: killed[c]) if short and trial % 2 else None
                if aim:
                    aimed[aim] += 1
                with open(points + ".at", "w") as f:
                    f.write(f"{target} {AIMS[aim]}" if aim else str(target))
                for w in writers:
                    w.start()
                end = time.time() + 3
                while time.time() < end and d.alive():
                    time.sleep(0.002)
                if d.alive():
                    unreached += 1
                    d.stop(signal.SIGKILL)
                else:
                    rc = d.stop(signal.SIGKILL)     # reaps it
                    where = point_path(points + ".log", target, AIMS[aim] if aim else None)
                    # it died of the shim's kill at that very point, not of
                    # a crash of its own
                    self.assertEqual(rc, -signal.SIGKILL, f"trial {trial}: the daemon exited {rc} (seed {SEED})")
                    self.assertTrue(where.startswith(home.home), f"trial {trial}: no write point {target} in the"
                                    f" shim's log, so the daemon died elsewhere (seed {SEED})")
                    in_flight = list(unanswered)
                    if "station.db" in where:
                        killed["draft"] += 1
                    elif "store.db" in where:
                        if any(self.created_for(home, k) for k in in_flight):
                            killed["between"] += 1
                        else:
                            killed["before"] += 1
                    else:
                        killed_elsewhere += 1
                with open(points + ".at", "w") as f:
                    f.write("0")
                for w in writers:
                    end = time.time() + 60
                    while w.is_alive() and time.time() < end:
                        hang_up()
                        w.join(0.1)
                    self.assertFalse(w.is_alive(), "a client still waits for a killed daemon")
                    self.assertEqual(w.failures, [], f"trial {trial}, seed {SEED}")
                d.start()
                # the requests the kill cut off, sent again as the UI does
                for key in list(unanswered):
                    held = self.created_for(home, key)
                    st, j = call(d.port, "POST", "/api/apps", {"matter": "MZ-DB-001", "data": base,
                                                               "materials": dibao_materials(), "draft": key}, headers)
                    self.assertEqual(st, 201, f"retry of {key}, trial {trial}, seed {SEED}: {j}")
                    if held:
                        retried_done[0] += 1
                        self.assertEqual(j["id"], held, f"retry of {key} accepted again (seed {SEED})")
                    acked_apps.add(j["id"])
                    keys[key] = j["id"]
                    unanswered.remove(key)
                self.check(home, d, headers, acked_apps, {k: drafts[k] for k in touched}, f"trial {trial} seed {SEED}")
            self.check(home, d, headers, acked_apps, drafts, f"the end, seed {SEED}")
            n_acked_drafts = sum(1 for saves in drafts.values() for _, ok in saves if ok)
            print(f"{len(acked_apps)} acceptances and {n_acked_drafts} draft saves acknowledged; of {TRIALS}"
                  f" kills at a counted write point, {killed['before']} in an acceptance's write before its commit,"
                  f" {killed['between']} between an acceptance's commit and its answer, {killed['draft']} in a draft's"
                  f" write, {killed_elsewhere} elsewhere in the home, {unreached} not reached in 3 s (killed then);"
                  f" {retried_done[0]} retried acceptances had committed before the kill and were not repeated",
                  flush=True)
            print(f"aimed at a class short of {QUOTA} kills: {aimed['before']} trials before a commit,"
                  f" {aimed['between']} between a commit and its answer, {aimed['draft']} in a draft's write",
                  flush=True)
            # the coverage this test claims, or it proves nothing
            self.assertGreater(killed["before"], 0, "no kill in an acceptance's write before its commit")
            self.assertGreater(killed["between"], 0, "no kill between an acceptance's commit and its answer")
            self.assertGreater(killed["draft"], 0, "no kill in a draft's write")
            self.assertGreater(retried_done[0], 0, "no retried acceptance had committed before its kill")
            self.assertLess(unreached, TRIALS // 4, "most kill points were never reached: the writes stalled")
            with sqlite3.connect(os.path.join(home.home, "store.db"), timeout=60) as c:
                per_key = dict(c.execute("SELECT json_extract(body, '$.request'), count(*) FROM events"
                                         " WHERE type = 'app.created' GROUP BY 1"))
            self.assertEqual({k: n for k, n in per_key.items() if n != 1}, {}, "a request key created twice")
            self.assertEqual(set(per_key), set(keys), "every application is one request's")
            self.assertGreater(len(acked_apps), TRIALS // 4, "too few acceptances to test anything")
            self.assertGreater(n_acked_drafts, TRIALS, "too few draft saves to test anything")
        finally:
            d.stop()

    @staticmethod
    def created_for(home, key):
        with sqlite3.connect(os.path.join(home.home, "store.db"), timeout=60) as c:
            row = c.execute("SELECT app FROM events WHERE type = 'app.created'"
                            " AND json_extract(body, '$.request') = ?", (key,)).fetchone()
        return row[0] if row else None

    def check(self, home, d, headers, acked_apps, drafts, what):
        r = home.run("app", "list", "--json", "--limit", "10000", operator=None)
        self.assertEqual(r.returncode, 0, r.stderr)
        listed = {a["id"]: a["status"] for a in json.loads(r.stdout)["applications"]}
        lost = sorted(acked_apps - set(listed))
        self.assertEqual(lost, [], f"acknowledged acceptances lost ({what})")
        for a in acked_apps:
            self.assertEqual(listed[a], "accepted", f"{a} ({what})")
        for did, saves in drafts.items():
            acked = [i for i, (_, ok) in enumerate(saves) if ok]
            st, j = call(d.port, "GET", f"/api/drafts/{did}", {}, {"Cookie": headers["Cookie"]})
            if not acked:
                # never acknowledged: absent, or one of the saves in flight
                self.assertIn(st, (200, 404), j)
                if st == 200:
                    self.assertIn(j["data"], [s[0] for s in saves], f"draft {did} ({what})")
                continue
            self.assertEqual(st, 200, f"acknowledged draft {did} lost ({what}): {j}")
            # the last acknowledged save, or a later one in flight at the kill
            allowed = [s[0] for s in saves[acked[-1]:]]
            self.assertIn(j["data"], allowed, f"draft {did} ({what})")
            self.assertEqual(j["matter"], "MZ-DB-001")
            self.assertEqual(j["materials"], [{"material": "SFZ", "state": "provided"}])
        r = home.run("rebuild", "--verify", operator=None)
        self.assertEqual(r.returncode, 0, f"rebuild --verify ({what}): {r.stdout} {r.stderr}")
        for db in ("store.db", "station.db"):
            with sqlite3.connect(os.path.join(home.home, db), timeout=60) as c:
                self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", f"{db} ({what})")


if __name__ == "__main__":
    unittest.main(verbosity=2)
