#!/usr/bin/env python3
"""Fault: real `daiban` processes killed with SIGKILL at random moments
during capture and rebuild (KILL9_TRIALS, default 300), as a power cut
or a frozen PC being switched off would. After every kill:

  * every command that reported success has its events (an acknowledged
    application exists, an acknowledged submission has its receipt);
  * nothing is duplicated (one creation per application, receipts unique,
    per-node sequence numbers without gaps);
  * PRAGMA integrity_check passes;
  * `daiban rebuild --verify` agrees with the stored derived tables.

Output the operator saw counts as acknowledged even when the process was
killed right after printing it. The random seed is printed, so a failure can be replayed with KILL9_SEED."""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import DAIBAN, VILLAGE, Station, app_file  # noqa: E402

TRIALS = int(os.environ.get("KILL9_TRIALS", "300"))
SEED = int(os.environ.get("KILL9_SEED", str(int(time.time()))))


class Kill9(unittest.TestCase):
    def test_kill_at_random_moments(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}, {TRIALS} trials", flush=True)
        s = Station()
        try:
            self.run_trials(s, rng)
        finally:
            s.cleanup()

    def start(self, s, *args):
        return subprocess.Popen([DAIBAN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=s.env())

    def run_trials(self, s, rng):
        acked_apps = set()      # application ids printed by a successful `app new`
        acked_receipts = {}     # app id -> receipt printed by a successful submit
        drafts = []             # (app id, next step)
        killed = completed = 0
        data = app_file("RS-YL-001-valid.json")
        for trial in range(TRIALS):
            # the next command: a new application, one step of a draft, or a rebuild
            choice = rng.random()
            if choice < 0.1:
                args, kind = ["rebuild"], ("rebuild", None)
            elif drafts and choice < 0.6:
                app, step = drafts[rng.randrange(len(drafts))]
                if step == 0:
                    args = ["app", "material", app, "SFZ", "provided"]
                elif step == 1:
                    args = ["app", "material", app, "HKB", "provided"]
                else:
                    args = ["app", "submit", app]
                kind = ("step", app)
            else:
                args, kind = ["app", "new", "RS-YL-001", "--data", data], ("new", None)
            p = self.start(s, *args)
            # a command takes a few milliseconds: aim most kills inside it
            time.sleep(rng.uniform(0, 0.010) if rng.random() < 0.8 else rng.uniform(0, 0.040))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            out, err = p.communicate()
            # What the operator saw on the screen is acknowledged, whether
            # or not the process lived on to exit.
            if kind[0] == "new" and out.strip():
                acked_apps.add(out.split()[0])
            elif kind[0] == "step" and "receipt" in out:
                acked_receipts[kind[1]] = out.split()[-1]
            if p.returncode == 0:
                completed += 1
            else:
                self.assertIn(p.returncode, (-signal.SIGKILL, 1), (args, p.returncode, err))
            # advance drafts from what the store says (a killed step may or may not have landed)
            with s.db() as c:
                mats = {}
                for app, m in c.execute("SELECT app, material FROM app_materials WHERE state = 'provided'"):
                    mats.setdefault(app, set()).add(m)
                status = dict(c.execute("SELECT id, status FROM apps"))
            drafts = [(a, len(mats.get(a, ())) if len(mats.get(a, ())) < 2 else 2) for a in status
                      if status[a] == "draft"]
            self.check(s, acked_apps, acked_receipts, trial, args)
        print(f"{killed} killed while running, {completed} completed, {len(acked_apps)} applications acknowledged,"
              f" {len(acked_receipts)} submissions acknowledged", flush=True)
        self.assertGreater(killed, TRIALS // 4, "too few kills landed while a command ran")
        self.assertGreater(len(acked_receipts), 0)

    def check(self, s, acked_apps, acked_receipts, trial, args):
        where = f"trial {trial} ({' '.join(args)}), seed {SEED}"
        with s.db() as c:
            self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", where)
            apps = dict(c.execute("SELECT id, receipt FROM apps"))
            for a in acked_apps:
                self.assertIn(a, apps, "acknowledged application lost: " + where)
            for a, r in acked_receipts.items():
                self.assertEqual(apps.get(a), r, "acknowledged receipt lost: " + where)
            dup = c.execute("SELECT app, count(*) FROM events WHERE type = 'app.created' GROUP BY app"
                            " HAVING count(*) > 1").fetchall()
            self.assertEqual(dup, [], where)
            receipts = [r for r in apps.values() if r]
            self.assertEqual(len(receipts), len(set(receipts)), where)
            seqs = [r[0] for r in c.execute("SELECT seq FROM events WHERE node = ? ORDER BY seq", (VILLAGE,))]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), where)
        r = s.run("rebuild", "--verify")
        self.assertEqual(r.returncode, 0, where + ": " + r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
