#!/usr/bin/env python3
"""The Windows installer under Wine (docs/windows.md, "The installer").

In a Wine prefix of its own (build-win/wine-setup, made afresh), the
installer (DAIBAN_SETUP, built by packaging/windows/build.sh) runs
silently, and then: the program is in Program Files, the service is
registered to start with Windows as LocalService, the shortcuts are
there, the service answers on 127.0.0.1:8410 with the first-run page,
stops within 10 s through the SCM and starts again; a home set up
meanwhile is served as the station and backed up by a second install
(an upgrade); an installer of a lower version refuses in silent mode;
the silent uninstall removes the program and keeps the data.

Wine's limits (what this cannot show, docs/windows.md): its SCM runs
services as the user running Wine, not as LocalService; it keeps no
file access lists (the home's is checked by the calls made); it accepts
the failure actions without keeping them (checked by its own trace)."""
import hashlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import wine  # noqa: E402

VERSION = os.environ.get("DAIBAN_VERSION", "")
SETUP = os.environ.get("DAIBAN_SETUP", "")
NSI = os.environ.get("DAIBAN_NSI", os.path.join(wine.ROOT, "packaging", "windows", "installer.nsi"))
URL = "http://127.0.0.1:8410/"
PROGRAM = "C:\\Program Files\\daiban\\daiban.exe"
HOME_WIN = "C:\\ProgramData\\daiban\\station"
SERVICE_KEY = "HKLM\\System\\CurrentControlSet\\Services\\daiban"


