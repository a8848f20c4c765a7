#!/usr/bin/env python3
"""Integration: capture at a village station through the real `daiban`
binary: init, operators, the whole lifecycle with per-role authority,
refusals that change nothing, 容缺 with computed promises, overdue, bundles
under one receipt, receipts unique per node and day, paperwork, scans
stored content-addressed, conflicts shown and never dropped, rebuild
giving byte-identical derived tables, and parallel writers."""
import concurrent.futures
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ids  # noqa: E402
from station import (APPS, COUNTY, SAMPLE, TOWNSHIP, VILLAGE, Station, app_file)  # noqa: E402

DIBAO = app_file("MZ-DB-001-valid.json")
DIBAO_MATERIALS = ("SFZ", "HKB", "HDSQ", "YHK")


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class Capture(unittest.TestCase):
    def setUp(self):
        self.s = Station()

    def tearDown(self):
        self.s.cleanup()

    def refused(self, *args, code=1, **kw):
        before = self.s.nevents()
        r = self.s.run(*args, **kw)
        self.assertEqual(r.returncode, code, (args, r.stdout, r.stderr))
        self.assertTrue(r.stderr.strip(), "a refusal must say why")
        self.assertEqual(self.s.nevents(), before, "a refusal must write nothing")
        return r

    def accepted_dibao(self):
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        for m in DIBAO_MATERIALS:
            self.s.ok("app", "material", a, m, "provided")
        self.s.ok("app", "material", a, "SRZM", "deficient")
        out = self.s.ok("app", "submit", a)
        receipt = re.search(r"receipt (\S+)", out).group(1)
        return a, receipt

    # ---- init and operators ------------------------------------------------
    def test_init_refusals(self):
        other = Station.__new__(Station)
        other.root, other.home, other.today, other.operator = self.s.root, os.path.join(self.s.root, "h2"), "2026-11-24", None
        self.assertEqual(other.run("init", "--node", VILLAGE, "--role", "mayor", "--catalog", SAMPLE).returncode, 2)
        r = other.run("init", "--node", "330225999999", "--role", "village", "--catalog", SAMPLE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("330225999999", r.stderr)
        r = other.run("init", "--node", TOWNSHIP, "--role", "village", "--catalog", SAMPLE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("township", r.stderr)
        self.assertFalse(os.path.exists(other.home), "a refused init creates nothing")
        r = self.s.run("init", "--node", VILLAGE, "--role", "village", "--catalog", SAMPLE)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already", r.stderr)
        self.assertTrue(os.path.isdir(os.path.join(self.s.home, "repo")))
        cats = os.listdir(os.path.join(self.s.home, "catalogs"))
        self.assertEqual(len(cats), 1)
        self.assertRegex(cats[0], r"^[0-9a-f]{40}$")
        self.assertTrue(os.path.isfile(os.path.join(self.s.home, "catalogs", cats[0], "matters.csv")))
        with self.s.db() as c:
            self.assertEqual(c.execute("PRAGMA journal_mode").fetchone()[0], "wal")

    def test_operator_required_and_known(self):
        r = self.refused("app", "new", "MZ-DB-001", "--data", DIBAO, operator=None, code=2)
        self.assertIn("--operator", r.stderr)
        r = self.refused("app", "new", "MZ-DB-001", "--data", DIBAO, operator="ghost")
        self.assertIn("operator add ghost", r.stderr)
        # once a station has an operator, only a registered one adds others
        r = self.refused("operator", "add", "op02", "--name", "李四", operator=None, code=2)
        # it names who may do it, rather than "add an operator" in a circle
        self.assertIn("one of the operators registered here: op01", r.stderr)
        self.assertNotIn("operator add ID", r.stderr)
        self.refused("operator", "add", "op02", "--name", "李四", operator="ghost")
        self.s.ok("operator", "add", "op02", "--name", "李四")
        with self.s.db() as c:
            self.assertEqual(c.execute("SELECT operator FROM events WHERE type = 'operator.added' ORDER BY seq DESC"
                                       " LIMIT 1").fetchone()[0], "op01")
        # adding the same operator again writes nothing
        self.refused("operator", "add", "op02", "--name", "李四")
        self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO, operator="op02")
        self.assertIn("op02", self.s.ok("operator", "list"))

    def test_an_operator_can_be_disabled_and_enabled(self):
        """Issue 14: there was no way to disable an operator (someone who
        left the station). Disabled: no writes, no sign-in; the name
        stays in the trail; the last one who can sign in stays."""
        self.s.ok("operator", "add", "op02", "--name", "李四")
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO, operator="op02")
        self.refused("operator", "disable", "op02", operator=None, code=2)      # who does it
        self.refused("operator", "disable", "nobody")
        out = self.s.ok("operator", "disable", "op02")
        self.assertIn("op02", out)
        with self.s.db() as c:
            row = c.execute("SELECT name, disabled FROM operators WHERE id = 'op02'").fetchone()
        self.assertEqual(tuple(row), ("李四", 1))
        self.assertIn("(disabled)", self.s.ok("operator", "list"))
        r = self.refused("app", "edit", a, "--data", DIBAO, operator="op02")
        self.assertIn("disabled", r.stderr)
        self.refused("operator", "disable", "op02")                     # already
        self.refused("operator", "add", "op02", "--name", "李四二")       # not back by the side door
        # op01 is now the last who can sign in: not disabled, not even by op02
        r = self.refused("operator", "disable", "op01")
        self.assertIn("last", r.stderr)
        self.refused("operator", "disable", "op01", operator="op02")
        # the trail keeps the name; the derived table is what the events say
        self.assertEqual({e.get("operator_name") for e in json.loads(self.s.ok("app", "log", a, "--json"))},
                         {"李四"})
        self.s.ok("rebuild", "--verify")
        self.s.ok("operator", "enable", "op02")
        self.s.ok("app", "edit", a, "--data", DIBAO, operator="op02")
        self.assertNotIn("(disabled)", self.s.ok("operator", "list"))
        # at the county, a disabled operator changes no key roster either
        c = Station(node=COUNTY, role="county", enroll=False)
        try:
            c.ok("operator", "add", "op02", "--name", "李四")
            c.ok("operator", "disable", "op02")
            r = c.run("roster", "add", VILLAGE, self.s.key(), operator="op02")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("disabled", r.stderr)
            r = c.run("roster", "add", VILLAGE, self.s.key(), operator="ghost")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        finally:
            c.cleanup()

    # ---- bad input -------------------------------------------------------------
    def test_bad_input_refused_with_reasons(self):
        self.refused("app", "new", "NOPE-001", "--data", DIBAO)
        r = self.refused("app", "new", "SC-GTBG-001", "--data", app_file("SC-GTBG-001-valid.json"))
        self.assertIn("may not accept", r.stderr)
        bad = os.path.join(self.s.root, "bad.json")
        with open(bad, "w") as f:
            f.write('{"applicant_name": "x",\n "phone": }')
        r = self.refused("app", "new", "MZ-DB-001", "--data", bad)
        self.assertRegex(r.stderr, re.escape(bad) + r":2:\d+: error:")
        with open(bad, "w") as f:
            f.write('{"a": 1, "a": 2}')
        self.refused("app", "new", "MZ-DB-001", "--data", bad)
        d = json.load(open(DIBAO))
        d["favourite_colour"] = "red"
        r = self.refused("app", "new", "MZ-DB-001", "--data", self.s.write_json(d))
        self.assertIn("favourite_colour", r.stderr)
        d = json.load(open(DIBAO))
        d["address"] = "村" * 5000
        r = self.refused("app", "new", "MZ-DB-001", "--data", self.s.write_json(d))
        self.assertIn("too_long", r.stderr)
        self.refused("app", "new", "MZ-DB-001", code=2)
        # a data file far too large is refused before it is read
        huge = os.path.join(self.s.root, "huge.json")
        with open(huge, "w") as f:
            f.write('{"applicant_name": "' + "x" * (5 * 1024 * 1024) + '"}')
        r = self.refused("app", "new", "MZ-DB-001", "--data", huge)
        self.assertIn("MiB", r.stderr)
        self.refused("app", "frobnicate", code=2)
        self.refused("app", "show", "330225101201-999")
        self.refused("app", "list", "--status", "pending", code=2)

    def test_new_with_submit_is_all_or_nothing(self):
        # creation and acceptance in one transaction: a refused acceptance
        # leaves no draft behind
        before = self.s.nevents()
        r = self.refused("app", "new", "MZ-DB-001", "--data", DIBAO, "--submit")
        self.assertIn("materials.SFZ", r.stderr)
        self.assertIn("nothing was saved", r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertEqual(self.s.nevents(), before)
        with self.s.db() as c:
            self.assertEqual(c.execute("SELECT count(*) FROM apps").fetchone()[0], 0)

    def test_a_request_key_creates_once(self):
        # a retry whose first answer was lost returns what the first
        # created; the key is per node, checked against the matter, and
        # the index answers the lookup
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO, "--request", "d-k1")
        n = self.s.nevents()
        r = self.s.run("app", "new", "MZ-DB-001", "--data", DIBAO, "--request", "d-k1")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, a), r.stderr)
        self.assertIn("nothing new", r.stderr)
        self.assertEqual(self.s.nevents(), n)
        b = self.s.ok("app", "new", "YJS-SHS-001", "--data", app_file("YJS-SHS-001-valid.json"), "--request", "d-k2")
        self.assertTrue(b.startswith("B"), b)
        n = self.s.nevents()
        self.assertEqual(self.s.ok("app", "new", "YJS-SHS-001", "--data", app_file("YJS-SHS-001-valid.json"),
                                   "--request", "d-k2"), b)
        self.assertEqual(self.s.nevents(), n)
        r = self.refused("app", "new", "MZ-LSJZ-001", "--data", app_file("MZ-LSJZ-001-valid.json"), "--request", "d-k1")
        self.assertIn("d-k1", r.stderr)
        self.assertIn("new request key", r.stderr)
        for bad in ("", "-x", "a b", "k" * 65, "键"):
            self.refused("app", "new", "MZ-DB-001", "--data", DIBAO, "--request", bad, code=2)
        # without a key, or with another, a second application
        self.assertNotEqual(self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO, "--request", "d-k3"), a)
        self.assertNotEqual(self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO), a)
        with self.s.db() as c:
            self.assertEqual(c.execute("SELECT count(*) FROM apps WHERE matter = 'MZ-DB-001'").fetchone()[0], 3)
            plan = " ".join(row[3] for row in c.execute(
                "EXPLAIN QUERY PLAN SELECT app FROM events INDEXED BY events_request WHERE node = ?1"
                " AND json_extract(body, '$.request') = ?2 AND type = 'app.created' LIMIT 1", (VILLAGE, "d-k1")))
            self.assertIn("events_request (node=? AND <expr>=?)", plan)

    def test_draft_may_be_incomplete_but_submit_lists_everything(self):
        d = {"applicant_name": "李建国", "phone": "12345"}
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", self.s.write_json(d))
        self.assertEqual(self.s.show(a)["status"], "draft")
        r = self.refused("app", "submit", a)
        # every problem at once: data and all five materials
        for want in ("id_number", "phone", "materials.SFZ", "materials.HKB", "materials.SRZM", "materials.HDSQ",
                     "materials.YHK"):
            self.assertIn(want, r.stderr)
        notice = self.s.ok("app", "notice", a)
        self.assertIn("一次性告知单", notice)
        for name in ("居民身份证", "居民户口簿", "家庭成员收入证明", "家庭经济状况核对授权书", "本人银行卡或存折"):
            self.assertIn(name, notice)
        self.assertIn("电话", notice)
        html = self.s.ok("app", "notice", a, "--html")
        self.assertIn('<html lang="zh-CN">', html)
        self.assertIn("@media print", html)
        # the same items in both forms
        self.assertEqual(html.count("<li>"), len(re.findall(r"^  \d+\. ", notice, re.M)))

    # ---- the lifecycle -----------------------------------------------------------
    def test_full_lifecycle_with_authority(self):
        a, receipt = self.accepted_dibao()
        self.assertRegex(receipt, r"^101201-261124-\d{3}$")
        j = self.s.show(receipt)
        self.assertEqual((j["status"], j["holder"], j["reviewer"], j["decider"]),
                         ("accepted", TOWNSHIP, TOWNSHIP, COUNTY))
        self.assertEqual(j["accepted_on"], "2026-11-24")
        self.assertEqual(j["due"], "2027-01-05")          # 30 working days
        srzm = [m for m in j["materials"] if m["material"] == "SRZM"][0]
        self.assertEqual((srzm["state"], srzm["promise"]), ("deficient", "2027-01-05"))
        # wrong offices are refused, and nothing is written
        self.refused("decide", a, "approve", "--node", COUNTY)            # not reviewed yet
        self.refused("review", a, "pass")                                  # the village cannot review
        self.refused("review", a, "pass", "--node", "330225100")           # another township
        self.refused("review", a, "return", "--node", TOWNSHIP, code=2)    # a return needs reasons
        self.s.ok("review", a, "return", "--node", TOWNSHIP, "--reason", "收入证明需村委盖章")
        j = self.s.show(a)
        self.assertEqual((j["status"], j["holder"], j["reason"]), ("returned", VILLAGE, "收入证明需村委盖章"))
        self.assertIn("收入证明需村委盖章", self.s.ok("app", "notice", a))
        self.s.ok("app", "edit", a, "--data", DIBAO)
        self.s.ok("app", "submit", a)
        self.assertEqual(self.s.show(a)["receipt"], receipt, "a resubmission keeps its receipt")
        self.s.ok("review", a, "pass", "--node", TOWNSHIP)
        j = self.s.show(a)
        self.assertEqual((j["status"], j["holder"]), ("passed", COUNTY))
        self.refused("app", "withdraw", a, "--reason", "x", "--node", TOWNSHIP, code=2)
        self.refused("decide", a, "approve", "--node", TOWNSHIP)
        self.refused("decide", a, "reject", "--node", COUNTY, code=2)     # needs a reason
        self.refused("app", "deliver", a)
        self.s.ok("decide", a, "approve", "--node", COUNTY)
        self.assertEqual(self.s.show(a)["status"], "approved")
        self.refused("app", "withdraw", a, "--reason", "changed my mind")
        self.refused("app", "rate", a, "--level", "5")
        self.s.ok("app", "deliver", a)
        self.refused("app", "rate", a, "--level", "6", code=2)
        self.s.ok("app", "rate", a, "--level", "2", "--comment", "等太久")
        j = self.s.show(a)
        self.assertEqual((j["status"], j["rating"]), ("rated", 2))
        self.refused("app", "rate", a, "--level", "5")
        log = self.s.ok("app", "log", a, "--json")
        events = json.loads(log)
        self.assertEqual([e["type"] for e in events],
                         ["app.created", "app.material", "app.material", "app.material", "app.material",
                          "app.material", "app.submitted", "app.reviewed", "app.edited", "app.resubmitted",
                          "app.reviewed", "app.decided", "app.delivered", "app.rated"])
        self.assertEqual({e["node"] for e in events}, {VILLAGE, TOWNSHIP, COUNTY})
        self.assertTrue(all(e["operator"] == "op01" for e in events))
        hlcs = [e["hlc"] for e in events]
        self.assertEqual(hlcs, sorted(hlcs))
        self.assertEqual(len(set(hlcs)), len(hlcs))

    def test_township_decided_matter_skips_the_county(self):
        d = {"applicant_name": "王秀英", "id_number": ids.id_number("19700315", seq="124"), "phone": "13857412345",
             "emergency_type": "fire", "description": "家中突发火灾，急需临时救助以渡难关", "amount": "2000"}
        a = self.s.ok("app", "new", "MZ-LSJZ-001", "--data", self.s.write_json(d))
        for m in ("SFZ", "HKB", "JZZM"):
            self.s.ok("app", "material", a, m, "provided")
        self.s.ok("app", "submit", a)
        j = self.s.show(a)
        self.assertEqual((j["holder"], j["decider"]), (TOWNSHIP, TOWNSHIP))
        self.assertNotIn("reviewer", j)
        self.refused("decide", a, "approve", "--node", COUNTY)
        self.refused("review", a, "pass", "--node", TOWNSHIP)
        self.s.ok("decide", a, "reject", "--node", TOWNSHIP, "--reason", "不符合条件")
        self.assertEqual(self.s.show(a)["status"], "rejected")

    def test_withdraw_before_decision(self):
        a, _ = self.accepted_dibao()
        self.refused("app", "withdraw", a, code=2)
        self.s.ok("app", "withdraw", a, "--reason", "申请人已外出务工")
        self.assertEqual(self.s.show(a)["status"], "withdrawn")
        self.refused("review", a, "pass", "--node", TOWNSHIP)

    # ---- deficiencies, due dates, overdue -----------------------------------------
    def test_deficiency_rules_and_overdue(self):
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        r = self.refused("app", "material", a, "SFZ", "deficient")
        self.assertIn("容缺", r.stderr)
        self.refused("app", "material", a, "SRZM", "deficient", "--promise", "2027-06-01")   # past the limit
        self.refused("app", "material", a, "SRZM", "provided", "--promise", "2026-12-01", code=2)
        self.refused("app", "material", a, "NOPE", "provided")
        self.s.ok("app", "material", a, "SRZM", "deficient", "--promise", "2026-12-01")
        for m in DIBAO_MATERIALS:
            self.s.ok("app", "material", a, m, "provided")
        self.s.ok("app", "submit", a)
        j = self.s.show(a)
        self.assertEqual([m["promise"] for m in j["materials"] if m["material"] == "SRZM"], ["2026-12-01"])
        # the notice still tells the applicant what to bring, and by when
        self.assertIn("家庭成员收入证明 原件 1份，请于2026年12月1日前补交", self.s.ok("app", "notice", a))
        # the promise passes without the material: flagged; the application itself is not overdue yet
        self.s.today = "2026-12-02"
        j = self.s.show(a)
        self.assertTrue([m for m in j["materials"] if m["material"] == "SRZM"][0]["promise_overdue"])
        self.assertFalse(j["overdue"])
        st = json.loads(self.s.ok("status", "--json"))
        self.assertEqual((st["overdue_promises"], st["overdue"]), (1, 0))
        self.assertTrue(j["promise_overdue"])
        # the overdue list names it, so the agent knows whom to chase
        lst = json.loads(self.s.ok("app", "list", "--overdue", "--json"))["applications"]
        self.assertEqual([(x["id"], x["overdue"], x["promise_overdue"]) for x in lst], [(a, False, True)])
        self.assertIn("PROMISE OVERDUE", self.s.ok("app", "list", "--overdue"))
        # supplied later: no longer deficient
        self.s.ok("app", "material", a, "SRZM", "provided")
        self.assertEqual(json.loads(self.s.ok("status", "--json"))["overdue_promises"], 0)
        self.assertEqual(json.loads(self.s.ok("app", "list", "--overdue", "--json"))["applications"], [])
        # undecided on the day after its due date: overdue
        self.s.today = "2027-01-05"
        self.assertEqual(json.loads(self.s.ok("app", "list", "--overdue", "--json"))["applications"], [])
        self.s.today = "2027-01-06"
        lst = json.loads(self.s.ok("app", "list", "--overdue", "--json"))["applications"]
        self.assertEqual([x["id"] for x in lst], [a])
        self.assertTrue(lst[0]["overdue"])

    def test_a_closed_application_has_no_overdue_promise(self):
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        self.s.ok("app", "material", a, "SRZM", "deficient", "--promise", "2026-12-01")
        for m in DIBAO_MATERIALS:
            self.s.ok("app", "material", a, m, "provided")
        self.s.ok("app", "submit", a)
        self.s.ok("app", "withdraw", a, "--reason", "申请人不再申请")
        self.s.today = "2026-12-02"
        self.assertEqual(json.loads(self.s.ok("status", "--json"))["overdue_promises"], 0)
        self.assertEqual(json.loads(self.s.ok("app", "list", "--overdue", "--json"))["applications"], [])
        self.assertFalse(self.s.show(a)["promise_overdue"])

    # ---- receipts ------------------------------------------------------------------
    def test_receipt_numbers(self):
        seen = []
        for day in ("2026-11-24", "2026-11-24", "2026-11-25", "2026-11-24"):
            self.s.today = day
            _, r = self.accepted_dibao()
            seen.append(r)
        self.assertEqual(seen, ["101201-261124-001", "101201-261124-002", "101201-261125-001",
                                "101201-261124-003"])
        receipt = self.s.ok("app", "receipt", seen[0])
        for want in ("受 理 回 执", seen[0], "李建国", "最低生活保障申请", "2027年1月5日", "经办人：王小红\n",
                     "下沈村（330225101201）", "家庭成员收入证明 原件 1份，请于2027年1月5日前补交", "居民户口簿 复印件 1份"):
            self.assertIn(want, receipt)
        html = self.s.ok("app", "receipt", seen[0], "--html")
        self.assertIn("@page { size: A4", html)
        self.assertIn(seen[0], html)
        draft = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        self.refused("app", "receipt", draft)

    # ---- bundles ---------------------------------------------------------------------
    def test_bundle_one_receipt_many_applications(self):
        b = self.s.ok("app", "new", "YJS-SHS-001", "--data", app_file("YJS-SHS-001-valid.json"))
        self.assertTrue(b.startswith("B"))
        apps = json.loads(self.s.ok("app", "list", "--json"))["applications"]
        self.assertEqual(sorted(x["matter"] for x in apps), ["GA-HKZX-001", "MZ-BZBT-001", "RS-SZF-001"])
        self.assertEqual({x["bundle"] for x in apps}, {b})
        # HHZM may be deficient for RS-SZF-001 but not for MZ-BZBT-001: refused as a whole
        self.refused("app", "material", b, "HHZM", "deficient")
        for m in ("SWZM", "HKB", "SFZ", "YHK", "HHZM"):
            self.s.ok("app", "material", b, m, "provided")
        out = self.s.ok("app", "submit", b)
        root = re.search(r"receipt (\S+)", out).group(1)
        apps = json.loads(self.s.ok("app", "list", "--json"))["applications"]
        self.assertEqual(sorted(x["receipt"] for x in apps), [root + "-1", root + "-2", root + "-3"])
        self.assertEqual({x["bundle_receipt"] for x in apps}, {root})
        # each application holds only its matter's fields
        for x in apps:
            form = json.loads(subprocess.run([os.environ.get("DAIBAN", "build/agent/daiban"), "catalog", "show",
                                              SAMPLE, x["matter"], "--json"], capture_output=True, text=True).stdout)
            self.assertTrue(set(x["data"]) <= {f["name"] for f in form["fields"]}, x["matter"])
        paper = self.s.ok("app", "receipt", root)
        for name in ("死亡人员户口注销", "养老保险待遇停发", "基本殡葬服务费用减免", root):
            self.assertIn(name, paper)
        # show takes the bundle's id or receipt too: every member
        for key in (b, root):
            j = json.loads(self.s.ok("app", "show", key, "--json"))
            self.assertEqual((j["bundle"], j["bundle_receipt"]), (b, root))
            self.assertEqual(sorted(x["receipt"] for x in j["applications"]), [root + "-1", root + "-2", root + "-3"])
            text = self.s.ok("app", "show", key)
            for name in ("GA-HKZX-001", "RS-SZF-001", "MZ-BZBT-001"):
                self.assertIn(name, text)
        self.assertEqual(self.s.show(root + "-2")["matter"], "RS-SZF-001")

    # ---- who applies ---------------------------------------------------------------
    def role_catalog(self, roles):
        """The sample with fields.csv's optional role column, given as
        {(matter, field): role}."""
        d = os.path.join(self.s.root, "cat-roles")
        shutil.copytree(SAMPLE, d)
        p = os.path.join(d, "fields.csv")
        with open(p, encoding="utf-8-sig", newline="") as f:
            lines = f.read().split("\n")
        lines[0] = lines[0].rstrip("\r") + ",role"
        for i, line in enumerate(lines):
            cells = next(csv.reader([line]), [])
            if len(cells) > 2 and (cells[0], cells[1]) in roles:
                lines[i] = line.rstrip("\r") + "," * (11 - len(cells)) + "," + roles[(cells[0], cells[1])]
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write("\n".join(lines))
        return d

    def test_the_applicant_is_the_declared_one_never_a_guess(self):
        """Issue 14, finding 1: a matter whose labels do not name the
        applicant once printed its first text field (the deceased, for a
        funeral grant) as the 申请人. Now blank unless the catalogue says;
        with the role column, the declared person, on the receipt and in
        the list (which the station's search reads)."""
        shs = load_json(app_file("YJS-SHS-001-valid.json"))
        szf = {k: shs[k] for k in ("deceased_name", "deceased_id", "date_of_death", "heir_name", "heir_id",
                                   "heir_bank_account")}
        szf["heir_name"] = "陈小红"    # not the declarant of the bundle data: no other field holds it
        szf["heir_id"] = ids.id_number("19720304", seq="222")
        a = self.s.ok("app", "new", "RS-SZF-001", "--data", self.s.write_json(szf))
        j = self.s.show(a)
        self.assertIsNone(j.get("applicant"), "a matter that says nothing has no applicant, not its first field")
        self.assertIsNone(j.get("applicant_id"))

        cat = self.role_catalog({("RS-SZF-001", "heir_name"): "applicant_name",
                                 ("RS-SZF-001", "heir_id"): "applicant_id",
                                 ("MZ-DB-001", "member_name"): "applicant_name",
                                 ("MZ-DB-001", "id_number"): "applicant_id"})
        r = subprocess.run([os.environ.get("DAIBAN", "build/agent/daiban"), "catalog", "check", cat],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("'RS-SZF-001' does not say", r.stderr)
        t = Station(catalog=cat)
        try:
            a = t.ok("app", "new", "RS-SZF-001", "--data", t.write_json(szf))
            j = t.show(a)
            self.assertEqual((j["applicant"], j["applicant_id"]), ("陈小红", szf["heir_id"]))
            # a household: the member whose ID is the householder's, wherever the row stands
            dibao = load_json(DIBAO)
            dibao["members"].reverse()
            dibao["applicant_name"] = "户主本人"
            b = t.ok("app", "new", "MZ-DB-001", "--data", t.write_json(dibao))
            for m in DIBAO_MATERIALS + ("SRZM",):
                t.ok("app", "material", b, m, "provided")
            receipt = re.search(r"receipt (\S+)", t.ok("app", "submit", b)).group(1)
            who = next(m for m in dibao["members"] if m["member_id"] == dibao["id_number"])
            self.assertNotEqual(who, dibao["members"][0], "the householder must not be the first row here")
            j = t.show(b)
            self.assertEqual((j["applicant"], j["applicant_id"]), (who["member_name"], dibao["id_number"]))
            paper = t.ok("app", "receipt", receipt)
            self.assertIn(who["member_name"], paper)
            self.assertNotIn(dibao["members"][0]["member_name"], paper)
            listed = json.loads(t.ok("app", "list", "--json"))["applications"]
            self.assertEqual([x.get("applicant") for x in listed if x["id"] == b], [who["member_name"]])
        finally:
            t.cleanup()

    def test_a_bundles_notice_says_each_thing_once(self):
        """Issue 14, finding 2: a bundle's notice listed a shared field's
        problem once per member matter, and a shared material once per
        member with each member's own kind. One problem, one line; one
        material, one line, as the bundle's form shows it."""
        data = load_json(app_file("YJS-SHS-001-valid.json"))
        del data["deceased_id"]
        b = self.s.ok("app", "new", "YJS-SHS-001", "--data", self.s.write_json(data))
        form = json.loads(subprocess.run([os.environ.get("DAIBAN", "build/agent/daiban"), "catalog", "show", SAMPLE,
                                          "YJS-SHS-001", "--json"], capture_output=True, text=True).stdout)
        asking = [m["code"] for m in form["matters"]
                  if "deceased_id" in {f["name"] for f in json.loads(subprocess.run(
                      [os.environ.get("DAIBAN", "build/agent/daiban"), "catalog", "show", SAMPLE, m["code"], "--json"],
                      capture_output=True, text=True).stdout)["fields"]}]
        self.assertGreater(len(asking), 1, "the test needs a field shared by several members")
        notice = self.s.ok("app", "notice", b)
        items = re.findall(r"^  \d+\. (.*)$", notice, re.M)
        self.assertEqual(len(items), len(set(items)), notice)
        label = next(f["label_zh"] for f in form["fields"] if f["name"] == "deceased_id")
        self.assertEqual(sum(label in x for x in items), 1, notice)
        kinds = {"original": "原件", "copy": "复印件", "scan": "扫描件", "commitment": "承诺书"}
        for m in form["materials"]:
            lines = [x for x in items if x.startswith(m["name_zh"] + "，")]
            self.assertEqual(len(lines), 1, (m["code"], notice))
            self.assertIn("%s %d 份" % (kinds[m["kind"]], m["copies"]), lines[0])
            for note in m["notes_zh"]:             # each member's note, once
                self.assertEqual(lines[0].count(note), 1, lines[0])
        # the bundle is named once, with its members
        self.assertEqual(notice.count(form["name_zh"]), 1, notice)
        self.assertRegex(notice, "一件事：%s（YJS-SHS-001）：%s" % (re.escape(form["name_zh"]),
                                                                 "、".join(m["name_zh"] for m in form["matters"])))
        html = self.s.ok("app", "notice", b, "--html")
        self.assertEqual(html.count("<li>"), len(items))

    # ---- scans ------------------------------------------------------------------------
    def test_scans_are_content_addressed_and_capped(self):
        a = self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        scan = os.path.join(self.s.root, "id.jpg")
        with open(scan, "wb") as f:
            f.write(os.urandom(4096))
        one = self.s.ok("app", "material", a, "SFZ", "provided", "--file", scan).split()[-1]
        two = self.s.ok("app", "material", a, "HKB", "provided", "--file", scan).split()[-1]
        self.assertEqual(one, two)
        self.assertRegex(one, r"^[0-9a-f]{40}$")
        repo = os.path.join(self.s.home, "repo")
        blob = subprocess.run(["git", "-C", repo, "cat-file", "-p", one], capture_output=True, check=True).stdout
        with open(scan, "rb") as f:
            self.assertEqual(blob, f.read())
        self.assertEqual(subprocess.run(["git", "-C", repo, "fsck", "--strict"], capture_output=True).returncode, 0)
        r = self.refused("app", "material", a, "YHK", "provided", "--file", scan,
                         extra={"DAIBAN_MAX_FILE_BYTES": "1000"})
        self.assertIn("MiB", r.stderr)
        self.refused("app", "material", a, "YHK", "provided", "--file", "/nonexistent.jpg")
        # a scan is a material that was provided
        self.refused("app", "material", a, "YHK", "missing", "--file", scan, code=2)

    # ---- catalogue versions --------------------------------------------------------------
    def test_applications_keep_their_catalogue_version(self):
        import shutil
        pension = app_file("RS-YL-001-valid.json")
        old = self.s.ok("app", "new", "RS-YL-001", "--data", pension)
        waiting = self.s.ok("app", "new", "RS-YL-001", "--data", pension)
        v1 = self.s.show(old)["catalog"]
        # the county lengthens the time limit from 5 to 9 working days
        newcat = os.path.join(self.s.root, "cat2")
        shutil.copytree(SAMPLE, newcat)
        p = os.path.join(newcat, "matters.csv")
        with open(p, encoding="utf-8") as f:
            text = f.read()
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace("《社会保险法》第二十条,5,0,", "《社会保险法》第二十条,9,0,", 1))
        out = self.s.ok("catalog", "install", newcat)
        self.assertIn("installed", out)
        new = self.s.ok("app", "new", "RS-YL-001", "--data", pension)
        v2 = self.s.show(new)["catalog"]
        self.assertNotEqual(v1, v2)
        for a in (old, new, waiting):
            self.s.ok("app", "material", a, "SFZ", "provided")
            self.s.ok("app", "material", a, "HKB", "provided")
        self.s.ok("app", "submit", old)
        self.s.ok("app", "submit", new)
        self.assertEqual(self.s.show(old)["due"], "2026-12-01")     # 5 working days: v1
        self.assertEqual(self.s.show(new)["due"], "2026-12-07")     # 9 working days: v2
        # a node that lacks an application's version shows it, and waits
        shutil.rmtree(os.path.join(self.s.home, "catalogs", v1))
        self.assertTrue(self.s.show(waiting)["catalog_missing"])
        r = self.refused("app", "submit", waiting)
        self.assertIn("has not reached this node", r.stderr)
        self.assertIn("not received yet", self.s.ok("app", "show", waiting))
        # a broken catalogue is not installed
        with open(p, "w", encoding="utf-8") as f:
            f.write(text.replace(",5,0,village;township,county,", ",five,0,village;township,county,", 1))
        self.refused("catalog", "install", newcat)

    # ---- the fold ------------------------------------------------------------------------
    def test_rebuild_is_byte_identical(self):
        a, _ = self.accepted_dibao()
        self.s.ok("review", a, "return", "--node", TOWNSHIP, "--reason", "补充材料")
        b = self.s.ok("app", "new", "YJS-SHS-001", "--data", app_file("YJS-SHS-001-valid.json"))
        self.s.ok("app", "material", b, "SWZM", "provided")
        before = self.s.dump_derived()
        self.assertIn(b"INSERT INTO apps", before)
        self.assertIn("已由", self.s.ok("rebuild", lang="zh_CN.UTF-8"))
        self.assertEqual(self.s.dump_derived(), before)
        self.s.ok("rebuild", "--verify")
        with self.s.db() as c:
            c.execute("UPDATE apps SET status = 'approved' WHERE id = ?", (a,))
        r = self.s.run("rebuild", "--verify")
        self.assertEqual(r.returncode, 1)
        self.assertIn("apps", r.stdout)
        self.assertEqual(self.s.show(a)["status"], "approved", "--verify changes nothing")
        self.s.ok("rebuild")
        self.assertEqual(self.s.dump_derived(), before)

    def test_events_are_immutable(self):
        self.accepted_dibao()
        with self.s.db() as c:
            for sql in ("UPDATE events SET body = '{}'", "DELETE FROM events"):
                with self.assertRaises(Exception):
                    c.execute(sql)

    def test_invalid_event_becomes_a_visible_conflict(self):
        """An event valid where it was written but not where it lands (as
        sync will bring them) is kept and shown, never dropped."""
        a, _ = self.accepted_dibao()
        self.s.ok("review", a, "pass", "--node", TOWNSHIP)
        self.s.ok("decide", a, "approve", "--node", COUNTY)
        with self.s.db() as c:
            hlc = c.execute("SELECT max(hlc) FROM events").fetchone()[0]
            # the village's withdrawal, made offline before it saw the decision,
            # arrives later with a later stamp
            c.execute("INSERT INTO events VALUES (?, 99, ?, 0, 'op01', 'app.withdrawn', ?, ?, ?)",
                      (VILLAGE, hlc + 1, a, VILLAGE, json.dumps({"reason": "offline"})))
            # a village writing a county-only event
            c.execute("INSERT INTO events VALUES (?, 100, ?, 0, 'op01', 'app.decided', ?, ?, ?)",
                      (VILLAGE, hlc + 2, a, VILLAGE, json.dumps({"result": "reject"})))
        self.s.ok("rebuild")
        j = self.s.show(a)
        self.assertEqual(j["status"], "approved")
        self.assertEqual(j["conflicts"], 2)
        self.assertEqual({(c["seq"], c["type"]) for c in j["conflict_list"]},
                         {(99, "app.withdrawn"), (100, "app.decided")})
        self.assertIn("CONFLICT", self.s.ok("app", "show", a))
        self.assertEqual(json.loads(self.s.ok("status", "--json"))["conflicts"], 2)

    def test_chinese_messages(self):
        r = self.s.run("app", "new", "NOPE-1", "--data", DIBAO, lang="zh_CN.UTF-8")
        self.assertEqual(r.returncode, 1)
        self.assertIn("目录清单中没有", r.stderr)
        self.s.ok("app", "new", "MZ-DB-001", "--data", DIBAO)
        self.assertIn("草稿", self.s.ok("app", "list", lang="zh_CN.UTF-8"))
        r = self.s.run("app", "submit", "330225101201-2", lang="zh_CN.UTF-8")
        self.assertIn("缺少材料：居民身份证", r.stderr)

    def test_parallel_writers(self):
        """Four processes capture at once on one home: nothing lost, no
        duplicate ids, every event a distinct (node, seq)."""
        def worker(k):
            out = []
            for _ in range(10):
                a = self.s.ok("app", "new", "RS-YL-001", "--data", app_file("RS-YL-001-valid.json"))
                self.s.ok("app", "material", a, "SFZ", "provided")
                self.s.ok("app", "material", a, "HKB", "provided")
                self.s.ok("app", "submit", a)
                out.append(a)
            return out
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            ids_ = [i for lst in ex.map(worker, range(4)) for i in lst]
        self.assertEqual(len(ids_), 40)
        self.assertEqual(len(set(ids_)), 40)
        with self.s.db() as c:
            self.assertEqual(c.execute("SELECT count(*) FROM apps WHERE status = 'accepted'").fetchone()[0], 40)
            self.assertEqual(c.execute("SELECT count(DISTINCT receipt) FROM apps").fetchone()[0], 40)
            seqs = [r[0] for r in c.execute("SELECT seq FROM events WHERE node = ? ORDER BY seq", (VILLAGE,))]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
            self.assertEqual(c.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        self.s.ok("rebuild", "--verify")


if __name__ == "__main__":
    unittest.main(verbosity=2)
