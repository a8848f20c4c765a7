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

sys.path.insert(0, os.path.dirname(__file__))
from kill9common import TOWNSHIP, VILLAGE, Homes  # noqa: E402
from station import DAIBAN  # noqa: E402

TRIALS = int(os.environ.get("KILL9_HALL_TRIALS", "160"))
SEED = int(os.environ.get("KILL9_SEED", str(int(time.time()))))


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
        w = Homes()
        c, t, v, u, stick = w.c, w.t, w.v, w.u, w.stick
        hall = HallProc(c, free_port())
        hall.start()
        url = f"http://127.0.0.1:{hall.port}/feeds"
        for s, code in ((t, TOWNSHIP), (v, VILLAGE)):
            s.ok("remote", "set", url, "--token", c.ok("hall", "token", code, operator=None), operator=None)
        killed = hall_kills = 0
        try:
            for trial in range(TRIALS):
                x = rng.random()
                if w.unkilled_step(rng, x):
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
                w.check_after_kill(self, killed_node, f"trial {trial} seed {SEED}")
            w.exchange_and_check(self, SEED, pause=0.2)     # the hall ingests right after each push
            print(f"{killed} station kills and {hall_kills} hall kills; {len(w.acked)} applications acknowledged",
                  flush=True)
            self.assertGreater(killed + hall_kills, TRIALS // 5)
        finally:
            hall.stop()
            w.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
