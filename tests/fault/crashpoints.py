"""Crash points, not timers: what tests/fault/crash-points.py and
tests/fault/powercut.py share.

A world is a set of homes built once at a fixed path and restored to
that path before every trial (homes hold absolute paths: the hub's, the
stick's). A trial runs one operation under the LD_PRELOAD shim
tests/fault/crashpoint.c with CRASH_AT=N: the process that reaches the
Nth write point under the watched roots (write, sync, rename, unlink,
create, mkdir) dies by SIGKILL there. A first run with CRASH_AT=0
numbers the operation's points and names each one (its call and path).

In power-cut mode the shim also records what was made durable, and
after the kill the watched roots are replaced by what a disk that lost
every unsynced write would hold (cut_power below): file contents as of
their last fsync/fdatasync, directory entries as of the directory's
last fsync, both starting from the state before the trial.

Each trial is classified by what it left, read from the stores after the
crash (not from the point's number):
  before   the operation's effect is absent
  between  the effect is present, but the operation had not acknowledged
           it (no id printed, no exit 0, no HTTP answer)
  after    the acknowledgement was given; the process died cleaning up
and separately 'git' when the point was in a git repository or a
bundle file. The caller asserts which of these must be above zero."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import DAIBAN  # noqa: E402

def use_memory_tmpdir():
    """Homes are copied and removed for every trial: on a disk mounted
    with discard each removal waits for the device, so the trials run in
    /dev/shm when it has room (the shim models durability itself; the
    real fsync does not matter to it). TMPDIR, when set, wins."""
    if "TMPDIR" in os.environ or not os.path.isdir("/dev/shm"):
        return
    st = os.statvfs("/dev/shm")
    if st.f_bavail * st.f_frsize > 2 << 30:
        os.environ["TMPDIR"] = "/dev/shm"
        tempfile.tempdir = None


SHIM = os.path.abspath(os.environ.get("CRASHPOINT", "build/tests/libcrashpoint.so"))


class Points:
    """The counter, log and shadow files of one trial."""

    def __init__(self, work):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.counter = os.path.join(work, "counter")
        self.log = os.path.join(work, "points.log")
        self.shadow = os.path.join(work, "shadow")

    def env(self, roots, at, kill="self", power=False):
        with open(self.counter, "wb") as f:
            f.write(b"\0" * 8)
        if os.path.exists(self.log):
            os.unlink(self.log)
        shutil.rmtree(self.shadow, ignore_errors=True)
        e = {"LD_PRELOAD": SHIM, "CRASH_ROOT": ":".join(os.path.abspath(r) for r in roots),
             "CRASH_COUNTER": self.counter, "CRASH_AT": str(at), "CRASH_KILL": kill, "CRASH_LOG": self.log}
        if power:
            os.makedirs(self.shadow)
            e["CRASH_SHADOW"] = self.shadow
        return e

    def read(self):
        """[(n, op, path)] in the order reached."""
        out = []
        if os.path.exists(self.log):
            with open(self.log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.rstrip("\n").split(" ", 3)
                    if len(parts) == 4:
                        out.append((int(parts[0]), parts[2], parts[3]))
        return out

    def reached(self):
        with open(self.counter, "rb") as f:
            return int.from_bytes(f.read(8), "little")


def sample(points, limit, rng):
    """Which of the points 1..len(points) to crash at: all of them when
    limit is 0 or there are few, else about limit spread evenly with a
    random start, plus every point next to a sync of a SQLite WAL or
    journal (where commits become durable) and the last eight (after the
    last commit: cleanup, the acknowledgement)."""
    n = len(points)
    if limit <= 0 or n <= limit:
        return list(range(1, n + 1))
    step = n / limit
    start = rng.random() * step
    chosen = {int(start + i * step) + 1 for i in range(limit)}
    for i, op, path in points:
        if op in ("fsync", "fdatasync") and (path.endswith("-wal") or path.endswith("-journal")):
            chosen.update(range(max(1, i - 1), min(n, i + 1) + 1))
    chosen.update(range(max(1, n - 7), n + 1))
    return sorted(c for c in chosen if 1 <= c <= n)


# ---- the image a power cut leaves ----

def snapshot(roots):
    """Before a trial: every directory's entries and every file's inode,
    and a copy of the files (the durable state at the start)."""
    snap = {"dirs": {}, "files": {}, "roots": {}}
    for root in roots:
        root = os.path.abspath(root)
        copy = root + ".before"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(root, copy, symlinks=True)
        snap["roots"][root] = (os.lstat(root).st_ino, copy)
        for d, dirs, files in os.walk(root):
            entries = []
            for name in dirs + files:
                st = os.lstat(os.path.join(d, name))
                kind = "d" if name in dirs and not os.path.islink(os.path.join(d, name)) else "f"
                entries.append((name, st.st_ino, kind))
                if kind == "f":
                    snap["files"][st.st_ino] = os.path.join(copy, os.path.relpath(os.path.join(d, name), root))
            snap["dirs"][os.lstat(d).st_ino] = entries
    return snap


def cut_power(snap, shadow):
    """Replace each watched root by what survives a power cut: the
    state before the trial, with what the shim saw synced on top.
    Returns (files whose content was rolled back, entries rolled back)."""
    def state(kind, ino, gen):
        p = os.path.join(shadow, f"{kind}-{ino}-{gen}")
        return p if os.path.exists(p) else None

    def listing(ino, gen):
        p = state("d", ino, gen)
        if p:
            with open(p, encoding="utf-8", errors="surrogateescape") as f:
                return [(a, int(b), int(g), c) for a, b, g, c in
                        (ln.rstrip("\n").split("\t") for ln in f if ln.strip())]
        if gen > 0:
            return []               # a new directory never synced: empty
        return [(a, b, 0, c) for a, b, c in snap["dirs"].get(ino, [])]

    def content(ino, gen):
        p = state("f", ino, gen) or (snap["files"].get(ino) if gen == 0 else None)
        if p is None:
            return b""              # a new file never synced: empty
        with open(p, "rb") as f:
            return f.read()

    lost_files = lost_entries = 0

    def build(ino, gen, real, dest):
        nonlocal lost_files, lost_entries
        os.makedirs(dest, exist_ok=True)
        names = set()
        for name, child, cgen, kind in listing(ino, gen):
            names.add(name)
            src = os.path.join(real, name)
            if kind == "d":
                build(child, cgen, src, os.path.join(dest, name))
                continue
            data = content(child, cgen)
            try:
                if os.path.isfile(src) and not os.path.islink(src):
                    with open(src, "rb") as f:
                        if f.read() != data:
                            lost_files += 1
                else:
                    lost_entries += 1
            except OSError:
                lost_entries += 1
            with open(os.path.join(dest, name), "wb") as f:
                f.write(data)
            if os.path.exists(src):
                shutil.copymode(src, os.path.join(dest, name))
        if os.path.isdir(real):
            lost_entries += len(set(os.listdir(real)) - names)

    for root, (ino, copy) in snap["roots"].items():
        cut = root + ".cut"
        shutil.rmtree(cut, ignore_errors=True)
        build(ino, 0, root, cut)
        shutil.copymode(root, cut)
        shutil.rmtree(root)
        os.rename(cut, root)
        shutil.rmtree(copy, ignore_errors=True)
    return lost_files, lost_entries


def drop_snapshot(snap):
    for _, (_, copy) in snap["roots"].items():
        shutil.rmtree(copy, ignore_errors=True)


# ---- checks after a crash ----

def integrity(test, home, what):
    for name in ("store.db", "station.db"):
        p = os.path.join(home, name)
        if os.path.exists(p):
            with sqlite3.connect(p, timeout=60) as c:
                test.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", f"{what}: {name}")


def fsck(test, repo, what):
    r = subprocess.run(["git", "-C", repo, "fsck", "--strict", "--no-dangling"], capture_output=True, text=True)
    test.assertEqual(r.returncode, 0, f"{what}: git fsck {repo}: {r.stdout}{r.stderr}")


def verify(test, station, what):
    r = station.run("rebuild", "--verify", operator=None)
    test.assertEqual(r.returncode, 0, f"{what}: rebuild --verify: {r.stdout}{r.stderr}")


class Tally:
    """How the trials of one operation ended."""

    PHASES = ("before", "between", "after")

    def __init__(self, name, points):
        self.name, self.points = name, points
        self.counts = {p: 0 for p in self.PHASES}
        self.git = self.completed = self.trials = 0
        self.lost_files = self.lost_entries = 0
        self.cut_after_ack = False

    def add(self, phase, in_git):
        self.trials += 1
        self.counts[phase] += 1
        self.git += 1 if in_git else 0

    def line(self):
        c = self.counts
        s = (f"{self.name}: {self.points} write points, {self.trials} crashed trials: {c['before']} before the commit,"
             f" {c['between']} after the commit and before the acknowledgement, {c['after']} after it;"
             f" {self.git} in the git half; {self.completed} ran to the end")
        if self.lost_files or self.lost_entries:
            s += f"; the power cuts rolled back {self.lost_files} files and {self.lost_entries} directory entries"
        if self.cut_after_ack:
            s += "; and one power cut right after the acknowledgement"
        return s


def run(station, args, extra, timeout=120):
    return subprocess.run([DAIBAN, *args], capture_output=True, text=True, timeout=timeout,
                          env=station.env(extra=extra))
