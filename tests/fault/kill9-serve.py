#!/usr/bin/env python3
"""Fault: the station daemon (`daiban serve`) killed with SIGKILL at
random moments while a signed-in client accepts applications
(POST /api/apps) and saves drafts (PUT /api/drafts/ID) as fast as it can
(KILL9_SERVE_TRIALS or TRIALS, default 100). The kill comes 0-300 ms into
the writes; some kills take the daemon's whole process group, so a CLI
child dies in the middle of its write, the others leave the child to
finish on its own. After every kill the daemon is started again on the
same home, with the same session cookie, and:

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

The coverage is asserted: some group kills caught a CLI child after it
had begun writing in the home (the crash-point shim, in counting mode,
logs which processes wrote), and some retried acceptances had committed
before their kill.

The seed is printed (KILL9_SEED or SEED replays it)."""
import http.client
import json
import os
import random
import signal
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from serve import Daemon, dibao_data, dibao_materials, group_members, station  # noqa: E402

SHIM = os.environ.get("CRASHPOINT", "build/tests/libcrashpoint.so")
TRIALS = int(os.environ.get("KILL9_SERVE_TRIALS", os.environ.get("TRIALS", "100")))
SEED = int(os.environ.get("KILL9_SEED", os.environ.get("SEED", str(int(time.time())))))


def call(port, method, path, body, headers):
    """One request on its own connection: (status, JSON or None); raises
    OSError when the daemon went away."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
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
        c.close()


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


def log_size(log):
    try:
        return os.path.getsize(log)
    except FileNotFoundError:
        return 0


def wrote(log, pids, since):
    """True when one of pids reached a write point in the home after
    offset since of the shim's log ("N pid op path" lines)."""
    pids = {str(p) for p in pids}
    try:
        with open(log, "rb") as f:
            f.seek(since)
            return any(line.split(b" ", 2)[1].decode() in pids for line in f if line.count(b" ") >= 2)
    except FileNotFoundError:
        return False


def writing_child(log, daemon, since):
    """A live process other than the daemon with a write point in the log
    after offset since."""
    try:
        with open(log, "rb") as f:
            f.seek(since)
            pids = {int(line.split(b" ", 2)[1]) for line in f if line.count(b" ") >= 2}
    except FileNotFoundError:
        return False
    for pid in pids - {daemon}:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    return True
        except OSError:
            pass
    return False


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
        # the crash-point shim in counting mode (it never kills): its log
        # names every process that wrote in the home, so a child killed
        # after its first write and before it exited is known to have been
        # killed mid-write
        points = os.path.join(home.root, "points")
        with open(points + ".counter", "wb") as f:
            f.write(b"\0" * 8)
        shim = {"LD_PRELOAD": os.path.abspath(SHIM), "CRASH_ROOT": home.home, "CRASH_COUNTER": points + ".counter",
                "CRASH_AT": "0", "CRASH_LOG": points + ".log"}
        d = Daemon(home, env=shim)
        mid_write = 0
        session = d.signin()
        headers = session.headers()
        acked_apps = set()
        keys = {}           # request key -> the id answered for it
        # per draft id, its saves in order: [data, acknowledged]
        drafts = {}
        group_kills = children_killed = n_acked_drafts = 0
        retried_done = [0]      # retries whose first try had committed
        base = dibao_data()
        try:
            for trial in range(TRIALS):
                port = d.port
                since = log_size(points + ".log")
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
                for w in writers:
                    w.start()
                time.sleep(rng.choice([rng.uniform(0, 0.3), rng.uniform(0, 0.05), rng.uniform(0.1, 0.3)]))
                pgid = d.proc.pid
                if rng.random() < 0.35:
                    # the group dies once a child has begun writing (a
                    # write point of a live process other than the daemon
                    # in the shim's log), or after 1 s
                    end = time.time() + 1
                    while time.time() < end and not writing_child(points + ".log", pgid, since):
                        time.sleep(0.001)
                    children = [p for p in group_members(pgid) if p != pgid]
                    if children:
                        children_killed += 1
                    d.stop(signal.SIGKILL, group=True)      # a child dies mid-write too
                    group_kills += 1
                    if children and wrote(points + ".log", children, since):
                        mid_write += 1
                else:
                    d.stop(signal.SIGKILL)
                for w in writers:
                    w.join(60)
                    self.assertFalse(w.is_alive(), "a client still waits for a killed daemon")
                    self.assertEqual(w.failures, [], f"trial {trial}, seed {SEED}")
                d.wait_children(pgid)      # children that outlived the daemon finish their writes
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
            print(f"{len(acked_apps)} acceptances and {n_acked_drafts} draft saves acknowledged;"
                  f" {group_kills} of {TRIALS} kills took the process group, {children_killed} with a child running,"
                  f" {mid_write} with a child that had begun writing in the home;"
                  f" {retried_done[0]} retried acceptances had committed before the kill and were not repeated",
                  flush=True)
            # the coverage this test claims, or it proves nothing
            self.assertGreater(mid_write, 0, "no kill caught a child mid-write")
            self.assertGreater(retried_done[0], 0, "no retried acceptance had committed before its kill")
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
