#!/usr/bin/env python3
"""A village turned hostile, with nothing but its own key, its own hall
token and its own USB stick: what it signs is its own, and still the
offices above it must not take what it may not say. Each attack goes
through the real commands and a real hall (stock git pushes with the
village's token, change sets crafted with git plumbing and signed with
the village's own key by ssh-keygen); each refusal leaves the
receiver's refs, events and applications as they were, and the honest
work after it goes on."""
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from forgery import forge, git as fgit  # noqa: E402
from hall import OTHER_VILLAGE, HallCase, git  # noqa: E402
from station import COUNTY, TOWNSHIP, VILLAGE  # noqa: E402

INT64_MAX = (1 << 63) - 1
DAY_MS = 24 * 3600 * 1000


def now_ms():
    return int(time.time() * 1000)


def stamp(ms, logical=0):
    return (ms << 16) | logical


class Hostile(HallCase):
    maxDiff = None

    def own_feed(self, v=None):
        v = v or self.village
        return os.path.join(v.home, "repo"), f"refs/feeds/{v.node}/{v.node}"

    def next_seq(self, v=None):
        v = v or self.village
        with sqlite3.connect(os.path.join(v.home, "store.db")) as c:
            return c.execute("SELECT max(seq) FROM events WHERE node = ?", (v.node,)).fetchone()[0] + 1

    def operator_event(self, seq, hlc, wall, who="op77"):
        return {"body": {"id": who, "name": "王五"}, "hlc": hlc, "node": VILLAGE, "operator": "op01",
                "part": VILLAGE, "seq": seq, "type": "operator.added", "wall": wall}

    def push_own(self, events, want):
        """Sign events on the village's own feed with its own key and push
        them with its own token: the hall refuses with want, and its refs,
        events and applications stay as they were."""
        repo, ref = self.own_feed()
        head = fgit(repo, "rev-parse", ref).strip()
        forge(repo, ref, VILLAGE, VILLAGE, events, key=os.path.join(self.village.home, "node.key"))
        before = self.hall_state()
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertNotEqual(r.returncode, 0, "the hall took it")
        self.assertRegex(r.stderr, want)
        self.assertEqual(self.hall_state(), before, "a refused push changed the hall")
        fgit(repo, "update-ref", ref, head)         # the village takes it back (a later test pushes honestly)
        return r


    def stick_refused(self, events, want, lang="C.UTF-8"):
        """The township, which has taken the village's honest feed by stick
        before, is given events signed on the village's own feed by stick:
        refused with want, and its refs, events and applications stay as
        they were. Returns the import's result."""
        repo, ref = self.own_feed()
        stick = tempfile.mkdtemp()
        t = self.township
        try:
            self.village.ok("bundle", "export", stick)
            t.ok("bundle", "import", stick)
            forge(repo, ref, VILLAGE, VILLAGE, events, key=os.path.join(self.village.home, "node.key"))
            self.village.ok("bundle", "export", stick)
            before = (git(os.path.join(t.home, "repo"), "for-each-ref").stdout, t.nevents(), t.dump_derived())
            r = t.run("bundle", "import", stick, lang=lang)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertRegex(r.stderr, want)
            self.assertEqual((git(os.path.join(t.home, "repo"), "for-each-ref").stdout, t.nevents(),
                              t.dump_derived()), before)
            return r
        finally:
            shutil.rmtree(stick)
            # the village takes it back (a later step pushes honestly)
            crepo = os.path.join(self.county.home, "repo")
            head = git(crepo, "rev-parse", "-q", "--verify", ref, check=False).stdout.strip()
            if head:
                fgit(repo, "update-ref", ref, head)


class Clocks(Hostile):
    """Finding 1: one event stamped near the top of the clock's range
    froze every office above the village for good."""

    def test_a_stamp_far_ahead_is_refused_on_every_path(self):
        self.accepted()
        self.sync(self.village)
        seq = self.next_seq()
        now = now_ms()
        # the top of the range, two days ahead, a wall time far ahead: each refused by the hall
        for hlc, wall, what in ((INT64_MAX, now, "the largest stamp"), (stamp(now + 2 * DAY_MS), now, "two days"),
                                (stamp(now), now + 3 * DAY_MS, "a wall time three days ahead")):
            with self.subTest(what):
                self.push_own([self.operator_event(seq, hlc, wall)], r"more than a day ahead of this computer's clock")
        # a seq near INT64_MAX: refused before any arithmetic is done with it
        self.push_own([self.operator_event(INT64_MAX - 1, stamp(now), now)], r"beyond the largest a writer can reach")
        # the same stamp by stick, at the township: refused, nothing changes;
        # an agent reads what it means in Chinese, the reason follows in English
        r = self.stick_refused([self.operator_event(seq, INT64_MAX, now)],
                               r"more than a day ahead of this computer's clock", lang="zh_CN.UTF-8")
        self.assertIn("收到的记录时间比本机时钟快一天以上，已拒收", r.stderr)
        # the offices still write, with stamps of today
        for office in (self.county, self.township):
            office.ok("operator", "add", "op88", "--name", "赵六")
            with sqlite3.connect(os.path.join(office.home, "store.db")) as c:
                top = c.execute("SELECT max(hlc) FROM events WHERE node = ?", (office.node,)).fetchone()[0]
            self.assertLess(abs((top >> 16) - now_ms()), 60_000, f"{office.node}'s clock ran away")

    def test_a_stamp_within_the_bound_is_taken_and_followed(self):
        """An hour ahead is a wrong clock, not an attack: taken, and the
        county's next stamp sorts after it (the clock follows)."""
        self.accepted()
        self.sync(self.village)
        ahead = stamp(now_ms() + 3600 * 1000)
        repo, ref = self.own_feed()
        forge(repo, ref, VILLAGE, VILLAGE, [self.operator_event(self.next_seq(), ahead, now_ms())],
              key=os.path.join(self.village.home, "node.key"))
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        from hall import wait_for
        wait_for(lambda: self.county.db().execute("SELECT count(*) FROM operators WHERE node = ? AND id = 'op77'",
                                                  (VILLAGE,)).fetchone()[0] == 1, what="the county to ingest it")
        self.county.ok("operator", "add", "op88", "--name", "赵六")
        with sqlite3.connect(os.path.join(self.county.home, "store.db")) as c:
            top = c.execute("SELECT max(hlc) FROM events WHERE node = ?", (COUNTY,)).fetchone()[0]
        self.assertGreater(top, ahead)

    def test_a_store_poisoned_before_the_bound_recovers(self):
        """A stamp at the top of the range that got in before this check
        existed (written here straight into the store) no longer stops
        the clock: the next local write succeeds with today's stamp."""
        c = self.township
        with sqlite3.connect(os.path.join(c.home, "store.db")) as db:
            db.execute("INSERT INTO events(node, seq, hlc, wall, operator, type, app, part, body)"
                       " VALUES (?, 1000, ?, ?, 'op01', 'operator.added', NULL, ?, ?)",
                       (VILLAGE, INT64_MAX, now_ms(), VILLAGE, json.dumps({"id": "op77", "name": "王五"})))
        c.ok("operator", "add", "op88", "--name", "赵六")
        c.ok("operator", "add", "op89", "--name", "钱七")
        with sqlite3.connect(os.path.join(c.home, "store.db")) as db:
            stamps = [h for (h,) in db.execute("SELECT hlc FROM events WHERE node = ? ORDER BY seq DESC LIMIT 2",
                                               (TOWNSHIP,))]
        self.assertLess(abs((stamps[0] >> 16) - now_ms()), 60_000)
        self.assertGreater(stamps[0], stamps[1])


