#!/usr/bin/env python3
"""Write the valid 20-field BENCH-20 application (the matter bench/gen-catalog.py
adds) that the validation benchmarks use: bench-validate reads it as is,
bench/serve-bench.py posts it to the station's POST /api/validate/BENCH-20.
Usage: app-bench20.py OUT.json [--wrap]  (--wrap: as {"data": {...}})"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import ids  # noqa: E402

app = {"applicant_name": "王秀英", "id_number": ids.id_number("19700315", seq="124"), "phone": "13857412345",
       "hukou_type": "agri", "address": "象山县西周镇下沈村12号", "tier": "500", "household_size": "3",
       "income": "1200.50", "area_sqm": "96.5", "meeting_date": "2026-10-20", "bank_account": "6217001234567890123",
       "uscc": ids.uscc(), "category": "dibao", "proof_note": "低保证明在册", "changes": "name scope",
       "new_name": "下沈村小卖部", "floors": "2", "spouse_id": ids.id_number("19720101", seq="142"),
       "reason": "家中房屋年久失修，需翻建以保障居住安全", "contact": "13900001111"}
assert len(app) == 20
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"data": app} if "--wrap" in sys.argv[2:] else app, f, ensure_ascii=False)
