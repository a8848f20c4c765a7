#!/usr/bin/env python3
"""Count the results in meson's test log (meson-logs/testlog.json, one
JSON object per line) and print 'PASSED FAILED'. meson's own summary is
not read by CI, so the test script adds these up into its closing line."""
import json
import sys

passed = failed = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            pass
        else:  # FAIL, TIMEOUT, ERROR, UNEXPECTEDPASS
            failed += 1
print(passed, failed)
