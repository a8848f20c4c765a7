#!/usr/bin/env python3
"""Fault: injected I/O errors (a full disk, a failing disk) at every
write and sync of the store, through an LD_PRELOAD shim
(tests/fault/faultio.c) under the real `daiban` binary.

For capture (app new, material, submit) and rebuild, and for each
failure point N from 0 until the command no longer reaches one: the
command either succeeds with its events stored, or fails with a clear
message (exit 1, never a crash) and the store is exactly as it was:
same events, same derived tables, integrity_check ok."""
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from station import Station, app_file  # noqa: E402

SHIM = os.environ.get("FAULTIO", "build/tests/libfaultio.so")


class IOErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.base = Station()
        a = cls.base.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        cls.base.ok("app", "material", a, "SFZ", "provided")
        cls.draft = a
        b = cls.base.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
        cls.base.ok("app", "material", b, "SFZ", "provided")
        cls.base.ok("app", "material", b, "HKB", "provided")
        cls.ready = b

    @classmethod
    def tearDownClass(cls):
        cls.base.cleanup()

    def copy(self):
        s = Station.__new__(Station)
        s.root = self.base.root + "-copy"
        shutil.rmtree(s.root, ignore_errors=True)
        shutil.copytree(self.base.root, s.root)
        s.home = os.path.join(s.root, "home")
        s.today, s.operator = self.base.today, self.base.operator
        return s

    def sweep(self, args, errno_name, expect_change):
        tried = 0
        for n in range(0, 400):
            s = self.copy()
            try:
                before = (s.nevents(), s.dump_derived())
                r = s.run(*args, extra={"LD_PRELOAD": os.path.abspath(SHIM), "FAULT_AFTER": str(n),
                                        "FAULT_ERRNO": errno_name})
                self.assertIn(r.returncode, (0, 1), (n, r.returncode, r.stderr))   # never a crash
                with s.db() as c:
                    self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", n)
                if r.returncode == 0:
                    if expect_change:
                        self.assertGreater(s.nevents(), before[0], n)
                    s.ok("rebuild", "--verify")
                    return tried
                tried += 1
                self.assertRegex(r.stderr, r"disk|磁盘", (n, r.stderr))
                self.assertNotIn("Traceback", r.stderr)
                self.assertEqual((s.nevents(), s.dump_derived()), before, f"failure point {n} changed the store")
                s.ok("rebuild", "--verify")
            finally:
                s.cleanup()
        self.fail("the command never succeeded")

    def test_new_on_a_full_disk(self):
        self.assertGreater(self.sweep(["app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json")],
                                      "ENOSPC", True), 0)

    def test_material_on_a_failing_disk(self):
        self.assertGreater(self.sweep(["app", "material", self.draft, "HKB", "provided"], "EIO", True), 0)

    def test_submit_on_a_full_disk(self):
        self.assertGreater(self.sweep(["app", "submit", self.ready], "ENOSPC", True), 0)

    def test_rebuild_on_a_failing_disk(self):
        self.assertGreater(self.sweep(["rebuild"], "EIO", False), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
