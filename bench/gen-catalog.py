#!/usr/bin/env python3
"""Generate a catalogue N times the sample's size for benchmarks.

Every matter, bundle, material and choice list of the sample is copied N
times with a suffix on its code (so references stay consistent), the
divisions get N townships with their villages, and one extra matter
BENCH-20 has a 20-field form (the validation benchmark's form).
Usage: gen-catalog.py SAMPLE_DIR OUT_DIR [N]"""
import csv
import os
import sys

src, out = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
os.makedirs(out, exist_ok=True)


def read(name):
    with open(os.path.join(src, name), encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def write(name, header, rows):
    with open(os.path.join(out, name), "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(header)
        w.writerows(rows)


def sfx(code, i):
    return code if i == 0 else "%s-%d" % (code, i)


h, matters = read("matters.csv")
write("matters.csv", h, [[sfx(r[0], i)] + r[1:] for i in range(n) for r in matters] +
      [["BENCH-20", "基准测试事项", "Benchmark matter", "县民政局", "公共服务", "-", "10", "0",
        "village;township", "county", ""]])

h, fields = read("fields.csv")
bench = [
    ["BENCH-20", "applicant_name", "text", "申请人姓名", "Name", "yes", "string-length(.) <= 30", "", "", "", ""],
    ["BENCH-20", "id_number", "id_number", "身份号码", "ID", "yes", "age(.) >= 16", "须年满16周岁", "", "", ""],
    ["BENCH-20", "phone", "phone", "电话", "Phone", "yes", "", "", "", "", ""],
    ["BENCH-20", "hukou_type", "select_one", "户籍性质", "Hukou", "yes", "", "", "", "hukou", ""],
    ["BENCH-20", "address", "text", "地址", "Address", "yes", "", "", "", "", ""],
    ["BENCH-20", "tier", "select_one", "档次", "Tier", "yes", "", "", "", "tier", ""],
    ["BENCH-20", "household_size", "integer", "人数", "Size", "yes", ". >= 1 and . <= 20", "", "", "", ""],
    ["BENCH-20", "income", "money", "月收入", "Income", "yes", ". >= 0", "", "", "", ""],
    ["BENCH-20", "area_sqm", "decimal", "面积", "Area", "yes", ". > 0 and . <= 125", "", "", "", ""],
    ["BENCH-20", "meeting_date", "date", "会议日期", "Meeting", "yes", ". <= today()", "", "", "", ""],
    ["BENCH-20", "bank_account", "bank_account", "银行账号", "Account", "yes", "", "", "", "", ""],
    ["BENCH-20", "uscc", "uscc", "信用代码", "USCC", "no", "", "", "", "", ""],
    ["BENCH-20", "category", "select_one", "类别", "Category", "yes", "", "", "", "insured_category", ""],
    ["BENCH-20", "proof_note", "text", "证明说明", "Proof", "yes", "string-length(.) >= 4", "",
     "not(selected(${category}, 'general'))", "", ""],
    ["BENCH-20", "changes", "select_multiple", "变更事项", "Changes", "yes", "count-selected(.) >= 1", "", "", "change_item", ""],
    ["BENCH-20", "new_name", "text", "新名称", "New name", "yes", "", "", "selected(${changes}, 'name')", "", ""],
    ["BENCH-20", "floors", "integer", "层数", "Floors", "yes", ". >= 1 and . <= 3", "", "", "", ""],
    ["BENCH-20", "spouse_id", "id_number", "配偶身份号码", "Spouse ID", "no", ". != ${id_number}", "", "", "", ""],
    ["BENCH-20", "reason", "text", "理由", "Reason", "yes", "string-length(.) >= 10", "", "", "", ""],
    ["BENCH-20", "contact", "phone", "紧急联系电话", "Contact", "yes", "regex(., '^1')", "", "", "", ""],
]
write("fields.csv", h, [[sfx(r[0], i)] + r[1:] for i in range(n) for r in fields] + bench)

h, mm = read("matter_materials.csv")
write("matter_materials.csv", h, [[sfx(r[0], i)] + r[1:] for i in range(n) for r in mm] +
      [["BENCH-20", "SFZ", "copy", "1", "yes", "no", "", "", ""]])

h, bundles = read("bundles.csv")
write("bundles.csv", h, [[sfx(r[0], i), r[1], r[2], ";".join(sfx(m, i) for m in r[3].split(";"))]
                         for i in range(n) for r in bundles])

for name in ("materials.csv", "choices.csv", "calendar.csv"):
    h, rows = read(name)
    write(name, h, rows)

h, divs = read("divisions.csv")
rows = [divs[0]]
for t in range(n):
    tc = "330225%03d" % (100 + t)
    rows.append([tc, "乡镇%d" % t, "township", "330225"])
    for v in range(4):
        rows.append([tc + "%03d" % (201 + v), "村%d-%d" % (t, v), "village", tc])
write("divisions.csv", h, rows)
