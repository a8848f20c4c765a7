#!/usr/bin/env python3
"""A county on one hall, at CI size (issue 13): the county simulator
(bench/county-sim.py) with 3 townships, 24 villages (4 of them behind
their own shaped links: 64 kbit/s, 2 % loss, 300 ms each way) and
compressed time, through every scenario, one application in ten with a
scanned material (60-250 KB: a few dozen scans in all, pushed in
pieces); the full size (18 townships, 400 villages, 40 shaped, one
application in three scanned) is a benchmark (docs/BENCHMARKS.md,
"County").

Asserted, as the issue's targets at this size: after every scenario
nothing captured is lost and every village's partition is the same at
the village, its township and the county, and every scan captured is
assembled at the county (its blob in the county's repository) and at
the village's township; ingest delays p99 under 10 s
in every scenario; a stalled push (open through the whole wave) adds
under 1 s to the other villages' syncs; the hall restarted while syncs
were running (at least one cut, counted) loses nothing; a township
relays 20 villages' sticks; in steady state the hall stays under 10 % of
one core and a county decision reaches its village."""
import importlib.util
import os
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location("county_sim", os.path.join(ROOT, "bench", "county-sim.py"))
sim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sim)


class County(unittest.TestCase):
    def test_a_small_county_through_every_scenario(self):
        if os.geteuid() != 0:
            self.fail("the county simulator needs root (network namespaces); CI runs as root")
        work = tempfile.mkdtemp(prefix="daiban-county-")
        self.addCleanup(lambda: os.system(f"rm -rf {work}"))
        bench_store = os.environ.get("DAIBAN_BENCH_STORE") or os.path.join(os.path.dirname(os.environ["DAIBAN"]),
                                                                        "..", "bench", "bench-store")
        r = sim.main(["--daiban", os.environ["DAIBAN"], "--bench-store", bench_store, "--work", work,
                      "--townships", "3", "--villages", "24", "--shaped", "4", "--days", "2", "--apps-per-day", "2",
                      "--interval", "8", "--steady-s", "60", "--window", "15", "--scan-percent", "10",
                      "--scenarios", "f,b,c,e,d,a"])
        for s in "fbcdea":
            conv = r[s]["converged"]
            self.assertEqual((conv["lost"], conv["differ"]), (0, 0), (s, conv))
            self.assertEqual((conv["scans_missing"], conv["scans_missing_at_townships"]), (0, 0), (s, conv))
            self.assertGreater(conv["captured"], 0)
        self.assertGreater(r["a"]["converged"]["scans"], 0, "no scan was captured")
        # the pieces pushed (in the scenarios and the settling after them)
        # carried every scan: at least one a scan (48 KiB pieces; 60 KB and more)
        pieces = sum(r[s]["scans"]["pieces_sent"] + r[s]["scans"]["pieces_sent_settling"] for s in "fbcdea")
        self.assertGreaterEqual(pieces, 2 * r["a"]["converged"]["scans"], r)
        f = r["f"]                      # every key enrolled at once, nothing refused after
        self.assertEqual(f["ok"], f["nodes"], f)
        self.assertEqual(f["ingest_delay_s"]["n"], 24)
        self.assertLess(f["ingest_delay_s"]["p99"], 10, f)
        b = r["b"]
        self.assertEqual(b["ok"], b["nodes"], b)
        self.assertEqual(b["ingest_delay_s"]["n"], 24)
        self.assertLess(b["ingest_delay_s"]["p99"], 10, b)
        self.assertGreater(b["slowest_link_floor_s"], 0, "no bytes crossed a shaped link")
        c = r["c"]
        self.assertTrue(c["stalled"]["stall_still_open"], "the stalled push ended before the wave did")
        self.assertEqual(c["stalled"]["ok"], c["stalled"]["sync_s"]["n"])
        self.assertLess(c["added_p50_s"], 1.0, c)
        self.assertLess(c["stalled"]["ingest_delay_s"]["p99"], 10, c)
        d = r["d"]
        self.assertGreaterEqual(d["cut_by_the_restart"], 1, f"the restart cut no sync: {d}")
        self.assertEqual(d["ok"], b["nodes"], d)
        print(f"\nthe hall restarted with {d['in_flight_at_restart']} syncs in flight: {d['cut_by_the_restart']}"
              f" cut, {d['failed_attempts']} attempts failed and were tried again; nothing lost", file=sys.stderr)
        e = r["e"]
        self.assertEqual((e["import_rc"], e["sync_rc"]), (0, 0), e)
        self.assertLess(e["ingest_delay_s"]["p99"], 10, e)
        a = r["a"]
        self.assertGreater(a["syncs"], 27 * 3)
        self.assertLess(a["hall_cpu_pct_of_one_core"], 10, a)
        self.assertGreaterEqual(a["decisions"], 1, a)
        self.assertEqual(a["decisions_not_reached"], 0, a)
        self.assertLess(a["ingest_delay_s"]["p99"], 10, a)


if __name__ == "__main__":
    unittest.main(verbosity=2)
