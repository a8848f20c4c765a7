"""Running the Windows daiban.exe under Wine beside the Linux daiban, for
the tests in tests/windows/ (docs/windows.md, "Proofs under Wine").

DAIBAN_EXE is the Windows build's daiban.exe, DAIBAN_LINUX the Linux
build's daiban; packaging/windows/build.sh sets both, and WINEPREFIX."""
import os
import subprocess

EXE = os.environ.get("DAIBAN_EXE", "")
LINUX = os.environ.get("DAIBAN_LINUX", "")
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")


def sample():
    """The sample catalogue: the shared one beside the worktree, else the tests' copy."""
    for p in (os.path.join(ROOT, "..", "shared", "catalog-sample"), os.path.join(DATA, "catalog-sample")):
        if os.path.isdir(p):
            return p
    raise SystemExit("no sample catalogue")


def winpath(p):
    """A Linux path as the Windows program sees it (Wine's Z: is /)."""
    return "Z:" + os.path.abspath(p).replace("/", "\\")


def need():
    """The two programs, or an error saying what is missing."""
    missing = [n for n, p in (("DAIBAN_EXE", EXE), ("DAIBAN_LINUX", LINUX)) if not p or not os.path.exists(p)]
    if missing:
        raise SystemExit("set %s (packaging/windows/build.sh does)" % ", ".join(missing))


def env(home, **extra):
    e = dict(os.environ)
    # LC_CTYPE: Wine turns the UTF-8 of argv and the environment into
    # UTF-16 by the Unix locale's charset (C.UTF-8 is always there); LANG
    # picks daiban's Chinese messages on both sides
    e.update(WINEDEBUG="-all", DAIBAN_TODAY="2026-11-24", LANG="zh_CN.UTF-8", LC_CTYPE="C.UTF-8")
    e.pop("LC_ALL", None)
    e["DAIBAN_HOME"] = home
    for k, v in extra.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def run(windows, home, *args, timeout=120, input=None, **extra):
    """daiban args on one side; home is a Linux path (made a Windows one
    for daiban.exe, as are arguments given as ("path", p))."""
    argv = []
    for a in args:
        if isinstance(a, tuple) and a[0] == "path":
            a = winpath(a[1]) if windows else a[1]
        argv.append(a)
    cmd = (["wine", EXE] if windows else [LINUX]) + argv
    r = subprocess.run(cmd, env=env(winpath(home) if windows else home, **extra), capture_output=True,
                       timeout=timeout, input=input)
    r.stdout = r.stdout.decode("utf-8", "replace").replace("\r\n", "\n")
    r.stderr = r.stderr.decode("utf-8", "replace").replace("\r\n", "\n")
    return r
