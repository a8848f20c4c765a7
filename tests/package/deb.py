#!/usr/bin/env python3
"""The Debian package, installed where it runs.

Builds the package with packaging/deb.sh (lintian must pass there), makes
a throwaway Debian 12 root from Debian's packages with mmdebstrap (cached
in the build tree, keyed by the package's dependencies) and installs the
package into a fresh copy of it. Then, in that root:

* the postinst made the system user and /var/lib/daiban (0700, its own);
* the configuration files are conffiles, the units are enabled;
* `systemd-analyze verify` passes each unit, and `systemd-analyze
  security` rates each service 2.0 or lower;
* each service's ExecStart, as the unit and its configuration file give
  it, runs as the daiban user on a home that user made, in a read-only
  root but for /var/lib/daiban with empty temporary folders and no new
  privileges (this host's PID 1 is not systemd, so the rest of the
  units' sandbox is rated by systemd-analyze, not run), answers on
  loopback (the station also syncs with the hall), and stops on SIGTERM
  within the unit's TimeoutStopSec with exit 0;
* remove keeps the homes; purge deletes them and the configuration;
* an upgrade (the package repacked as 99.0) keeps the home and the
  administrator's configuration; the older package over it is refused
  by its preinst, and 99.0 stays installed and working.

Needs root, mmdebstrap, debhelper and lintian (packaging/install-deps.sh)
and Debian's package mirror the first time (then the root is cached)."""
import csv
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.environ.get("DAIBAN_TEST_DATA", os.path.join(SRC, "tests", "data"))
WORK = os.environ.get("DEB_WORK") or os.path.join(SRC, "build", "package")
SUITE = "bookworm"
EXPOSURE_MAX = 2.0          # systemd-analyze security: "OK" and below
UNITS = ("daiban-station.service", "daiban-hall.service")
# started by daiban-backup.timer, not at boot
TIMED = ("daiban-backup.service", "daiban-backup.timer")


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))}: exit {r.returncode}\n{r.stdout}{r.stderr}")
    return r


