"""A node home driven through the real `daiban` binary, for the
integration, fault and benchmark scripts."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile

DAIBAN = os.environ.get("DAIBAN", "build/agent/daiban")
# The Windows station's daiban.exe under Wine in place of DAIBAN
# (tests/windows runs tests/fault/kill9-serve.py so): its homes and
# path arguments as Wine's Z: drive sees them.
WINE_EXE = os.environ.get("DAIBAN_WINE_EXE", "")


def winpath(p):
    return "Z:" + os.path.abspath(p).replace("/", "\\")


def command(args):
    """The argv that runs daiban ARGS (daiban.exe under Wine when
    DAIBAN_WINE_EXE is set: absolute paths that exist become Z: ones)."""
    if not WINE_EXE:
        return [DAIBAN, *args]
    return ["wine", WINE_EXE, *[winpath(a) if a.startswith("/") and os.path.exists(a) else a for a in args]]


def wine_env(env):
    """env for daiban.exe: its home as a Windows path; Wine turns argv and
    the environment into UTF-16 by LC_CTYPE's charset."""
    if WINE_EXE:
        env = dict(env, DAIBAN_HOME=winpath(env["DAIBAN_HOME"]), LC_CTYPE="C.UTF-8", WINEDEBUG="-all")
    return env


if WINE_EXE:
    # the Wine server up before any test sets LD_PRELOAD (the crash-point
    # shim belongs in daiban.exe's process, never in the server's)
    # (exits 2 when one is already running: that one serves)
    quiet_env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run(["wineserver", "-p", "900"], env=quiet_env)
    # and Wine's own services (services.exe, winedevice.exe...) started
    # now, holding no pipe of the test's: started by the first daiban.exe
    # they would inherit its output pipes and keep them open
    subprocess.run(["wine", "cmd", "/c", "exit"], env=dict(quiet_env, WINEDEBUG="-all"), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
DATA = os.environ.get("DAIBAN_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
SAMPLE = os.path.join(DATA, "catalog-sample")
APPS = os.path.join(DATA, "apps")
VILLAGE = "330225101201"
TOWNSHIP = "330225101"
COUNTY = "330225"


# The stations of the running test, so that a county enrolls the keys of
# its townships and villages as a county admin does at installation
# ('daiban roster add'). Station(enroll=False) leaves a node off.
_live = []


class Station:
    def __init__(self, root=None, node=VILLAGE, role="village", today="2026-11-24", operator="op01", enroll=True,
                 catalog=None):
        self.root = root or tempfile.mkdtemp(prefix="daiban-home-")
        self.home = os.path.join(self.root, "home")
        self.today = today
        self.operator = operator
        self.node, self.role = node, role
        r = self.run("init", "--node", node, "--role", role, "--catalog", catalog or SAMPLE, operator=None)
        assert r.returncode == 0, r.stderr
        r = self.run("operator", "add", operator, "--name", "王小红", operator=None)
        assert r.returncode == 0, r.stderr
        self.enrolled = False
        _live[:] = [s for s in _live if os.path.exists(os.path.join(s.home, "store.db"))]
        if enroll:
            if role == "county":
                for other in _live:
                    if other.role != "county" and other.node.startswith(node) and other.wants_enrolment:
                        self.enroll(other)
            else:
                counties = [c for c in _live if c.role == "county" and node.startswith(c.node)]
                if counties:
                    counties[-1].enroll(self)
        self.wants_enrolment = enroll
        _live.append(self)

    def key(self):
        return json.loads(self.ok("key", "show", "--json"))["key"]

    def enroll(self, other, *extra):
        """At this county: put other's key on the roster."""
        self.ok("roster", "add", other.node, other.key(), *extra)
        other.enrolled = True

    def env(self, operator="-", lang="C.UTF-8", extra=None):
        e = dict(os.environ, DAIBAN_HOME=self.home, DAIBAN_TODAY=self.today, LANG=lang, LC_ALL="", LC_MESSAGES="")
        e.pop("DAIBAN_OPERATOR", None)
        op = self.operator if operator == "-" else operator
        if op:
            e["DAIBAN_OPERATOR"] = op
        if extra:
            e.update(extra)
        return wine_env(e)

    def run(self, *args, operator="-", lang="C.UTF-8", extra=None, timeout=120):
        return subprocess.run(command(args), capture_output=True, text=True, timeout=timeout,
                              env=self.env(operator, lang, extra))

    def ok(self, *args, **kw):
        r = self.run(*args, **kw)
        assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
        return r.stdout.strip()

    def write_json(self, obj, name="app.json"):
        p = os.path.join(self.root, name)
        with open(p, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False)
        return p

    def db(self):
        return sqlite3.connect(os.path.join(self.home, "store.db"), timeout=60)

    def nevents(self):
        with self.db() as c:
            return c.execute("SELECT count(*) FROM events").fetchone()[0]

    def show(self, app):
        return json.loads(self.ok("app", "show", app, "--json"))

    def dump_derived(self):
        """The derived tables as sqlite3's .dump prints them (bytes)."""
        return subprocess.run(["sqlite3", os.path.join(self.home, "store.db"),
                               ".dump apps app_materials conflicts operators"],
                              capture_output=True, check=True).stdout

    def cleanup(self):
        if self in _live:
            _live.remove(self)
        shutil.rmtree(self.root, ignore_errors=True)


def app_file(name):
    return os.path.join(APPS, name)


def accept_dibao(s):
    """A minimum-allowance application captured at s with its five
    materials and accepted; returns its id."""
    a = s.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
    for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM"):
        s.ok("app", "material", a, m, "provided")
    s.ok("app", "submit", a)
    return a