def read(path):
    """The text of path, or None when it is not there."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def port_taken():
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", 8410)) == 0


def get(url=URL, timeout=30):
    """(status, body) of a GET, retried while nothing listens; (0, "") when
    nothing came within timeout."""
    end = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except OSError:
            if time.monotonic() > end:
                return 0, ""
            time.sleep(0.5)


class Installer(unittest.TestCase):
    """The whole flow runs once (setUpClass); each test asserts on what it saw."""

    @classmethod
    def setUpClass(cls):
        if not SETUP or not os.path.isfile(SETUP):
            raise SystemExit("set DAIBAN_SETUP to the installer (packaging/windows/build.sh does)")
        if not VERSION:
            raise SystemExit("set DAIBAN_VERSION")
        if port_taken():
            raise SystemExit("127.0.0.1:8410 is in use: the installed service listens there")
        cls.prefix = os.path.join(os.path.dirname(os.path.abspath(SETUP)), "wine-setup")
        cls.c = os.path.join(cls.prefix, "drive_c")
        cls.home = os.path.join(cls.c, "ProgramData", "daiban", "station")
        cls.tmp = tempfile.mkdtemp(prefix="daiban-setup-")
        cls.env = dict(os.environ, WINEPREFIX=cls.prefix, WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=",
                       LC_CTYPE="C.UTF-8")
        cls.env.pop("LC_ALL", None)
        subprocess.run(["wineserver", "-k"], env=cls.env, capture_output=True)
        shutil.rmtree(cls.prefix, ignore_errors=True)
        subprocess.run(["wineboot", "-i"], env=cls.env, capture_output=True, timeout=120)
        subprocess.run(["wineserver", "-w"], env=cls.env, capture_output=True, timeout=60)
        # Wine ends the services of a prefix once no other program runs in
        # it: a console kept open holds it up. Being the first program, it
        # starts Wine's SCM, whose trace (fixme+service) goes to its stderr.
        cls.scm_trace = os.path.join(cls.tmp, "scm.log")
        with open(cls.scm_trace, "wb") as trace:
            cls.keep = subprocess.Popen(["wine", "cmd.exe"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        stderr=trace, env=dict(cls.env, WINEDEBUG="fixme+service"))
        # the prefix up, its SCM started by the console, before anything else runs
        t0 = time.monotonic()
        while not cls.scm_running() and time.monotonic() - t0 < 60:
            time.sleep(0.2)
        cls.f = {}
        try:
            cls.flow()
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "keep", None):
            cls.keep.stdin.close()
            cls.keep.wait(timeout=30)
            cls.keep = None
        subprocess.run(["wineserver", "-k"], env=cls.env, capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def wine(cls, *args, timeout=120, **extra):
        """wine args, its output in r.out. The output goes through a file,
        not a pipe: a program it starts (the service) may keep a pipe open."""
        with tempfile.TemporaryFile(dir=cls.tmp) as out:
            r = subprocess.run(["wine"] + list(args), env=dict(cls.env, **extra), stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
            out.seek(0)
            r.out = out.read().decode("utf-8", "replace")
        return r

    @classmethod
    def scm_running(cls):
        """Whether Wine's services.exe runs in this prefix."""
        want = ("WINEPREFIX=" + cls.prefix).encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    if not f.read().startswith(b"C:\\windows\\system32\\services.exe"):
                        continue
                with open("/proc/%s/environ" % pid, "rb") as f:
                    if want in f.read().split(b"\0"):
                        return True
            except OSError:
                continue
        return False

    @classmethod
    def shortcuts(cls):
        return (os.path.join(cls.c, "users", "Public", "Desktop", "代办服务站.url"),
                os.path.join(cls.c, "ProgramData", "Microsoft", "Windows", "Start Menu", "Programs", "代办服务站.url"))

    @classmethod
    def reg_export(cls, key):
        """The key as text (reg export writes UTF-16), or None when absent."""
        out = os.path.join(cls.tmp, "key.reg")
        if os.path.exists(out):
            os.unlink(out)
        r = cls.wine("reg", "export", key, wine.winpath(out), "/y")
        if r.returncode or not os.path.exists(out):
            return None
        with open(out, "rb") as f:
            return f.read().decode("utf-16")

    @classmethod
    def state(cls):
        m = re.search(r"STATE\s*:\s*\d+\s+(\w+)", cls.wine("sc", "query", "daiban").out)
        return m.group(1) if m else ""

    @classmethod
    def stop(cls):
        """net stop: (exit code, seconds until the SCM says STOPPED)."""
        t0 = time.monotonic()
        r = cls.wine("net", "stop", "daiban", timeout=60)
        while cls.state() != "STOPPED" and time.monotonic() - t0 < 30:
            time.sleep(0.2)
        return r.returncode, time.monotonic() - t0

    @classmethod
    def flow(cls):
        f = cls.f
        # 1. a fresh install
        r = cls.wine(SETUP, "/S", timeout=180)
        f["install"] = (r.returncode, r.out)
        f["program_files"] = sorted(os.listdir(os.path.join(cls.c, "Program Files", "daiban")))
        f["shortcuts"] = [read(p) for p in cls.shortcuts()]
        f["service_key"] = cls.reg_export(SERVICE_KEY)
        f["product_key"] = cls.reg_export("HKLM\\Software\\daiban")
        f["first_page"] = get()
        f["state_after_install"] = cls.state()
        code = cls.home + ".setup-code"
        f["code"] = (read(code) or "").strip()
        # 2. the SCM stops the first-run page
        f["stop_setup"] = cls.stop()
        f["page_after_stop"] = get(timeout=1)
        f["code_after_stop"] = os.path.exists(code)
        # 3. a home set up (as the first-run page would), served as the station
        catalog = os.path.join(cls.tmp, "catalog")
        shutil.copytree(wine.sample(), catalog)
        r = cls.wine(PROGRAM, "init", "--node", "330225101201", "--role", "village", "--catalog",
                     wine.winpath(catalog), "--name", "下沈村便民服务站", DAIBAN_HOME=HOME_WIN, LANG="zh_CN.UTF-8")
        f["init"] = (r.returncode, r.out)
        r = cls.wine("net", "start", "daiban", timeout=60)
        f["start"] = (r.returncode, r.out)
        f["station_page"] = get()
        f["stop_station"] = cls.stop()
        f["log"] = read(cls.home + ".log") or ""
        # 4. the same version again: an upgrade's path (backup, service renewed)
        with open(os.path.join(cls.c, "Program Files", "daiban", "daiban.exe"), "rb") as p:
            f["exe_sha"] = hashlib.sha256(p.read()).hexdigest()
        r = cls.wine(SETUP, "/S", timeout=180)
        f["upgrade"] = (r.returncode, r.out)
        backups = os.path.join(cls.c, "ProgramData", "daiban", "upgrade-backups")
        f["backups"] = sorted(os.listdir(backups)) if os.path.isdir(backups) else []
        f["page_after_upgrade"] = get()
        # 5. a lower version refuses, silently, and changes nothing
        low = os.path.join(cls.tmp, "daiban-station-setup-0.0.1.exe")
        r = subprocess.run(["makensis", "-V1", "-DVERSION=0.0.1", "-DEXE=" + os.environ["DAIBAN_EXE"],
                            "-DOUTFILE=" + low, NSI], capture_output=True)
        f["makensis_low"] = (r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace"))
        r = cls.wine(low, "/S", timeout=180)
        f["downgrade"] = (r.returncode, r.out)
        with open(os.path.join(cls.c, "Program Files", "daiban", "daiban.exe"), "rb") as p:
            f["exe_sha_after_downgrade"] = hashlib.sha256(p.read()).hexdigest()
        f["product_key_after_downgrade"] = cls.reg_export("HKLM\\Software\\daiban")
        # 6. the silent uninstall (NSIS's uninstaller runs on from a copy
        # of itself: wait for the program's folder to go)
        r = cls.wine(os.path.join(cls.c, "Program Files", "daiban", "uninstall.exe"), "/S", timeout=120)
        f["uninstall"] = (r.returncode, r.out)
        t0 = time.monotonic()
        while os.path.exists(os.path.join(cls.c, "Program Files", "daiban")) and time.monotonic() - t0 < 60:
            time.sleep(0.5)
        time.sleep(1)
        f["service_key_after_uninstall"] = cls.reg_export(SERVICE_KEY)
        f["product_key_after_uninstall"] = cls.reg_export("HKLM\\Software\\daiban")
        f["page_after_uninstall"] = get(timeout=1)
        f["data_after_uninstall"] = sorted(os.listdir(os.path.join(cls.c, "ProgramData", "daiban")))
        f["home_after_uninstall"] = sorted(os.listdir(cls.home))
        # 7. installed again over the data kept, then removed with it
        r = cls.wine(SETUP, "/S", timeout=180)
        f["reinstall"] = (r.returncode, r.out)
        f["page_after_reinstall"] = get()
        r = cls.wine(os.path.join(cls.c, "Program Files", "daiban", "uninstall.exe"), "/S", "/DELETEDATA", timeout=120)
        f["uninstall_data"] = r.returncode
        t0 = time.monotonic()
        while os.path.exists(os.path.join(cls.c, "ProgramData", "daiban")) and time.monotonic() - t0 < 60:
            time.sleep(0.5)
        f["data_after_delete"] = os.path.exists(os.path.join(cls.c, "ProgramData", "daiban"))
        f["program_after_delete"] = os.path.exists(os.path.join(cls.c, "Program Files", "daiban"))
        # 8. the calls that restrict a home and the folder made for it
        # (Wine keeps no access lists): a service installed on a new home
        # and removed again
        r = cls.wine(os.environ["DAIBAN_EXE"], "service", "install", "--no-start", "--home", "C:\\acl-test\\station",
                     WINEDEBUG="+advapi,+security")
        f["acl_trace"] = (r.returncode, r.out)
        cls.wine(os.environ["DAIBAN_EXE"], "service", "uninstall")

    # ---- 1. the install ------------------------------------------------------------

    def test_installer_size(self):
        self.assertLess(os.path.getsize(SETUP), 15 << 20)

    def test_silent_install_succeeds(self):
        self.assertEqual(self.f["install"][0], 0, self.f["install"][1])

    def test_program_in_program_files(self):
        self.assertEqual(self.f["program_files"], ["daiban.exe", "uninstall.exe"])
        self.assertIn('"C:\\\\Program Files\\\\daiban\\\\daiban.exe\\" service run', self.f["service_key"] or "")

    def test_service_registered(self):
        k = self.f["service_key"]
        self.assertIsNotNone(k, "no service key")
        self.assertIn('"Start"=dword:00000002', k)               # SERVICE_AUTO_START
        self.assertIn('"Type"=dword:00000010', k)                # its own process
        self.assertIn('"ObjectName"="NT AUTHORITY\\\\LocalService"', k)
        self.assertIn('--home \\"C:\\\\ProgramData\\\\daiban\\\\station\\" --listen 127.0.0.1:8410', k)
        self.assertIn('"DisplayName"="代办服务站 (daiban)"', k)
        self.assertRegex(k, r'"Description"="代办服务站：[^"]+"')

    def test_failure_actions_asked(self):
        # Wine's SCM takes SERVICE_CONFIG_FAILURE_ACTIONS without keeping
        # it (its trace says so, with what it was given) and has no
        # FAILURE_ACTIONS_FLAG (level 4)
        with open(self.scm_trace, encoding="utf-8", errors="replace") as t:
            trace = t.read()
        self.assertIn("SERVICE_CONFIG_FAILURE_ACTIONS not implemented: period 86400", trace)

    def test_version_in_registry(self):
        self.assertRegex(self.f["product_key"] or "", r'"Version"="%s"' % re.escape(VERSION))

    def test_shortcuts(self):
        for text in self.f["shortcuts"]:
            self.assertIsNotNone(text)
            self.assertIn("[InternetShortcut]", text)
            self.assertIn("URL=" + URL, text)

    def test_home_restricted(self):
        code, out = self.f["acl_trace"]
        self.assertEqual(code, 0, out)
        self.assertIn('L"D:P(A;OICI;FA;;;LS)(A;OICI;FA;;;BA)"', out)
        # DACL_SECURITY_INFORMATION | PROTECTED_DACL_SECURITY_INFORMATION
        self.assertRegex(out, r'SetNamedSecurityInfoW L"C:\\\\acl-test\\\\station" 1 -2147483644')
        self.assertRegex(out, r'SetNamedSecurityInfoW L"C:\\\\acl-test" 1 -2147483644')

    # ---- 2. the service through the SCM ----------------------------------------------

    def test_service_started_by_installer_serves_first_run_page(self):
        self.assertEqual(self.f["state_after_install"], "RUNNING")
        status, body = self.f["first_page"]
        self.assertEqual(status, 200)
        self.assertIn("首次设置", body)
        self.assertIn("一次性设置码", body)
        self.assertRegex(self.f["code"] or "", r"^\d{8}$")

    def test_stop_within_10s_and_gracefully(self):
        for what in ("stop_setup", "stop_station"):
            code, secs = self.f[what]
            self.assertEqual(code, 0, what)
            self.assertLess(secs, 10, what)
        self.assertEqual(self.f["page_after_stop"][0], 0)
        # the first-run page's own stop removes its code: not a kill
        self.assertFalse(self.f["code_after_stop"])
        # the station's stop is SIGTERM's, asked by the service
        self.assertIn("stopping (the service was asked to stop)", self.f["log"])

    def test_start_serves_the_station(self):
        self.assertEqual(self.f["init"][0], 0, self.f["init"][1])
        self.assertEqual(self.f["start"][0], 0, self.f["start"][1])
        status, body = self.f["station_page"]
        self.assertEqual(status, 200)
        self.assertIn("<title>便民服务站</title>", body)
        self.assertNotIn("一次性设置码", body)

    # ---- 3. upgrade, downgrade ----------------------------------------------------------

    def test_upgrade_backs_up_and_restarts(self):
        self.assertEqual(self.f["upgrade"][0], 0, self.f["upgrade"][1])
        self.assertTrue([b for b in self.f["backups"] if re.match(r"daiban-330225101201-.*\.tar\.gz$", b)],
                        self.f["backups"])
        self.assertEqual(self.f["page_after_upgrade"][0], 200)

    def test_downgrade_refused(self):
        self.assertEqual(self.f["makensis_low"][0], 0, self.f["makensis_low"][1])
        self.assertEqual(self.f["downgrade"][0], 3, self.f["downgrade"][1])
        self.assertEqual(self.f["exe_sha_after_downgrade"], self.f["exe_sha"])
        self.assertRegex(self.f["product_key_after_downgrade"] or "", r'"Version"="%s"' % re.escape(VERSION))

    # ---- 4. the silent uninstall keeps the data --------------------------------------------

    def test_uninstall_removes_program_keeps_data(self):
        self.assertEqual(self.f["uninstall"][0], 0, self.f["uninstall"][1])
        self.assertFalse(os.path.exists(os.path.join(self.c, "Program Files", "daiban")))
        self.assertIsNone(self.f["service_key_after_uninstall"])
        self.assertIsNone(self.f["product_key_after_uninstall"])
        self.assertEqual(self.f["page_after_uninstall"][0], 0)
        self.assertIn("store.db", self.f["home_after_uninstall"])
        self.assertIn("node.key", self.f["home_after_uninstall"])

    def test_uninstall_keeps_all_the_data(self):
        # the home, the upgrade's backups and the log; the first run's
        # code went with the first run
        self.assertEqual(self.f["data_after_uninstall"], ["station", "station.log", "upgrade-backups"])

    def test_reinstall_over_kept_data_then_delete_it(self):
        self.assertEqual(self.f["reinstall"][0], 0, self.f["reinstall"][1])
        status, body = self.f["page_after_reinstall"]
        self.assertEqual(status, 200)
        self.assertIn("<title>便民服务站</title>", body)       # the station kept, no first run
        self.assertEqual(self.f["uninstall_data"], 0)
        self.assertFalse(self.f["data_after_delete"])
        self.assertFalse(self.f["program_after_delete"])

    def test_uninstall_removes_shortcuts(self):
        for p in self.shortcuts():
            self.assertFalse(os.path.exists(p), p)


if __name__ == "__main__":
    unittest.main(verbosity=2)