def divisions():
    with open(os.path.join(DATA, "catalog-sample", "divisions.csv"), encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    return {lvl: next(r["code"] for r in rows if r["level"] == lvl) for lvl in ("county", "village")}


def missing_tools():
    need = ["mmdebstrap", "dpkg-buildpackage", "lintian", "dh", "systemd-analyze"]
    return [t for t in need if not shutil.which(t)] + ([] if os.geteuid() == 0 else ["root"])


def build_deb():
    out = os.path.join(WORK, "deb")
    if os.environ.get("DEB_REUSE"):         # a developer's rerun: the package built last time
        return next(os.path.join(out, f) for f in os.listdir(out) if f.endswith(".deb"))
    shutil.rmtree(out, ignore_errors=True)
    t = time.time()
    r = run([os.path.join(SRC, "packaging", "deb.sh"), out])
    deb = r.stdout.strip().splitlines()[-1]
    print(f"package: {os.path.basename(deb)} built and lintian-clean in {time.time() - t:.0f} s", file=sys.stderr)
    return deb


def this_version():
    with open(os.path.join(SRC, "meson.build")) as f:
        return re.search(r"version : '([^']+)'", f.read()).group(1)


def previous_release():
    """The previous release's package (packaging/previous-release names
    its version and commit), built from that commit with that commit's
    own packaging/deb.sh, once (cached in the build tree)."""
    with open(os.path.join(SRC, "packaging", "previous-release")) as f:
        ver, sha = next(l.split() for l in f if l.strip() and not l.startswith("#"))
    out = os.path.join(WORK, f"previous-{sha[:12]}")
    if os.path.isdir(out):
        debs = [x for x in os.listdir(out) if x.endswith(".deb")]
        if debs:
            return ver, os.path.join(out, debs[0])
    if run(["git", "-C", SRC, "cat-file", "-e", sha + "^{commit}"], check=False).returncode != 0:
        raise AssertionError(f"the previous release's commit {sha} is not in this clone (a shallow clone?):"
                             " fetch the whole history")
    t = time.time()
    tree = tempfile.mkdtemp(prefix="daiban-previous-")     # outside any git checkout: deb.sh takes it as it is
    try:
        run(["bash", "-c", f"git -C {shlex.quote(SRC)} archive {sha} | tar -x -C {shlex.quote(tree)}"])
        shutil.rmtree(out, ignore_errors=True)
        run([os.path.join(tree, "packaging", "deb.sh"), out])
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    deb = next(os.path.join(out, x) for x in os.listdir(out) if x.endswith(".deb"))
    print(f"package: the previous release {ver} ({sha[:12]}) built in {time.time() - t:.0f} s", file=sys.stderr)
    return ver, deb


def base_root(deb):
    """A tarball of a minimal Debian 12 root holding the package's
    dependencies (so that dpkg -i needs no network), made once."""
    depends = run(["dpkg-deb", "-f", deb, "Depends"]).stdout.strip()
    names = sorted({re.split(r"[\s(]", d.strip())[0] for d in depends.split(",")} | {"systemd"})
    key = hashlib.sha256(" ".join(names).encode()).hexdigest()[:12]
    tar = os.path.join(WORK, f"root-{SUITE}-{key}.tar")
    if not os.path.exists(tar):
        t = time.time()
        run(["mmdebstrap", "--variant=apt", "--format=tar", "--quiet", f"--include={','.join(names)}", SUITE, tar + ".part"])
        os.rename(tar + ".part", tar)
        print(f"package: made a {SUITE} root with {', '.join(names)} in {time.time() - t:.0f} s", file=sys.stderr)
    return tar


def unit_settings(root, unit):
    """ExecStart's words and the environment, as systemd would give them
    from the unit and its EnvironmentFile (the subset the units use)."""
    env, execstart, stop = {}, None, None
    with open(os.path.join(root, "lib/systemd/system", unit)) as f:
        lines = [l.strip() for l in f]
    for l in lines:
        k, _, v = l.partition("=")
        if k == "Environment":
            env.update(dict(w.split("=", 1) for w in shlex.split(v)))
        elif k == "EnvironmentFile":
            path = v.lstrip("-")
            with open(os.path.join(root, path.lstrip("/"))) as ef:
                for e in ef:
                    e = e.strip()
                    if e and not e.startswith("#"):
                        ek, _, ev = e.partition("=")
                        env[ek] = shlex.split(ev)[0] if ev else ""
        elif k == "ExecStart":
            execstart = v
        elif k == "TimeoutStopSec":
            stop = int(v)
    words = []
    for w in execstart.split():
        m = re.fullmatch(r"\$(\w+)", w)
        words += env.get(m.group(1), "").split() if m else [w]
    return words, env, stop


def unit_value(root, unit, key):
    """The last value a unit gives key, or None."""
    got = None
    with open(os.path.join(root, "lib/systemd/system", unit)) as f:
        for l in f:
            k, _, v = l.strip().partition("=")
            if k == key:
                got = v
    return got


def syscall_set(name, seen=None):
    """A system call or an @group, expanded (systemd-analyze syscall-filter)."""
    if not name.startswith("@"):
        return {name}
    seen = seen if seen is not None else set()
    if name in seen:
        return set()
    seen.add(name)
    out = run(["systemd-analyze", "syscall-filter", name]).stdout
    calls = set()
    for l in out.splitlines()[1:]:
        w = l.strip()
        if w and not w.startswith("#"):
            calls |= syscall_set(w, seen)
    return calls


def unit_syscalls(root, unit):
    """The system calls a unit's SystemCallFilter= lines allow, as systemd
    merges them: the first line's kind (allow or deny) sets the mode, and
    each later line adds to the set or takes from it."""
    allowed, mode = set(), None
    with open(os.path.join(root, "lib/systemd/system", unit)) as f:
        lines = [l.strip().partition("=")[2] for l in f if l.startswith("SystemCallFilter=")]
    for v in lines:
        deny = v.startswith("~")
        names = set().union(*(syscall_set(w) for w in v.lstrip("~").split()))
        mode = mode or ("deny" if deny else "allow")
        allowed = allowed - names if deny else allowed | names
    return allowed if mode == "allow" else None


def can_raise_limits():
    """Whether this host lets the test raise a hard resource limit (as
    the hall's LimitNICE= needs): a container may not (this workplace's
    CI has no CAP_SYS_RESOURCE), and then the unit's limit cannot be given
    to what the test runs as the unit's user. Tried, not read off CapEff
    (in a user namespace it shows what prlimit cannot use)."""
    return subprocess.run(["prlimit", "--nice=30", "true"], capture_output=True).returncode == 0


class Package(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if missing_tools():
            why = f"needs {', '.join(missing_tools())} (packaging/install-deps.sh installs the tools)"
            if os.environ.get("CI") == "true":
                raise AssertionError(why)      # a skip in CI is a failure
            raise unittest.SkipTest(why)
        os.makedirs(WORK, exist_ok=True)
        cls.deb = build_deb()
        cls.tar = base_root(cls.deb)

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="daiban-root-", dir=WORK)
        self.addCleanup(shutil.rmtree, self.root, ignore_errors=True)
        run(["tar", "-xf", self.tar, "-C", self.root])
        shutil.copy(self.deb, os.path.join(self.root, "tmp", "daiban.deb"))
        shutil.copytree(os.path.join(DATA, "catalog-sample"), os.path.join(self.root, "tmp", "catalog"))
        run(["mount", "-t", "proc", "proc", os.path.join(self.root, "proc")])
        self.addCleanup(run, ["umount", "-l", os.path.join(self.root, "proc")], check=False)

    def chroot(self, *cmd, user=None, env=None, check=True, **kw):
        pre = ["chroot"] + ([f"--userspec={user}:{user}"] if user else []) + [self.root, "/usr/bin/env", "-i",
               "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent"]
        pre += [f"{k}={v}" for k, v in (env or {}).items()]
        return run(pre + list(cmd), check=check, **kw)

    def install(self):
        r = self.chroot("dpkg", "-i", "/tmp/daiban.deb")
        return r.stdout + r.stderr

    def at(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def test_install_run_remove_purge(self):
        out = self.install()
        # the user and its state folder
        pw = self.chroot("getent", "passwd", "daiban").stdout.strip().split(":")
        self.assertEqual(pw[5], "/var/lib/daiban", pw)
        self.assertLess(int(pw[2]), 1000, f"daiban is not a system user: {pw}")
        st = os.stat(self.at("/var/lib/daiban"))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (int(pw[2]), 0o700))
        # configuration files are conffiles; units enabled at boot
        conff = self.chroot("dpkg-query", "-W", "-f=${Conffiles}", "daiban").stdout
        for c in ("/etc/daiban/station.conf", "/etc/daiban/hall.conf", "/etc/daiban/backup.conf"):
            self.assertIn(c, conff)
        self.assertTrue(os.path.islink(self.at("/etc/systemd/system/timers.target.wants/daiban-backup.timer")),
                        f"the backup timer is not enabled after install:\n{out}")
        with open(self.at("/lib/systemd/system/daiban-backup.timer")) as f:
            self.assertRegex(f.read(), r"(?m)^Persistent=true$")
        for u in UNITS + TIMED:
            if u in UNITS:
                self.assertTrue(os.path.islink(self.at(f"/etc/systemd/system/multi-user.target.wants/{u}")),
                                f"{u} is not enabled after install:\n{out}")
            # (the root has no man-db: the page itself is checked below)
            v = self.chroot("systemd-analyze", "verify", "--man=no", f"/lib/systemd/system/{u}", check=False)
            self.assertEqual(v.returncode, 0, f"systemd-analyze verify {u}:\n{v.stdout}{v.stderr}")
            self.assertNotIn(u, v.stdout + v.stderr, f"systemd-analyze verify complains about {u}")
            if u.endswith(".timer"):
                continue
            sec = run(["systemd-analyze", "security", "--offline=true", f"--root={self.root}",
                       f"/lib/systemd/system/{u}"], check=False)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", sec.stdout)
            self.assertTrue(m, sec.stdout + sec.stderr)
            print(f"package: systemd-analyze security {u}: {m.group(1)} {m.group(2)}", file=sys.stderr)
            self.assertLessEqual(float(m.group(1)), EXPOSURE_MAX, sec.stdout)

        self.assertTrue(os.path.exists(self.at("/usr/share/man/man1/daiban.1.gz")), "no man page")
        with open(self.at("/lib/systemd/system/daiban-hall.service")) as f:
            self.assertIn("man:daiban(1)", f.read())

        codes = divisions()
        # the hall: a county home made by the daiban user, then the unit's
        # ExecStart with its configuration (listening on a free port)
        self.set_conf("hall.conf", "DAIBAN_HALL_OPTS", "--listen 127.0.0.1:0")
        words, env, hall_stop = unit_settings(self.root, "daiban-hall.service")
        self.assertEqual(words[:3], ["/usr/bin/daiban", "hall", "serve"])
        # what the hall does with its CPU priority (a fetch's gate lowers
        # its own, the ingest raises its thread's) passes its unit's
        # system call filter, and its LimitNICE= lets the ingest run ahead
        calls = unit_syscalls(self.root, "daiban-hall.service")
        self.assertTrue(calls and {"getpriority", "setpriority"} <= calls,
                        "the hall's unit refuses getpriority or setpriority")
        self.assertNotIn("sched_setscheduler", calls)
        hall_nice_limit = unit_value(self.root, "daiban-hall.service", "LimitNICE")
        self.assertEqual(hall_nice_limit, "-10")
        hall_home = {"DAIBAN_HOME": env["DAIBAN_HOME"]}
        self.as_daiban(hall_home, "init", "--node", codes["county"], "--role", "county", "--catalog", "/tmp/catalog")
        limited = can_raise_limits()
        hall, line = self.start(words, env, limit_nice=hall_nice_limit if limited else None)
        port = hall_port = int(re.search(r"http://127\.0\.0\.1:(\d+)/feeds", line).group(1))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            self.assertEqual(json.loads(r.read())["node"], codes["county"])
        # the packaged hall found its helper (libexecdir/daiban), which runs
        # its requests and the reference-transaction hook
        with open(self.at(env["DAIBAN_HOME"] + "/hall/hooks/reference-transaction")) as f:
            self.assertRegex(f.read(), r"exec /proc/\d+/fd/\d+ reference-transaction")
        # and daiban-hall-check, which runs the pre-receive check
        with open(self.at(env["DAIBAN_HOME"] + "/hall/hooks/pre-receive")) as f:
            self.assertRegex(f.read(), r"exec /proc/\d+/fd/\d+ pre-receive")
        token = self.as_daiban(hall_home, "hall", "token", codes["village"]).stdout.strip().split()[-1]

        # the station: its ExecStart on a home not made yet serves the
        # first-run page (the postinst told where its one-time code is);
        # the setup, posted as the page posts it, joins the county through
        # the sandboxed hall; the station then starts on the same address,
        # and an application captured there reaches the hall
        self.assertIn("/var/lib/daiban/station.setup-code", out, "the postinst does not say where the code is")
        self.assertTrue(os.path.exists(self.at("/usr/share/applications/daiban-station.desktop")), "no launcher")
        self.assertTrue(os.access(self.at("/usr/share/daiban/daiban-open-station"), os.X_OK), "no launcher script")
        with socket.socket() as so:
            so.bind(("127.0.0.1", 0))
            sport = so.getsockname()[1]
        self.set_conf("station.conf", "DAIBAN_STATION_OPTS", f"--listen 127.0.0.1:{sport} --sync-every 2")
        words, env, stop = unit_settings(self.root, "daiban-station.service")
        self.assertEqual(words[:2], ["/usr/bin/daiban", "serve"])
        home = {"DAIBAN_HOME": env["DAIBAN_HOME"], "DAIBAN_OPERATOR": "op1"}
        proc, line = self.start(words, env)
        self.assertIn("one-time code", line)
        code_file = self.at("/var/lib/daiban/station.setup-code")
        st = os.stat(code_file)
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (int(pw[2]), 0o600))
        with open(code_file) as f:
            code = f.read().strip()
        proc.stdout.readline()      # "not set up yet: open ..."
        with urllib.request.urlopen(f"http://127.0.0.1:{sport}/", timeout=10) as r:
            self.assertIn('id="setup-form"', r.read().decode())
        form = {"code": code, "hall": f"http://127.0.0.1:{port}/feeds", "token": token, "operator": "op1",
                "operator_name": "Agent", "password": "secret-1"}
        req = urllib.request.Request(f"http://127.0.0.1:{sport}/api/setup", data=json.dumps(form).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            key = json.loads(r.read())
        self.assertEqual(key["node"], codes["village"])
        self.assertEqual(key["fingerprint"], json.loads(self.as_daiban(home, "key", "show", "--json").stdout)["fingerprint"])
        self.assertFalse(os.path.exists(code_file), "the one-time code outlived the setup")
        line = proc.stdout.readline() + proc.stdout.readline()
        self.assertRegex(line, rf"at http://127\.0\.0\.1:{sport}/", "the station did not start after its first run")
        print(f"package: the sandboxed station was set up through its first-run page", file=sys.stderr)
        shutil.copy(os.path.join(DATA, "apps", "MZ-DB-001-valid.json"), self.at("/tmp/app.json"))
        app = self.as_daiban(home, "app", "new", "MZ-DB-001", "--data", "/tmp/app.json").stdout.strip().split()[0]
        for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
            self.as_daiban(home, "app", "material", app, m, "provided")
        self.as_daiban(home, "app", "submit", app)
        port = sport
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("<html", r.read().decode().lower())
        # its first sync, from inside the sandbox, brings the application
        # to the hall (a write to its own repository and the hall's)
        end, status = time.time() + 60, None
        while time.time() < end and status != "accepted":
            time.sleep(0.5)
            status = self.hall_status(app)
        self.assertEqual(status, "accepted", f"the hall does not hold {app} from the station's sync")
        # the round that took it ran 10 levels above the hall, as the
        # daiban user under the unit's LimitNICE=; where the test cannot
        # give it that limit, at the hall's own priority, and the hall
        # says so (checked at its stop)
        with urllib.request.urlopen(f"http://127.0.0.1:{hall_port}/health", timeout=10) as r:
            ingest = json.loads(r.read())["ingest"]
        self.assertGreaterEqual(ingest["rounds"], 1)
        self.assertEqual(ingest["ahead"], 10 if limited else 0, ingest)
        print(f"package: the hall's ingest ran {ingest['ahead']} nice levels ahead of it "
              + ("under its unit's LimitNICE=" if limited else
                 "(this host may not raise a hard limit, so the unit's LimitNICE= was not given)"), file=sys.stderr)
        print(f"package: the sandboxed station synced {app} to the sandboxed hall", file=sys.stderr)
        self.stop(proc, stop, "the station")
        # the timer's backup, as its unit runs it: one file, the daiban user's
        words, env, _ = unit_settings(self.root, "daiban-backup.service")
        self.assertEqual(words[:2], ["/usr/bin/daiban", "backup"])
        b, line = self.start(words, env)
        _, err = b.communicate(timeout=120)
        self.assertEqual(b.returncode, 0, line + err)
        made = [f for f in os.listdir(self.at("/var/lib/daiban/backups")) if f.endswith(".tar.gz")]
        self.assertEqual(len(made), 1, made)
        st = os.stat(self.at(f"/var/lib/daiban/backups/{made[0]}"))
        self.assertEqual((st.st_uid, st.st_mode & 0o777), (int(pw[2]), 0o600))
        print(f"package: the sandboxed backup wrote {made[0]}", file=sys.stderr)
        err = self.stop(hall, hall_stop, "the hall")
        hint = "the ingest runs at the hall's CPU priority, not 10 levels above it"
        (self.assertNotIn if limited else self.assertIn)(hint, err)
        for home in ("station", "hall"):
            st = os.stat(self.at(f"/var/lib/daiban/{home}/store.db"))
            self.assertEqual(st.st_uid, int(pw[2]), f"{home}'s store does not belong to daiban")

        # remove keeps the homes; purge deletes them and the configuration
        self.chroot("dpkg", "-r", "daiban")
        self.assertTrue(os.path.exists(self.at("/var/lib/daiban/station/store.db")), "remove deleted a home")
        self.assertTrue(os.path.exists(self.at("/etc/daiban/hall.conf")), "remove deleted a conffile")
        self.chroot("dpkg", "-P", "daiban")
        self.assertFalse(os.path.exists(self.at("/var/lib/daiban")), "purge left /var/lib/daiban")
        self.assertFalse(os.path.exists(self.at("/etc/daiban/hall.conf")), "purge left /etc/daiban")

    def test_upgrade_keeps_homes_and_downgrade_is_refused(self):
        self.repack("99.0")
        self.install()
        home = {"DAIBAN_HOME": "/var/lib/daiban/hall"}
        self.as_daiban(home, "init", "--node", divisions()["county"], "--role", "county", "--catalog", "/tmp/catalog")
        self.set_conf("hall.conf", "DAIBAN_HALL_OPTS", "--listen 127.0.0.1:8499")
        # an upgrade keeps the home and the administrator's configuration
        self.chroot("dpkg", "-i", "/tmp/newer.deb")
        self.assertEqual(self.version(), "99.0")
        self.as_daiban(home, "status")
        with open(self.at("/etc/daiban/hall.conf")) as f:
            self.assertIn("127.0.0.1:8499", f.read(), "the upgrade lost the configuration")
        # the older package over it is refused, and nothing changes
        r = self.chroot("dpkg", "-i", "/tmp/daiban.deb", check=False)
        self.assertNotEqual(r.returncode, 0, "a downgrade was installed")
        self.assertIn("installing an older daiban is refused", r.stdout + r.stderr)
        said = next(l for l in (r.stdout + r.stderr).splitlines() if "refused" in l)
        print(f"package: a downgrade from 99.0 is refused: {said}", file=sys.stderr)
        self.assertEqual(self.version(), "99.0")
        self.as_daiban(home, "status")
        # removed (homes kept), the older package is refused as well
        self.chroot("dpkg", "-r", "daiban")
        r = self.chroot("dpkg", "-i", "/tmp/daiban.deb", check=False)
        self.assertNotEqual(r.returncode, 0, "an older package was installed over a removed newer one's homes")
        self.assertIn("installing an older daiban is refused", r.stdout + r.stderr)

    def store_state(self, home):
        """What a home's store holds: its schema, its events, its applications."""
        db = sqlite3.connect(f"file:{self.at(f'/var/lib/daiban/{home}/store.db')}?mode=ro", uri=True, timeout=5)
        try:
            return (db.execute("PRAGMA user_version").fetchone()[0],
                    db.execute("SELECT node, seq, hlc, type, body FROM events ORDER BY node, seq").fetchall(),
                    db.execute("SELECT id, status FROM apps ORDER BY id").fetchall())
        finally:
            db.close()

    def capture(self, home):
        shutil.copy(os.path.join(DATA, "apps", "MZ-DB-001-valid.json"), self.at("/tmp/app.json"))
        app = self.as_daiban(home, "app", "new", "MZ-DB-001", "--data", "/tmp/app.json").stdout.strip().split()[0]
        for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
            self.as_daiban(home, "app", "material", app, m, "provided")
        self.as_daiban(home, "app", "submit", app)
        return app

    def hall_up(self):
        self.set_conf("hall.conf", "DAIBAN_HALL_OPTS", "--listen 127.0.0.1:0")
        words, env, stop = unit_settings(self.root, "daiban-hall.service")
        hall, line = self.start(words, env)
        return hall, stop, int(re.search(r"http://127\.0\.0\.1:(\d+)/feeds", line).group(1))

    def test_upgrade_from_the_previous_release(self):
        """The previous release installed, a county hall and a village that
        captured and synced; this release over it: every event and
        application as it was, the store's copy before a migration there,
        and both still work; then the previous release over this one is
        refused."""
        ver, old = previous_release()
        shutil.copy(old, self.at("/tmp/previous.deb"))
        self.chroot("dpkg", "-i", "/tmp/previous.deb")
        self.assertEqual(self.version(), ver)
        codes = divisions()
        hall_home = {"DAIBAN_HOME": "/var/lib/daiban/hall"}
        home = {"DAIBAN_HOME": "/var/lib/daiban/station", "DAIBAN_OPERATOR": "op1"}
        self.as_daiban(hall_home, "init", "--node", codes["county"], "--role", "county", "--catalog", "/tmp/catalog")
        hall, stop, port = self.hall_up()
        token = self.as_daiban(hall_home, "hall", "token", codes["village"]).stdout.strip().split()[-1]
        self.as_daiban(home, "init", "--node", codes["village"], "--role", "village", "--catalog", "/tmp/catalog")
        self.as_daiban(home, "operator", "add", "op1", "--name", "Agent")
        first = self.capture(home)
        self.as_daiban(home, "remote", "set", f"http://127.0.0.1:{port}/feeds", "--token", token)
        self.as_daiban(home, "sync")
        end = time.time() + 30
        while time.time() < end and self.hall_status(first) != "accepted":
            time.sleep(0.5)
        self.assertEqual(self.hall_status(first), "accepted")
        self.stop(hall, stop, f"the {ver} hall")
        before = {h: self.store_state(h) for h in ("station", "hall")}
        # this release over it, as an unattended upgrade runs it: the
        # administrator's changed configuration files are kept
        self.chroot("dpkg", "--force-confdef", "--force-confold", "-i", "/tmp/daiban.deb")
        self.assertEqual(self.version(), this_version())
        for h, env in (("station", home), ("hall", hall_home)):
            self.as_daiban(env, "status")       # opens the store: migrates it if its schema is older
            after = self.store_state(h)
            self.assertEqual(after[1:], before[h][1:], f"the {h}'s events or applications changed in the upgrade")
            self.as_daiban(env, "rebuild", "--verify")
            # (named for the schema it was migrated to)
            copy = self.at(f"/var/lib/daiban/{h}/store.db.before-schema-{after[0]}")
            if after[0] != before[h][0]:
                self.assertTrue(os.path.exists(copy), f"no copy of the {h}'s store before its migration")
            print(f"package: {ver} -> {this_version()}: the {h}'s {len(after[1])} events and {len(after[2])}"
                  f" applications kept; schema {before[h][0]} -> {after[0]}"
                  + (" (its copy before the migration kept)" if after[0] != before[h][0] else " (no migration)"),
                  file=sys.stderr)
        # both work on: a capture after the upgrade reaches the upgraded hall
        hall, stop, port = self.hall_up()
        self.as_daiban(home, "remote", "set", f"http://127.0.0.1:{port}/feeds")
        second = self.capture(home)
        self.as_daiban(home, "sync")
        end = time.time() + 30
        while time.time() < end and self.hall_status(second) != "accepted":
            time.sleep(0.5)
        self.assertEqual(self.hall_status(second), "accepted")
        self.stop(hall, stop, f"the {this_version()} hall")
        # the previous release over this one: refused, nothing changed
        r = self.chroot("dpkg", "-i", "/tmp/previous.deb", check=False)
        self.assertNotEqual(r.returncode, 0, "a downgrade was installed")
        self.assertIn("installing an older daiban is refused", r.stdout + r.stderr)
        self.assertEqual(self.version(), this_version())

    def repack(self, version):
        """The built package as another version (same files; its preinst
        compares against that version)."""
        tree = os.path.join(self.root, "tmp", "repack")
        run(["dpkg-deb", "-R", self.deb, tree])
        for name, pat, new in (("control", r"(?m)^Version: .*$", f"Version: {version}"),
                               ("preinst", r'gt "[^"]+"', f'gt "{version}"')):
            path = os.path.join(tree, "DEBIAN", name)
            with open(path) as f:
                text = f.read()
            self.assertRegex(text, pat, f"the package's {name} has no {pat}")
            with open(path, "w") as f:
                f.write(re.sub(pat, new, text))
        out = self.at("/tmp/newer.deb")
        run(["dpkg-deb", "--root-owner-group", "-b", tree, out])
        shutil.rmtree(tree)
        return out

    def version(self):
        return self.chroot("dpkg-query", "-W", "-f=${Version}", "daiban").stdout

    def as_daiban(self, env, *args):
        return self.chroot("daiban", *args, user="daiban", env=dict(env, LANG="C.UTF-8"))

    def hall_status(self, app):
        db = sqlite3.connect(f"file:{self.at('/var/lib/daiban/hall/store.db')}?mode=ro", uri=True, timeout=5)
        try:
            row = db.execute("SELECT status FROM apps WHERE id = ?", (app,)).fetchone()
        except sqlite3.OperationalError:
            return None
        finally:
            db.close()
        return row[0] if row else None

    def set_conf(self, name, var, value):
        path = self.at(f"/etc/daiban/{name}")
        with open(path) as f:
            text = f.read()
        self.assertRegex(text, rf"(?m)^{var}=", f"{name} does not set {var}")
        with open(path, "w") as f:
            f.write(re.sub(rf"(?m)^{var}=.*$", f'{var}="{value}"', text))

    def start(self, words, env, limit_nice=None):
        """Run a unit's ExecStart as its user, with what of its sandbox a
        host without systemd as PID 1 can give: a mount namespace where
        the whole root is read-only but /var/lib/daiban (ProtectSystem=
        strict with StateDirectory=), empty /tmp and /var/tmp
        (PrivateTmp=), no new privileges (NoNewPrivileges=), and its
        LimitNICE= (limit_nice: a nice level, "-10")."""
        r = shlex.quote(self.root)
        prlimit = f"prlimit --nice={20 - int(limit_nice)} " if limit_nice else ""
        script = (f"set -e; mount --bind {r} {r}; mount --bind {r}/var/lib/daiban {r}/var/lib/daiban;"
                  f" mount -o remount,bind,ro {r}; mount -t proc proc {r}/proc;"
                  f" mount -t tmpfs -o mode=1777 tmpfs {r}/tmp; mount -t tmpfs -o mode=1777 tmpfs {r}/var/tmp;"
                  f" exec {prlimit}setpriv --no-new-privs chroot --userspec=daiban:daiban {r} /usr/bin/env -i"
                  f" PATH=/usr/sbin:/usr/bin:/sbin:/bin "
                  + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items() if k in ("DAIBAN_HOME", "LANG"))
                  + " " + " ".join(map(shlex.quote, words)))
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.communicate()))
        line = proc.stdout.readline()
        self.assertTrue(line, f"{' '.join(words)} did not start: {proc.stderr.read() if proc.poll() is not None else ''}")
        with open(f"/proc/{proc.pid}/status") as f:
            status = f.read()
        uid = re.search(r"(?m)^Uid:\s+(\d+)", status).group(1)
        pw = self.chroot("getent", "passwd", "daiban").stdout.split(":")
        self.assertEqual(uid, pw[2], "the service does not run as the daiban user")
        self.assertRegex(status, r"(?m)^NoNewPrivs:\s+1", "the service may gain privileges")
        return proc, line

    def stop(self, proc, timeout, what):
        t = time.time()
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"{what} did not stop within {timeout} s of SIGTERM")
        code = proc.returncode
        print(f"package: {what} stopped {time.time() - t:.1f} s after SIGTERM, exit {code}", file=sys.stderr)
        self.assertEqual(code, 0, f"{what} exited {code} on SIGTERM: {err}")
        return err


if __name__ == "__main__":
    unittest.main(verbosity=2)
