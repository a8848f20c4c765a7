#!/usr/bin/env python3
"""Integration: a county that is not the sample (issue 14). Its own
catalogue in tests/data/catalog-other (BOM, CRLF, a multi-line cell, its
own matters, codes and labels; no label says 申请人) drives the paperwork
through the real `daiban`: the applicant is the one the catalogue
declares, a household's is the member whose ID is the householder's, a
matter that says nothing prints no applicant at all, and a bundle's
notice says each problem and each material once. No receipt or notice
shows an expression, a field's internal name or English."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ids  # noqa: E402
from station import DAIBAN, DATA, Station  # noqa: E402

OTHER = os.path.join(DATA, "catalog-other")
VILLAGE = "330299101201"
KINDS = {"original": "原件", "copy": "复印件", "scan": "扫描件", "commitment": "承诺书"}


def form(code):
    r = subprocess.run([DAIBAN, "catalog", "show", OTHER, code, "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


class OtherCounty(unittest.TestCase):
    def setUp(self):
        self.s = Station(node=VILLAGE, catalog=OTHER)

    def tearDown(self):
        self.s.cleanup()

    def paper_is_for_people(self, text):
        """What a villager reads: no expression, no internal name, no
        English (codes and numbers aside)."""
        for never in ("${", "string-length", "today()", ". >", ". <", "materials.", "_name", "_id"):
            self.assertNotIn(never, text)
        words = re.sub(r"[A-Z]{2,}-[A-Z]{2,}-\d{3}(-\d+)?|\b[B]?\d[\d-]*\b", "", text)
        self.assertIsNone(re.search(r"[A-Za-z]{2,}", words), text)

    def accept(self, matter, data, materials):
        a = self.s.ok("app", "new", matter, "--data", self.s.write_json(data))
        for m, state in materials.items():
            if isinstance(state, tuple):
                self.s.ok("app", "material", a, m, state[0], "--promise", state[1])
            else:
                self.s.ok("app", "material", a, m, state)
        receipt = re.search(r"receipt (\S+)", self.s.ok("app", "submit", a)).group(1)
        return a, receipt

    def test_its_catalogue_checks_with_one_warning(self):
        r = subprocess.run([DAIBAN, "catalog", "check", OTHER], capture_output=True, text=True,
                           env=dict(os.environ, DAIBAN_TODAY="2026-11-24"))
        self.assertEqual(r.returncode, 0, r.stderr)
        # the medical aid says nothing about who applies: warned, at its row
        self.assertEqual(re.findall(r"matters\.csv:(\d+):1: warning: '(\S+)' does not say", r.stderr),
                         [("4", "YB-JZ-001")], r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        # the multi-line hint came through whole
        hint = next(f["hint_zh"] for f in form("ZJ-WF-001")["fields"] if f["name"] == "situation")
        self.assertEqual(hint.count("\n"), 1, hint)

    def test_a_household_house_repair_names_the_householder(self):
        head, spouse = ids.id_number("19650302", area="330299", seq="131"), ids.id_number("19680505", area="330299", seq="142")
        situation = "1998年建，砖木结构，2026年台风后开裂，墙体多处裂缝"
        data = {"situation": situation, "head_id": head, "phone": "13905741234", "built_year": 1998,
                "appraised": "yes", "appraisal_date": "2026-10-15", "start_date": "2026-12-20",
                "household": [{"member_name": "李秀兰", "member_id": spouse, "member_rel": "spouse"},
                              {"member_name": "张根生", "member_id": head, "member_rel": "head"}],
                "bank": "6217001234567890123"}
        a, receipt = self.accept("ZJ-WF-001", data, {"ID": "provided", "HUKOU": "provided", "PHOTO-HOUSE": "provided",
                                                      "JIANDING": ("deficient", "2026-12-10")})
        j = self.s.show(a)
        self.assertEqual((j["applicant"], j["applicant_id"]), ("张根生", head))
        paper = self.s.ok("app", "receipt", receipt)
        self.assertIn("申请人：张根生", paper)
        self.assertIn(head, paper)
        self.assertNotIn(situation, paper)
        self.paper_is_for_people(paper)
        notice = self.s.ok("app", "notice", a)
        self.assertIn("申请人：张根生", notice)
        self.assertIn("房屋安全鉴定报告 原件 1份，请于2026年12月10日前补交", notice)
        self.paper_is_for_people(notice)
        # a constraint without a message is told in words (the draft is
        # kept, with what stops its acceptance)
        bad = dict(data, built_year=1900)
        r = self.s.run("app", "new", "ZJ-WF-001", "--data", self.s.write_json(bad), lang="zh_CN.UTF-8")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("建造年份：", r.stderr)
        self.assertIn("1950", r.stderr)
        self.assertNotIn(". >=", r.stderr)

    def test_the_disability_allowance_names_the_person_not_the_certificate(self):
        pid = ids.id_number("19800808", area="330299", seq="151")
        data = {"cert_no": "33029919800808151144", "person": "王五", "person_id": pid, "grade": "2",
                "bank": "6217001234567890124"}
        a, receipt = self.accept("CL-LX-001", data, {"CJZ": "provided", "ID": "provided", "BANK": "provided"})
        self.assertEqual(self.s.show(a)["applicant"], "王五")
        paper = self.s.ok("app", "receipt", receipt)
        self.assertIn("申请人：王五", paper)
        self.assertNotIn("申请人：" + data["cert_no"], paper)
        self.paper_is_for_people(paper)

    def test_a_matter_that_says_nothing_prints_no_applicant(self):
        data = {"patient": "赵六", "patient_id": ids.id_number("19500101", area="330299", seq="161"), "cost": "1234.50"}
        a, receipt = self.accept("YB-JZ-001", data, {"FAPIAO": "provided", "ID": "provided"})
        self.assertIsNone(self.s.show(a).get("applicant"))
        paper = self.s.ok("app", "receipt", receipt)
        self.assertIn("申请人：—", paper)
        self.assertNotIn("申请人：赵六", paper)

    def test_the_newborn_bundles_notice_says_each_thing_once(self):
        mother = ids.id_number("19950707", area="330299", seq="222")
        data = {"mother_name": "陈美华", "mother_id": mother, "birth_date": "2026-11-20", "weight": "3.2"}
        b = self.s.ok("app", "new", "YJS-XSE-001", "--data", self.s.write_json(data))
        notice = self.s.ok("app", "notice", b)
        self.paper_is_for_people(notice)
        self.assertIn("申请人：陈美华", notice)
        items = re.findall(r"^  \d+\. (.*)$", notice, re.M)
        self.assertEqual(len(items), len(set(items)), notice)
        bf = form("YJS-XSE-001")
        # the shared field's problem once, though three matters ask it
        baby = next(f["label_zh"] for f in bf["fields"] if f["name"] == "baby_name")
        self.assertEqual(sum(baby in x for x in items), 1, notice)
        for m in bf["materials"]:
            lines = [x for x in items if x.startswith(m["name_zh"] + "，")]
            self.assertEqual(len(lines), 1, (m["code"], notice))
            self.assertIn("%s %d 份" % (KINDS[m["kind"]], m["copies"]), lines[0])
        hukou = next(m for m in bf["materials"] if m["code"] == "HUKOU")
        self.assertEqual(hukou["copies"], 2, "the bundle asks the most copies any member asks")
        html = self.s.ok("app", "notice", b, "--html")
        self.assertEqual(html.count("<li>"), len(items))


if __name__ == "__main__":
    unittest.main(verbosity=2)
