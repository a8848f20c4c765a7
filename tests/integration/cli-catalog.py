#!/usr/bin/env python3
"""Integration: the real `daiban catalog` commands on the sample catalogue
and on broken copies of it. Asserts exit codes, the FILE:LINE:COL format
of every problem, that all problems come out in one run, and the JSON
outputs that other tools rely on."""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import ids  # noqa: E402

DAIBAN = os.environ.get("DAIBAN", "build/agent/daiban")
DATA = os.environ.get("DAIBAN_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "data"))
SAMPLE = os.path.join(DATA, "catalog-sample")
# a day the sample's calendar covers (catalog check warns for a year it does not)
ENV = dict(os.environ, LANG="C.UTF-8", LC_ALL="", LC_MESSAGES="", DAIBAN_TODAY="2026-11-24")


def run(*args, env=None):
    return subprocess.run([DAIBAN, *args], capture_output=True, text=True, env=env or ENV, timeout=60)


class Catalogue(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="daiban-it-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def copy(self):
        d = os.path.join(self.tmp, "cat")
        shutil.copytree(SAMPLE, d)
        return d

    def edit(self, d, sheet, old, new):
        p = os.path.join(d, sheet)
        with open(p, encoding="utf-8") as f:
            s = f.read()
        self.assertIn(old, s)
        with open(p, "w", encoding="utf-8") as f:
            f.write(s.replace(old, new, 1))

    def test_help(self):
        r = run("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("catalog", r.stdout)
        for sub in ("check", "show", "accept", "validate", "due"):
            r = run("catalog", sub, "--help")
            self.assertEqual(r.returncode, 0, sub)
            self.assertIn("Usage: daiban catalog " + sub, r.stdout)
        self.assertEqual(run("catalog", "frobnicate").returncode, 2)
        self.assertEqual(run("catalog", "check").returncode, 2)
        self.assertEqual(run("catalog", "check", SAMPLE, "--bogus").returncode, 2)

    @staticmethod
    def silent_on_applicant(d):
        """Matters of catalogue d whose fields neither declare a role nor
        label a text field with 申请人/申报人 and 姓名 (docs/catalog.md)."""
        with open(os.path.join(d, "fields.csv"), encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
        said = {r["matter"] for r in rows if r.get("role") or
                (r["type"] == "text" and "姓名" in r["label_zh"] and
                 ("申请人" in r["label_zh"] or "申报人" in r["label_zh"]))}
        return sorted({r["matter"] for r in rows} - said)

    def test_sample_checks_clean(self):
        r = run("catalog", "check", SAMPLE)
        self.assertEqual(r.returncode, 0, r.stderr)
        # its only warnings: the matters that do not say who applies
        silent = self.silent_on_applicant(SAMPLE)
        self.assertTrue(silent)
        warned = re.findall(r"^\S+/matters\.csv:\d+:1: warning: '(\S+)' does not say which field is the "
                            r"applicant's name", r.stderr, re.M)
        self.assertEqual(sorted(warned), silent)
        self.assertEqual(len(r.stderr.splitlines()), len(silent), r.stderr)
        self.assertRegex(r.stdout, r"^catalog ok: 13 matters, 2 bundles, 86 fields, 18 materials .*, %d warnings\)$"
                         % len(silent))
        self.assertEqual(len(r.stdout.strip().splitlines()), 1)
        j = json.loads(run("catalog", "check", SAMPLE, "--json").stdout)
        self.assertEqual((j["ok"], j["matters"], j["bundles"], j["errors"]), (True, 13, 2, 0))

    def test_a_calendar_without_this_years_holidays_is_warned(self):
        r = run("catalog", "check", SAMPLE, env=dict(ENV, DAIBAN_TODAY="2031-03-01"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("calendar.csv: warning: no holidays or working weekends for 2031", r.stderr)
        n = len(self.silent_on_applicant(SAMPLE)) + 1
        self.assertIn("%d warnings" % n, r.stdout)
        self.assertEqual(json.loads(run("catalog", "check", SAMPLE, "--json",
                                        env=dict(ENV, DAIBAN_TODAY="2031-03-01")).stdout)["warnings"], n)

    def test_the_applicant_role_is_checked(self):
        """fields.csv's optional role column: bad values and placements are
        errors at their cell; a matter that says nothing is warned about."""
        def with_roles(roles):
            shutil.rmtree(os.path.join(self.tmp, "cat"), ignore_errors=True)
            d = self.copy()
            p = os.path.join(d, "fields.csv")
            with open(p, encoding="utf-8-sig", newline="") as f:
                rows = list(csv.reader(f))
            rows[0].append("role")
            for r in rows[1:]:
                r += [""] * (11 - len(r)) + [roles.get((r[0], r[1]), "")]
            with open(p, "w", encoding="utf-8", newline="") as f:
                csv.writer(f, lineterminator="\n").writerows(rows)
            return d, rows

        def line_of(rows, matter, field):
            return next(i + 1 for i, r in enumerate(rows) if r[:2] == [matter, field])

        d, rows = with_roles({("SC-GTBG-001", "operator_name"): "applicant_name",
                              ("SC-GTBG-001", "operator_id"): "applicant_id"})
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("'SC-GTBG-001' does not say", r.stderr)
        self.assertIn("'WJ-SYDJ-001' does not say", r.stderr)
        bad = {
            ("WJ-SYDJ-001", "mother_name"): ("applicant", "role must be applicant_name or applicant_id, not 'applicant'"),
            ("WJ-SYDJ-001", "expected_date"): ("applicant_name", "the applicant's name must be a text field"),
            ("SC-GTBG-001", "new_name"): ("applicant_name", "already has role applicant_name"),
        }
        roles = {("SC-GTBG-001", "operator_name"): "applicant_name", ("MZ-DB-001", "member_name"): "applicant_name"}
        roles.update({k: v[0] for k, v in bad.items()})
        d, rows = with_roles(roles)
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 1)
        for (m, f), (_, msg) in bad.items():
            self.assertRegex(r.stderr, r"fields\.csv:%d:\d+: error: .*%s" % (line_of(rows, m, f), re.escape(msg)))
        # a household's name with no ID to choose its row
        self.assertRegex(r.stderr, r"fields\.csv:%d:\d+: error: 'MZ-DB-001': the applicant's name is inside a repeat"
                         % line_of(rows, "MZ-DB-001", "member_name"))
        zh = run("catalog", "check", d, env=dict(ENV, LANG="zh_CN.UTF-8"))
        self.assertIn("须同时声明 applicant_id", zh.stderr)
        self.assertIn("未说明哪个字段是申请人姓名", zh.stderr)

    def test_chinese_when_lang_is_zh(self):
        r = run("catalog", "check", SAMPLE, env=dict(ENV, LANG="zh_CN.UTF-8"))
        self.assertEqual(r.returncode, 0)
        self.assertIn("目录清单正常", r.stdout)

    def test_all_problems_in_one_run(self):
        d = self.copy()
        self.edit(d, "fields.csv", "string-length(.) <= 30", "string-length(. <= 30")
        self.edit(d, "fields.csv", ",hukou,", ",no_such_list,")
        self.edit(d, "fields.csv", "count(.) = ${household_size}", "count(.) = ${household_sise}")
        self.edit(d, "matters.csv", "MZ-LSJZ-001,", "MZ-DB-001,")
        self.edit(d, "bundles.csv", "MZ-GLJT-001;MZ-LNYDZ-001", "MZ-GLJT-001;MZ-NOPE-001")
        self.edit(d, "divisions.csv", "330225200,东陈乡,township", "330225200,东陈乡,hamlet")
        self.edit(d, "calendar.csv", "2026-05-09,workday", "2026-05-32,workday")
        self.edit(d, "fields.csv", "RS-SZF-001,heir_id,id_number,", "RS-SZF-001,heir_id,text,")
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        errors = [l for l in r.stderr.splitlines() if ": error: " in l]
        for l in errors:
            self.assertRegex(l, r"^.+/[a-z_]+\.csv:\d+:\d+: error: .+", l)
        text = "\n".join(errors)
        fields = os.path.join(d, "fields.csv")
        self.assertIn(fields + ":2:", text)                       # bad expression
        self.assertIn("unknown choice list 'no_such_list'", text)
        self.assertIn("unknown field 'household_sise'", text)
        self.assertIn("duplicate matter code 'MZ-DB-001'", text)
        self.assertIn("unknown matter 'MZ-NOPE-001'", text)
        self.assertIn("unknown division level 'hamlet'", text)
        self.assertIn("bad date '2026-05-32'", text)
        self.assertRegex(text, re.escape(os.path.join(d, "bundles.csv")) +
                         r":2:\d+: error: shared field 'heir_id' has conflicting types")
        self.assertRegex(r.stderr, r"\d+ errors, \d+ warnings")

    def test_expression_error_column(self):
        d = self.copy()
        # line 2 of fields.csv: the constraint cell starts at column 61
        self.edit(d, "fields.csv", "string-length(.) <= 30", "string-length(.) <= 30 +")
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 1)
        line = [l for l in r.stderr.splitlines() if "fields.csv:2:" in l][0]
        col = int(re.match(r".*fields.csv:2:(\d+):", line).group(1))
        with open(os.path.join(SAMPLE, "fields.csv"), encoding="utf-8-sig") as f:
            row = f.read().splitlines()[1]
        start = row.index("string-length") + 1
        # the error is at the end of the expression (after '+')
        self.assertEqual(col, start + len("string-length(.) <= 30 +"), line)

    def test_constraints_are_told_in_words_never_as_expressions(self):
        """Issue 14, finding 3: where the catalogue gave no message, people
        read the expression. The common shapes are put in words; a shape
        that cannot be is warned about at check, and is never shown."""
        d = self.copy()
        # the sample's one constraint without a message: a length
        self.edit(d, "fields.csv", "string-length(.) <= 30", "string-length(.) >= 2 and string-length(.) <= 4")
        app = os.path.join(self.tmp, "app.json")
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("constraint", r.stderr)
        # which field carries it, and a value too long for it
        with open(os.path.join(d, "fields.csv"), encoding="utf-8-sig") as f:
            row = next(l for l in f if "string-length(.) >= 2" in l).split(",")
        matter, field = row[0], row[1]
        with open(os.path.join(DATA, "apps", f"{matter}-valid.json"), encoding="utf-8") as f:
            data = json.load(f)
        data[field] = "一二三四五六"
        with open(app, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        r = run("catalog", "validate", d, matter, app, "--today", "2026-11-24", "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        p = next(x for x in json.loads(r.stdout)["problems"] if x["code"] == "constraint")
        self.assertIn("长度应在 2 至 4 个字之间", p["message_zh"])
        self.assertIn("length must be between 2 and 4 characters", p["message_en"])
        for m in (p["message_zh"], p["message_en"]):
            self.assertNotIn("string-length", m)
        # a pattern has no words: warned at check (file, line, column), and
        # a refusal says only that the value is not as asked
        self.edit(d, "fields.csv", "string-length(.) >= 2 and string-length(.) <= 4",
                  "\"regex(., '^[0-9]{6}$')\"")   # (a comma inside: a quoted cell)
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"fields\.csv:\d+:\d+: warning: field '%s': its constraint has no message" % field)
        r = run("catalog", "validate", d, matter, app, "--today", "2026-11-24", "--json")
        p = next(x for x in json.loads(r.stdout)["problems"] if x["code"] == "constraint")
        self.assertEqual(p["message_en"].split(": ", 1)[1], "not as the form asks; check it")
        self.assertNotIn("regex", p["message_zh"] + p["message_en"])

    def test_gbk_file_is_read(self):
        d = self.copy()
        p = os.path.join(d, "materials.csv")
        with open(p, encoding="utf-8") as f:
            s = f.read()
        with open(p, "wb") as f:
            f.write(s.encode("gb18030"))
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("materials.csv: warning:", r.stderr)
        self.assertIn("CSV UTF-8", r.stderr)
        show = json.loads(run("catalog", "show", d, "RS-YL-001", "--json").stdout)
        self.assertEqual(show["materials"][0]["name_zh"], "居民身份证")

    def test_utf16_and_binary_files_are_refused_with_advice(self):
        d = self.copy()
        p = os.path.join(d, "materials.csv")
        with open(p, encoding="utf-8") as f:
            s = f.read()
        with open(p, "wb") as f:
            f.write(s.encode("utf-16"))
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(p) + r": error: .*UTF-16.*CSV UTF-8")
        with open(p, "wb") as f:
            f.write(b"code,name_zh,name_en\nSFZ,\xff\xfe\xfd,x\n")
        r = run("catalog", "check", d)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(p) + r": error: .*CSV UTF-8")
        self.assertEqual(run("catalog", "show", d, "RS-YL-001").returncode, 1)

    def test_show_matter_and_bundle(self):
        r = run("catalog", "show", SAMPLE, "MZ-DB-001", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        names = [f["name"] for f in j["fields"]]
        self.assertEqual(names, ["applicant_name", "id_number", "phone", "address", "household_size",
                                 "members", "reason", "bank_account"])
        members = j["fields"][5]
        self.assertEqual([f["name"] for f in members["fields"]],
                         ["member_name", "member_id", "relation", "monthly_income"])
        rel = members["fields"][2]["choices"]
        self.assertEqual(rel[0], {"value": "self", "label_zh": "本人", "label_en": "Self"})
        srzm = [m for m in j["materials"] if m["code"] == "SRZM"][0]
        self.assertEqual((srzm["deficiency_ok"], srzm["deficiency_days"]), (True, 30))
        b = json.loads(run("catalog", "show", SAMPLE, "YJS-SHS-001", "--json").stdout)
        self.assertEqual(b["kind"], "bundle")
        names = [f["name"] for f in b["fields"]]
        self.assertEqual(len(names), len(set(names)))
        self.assertEqual(names.count("deceased_id"), 1)
        self.assertEqual([m["code"] for m in b["matters"]], ["GA-HKZX-001", "RS-SZF-001", "MZ-BZBT-001"])
        # a rule or note several matters share is shown once; different ones all
        t = run("catalog", "show", SAMPLE, "YJS-SHS-001").stdout
        self.assertEqual(t.count("死亡日期不能晚于今天"), 1)
        self.assertEqual(t.count("领取人银行卡"), 1)
        self.assertEqual((t.count("申报人身份证"), t.count("领取人身份证")), (1, 1))
        sfz = [m for m in b["materials"] if m["code"] == "SFZ"][0]
        self.assertEqual(sorted(sfz["notes_zh"]), ["申报人身份证", "领取人身份证"])
        r = run("catalog", "show", SAMPLE, "MZ-DB-001")
        self.assertIn("members", r.stdout)
        self.assertEqual(run("catalog", "show", SAMPLE, "NOPE").returncode, 1)

    def test_accept(self):
        j = json.loads(run("catalog", "accept", SAMPLE, "330225101201", "--json").stdout)
        codes = [m["code"] for m in j["matters"]]
        self.assertEqual(len(codes), 12)
        self.assertNotIn("SC-GTBG-001", codes)
        db = [m for m in j["matters"] if m["code"] == "MZ-DB-001"][0]
        self.assertEqual(db["reviewer"]["code"], "330225101")
        self.assertEqual(db["decider"]["code"], "330225")
        self.assertEqual([b["code"] for b in j["bundles"]], ["YJS-SHS-001", "YJS-GL-001"])
        t = json.loads(run("catalog", "accept", SAMPLE, "330225100", "--json").stdout)
        self.assertIn("SC-GTBG-001", [m["code"] for m in t["matters"]])
        self.assertEqual(run("catalog", "accept", SAMPLE, "999999").returncode, 1)

    def write_app(self, app):
        p = os.path.join(self.tmp, "app.json")
        with open(p, "w", encoding="utf-8") as f:
            json.dump(app, f, ensure_ascii=False)
        return p

    def test_validate(self):
        apps = os.path.join(DATA, "apps")
        r = run("catalog", "validate", SAMPLE, "MZ-DB-001", os.path.join(apps, "MZ-DB-001-valid.json"),
                "--today", "2026-11-24")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = run("catalog", "validate", SAMPLE, "MZ-DB-001", os.path.join(apps, "MZ-DB-001-broken.json"),
                "--today", "2026-11-24", "--json")
        self.assertEqual(r.returncode, 1)
        j = json.loads(r.stdout)
        got = {(p["path"], p["code"]) for p in j["problems"]}
        want = {("applicant_name", "required"), ("id_number", "id_number_check"), ("phone", "phone"),
                ("members[0].monthly_income", "money"), ("members[1].member_id", "id_number_birth"),
                ("members[1].relation", "choice"), ("members[1].monthly_income", "constraint"),
                ("members", "constraint"), ("reason", "constraint"), ("bank_account", "bank_account"),
                ("favourite_colour", "unknown_field")}
        self.assertEqual(got, want)
        for p in j["problems"]:
            self.assertTrue(p["message_zh"] and p["message_en"])
        for code in ("YJS-SHS-001", "RS-YL-001", "SC-GTBG-001"):
            r = run("catalog", "validate", SAMPLE, code, os.path.join(apps, code + "-valid.json"),
                    "--today", "2026-11-24")
            self.assertEqual(r.returncode, 0, code + r.stdout + r.stderr)

    def test_validate_today_matters(self):
        app = {"applicant_name": "王", "id_number": ids.id_number("19461125", seq="111"),
               "phone": "13857412345", "bank_account": "6217001234567890"}
        p = self.write_app(app)
        self.assertEqual(run("catalog", "validate", SAMPLE, "MZ-GLJT-001", p, "--today", "2026-11-24").returncode, 1)
        self.assertEqual(run("catalog", "validate", SAMPLE, "MZ-GLJT-001", p, "--today", "2026-11-25").returncode, 0)
        self.assertEqual(run("catalog", "validate", SAMPLE, "MZ-GLJT-001", p, "--today", "2026-13-01").returncode, 2)

    def test_validate_bad_json_file(self):
        p = os.path.join(self.tmp, "bad.json")
        with open(p, "w") as f:
            f.write('{"a": 1,\n "b": }')
        r = run("catalog", "validate", SAMPLE, "RS-YL-001", p)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, re.escape(p) + r":2:\d+: error: ")
        with open(p, "w") as f:
            f.write('{"a": 1, "a": 2}')
        self.assertEqual(run("catalog", "validate", SAMPLE, "RS-YL-001", p).returncode, 1)

    def test_due(self):
        cases = [("2026-09-30", "5", "2026-10-13"),   # National Day, make-up Saturday 10-10
                 ("2026-11-18", "5", "2026-11-25"),   # a plain week: Wednesday to Wednesday
                 ("2026-02-13", "1", "2026-02-14"),   # make-up Saturday before the Spring Festival
                 ("2026-02-13", "2", "2026-02-24"),
                 ("2026-02-27", "1", "2026-02-28"),
                 ("2026-11-24", "0", "2026-11-24")]
        for frm, n, want in cases:
            r = run("catalog", "due", SAMPLE, frm, n)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, want), (frm, n, r.stderr))
        self.assertEqual(run("catalog", "due", SAMPLE, "2026-02-30", "5").returncode, 2)
        self.assertEqual(run("catalog", "due", SAMPLE, "2026-02-10", "-1").returncode, 2)

    def test_broken_catalogue_refused_by_other_commands(self):
        d = self.copy()
        self.edit(d, "matters.csv", ",5,0,village;township,county,", ",five,0,village;township,county,")
        r = run("catalog", "show", d, "RS-YL-001")
        self.assertEqual(r.returncode, 1)
        self.assertIn("time limit 'five' is invalid", r.stderr)
        self.assertIn("fix them first", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
