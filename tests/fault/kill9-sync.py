#!/usr/bin/env python3
"""Fault: SIGKILL at random moments of sync, ingest, bundle export and
import (KILL9_TRIALS, default 240), between a county hub, a township and
two villages, one of them reached only by USB stick. After every kill:
integrity_check passes on every store and `rebuild --verify` agrees.
At the end, after a full exchange without kills: every application a
village printed is at the county, nothing is duplicated, every node's
rows for its partitions equal the county's, and `git fsck` passes on
every repository. The seed is printed (KILL9_SEED replays it)."""
import os
import random
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kill9common import Homes  # noqa: E402
from station import DAIBAN  # noqa: E402

TRIALS = int(os.environ.get("KILL9_TRIALS", "240"))
SEED = int(os.environ.get("KILL9_SEED", str(int(time.time()))))


class Kill9Sync(unittest.TestCase):
    def test_kill_during_sync(self):
        rng = random.Random(SEED)
        print(f"seed {SEED}, {TRIALS} trials", flush=True)
        w = Homes()
        c, t, v, u, stick = w.c, w.t, w.v, w.u, w.stick
        hub = os.path.join(c.home, "repo")
        for s in (t, v):
            s.ok("remote", "set", hub)
        killed = 0
        try:
            for trial in range(TRIALS):
                if w.unkilled_step(rng, rng.random()):
                    continue
                op = rng.choice([(c, ["sync"]), (t, ["sync"]), (v, ["sync"]), (u, ["bundle", "export", stick]),
                                 (t, ["bundle", "import", stick]), (u, ["bundle", "import", stick])])
                s, args = op
                p = subprocess.Popen([DAIBAN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=s.env())
                time.sleep(rng.uniform(0, 0.03))
                if p.poll() is None:
                    p.send_signal(signal.SIGKILL)
                    killed += 1
                p.communicate()
                w.check_after_kill(self, s, f"trial {trial} ({' '.join(args)}) seed {SEED}")
            w.exchange_and_check(self, SEED)
            print(f"{killed} kills landed while running; {len(w.acked)} applications acknowledged", flush=True)
            self.assertGreater(killed, TRIALS // 5)
        finally:
            w.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