class Authority(Hostile):
    """Finding 2: a village created its own application naming its
    township as the decider of a matter the county decides, with a time
    limit of 9999 days; hall, township and county took it."""

    def created(self, a):
        with sqlite3.connect(os.path.join(self.village.home, "store.db")) as c:
            row = c.execute("SELECT hlc, wall, body FROM events WHERE app = ? AND type = 'app.created'", (a,)).fetchone()
        return json.loads(row[2])

    def forged_creation(self, body, seq):
        now = now_ms()
        return {"app": f"{VILLAGE}-{seq}", "body": body, "hlc": stamp(now), "node": VILLAGE, "operator": "op01",
                "part": VILLAGE, "seq": seq, "type": "app.created", "wall": now}

    def test_a_village_cannot_name_its_own_decider(self):
        a = self.accepted()
        self.sync(self.village)
        honest = self.created(a)
        # the honest creation says what the catalogue says: the township reviews, the county decides
        self.assertEqual((honest["reviewer"], honest["decider"]), (TOWNSHIP, COUNTY))
        seq = self.next_seq()
        forgeries = {
            "decider": dict(honest, decider=TOWNSHIP, time_limit=9999),
            "reviewer": {k: v for k, v in honest.items() if k != "reviewer"},
            "time_limit": dict(honest, time_limit=9999),
            "matter_name": dict(honest, matter_name="城乡居民最低生活保障（村里自批）"),
            "origin": dict(honest, origin=TOWNSHIP),
        }
        for field, body in forgeries.items():
            with self.subTest(field):
                self.push_own([self.forged_creation(body, seq)], rf"its {field} is .*catalogue version \w+ gives")
        # an application id carrying the sender's own words (which could
        # pass for a harmless reason in the county's alarms) is refused
        self.push_own([dict(self.forged_creation(forgeries["decider"], seq),
                            app=f"{VILLAGE}-{seq} which has not reached this node yet")],
                      r"the application id is not <partition>-<number>")
        # a catalogue version the county never published is not a way round it
        self.push_own([self.forged_creation(dict(honest, catalog="0" * 40, decider=TOWNSHIP), seq)],
                      r"catalogue version 000000000000, which has not reached this node yet")
        # by stick, at the township: refused before its ref moves, nothing changes
        self.stick_refused([self.forged_creation(forgeries["decider"], seq)],
                           r"its decider is 330225101, but catalogue version \w+ gives 330225")
        self.assertIsNone(self.township.db().execute("SELECT id FROM apps WHERE id = ?",
                                                     (f"{VILLAGE}-{seq}",)).fetchone())
        # the county's supervision shows the attempts, one alarm per reason with its count
        alarms = [a for a in json.loads(self.county.ok("status", "--json"))["alarms"] if a["kind"] == "refused"]
        decider = [a for a in alarms if "its decider is 330225101" in a["why"]]
        self.assertEqual([(a["node"], a["count"]) for a in decider], [(VILLAGE, 1)], alarms)
        self.assertIn("县级服务端拒收了", decider[0]["zh"])
        self.assertIn(f"ALARM: the hall refused refs/feeds/{VILLAGE}/{VILLAGE} from {VILLAGE}",
                      self.county.ok("status"))
        # a catalogue version on its way is no attempt
        self.assertFalse([a for a in alarms if "has not reached" in a["why"]], alarms)
        # the honest work goes on: the township passes, the county decides
        out = self.township.ok("sync")
        # (and the township's refusal at its USB import goes up to the county)
        self.assertIn("1 refusals made here go to the county", out)
        self.township.ok("review", a, "pass")
        self.township.ok("sync")
        from hall import wait_for
        wait_for(lambda: [x for x in json.loads(self.county.ok("status", "--json"))["alarms"]
                          if x.get("by") == TOWNSHIP], what="the township's report at the county")
        alarms = [x for x in json.loads(self.county.ok("status", "--json"))["alarms"] if x["kind"] == "refused"]
        stick = [x for x in alarms if x.get("by") == TOWNSHIP]
        self.assertEqual([(x["node"], x["count"]) for x in stick], [(VILLAGE, 1)], alarms)
        self.assertIn("its decider is 330225101", stick[0]["why"])
        self.assertIn(f"{TOWNSHIP} refused refs/feeds/{VILLAGE}/{VILLAGE} from {VILLAGE} on a USB stick", stick[0]["en"])
        self.assertIn("在导入U盘数据时拒收了", stick[0]["zh"])
        # the hall's own refusal is still counted once
        self.assertEqual([x["count"] for x in alarms if not x.get("by") and "its decider is 330225101" in x["why"]],
                         [1])
        wait_for(lambda: self.county_status(a) == "passed", what="the county to see it passed")
        self.county.ok("decide", a, "approve")
        self.assertEqual(self.county_status(a), "approved")

    def test_a_village_cannot_set_its_own_due_date_or_receipt(self):
        """The due date follows from the matter's time limit (fixed at
        creation), the receipt number from the accepting station and the
        day: a submission that says otherwise is a conflict shown to
        people, and the application stays where it was."""
        from station import app_file
        from hall import wait_for
        done = self.accepted()
        with sqlite3.connect(os.path.join(self.village.home, "store.db")) as c:
            honest = json.loads(c.execute("SELECT body FROM events WHERE app = ? AND type = 'app.submitted'",
                                          (done,)).fetchone()[0])
        on = honest["accepted_on"]
        prefix = honest["receipt"].rsplit("-", 1)[0]
        cases = {
            "the due date does not follow from the matter's time limit": dict(honest, due=on + 99999),
            "the receipt number is not the accepting station's own for that day":
                dict(honest, receipt="101202" + prefix[6:] + "-001", due=honest["due"]),
        }
        apps = [self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json")) for _ in cases]
        self.sync(self.village)
        seq, now = self.next_seq(), now_ms()
        repo, ref = self.own_feed()
        forge(repo, ref, VILLAGE, VILLAGE,
              [{"app": a, "body": body, "hlc": stamp(now, k), "node": VILLAGE, "operator": "op01", "part": VILLAGE,
                "seq": seq + k, "type": "app.submitted", "wall": now} for k, (a, body) in enumerate(zip(apps,
                                                                                                        cases.values()))],
              key=os.path.join(self.village.home, "node.key"))
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        for office in (self.county, self.township):
            if office is self.township:
                self.township.ok("sync")
            wait_for(lambda: office.db().execute("SELECT count(*) FROM conflicts").fetchone()[0] == 2,
                     what=f"{office.node} to see both")
            for a, reason in zip(apps, cases):
                row = office.db().execute("SELECT a.status, a.due, a.receipt, c.reason FROM apps a JOIN conflicts c"
                                          " ON c.app = a.id WHERE a.id = ?", (a,)).fetchone()
                self.assertEqual(row, ("draft", None, None, reason))

class Fetches(Hostile):
    """Finding 4: with one village's token, an upload-pack want of a tree
    or blob id from another village's hidden feed returned it (git checks
    reachability only for commits). Finding 5: a small gzip request body
    inflated to gigabytes of have lines inside the hall."""

    def post_fetch(self, body, headers=None):
        import base64
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=60)
        auth = base64.b64encode(f"{VILLAGE}:{self.tokens[VILLAGE]}".encode()).decode()
        conn.request("POST", "/feeds/git-upload-pack", body=body,
                     headers=dict({"Authorization": f"Basic {auth}",
                                   "Content-Type": "application/x-git-upload-pack-request"}, **(headers or {})))
        r = conn.getresponse()
        data = r.read()
        conn.close()
        return r.status, data

    def test_a_village_cannot_fetch_another_villages_objects_by_id(self):
        from hall import OTHER_VILLAGE
        from station import accept_dibao
        accept_dibao(self.other)
        self.sync(self.other)
        crepo = os.path.join(self.county.home, "repo")
        feed = f"refs/feeds/{OTHER_VILLAGE}/{OTHER_VILLAGE}"
        tip = git(crepo, "rev-parse", feed).stdout.strip()
        tree = git(crepo, "rev-parse", f"{feed}^{{tree}}").stdout.strip()
        blob = git(crepo, "rev-parse", f"{feed}:events.jsonl").stdout.strip()
        vrepo = os.path.join(self.village.home, "repo")
        for what, oid in (("commit", tip), ("tree", tree), ("blob", blob)):
            with self.subTest(what):
                r = git(vrepo, "fetch", "--no-write-fetch-head", self.stock_url(VILLAGE), oid, check=False)
                self.assertNotEqual(r.returncode, 0, f"the {what} was served")
                self.assertNotEqual(git(vrepo, "cat-file", "-e", oid, check=False).returncode, 0,
                                    f"the other village's {what} reached this village")
        # the request framing itself: a want of the blob is refused by the hall, with the reason
        line = f"want {blob} multi_ack_detailed side-band-64k ofs-delta\n"
        body = f"{len(line) + 4:04x}{line}00000009done\n".encode()
        status, data = self.post_fetch(body)
        self.assertEqual(status, 403, data)
        self.assertIn(f"want {blob} is not the tip of a ref this node may fetch".encode(), data)
        self.assertIn("refused a request of", self.hall.logtext())
        # a commit of its own feed that is no longer the tip (the ref moved
        # between the two requests of a fetch) is still served, as git does
        self.accepted()
        self.sync(self.village)
        self.village.ok("operator", "add", "op77", "--name", "王五")
        self.sync(self.village)
        own = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        older = git(crepo, "rev-parse", f"{own}~1").stdout.strip()
        self.assertNotEqual(older, git(crepo, "rev-parse", own).stdout.strip())
        line = f"want {older} multi_ack_detailed side-band-64k ofs-delta\n"
        status, data = self.post_fetch(f"{len(line) + 4:04x}{line}00000009done\n".encode())
        self.assertEqual(status, 200, data)
        self.assertIn(b"PACK", data)
        # the village's own fetch goes on
        self.sync(self.village)

    def test_a_compressed_request_is_bounded(self):
        import gzip
        line = "have " + "0" * 40 + "\n"
        pkt = f"{len(line) + 4:04x}{line}".encode()
        bomb = gzip.compress(pkt * (40 * 1024 * 1024 // len(pkt)), 9)          # 40 MiB of haves
        self.assertLess(len(bomb), 1024 * 1024)
        status, data = self.post_fetch(bomb, {"Content-Encoding": "gzip"})
        self.assertEqual(status, 413, data)
        self.assertIn(b"inflates to more than 32 MiB", data)
        status, data = self.post_fetch(b"0000", {"Content-Encoding": "br"})
        self.assertEqual(status, 415, data)
        # a push may not be encoded at all
        import base64
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.hall.port, timeout=60)
        auth = base64.b64encode(f"{VILLAGE}:{self.tokens[VILLAGE]}".encode()).decode()
        conn.request("POST", "/feeds/git-receive-pack", body=gzip.compress(b"0000"),
                     headers={"Authorization": f"Basic {auth}", "Content-Encoding": "gzip",
                              "Content-Type": "application/x-git-receive-pack-request"})
        self.assertEqual(conn.getresponse().status, 415)
        conn.close()
        # honest fetches, stock git's gzip'ed ones among them, still work
        self.accepted()
        self.sync(self.village)
        r = git(os.path.join(self.village.home, "repo"), "fetch", "--no-write-fetch-head", self.stock_url(VILLAGE),
                "refs/catalog/*:refs/check/catalog/*", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)


class Display(Hostile):
    """Low finding: an applicant named with terminal escape sequences was
    printed raw by `app show` and `app list` at every office."""

    ESC = "李\x1b]0;pwned\x07\x1b[2J建国\u009b"

    def test_escapes_are_refused_at_capture_and_never_printed(self):
        from station import app_file
        with open(app_file("MZ-DB-001-valid.json")) as f:
            data = json.load(f)
        data["applicant_name"] = self.ESC
        path = self.village.write_json(data)
        # a draft may hold it (it says what to fix); it cannot be accepted
        r = self.village.run("app", "new", "MZ-DB-001", "--data", path)
        self.assertIn("applicant_name: Applicant name: the text contains control characters", r.stderr)
        r = self.village.run("app", "submit", r.stdout.strip())
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("text_control", r.stderr)
        # a hostile village writes it anyway, in its own signed feed
        a = self.accepted()
        self.sync(self.village)
        with sqlite3.connect(os.path.join(self.village.home, "store.db")) as c:
            body = json.loads(c.execute("SELECT body FROM events WHERE app = ? AND type = 'app.created'",
                                        (a,)).fetchone()[0])
        seq, now = self.next_seq(), now_ms()
        forged = dict(body, applicant=self.ESC)
        repo, ref = self.own_feed()
        forge(repo, ref, VILLAGE, VILLAGE, [{"app": f"{VILLAGE}-{seq}", "body": forged, "hlc": stamp(now),
                                             "node": VILLAGE, "operator": "op01", "part": VILLAGE, "seq": seq,
                                             "type": "app.created", "wall": now}],
              key=os.path.join(self.village.home, "node.key"))
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        from hall import wait_for
        wait_for(lambda: self.county.run("app", "show", f"{VILLAGE}-{seq}").returncode == 0, what="the county")
        for args in (("app", "show", f"{VILLAGE}-{seq}"), ("app", "list")):
            out = self.county.ok(*args)
            self.assertIn("李?]0;pwned??[2J建国??", out)
            self.assertFalse(any(ch in out for ch in "\x1b\x07\x9b"), repr(out))


class Tokens(Hostile):
    """Low finding: `remote set --token T` put the token in the process
    arguments, where every local user can read it."""

    def test_the_token_from_stdin_or_a_file(self):
        import subprocess
        from station import DAIBAN
        v = self.village
        v.ok("remote", "set", self.hall.url, "--token", VILLAGE + ".00", operator=None)     # a wrong one first
        self.assertNotEqual(v.run("sync", operator=None).returncode, 0)
        r = subprocess.run([DAIBAN, "remote", "set", self.hall.url, "--token", "-"], input=self.tokens[VILLAGE] + "\n",
                           capture_output=True, text=True, env=v.env(None))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sync(v)
        v.ok("remote", "set", self.hall.url, "--token", VILLAGE + ".00", operator=None)
        path = os.path.join(v.root, "token")
        with open(path, "w") as f:
            f.write(self.tokens[VILLAGE] + "\n")
        v.ok("remote", "set", self.hall.url, "--token", "@" + path, operator=None)
        self.sync(v)
        r = subprocess.run([DAIBAN, "remote", "set", self.hall.url, "--token", "-"], input="", capture_output=True,
                           text=True, env=v.env(None))
        self.assertEqual(r.returncode, 2)
        self.assertIn("no token could be read from stdin", r.stderr)
        # remote show names whose token it is, with a fingerprint, never the secret
        shown = v.ok("remote", "show", operator=None)
        self.assertIn(f"token of {VILLAGE}, fingerprint ", shown)
        self.assertNotIn(self.tokens[VILLAGE].split(".", 1)[1], shown)
        # a new address alone keeps the token, and says so
        self.assertIn("the token set before is kept", v.ok("remote", "set", self.hall.url, operator=None))
        # an address that is not a hall's is refused at once, not at the first sync
        base = self.hall.url.rsplit("/feeds", 1)[0]
        r = v.run("remote", "set", base + "/", operator=None)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("is not a hall's address: it ends in /feeds", r.stderr)
        self.assertEqual(v.ok("remote", "show", operator=None).splitlines()[0], self.hall.url)
        # another node's token is refused at once, saying whose it must be
        r = v.run("remote", "set", self.hall.url, "--token", self.tokens[OTHER_VILLAGE], operator=None)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(f"this token is not {VILLAGE}'s", r.stderr)
        # the county syncs with no one: its status does not advise a link
        self.assertIn("the county syncs with no one", self.county.ok("status", operator=None))


class Flood(Hostile):
    """Finding 7 (hall): 300 unauthenticated sockets, reopened when
    closed, kept /health unreachable for 70 s. Now one address holds at
    most 64, and a full hall closes the slowest request in progress (an
    idle socket first) to admit a newcomer."""

    def test_a_socket_flood_does_not_stop_the_hall(self):
        import selectors
        import socket
        import threading
        import urllib.request
        stop, sel = threading.Event(), selectors.DefaultSelector()
        stats = {"opened": 0, "closed_by_hall": 0}

        def source(i):
            return "127.0.0.9" if i < 150 else f"127.0.{2 + i // 250}.{2 + i % 250}"

        def connect(i):
            try:
                sk = socket.create_connection(("127.0.0.1", self.hall.port), timeout=5, source_address=(source(i), 0))
            except OSError:
                return
            sk.setblocking(False)
            sel.register(sk, selectors.EVENT_READ, i)
            stats["opened"] += 1

        def flood():
            for i in range(450):
                connect(i)
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    try:
                        data = key.fileobj.recv(4096)
                    except OSError:
                        data = b""
                    if not data:
                        sel.unregister(key.fileobj)
                        key.fileobj.close()
                        stats["closed_by_hall"] += 1
                        time.sleep(0.005)               # reopened at once, 200 a second at most
                        connect(key.data)
            for key in list(sel.get_map().values()):
                key.fileobj.close()

        t = threading.Thread(target=flood, daemon=True)
        t.start()
        took = []
        try:
            time.sleep(3)
            self.assertGreaterEqual(stats["opened"], 300)
            for _ in range(5):
                t0 = time.time()
                with urllib.request.urlopen(f"{self.hall.url.rsplit('/feeds', 1)[0]}/health", timeout=10) as r:
                    self.assertEqual(json.loads(r.read())["node"], COUNTY)
                took.append(time.time() - t0)
                time.sleep(0.3)
            self.assertLess(max(took), 3.0, took)
            a = self.accepted()
            self.sync(self.village)
            from hall import wait_for
            wait_for(lambda: self.county_status(a) == "accepted", what="the county to take the village's push")
            # the flood was met: its sockets were closed and reopened
            self.assertGreater(stats["closed_by_hall"], 100, stats)
        except AssertionError:
            # what the flood had done when a step failed (CI shows only
            # part of a long log: this goes first)
            print(f"\nflood at the failure: {stats}; /health took {took}",
                  file=sys.stderr)
            raise
        finally:
            stop.set()
            t.join(10)
        print(f"\n/health answered in {', '.join('%.2f s' % x for x in took)} during a flood of "
              f"{stats['opened']} sockets ({stats['closed_by_hall']} closed by the hall and reopened)", file=sys.stderr)

    def test_refused_sockets_do_not_take_a_newcomers_place(self):
        """A CI run saw /health answered 503 during the flood. Sockets
        refused for being over their address's share are counted until
        their refusal has been sent; when several were refused in the
        same turn of the hall's loop as a newcomer, making room for one
        did not bring the count under the limit. Made certain here: the
        hall is stopped while a burst of over-share sockets and then
        /health wait in its accept queue, so it meets them all at once."""
        import signal
        import socket
        full, burst = [], []
        try:
            for i in range(256):                    # every slot, from addresses under their share
                full.append(socket.create_connection(("127.0.0.1", self.hall.port), timeout=5,
                                                     source_address=(f"127.0.5.{1 + i % 50}", 0)))
            time.sleep(0.5)
            self.hall.proc.send_signal(signal.SIGSTOP)
            try:
                for _ in range(64 + 24):            # 64 take the oldest idle slots, 24 are over their share
                    burst.append(socket.create_connection(("127.0.0.1", self.hall.port), timeout=5,
                                                          source_address=("127.0.0.9", 0)))
                health = socket.create_connection(("127.0.0.1", self.hall.port), timeout=10)
                burst.append(health)
                health.sendall(b"GET /health HTTP/1.1\r\nHost: hall\r\nConnection: close\r\n\r\n")
            finally:
                self.hall.proc.send_signal(signal.SIGCONT)
            got = b""
            while True:
                data = health.recv(4096)
                if not data:
                    break
                got += data
            self.assertTrue(got.startswith(b"HTTP/1.1 200 "), got[:300])
            self.assertEqual(json.loads(got.split(b"\r\n\r\n", 1)[1])["node"], COUNTY)
            # and the over-share sockets were refused, not served
            refused = 0
            for sk in burst[64:-1]:
                sk.settimeout(5)
                try:
                    refused += sk.recv(64).startswith(b"HTTP/1.1 503 ")
                except OSError:
                    refused += 1                    # closed before its refusal was written: also refused
            self.assertEqual(refused, 24)
        finally:
            for sk in full + burst:
                sk.close()


class Reports(Hostile):
    """A node's reports of refusals (sync/report.h) speak only of nodes
    below it, and only for itself."""

    def report_commit(self, lines, parent=None):
        repo = self.own_feed()[0]
        blob = fgit(repo, "hash-object", "-w", "--stdin", input="".join(json.dumps(x) + "\n" for x in lines)).strip()
        tree = fgit(repo, "mktree", input=f"100644 blob {blob}\trefused.jsonl\n").strip()
        return fgit(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", "report",
                    env={"GIT_AUTHOR_NAME": VILLAGE, "GIT_AUTHOR_EMAIL": "x@y", "GIT_COMMITTER_NAME": VILLAGE,
                         "GIT_COMMITTER_EMAIL": "x@y"}).strip()

    def test_reports_speak_only_of_nodes_below_and_only_for_their_writer(self):
        self.accepted()
        self.sync(self.village)
        repo = self.own_feed()[0]
        line = {"at": int(time.time()), "node": OTHER_VILLAGE, "ref": f"refs/feeds/{OTHER_VILLAGE}/{OTHER_VILLAGE}",
                "why": "made up by a neighbour"}
        cid = self.report_commit([line])
        # in the township's name: refused, nothing changes
        before = self.hall_state()
        r = git(repo, "push", self.stock_url(VILLAGE), f"{cid}:refs/reports/{TOWNSHIP}", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn(f"node {VILLAGE} may write only its own reports", r.stderr)
        self.assertEqual(self.hall_state(), before)
        # in its own name: taken, but a neighbour is not below it: not noted
        r = git(repo, "push", self.stock_url(VILLAGE), f"{cid}:refs/reports/{VILLAGE}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        from hall import wait_for
        wait_for(lambda: f"{VILLAGE} reported 0 refusals" in self.hall.logtext(), what="the hall to read the report")
        self.assertIn("not about nodes below it: ignored", self.hall.logtext())
        self.assertFalse([x for x in json.loads(self.county.ok("status", "--json"))["alarms"] if x.get("by")])
        # a report that is not one (two files, or too large) is refused
        blob = fgit(repo, "hash-object", "-w", "--stdin", input="x" * (65 * 1024)).strip()
        tree = fgit(repo, "mktree", input=f"100644 blob {blob}\trefused.jsonl\n").strip()
        big = fgit(repo, "commit-tree", tree, "-p", cid, "-m", "big").strip()
        before = self.hall_state()
        r = git(repo, "push", self.stock_url(VILLAGE), f"{big}:refs/reports/{VILLAGE}", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("a report is larger than 64 KiB", r.stderr)
        self.assertEqual(self.hall_state(), before)


    def test_a_township_restored_from_an_older_backup_reports_again(self):
        """The hall's copy of a node's report chain can be ahead of a home
        restored from an older backup: the home takes it and goes on from
        it, so its next refusals still reach the county."""
        import subprocess
        from hall import wait_for
        from station import DAIBAN
        self.accepted()
        self.sync(self.village)
        t = self.township
        self.sync(t)
        bdir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, bdir, ignore_errors=True)
        b = json.loads(t.ok("backup", "--to", bdir, "--json", operator=None))["path"]
        now = now_ms()
        self.stick_refused([self.operator_event(self.next_seq(), stamp(now + 2 * DAY_MS), now)],
                           r"more than a day ahead of this computer's clock")
        self.assertIn("1 refusals made here go to the county", t.ok("sync", operator=None))
        wait_for(lambda: f"{TOWNSHIP} reported 1 refusals" in self.hall.logtext(), what="the first report")
        # the PC is re-imaged; its home comes back from the older backup
        home = os.path.join(bdir, "restored")
        r = subprocess.run([DAIBAN, "restore", b, "--home", home, "--key", os.path.join(t.home, "node.key")],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        t.home = home
        _, err = self.sync(t)                               # the catch-up, then a round (JSON alone on stdout)
        self.assertIn("caught up after the restore", err)
        self.stick_refused([self.operator_event(self.next_seq(), stamp(now + 3 * DAY_MS), now)],
                           r"more than a day ahead of this computer's clock")
        self.assertIn("1 refusals made here go to the county", t.ok("sync", operator=None))
        wait_for(lambda: self.hall.logtext().count(f"{TOWNSHIP} reported 1 refusals") == 2,
                 what="the restored township's report at the county")
        # one chain: the hall's, gone on from
        crepo = os.path.join(self.county.home, "repo")
        self.assertEqual(git(crepo, "rev-list", "--count", f"refs/reports/{TOWNSHIP}").stdout.strip(), "2")
        self.assertEqual(git(crepo, "rev-parse", f"refs/reports/{TOWNSHIP}").stdout,
                         git(os.path.join(home, "repo"), "rev-parse", f"refs/reports/{TOWNSHIP}").stdout)

    def test_a_reporter_has_a_daily_share_of_the_countys_log(self):
        """The county's alarms read the last 512 KiB of its log: a
        township's reports add at most 200 lines a day to it, the rest
        are counted in one line, and the county's own refusals stay in
        view."""
        from hall import wait_for
        self.accepted()
        self.sync(self.village)
        t = self.township
        repo = os.path.join(t.home, "repo")
        env = {"GIT_AUTHOR_NAME": TOWNSHIP, "GIT_AUTHOR_EMAIL": "x@y", "GIT_COMMITTER_NAME": TOWNSHIP,
               "GIT_COMMITTER_EMAIL": "x@y"}

        def report(n, tag, parent=None):
            body = "".join(json.dumps({"at": int(time.time()), "node": VILLAGE, "ref": f"refs/feeds/{VILLAGE}/x{i}",
                                       "why": f"{tag} {i}"}) + "\n" for i in range(n))
            blob = fgit(repo, "hash-object", "-w", "--stdin", input=body).strip()
            tree = fgit(repo, "mktree", input=f"100644 blob {blob}\trefused.jsonl\n").strip()
            return fgit(repo, "commit-tree", tree, *(["-p", parent] if parent else []), "-m", "report", env=env).strip()

        log = os.path.join(self.county.home, "hall", "refused.jsonl")

        def lines(by=None):
            if not os.path.exists(log):
                return []
            with open(log) as f:
                got = [json.loads(x) for x in f]
            return [x for x in got if by is None or x.get("by") == by]
        first = report(250, "first")
        r = git(repo, "push", self.stock_url(TOWNSHIP), f"{first}:refs/reports/{TOWNSHIP}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: f"{TOWNSHIP} reported 250 refusals" in self.hall.logtext(), what="the hall to read it")
        self.assertEqual(len(lines(TOWNSHIP)), 200)
        self.assertEqual([x["why"] for x in lines(TOWNSHIP)], [f"first {i}" for i in range(200)])
        over = [x for x in lines() if x["node"] == TOWNSHIP and "more refusals today" in x["why"]]
        self.assertEqual([x["why"] for x in over],
                         ["reported 50 more refusals today than the county notes one by one (200 a day)"])
        # the same day, the share is spent: the next report is counted only
        second = report(5, "second", first)
        r = git(repo, "push", self.stock_url(TOWNSHIP), f"{second}:refs/reports/{TOWNSHIP}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait_for(lambda: f"{TOWNSHIP} reported 5 refusals" in self.hall.logtext(), what="the second report")
        self.assertEqual(len(lines(TOWNSHIP)), 200)
        self.assertIn("reported 5 more refusals today than the county notes one by one (200 a day)",
                      [x["why"] for x in lines() if x["node"] == TOWNSHIP])
        # the county's own refusal after the flood still reaches its alarms
        self.push_own([self.operator_event(self.next_seq(), stamp(now_ms() + 30 * DAY_MS), now_ms())],
                      r"more than a day ahead of this computer's clock")
        alarms = json.loads(self.county.ok("status", "--json"))["alarms"]
        self.assertTrue([x for x in alarms if x.get("node") == VILLAGE and not x.get("by")], alarms)
        # the township's 200 lines are one alarm, with their count and the latest
        mine = [x for x in alarms if x.get("by") == TOWNSHIP]
        self.assertEqual(len(mine), 1, alarms)
        self.assertEqual((mine[0]["count"], mine[0]["why"]), (200, "first 199"))


class Logs(Hostile):
    """Low finding: a push of 100,000 refs wrote 10,000 lines to the
    hall's log. Now a push's refusals are told 20 in full, then counted."""

    def test_a_push_of_many_bad_refs_is_told_in_short(self):
        self.accepted()
        self.sync(self.village)
        repo, ref = self.own_feed()
        tip = fgit(repo, "rev-parse", ref).strip()
        fgit(repo, "update-ref", "--stdin", input="".join(f"create refs/junk/{i} {tip}\n" for i in range(500)))
        before = self.hall_state()
        lines_before = self.hall.logtext().count("push by")
        r = git(repo, "push", self.stock_url(VILLAGE), "refs/junk/*:refs/junk/*", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("refused 480 more refs of this push (not listed)", r.stderr)
        self.assertEqual(r.stderr.count("daiban: refused refs/junk/"), 20)
        from hall import wait_for
        log = wait_for(lambda: "more refs refused" in self.hall.logtext() and self.hall.logtext(), what="the log")
        self.assertEqual(log.count("push by") - lines_before, 21)
        self.assertIn(f"push by {VILLAGE}: 480 more refs refused (not listed)", log)
        self.assertEqual(self.hall_state(), before)


class Scans(Hostile):
    """Low finding: scan pieces that do not make the scan they name were
    hashed again and logged every 5 s, for ever."""

    def test_a_chain_that_does_not_assemble_is_refused_once_and_pruned(self):
        import hashlib
        self.accepted()
        self.sync(self.village)
        repo = os.path.join(self.village.home, "repo")
        crepo = os.path.join(self.county.home, "repo")
        ref = f"refs/scans/{VILLAGE}/{VILLAGE}"
        key = os.path.join(self.village.home, "node.key")

        def blob_id(data):
            return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

        def piece(content, named):
            meta = json.dumps({"blob": named, "count": 1, "format": "daiban-scan", "index": 0,
                               "size": len(content.encode()), "version": 1}, sort_keys=True)
            forge(repo, ref, VILLAGE, VILLAGE, [], key=key, files={"scan.json": meta, "piece": content})
            return fgit(repo, "rev-parse", ref).strip()
        # a whole, good scan; then one whose piece holds the good scan's very
        # bytes but names another (the prune must not take the good one's
        # object); then one more after it
        good = "a good scan\n"
        named = blob_id(b"other")
        first = piece(good, blob_id(good.encode()))
        bad = piece(good, named)
        junk = "pieces after the refused one\n"
        last = piece(junk, blob_id(junk.encode()))
        gone = [bad, last, fgit(repo, "rev-parse", f"{bad}^{{tree}}").strip(),
                fgit(repo, "rev-parse", f"{last}^{{tree}}").strip(), blob_id(junk.encode()),
                fgit(repo, "rev-parse", f"{bad}:scan.json").strip(), fgit(repo, "rev-parse", f"{last}:scan.json").strip()]
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)       # each piece is well formed: only assembly can tell
        # (the hall prunes at once after the push: its count of objects
        # removed below is the proof they had landed)
        from hall import wait_for
        wait_for(lambda: "refused scan pieces taken off the chain" in self.hall.logtext(), what="the prune in the log")
        time.sleep(11)                                    # two of the hall's 5 s rounds
        log = self.hall.logtext()
        self.assertEqual(log.count(f"refused scan {named[:12]}"), 1, log[-3000:])
        self.assertIn(f"{ref}: 2 refused scan pieces taken off the chain; 7 objects removed, 1 kept", log)
        self.assertNotEqual(git(crepo, "cat-file", "-e", named, check=False).returncode, 0)
        # the chain stands at its last good piece; what only the refused
        # pieces held is gone; the good scan and the hall stay whole
        self.assertEqual(git(crepo, "rev-parse", ref).stdout.strip(), first)
        for oid in gone:
            self.assertNotEqual(git(crepo, "cat-file", "-e", oid, check=False).returncode, 0, oid)
        self.assertEqual(git(crepo, "cat-file", "blob", blob_id(good.encode())).stdout, good)
        git(crepo, "fsck", "--strict", "--no-dangling")
        # and the chain takes no more pieces: no filling the hall with them
        piece("more\n", blob_id(b"more\n"))
        before = self.hall_state()
        r = git(repo, "push", self.stock_url(VILLAGE), f"{ref}:{ref}", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("sent scan pieces that do not make the scans they name", r.stderr)
        self.assertEqual(self.hall_state(), before)

    def test_a_node_cannot_keep_more_scans_at_the_hall_than_its_quota(self):
        """Low finding: a token could fill the hall's disk with scans that
        are whole and valid but that nothing needs. Each node's pieces at
        the hall are counted against a quota (hall serve --scan-quota)."""
        import subprocess
        from hall import Hall, app_file, wait_for
        self.hall.stop()
        self.hall = Hall(self.county, "--scan-quota", "1")
        self.village.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        a = self.village.ok("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"))
        blobs = []
        for i in range(2):                                # 600 KiB each: 13 pieces
            path = os.path.join(self.village.root, f"scan{i}.jpg")
            with open(path, "wb") as f:
                f.write(os.urandom(600 * 1024))
            blobs.append(subprocess.run(["git", "hash-object", path], capture_output=True, text=True,
                                        check=True).stdout.strip())
            self.village.ok("app", "material", a, "SFZ", "provided", "--file", path)
            if i == 0:
                self.sync(self.village)
        crepo = os.path.join(self.county.home, "repo")
        ref = f"refs/scans/{VILLAGE}/{VILLAGE}"

        def held():
            """Bytes of the pieces on the village's chain at the hall."""
            ids = fgit(crepo, "rev-list", ref).split()
            sizes = fgit(crepo, "cat-file", "--batch-check=%(objectsize)",
                         input="".join(f"{c}:piece\n" for c in ids)).split()
            return sum(int(x) for x in sizes)
        wait_for(lambda: git(crepo, "cat-file", "-e", blobs[0], check=False).returncode == 0,
                 what="the first scan whole at the hall")
        self.assertEqual(held(), 600 * 1024)
        # the second scan would take the village over 1 MiB: the pushes stop
        # at the last piece under it, and the refusal says what to do
        r = self.village.run("sync", "--json", operator=None, timeout=300)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        told = r.stderr.replace("\ndaiban: remote: ", "")       # git's side band wraps long lines
        self.assertIn("would take 1.01 MiB, over its quota of 1 MiB", told)
        self.assertIn("ask the county to raise it (hall serve --scan-quota)", told)
        self.assertEqual(held(), 600 * 1024 + 8 * 48 * 1024, "the pieces under the quota went, no more")
        self.assertNotEqual(git(crepo, "cat-file", "-e", blobs[1], check=False).returncode, 0)
        # the count the hall keeps is the chain's true size
        with sqlite3.connect(os.path.join(self.county.home, "store.db")) as c:
            kept = c.execute("SELECT value FROM meta WHERE key = ?", (f"scan.bytes.{VILLAGE}/{VILLAGE}",)).fetchone()
        self.assertIsNotNone(kept)
        self.assertEqual(int(kept[0].split()[1]), held())
        # a county that raises the quota gets the rest
        self.hall.stop()
        self.hall = Hall(self.county, "--scan-quota", "2")
        self.village.ok("remote", "set", self.hall.url, "--token", self.tokens[VILLAGE], operator=None)
        self.sync(self.village)
        wait_for(lambda: git(crepo, "cat-file", "-e", blobs[1], check=False).returncode == 0,
                 what="the second scan whole at the hall")
        self.assertEqual(held(), 1200 * 1024)


class PrivateHomes(unittest.TestCase):
    """Finding 6: under umask 022 a home was 0755 and its databases 0644:
    any local user read the hall token, villagers' ID numbers, password
    hashes and drafts."""

    def loose(self, path):
        """Every file or folder under path that another user could read."""
        found = []
        for root, dirs, files in os.walk(path):
            for n in [root] + [os.path.join(root, f) for f in files]:
                if os.lstat(n).st_mode & 0o077:
                    found.append(n)
        return found

    def test_homes_are_private_from_creation_and_fixed_on_open(self):
        from station import Station, accept_dibao
        old = os.umask(0o022)
        try:
            v = Station(node=VILLAGE, role="village")
            try:
                accept_dibao(v)
                os.makedirs(os.path.join(v.root, "stick-out"))
                v.ok("bundle", "export", os.path.join(v.root, "stick-out"))
                # a stick's bundle is read on another machine, by another user
                for f in os.listdir(os.path.join(v.root, "stick-out")):
                    self.assertEqual(os.stat(os.path.join(v.root, "stick-out", f)).st_mode & 0o777, 0o644)
                self.assertEqual(self.loose(v.home), [], "a new home's files are readable by others")
                self.assertEqual(os.stat(v.home).st_mode & 0o777, 0o700)
                # a home copied or restored with loose modes: any command closes it again
                for root, dirs, files in os.walk(v.home):
                    for n in [root] + [os.path.join(root, f) for f in files]:
                        os.chmod(n, os.lstat(n).st_mode | 0o055)
                os.chmod(os.path.join(v.home, "node.key"), 0o600)
                v.ok("status")
                self.assertEqual(os.stat(v.home).st_mode & 0o777, 0o700)
                for f in ("store.db", "store.db-wal", "store.db-shm"):
                    p = os.path.join(v.home, f)
                    if os.path.exists(p):
                        self.assertEqual(os.stat(p).st_mode & 0o077, 0, f)
            finally:
                v.cleanup()
        finally:
            os.umask(old)


if __name__ == "__main__":
    unittest.main(verbosity=2)
