#!/usr/bin/env python3
"""The demo (packaging/demo.sh, the README's first command) stops what it
started. It was seen exiting with its hall and four station daemons still
running on ports 8410-8413, their homes deleted under them. Each way out
is tried: --no-wait, and a signal to the script alone while it waits
for the person; after either, no process of the demo is left and its
homes are gone."""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
DAIBAN = os.environ.get("DAIBAN") or os.path.join(SRC, "build", "agent", "daiban")


def left_over(home):
    """Processes whose command line or environment names the demo's home."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().decode(errors="replace")
        except OSError:
            continue
        if home in cmd or home in env:
            found.append(f"{pid}: {cmd}")
    return found


class Demo(unittest.TestCase):
    def start(self, *args):
        p = subprocess.Popen(["bash", os.path.join(SRC, "packaging", "demo.sh"), "--no-build", *args], cwd=SRC,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, DAIBAN=DAIBAN), start_new_session=True)
        self.addCleanup(lambda: p.poll() is None and os.killpg(p.pid, signal.SIGKILL))
        return p

    def stations(self, out):
        home = re.search(r"The logs are in (/\S+?)/net/serve-", out)
        self.assertTrue(home, out[-2000:])
        urls = re.findall(r"http://127\.0\.0\.1:\d+/", out.split("Open a station")[-1])
        self.assertEqual(len(urls), 4, out[-2000:])
        return home.group(1)

    def assert_gone(self, home):
        end = time.time() + 10
        while time.time() < end and left_over(home):
            time.sleep(0.2)
        self.assertEqual(left_over(home), [], "the demo left processes running")
        self.assertFalse(os.path.exists(home), "the demo left its homes")

    def test_no_wait_stops_everything(self):
        p = self.start("--no-wait")
        out, _ = p.communicate(timeout=600)
        self.assertEqual(p.returncode, 0, out[-3000:])
        home = self.stations(out)
        self.assert_gone(home)
        print(f"demo --no-wait: 4 stations answered, then nothing of {home} was left", file=sys.stderr)

    def test_a_signal_to_the_script_alone_stops_everything(self):
        """As timeout(1), a CI runner or a closed terminal does it: the
        signal reaches the script, not its children (Ctrl-C, which
        reaches the whole group, is the easier case)."""
        self.stop_waiting_demo(lambda p: p.send_signal(signal.SIGTERM), "SIGTERM to the script")

    def stop_waiting_demo(self, stop, how):
        p = self.start()
        out = ""
        end = time.time() + 600
        while time.time() < end and "Press Ctrl-C" not in out:
            line = p.stdout.readline()
            if not line:
                break
            out += line
        self.assertIn("Press Ctrl-C", out, out[-3000:])
        home = self.stations(out)
        self.assertTrue(left_over(home), "the stations are not running while the demo waits")
        stop(p)
        rest, _ = p.communicate(timeout=60)
        self.assert_gone(home)
        print(f"demo, {how}: nothing of {home} was left", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
