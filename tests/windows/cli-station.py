#!/usr/bin/env python3
"""The Windows CLI under Wine against the Linux CLI, same inputs: a
village station in a home whose path has Chinese characters (so is its
catalogue's folder) captures an application, prints the one-time
notice, accepts with 容缺 and prints the receipt. Windows must print
what Linux prints, write the same applications, pass `rebuild --verify`,
and make a home the Linux build reads and verifies (one format on both)."""
import os
import shutil
import sqlite3
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import wine  # noqa: E402

VILLAGE = "330225101201"
MATTER = "MZ-DB-001"
PROVIDED = ("SFZ", "HKB", "HDSQ", "YHK")
DEFICIENT = "SRZM"


class WindowsCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        wine.need()
        cls.tmp = tempfile.mkdtemp(prefix="daiban-win-")
        cls.catalog = os.path.join(cls.tmp, "象山县目录")
        shutil.copytree(wine.sample(), cls.catalog)
        cls.data = os.path.join(cls.tmp, "申请-李建国.json")
        shutil.copy(os.path.join(wine.DATA, "apps", "MZ-DB-001-valid.json"), cls.data)
        cls.out = {}
        cls.homes = {}
        for windows in (False, True):
            home = os.path.join(cls.tmp, "下沈村服务站-" + ("windows" if windows else "linux"), "数据")
            os.makedirs(os.path.dirname(home))
            cls.homes[windows] = home
            cls.out[windows] = cls.flow(windows, home)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def flow(cls, windows, home):
        """Each step's (exit code, stdout, stderr), the home's path made
        the same word on both sides."""
        steps = []

        def step(*args, **kw):
            r = wine.run(windows, home, *args, **kw)
            norm = wine.winpath(home) if windows else home
            steps.append((args, r.returncode, r.stdout.replace(norm, "HOME"), r.stderr.replace(norm, "HOME")))
            return r

        step("init", "--node", VILLAGE, "--role", "village", "--catalog", ("path", cls.catalog), "--name", "下沈村便民服务站")
        step("operator", "add", "wxh", "--name", "王小红")
        app = step("app", "new", MATTER, "--data", ("path", cls.data), DAIBAN_OPERATOR="wxh").stdout.strip()
        step("app", "notice", app, DAIBAN_OPERATOR="wxh")
        for m in PROVIDED:
            step("app", "material", app, m, "provided", DAIBAN_OPERATOR="wxh")
        step("app", "material", app, DEFICIENT, "deficient", DAIBAN_OPERATOR="wxh")
        step("app", "submit", app, DAIBAN_OPERATOR="wxh")
        step("app", "receipt", app, DAIBAN_OPERATOR="wxh")
        step("status")
        step("rebuild", "--verify")
        return steps

    def test_every_step_succeeds_on_windows(self):
        for args, code, out, err in self.out[True]:
            self.assertEqual(code, 0, (args, out, err))

    def test_windows_prints_what_linux_prints(self):
        lin, win = self.out[False], self.out[True]
        self.assertEqual(len(lin), len(win))
        for (a, c1, o1, e1), (_, c2, o2, e2) in zip(lin, win):
            if a[0] == "status":
                continue        # it names the time of the last write
            self.assertEqual((c2, o2, e2), (c1, o1, e1), a)
        texts = {a[1] if len(a) > 1 else a[0]: o for a, _, o, _ in win}
        self.assertIn("一次性告知单", texts["notice"])
        self.assertIn("受理编号：101201-261124-001", texts["receipt"])
        self.assertIn("容缺材料", texts["receipt"])
        self.assertIn("派生表与事件一致", texts["--verify"])

    def test_home_has_its_chinese_name_on_disk(self):
        # the wide API made 下沈村服务站-windows/数据, not its ANSI mangling
        self.assertTrue(os.path.isfile(os.path.join(self.homes[True], "store.db")))
        self.assertTrue(os.path.isfile(os.path.join(self.homes[True], "node.key")))

    def rows(self, home):
        with sqlite3.connect("file:%s/store.db?mode=ro" % home, uri=True) as c:
            apps = c.execute("SELECT id, matter, status, receipt, due, promise_due, data FROM apps ORDER BY id").fetchall()
            mats = c.execute("SELECT app, material, state, promise FROM app_materials ORDER BY app, material").fetchall()
        return apps, mats

    def test_same_store_on_both(self):
        lin, win = self.rows(self.homes[False]), self.rows(self.homes[True])
        self.assertEqual(win, lin)
        self.assertEqual(len(win[0]), 1)
        self.assertEqual(win[0][0][2], "accepted")

    def test_linux_reads_and_verifies_the_windows_home(self):
        r = wine.run(False, self.homes[True], "rebuild", "--verify")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("派生表与事件一致", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
