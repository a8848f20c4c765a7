#!/usr/bin/env python3
"""Forgers, through the real commands: a node writes change sets in
another writer's name (crafted with git plumbing and signed, when
signed, with OpenSSH's own ssh-keygen) and sends them by USB stick, by
relay to the hub or by push to the hall. Each must be refused with a
reason, leave the receiver's refs and store exactly as they were, and
let the honest part of the same transfer through. And stock `git
verify-commit` checks every change set with the roster's exported
allowed-signers file."""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import COUNTY, TOWNSHIP, Station, accept_dibao  # noqa: E402

VILLAGE = "330225101202"      # a village with no link: its feeds go by stick
SIBLING = "330225101201"      # another village of the same township


def git(repo, *args, input=None, env=None):
    r = subprocess.run(["git", "--git-dir", repo, *args], capture_output=True, text=True, input=input,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def refs(repo):
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split() for line in out.splitlines())


def unreachable(repo):
    """The objects of repo that no ref reaches."""
    out = subprocess.run(["git", "--git-dir", repo, "fsck", "--unreachable", "--no-reflogs", "--no-progress"],
                         capture_output=True, text=True).stdout
    return {ln.split()[2] for ln in out.splitlines() if ln.startswith("unreachable ")}


def state(s):
    """What a forgery must not change: the node's refs, its events and
    its applications (every derived table but the operators, which the
    honest event of a transfer adds to)."""
    with sqlite3.connect(os.path.join(s.home, "store.db")) as c:
        events = c.execute("SELECT node, seq, hlc, type, body FROM events ORDER BY node, seq").fetchall()
    derived = subprocess.run(["sqlite3", os.path.join(s.home, "store.db"), ".dump apps app_materials conflicts"],
                             capture_output=True, check=True).stdout
    return refs(os.path.join(s.home, "repo")), events, derived


def changeset(writer, part, events):
    header = {"count": len(events), "first_seq": events[0]["seq"], "format": "daiban-changeset",
              "last_seq": events[-1]["seq"], "partition": part, "version": 1, "writer": writer}
    lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events)
    return json.dumps(header, sort_keys=True, separators=(",", ":")), lines


def forge(repo, ref, writer, part, events, key=None, parent=None, sign_other=None, files=None):
    """Write a change-set commit on ref in repo with git plumbing, signed
    with the OpenSSH key file `key` (or not), and move ref to it. With
    sign_other, the signature is made over other content (a re-used
    signature). files: {name: text} to commit instead of a change set
    (a scan piece). Returns the commit id."""
    if files is None:
        header, lines = changeset(writer, part, events)
        files = {"changeset.json": header, "events.jsonl": lines}
    blobs = {name: git(repo, "hash-object", "-w", "--stdin", input=text).strip() for name, text in files.items()}
    tree = git(repo, "mktree", input="".join(f"100644 blob {b}\t{n}\n" for n, b in sorted(blobs.items()))).strip()
    if parent is None:
        r = subprocess.run(["git", "--git-dir", repo, "rev-parse", "-q", "--verify", ref], capture_output=True, text=True)
        parent = r.stdout.strip() or None
    t = events[-1]["wall"] // 1000 if events else int(time.time())
    body = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "") + \
        f"author {writer} <daiban@localhost> {t} +0000\ncommitter {writer} <daiban@localhost> {t} +0000\n\n" + \
        (f"change set: {len(events)} events of {writer} in partition {part}\n" if events else f"scan piece of {writer}\n")
    obj = body
    if key:
        d = tempfile.mkdtemp()
        msg = os.path.join(d, "m")
        with open(msg, "w") as f:
            f.write(sign_other if sign_other is not None else body)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", key, msg], check=True,
                       capture_output=True)
        with open(msg + ".sig") as f:
            sig = f.read().rstrip("\n")
        shutil.rmtree(d)
        head, rest = body.split("\n\n", 1)
        obj = head + "\ngpgsig " + sig.replace("\n", "\n ") + "\n\n" + rest
    cid = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", input=obj).strip()
    git(repo, "update-ref", ref, cid)
    return cid


def sshkey(path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "forger", "-f", path], check=True)
    return path


class Forgery(unittest.TestCase):
    def setUp(self):
        self.county = Station(node=COUNTY, role="county")
        self.hub = os.path.join(self.county.home, "repo")
        self.township = Station(node=TOWNSHIP, role="township")
        self.township.ok("remote", "set", self.hub)
        self.village = Station(node=VILLAGE, role="village")
        self.sibling = Station(node=SIBLING, role="village")
        self.sibling.ok("remote", "set", self.hub)
        self.stick = os.path.join(self.village.root, "stick")
        os.makedirs(self.stick)
        self.tmp = tempfile.mkdtemp()

    def tearDown(self):
        for s in (self.county, self.township, self.village, self.sibling):
            s.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def passed_by_stick(self):
        """The issue's setting: an application of the village reaches the
        township by stick and is passed there; hall and county agree."""
        v, t, c = self.village, self.township, self.county
        a = accept_dibao(v)
        v.ok("bundle", "export", self.stick)
        t.ok("bundle", "import", self.stick)
        t.ok("review", a, "pass")
        t.ok("sync")
        c.ok("sync")
        t.ok("sync")
        self.assertEqual(c.show(a)["status"], "passed")
        self.assertEqual(t.show(a)["status"], "passed")
        v.ok("bundle", "export", self.stick)          # the answer comes back to the village
        t.ok("bundle", "import", self.stick)
        v.ok("bundle", "import", self.stick)
        self.assertEqual(v.show(a)["status"], "passed")
        return a

    def decided_event(self, a, writer, seq):
        """An app.decided in writer's name, built from a real event of a."""
        with sqlite3.connect(os.path.join(self.village.home, "store.db")) as c:
            hlc, wall = c.execute("SELECT max(hlc), max(wall) FROM events").fetchone()
        return {"app": a, "body": {"result": "approve"}, "hlc": hlc + (1 << 30), "node": writer,
                "operator": "op01", "part": VILLAGE, "seq": seq, "type": "app.decided", "wall": wall + 60000}

    def honest(self):
        """An honest event of the village that travels with the forgery."""
        self.ops = getattr(self, "ops", 0) + 1
        self.village.ok("operator", "add", f"op9{self.ops}", "--name", "李四")

    def stick_import_refused(self, receiver, forged_ref, want, honest=True, forged=None):
        """Import the stick at receiver: the forged ref is refused with a
        reason matching want, nothing else of the receiver changes but
        the honest part (the village's own operator.added). The forged
        commit's objects stay out of the receiver's object store, and no
        object comes in that no ref reaches."""
        rrepo = os.path.join(receiver.home, "repo")
        before_loose = unreachable(rrepo)
        before_refs, before_events, before_derived = state(receiver)
        r = receiver.run("bundle", "import", self.stick)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stderr, want)
        self.assertIn(forged_ref.replace("refs/feeds/", ""), r.stderr)
        after_refs, after_events, after_derived = state(receiver)
        self.assertEqual(after_refs.get(forged_ref), before_refs.get(forged_ref), "the forged ref moved")
        self.assertEqual(after_derived, before_derived)
        # the village's honest new event, in the same bundle, went in
        new = [(e[0], e[3]) for e in after_events if e not in before_events]
        self.assertEqual(new, [(VILLAGE, "operator.added")] if honest else [])
        if forged:
            self.assertNotEqual(subprocess.run(["git", "--git-dir", rrepo, "cat-file", "-e", forged]).returncode, 0,
                                "the forged commit entered the receiver's object store")
        self.assertLessEqual(unreachable(rrepo), before_loose, "objects no ref reaches came in")
        self.assertFalse(os.path.exists(os.path.join(rrepo, "daiban-quarantine")))
        return r

    def test_a_village_forges_the_county_on_its_stick(self):
        v, t, c = self.village, self.township, self.county
        a = self.passed_by_stick()
        vrepo = os.path.join(v.home, "repo")
        forged = f"refs/feeds/{VILLAGE}/{COUNTY}"
        # unsigned: what a village could do before signatures
        cid = forge(vrepo, forged, COUNTY, VILLAGE, [self.decided_event(a, COUNTY, 999)])
        self.honest()
        v.ok("bundle", "export", self.stick)
        # the stick carries it: an export holds every feed the target may hold
        heads = git(vrepo, "bundle", "list-heads", os.path.join(self.stick, f"daiban-{VILLAGE}-to-{TOWNSHIP}.bundle"))
        self.assertIn(forged, heads)
        self.stick_import_refused(t, forged, r"not signed, and 330225 signs from seq 1", forged=cid)
        self.assertEqual(t.show(a)["status"], "passed")
        # signed with the village's own key: a key the roster does not give the county
        vkey = os.path.join(v.home, "node.key")
        git(vrepo, "update-ref", "-d", forged)
        cid = forge(vrepo, forged, COUNTY, VILLAGE, [self.decided_event(a, COUNTY, 999)], key=vkey)
        self.honest()
        v.ok("bundle", "export", self.stick)
        self.stick_import_refused(t, forged, r"signed with a key \(SHA256:\S+\) that the roster does not give 330225",
                                  forged=cid)
        self.assertEqual(t.show(a)["status"], "passed")
        # the county's honest decision still arrives afterwards, as a fast-forward
        c.ok("decide", a, "approve")
        c.ok("sync")
        t.ok("sync")
        self.assertEqual(t.show(a)["status"], "approved")
        self.assertEqual(c.show(a)["status"], "approved")

    def test_a_village_forges_its_township_and_a_sibling(self):
        v, t = self.village, self.township
        a = self.passed_by_stick()
        vrepo = os.path.join(v.home, "repo")
        vkey = os.path.join(v.home, "node.key")
        # the township's feed for this village, continued with a forged review
        tref = f"refs/feeds/{VILLAGE}/{TOWNSHIP}"
        seq = json.loads(git(vrepo, "show", f"{tref}:changeset.json"))["last_seq"] + 1
        ev = self.decided_event(a, TOWNSHIP, seq)
        ev["type"], ev["body"] = "app.reviewed", {"result": "return", "reason": "伪造"}
        forge(vrepo, tref, TOWNSHIP, VILLAGE, [ev], key=vkey)
        self.honest()
        v.ok("bundle", "export", self.stick)
        # the township is the receiver: a feed in its own name that it never wrote
        self.stick_import_refused(t, tref, r"claims to be this node's own feed, but this node never wrote it")
        self.assertEqual(t.show(a)["status"], "passed")
        # a sibling's feed, in the sibling's own partition: refused (a
        # stick carries only what its sender may hold; the feed is signed
        # with the wrong key besides)
        sref = f"refs/feeds/{SIBLING}/{SIBLING}"
        git(vrepo, "update-ref", "-d", tref)
        ev = {"app": f"{SIBLING}-1", "body": {}, "hlc": ev["hlc"], "node": SIBLING, "operator": "op01",
              "part": SIBLING, "seq": 2, "type": "app.withdrawn", "wall": ev["wall"]}
        forge(vrepo, sref, SIBLING, SIBLING, [ev], key=vkey)
        self.honest()
        v.ok("bundle", "export", self.stick, "--for", TOWNSHIP)
        # export only sends what the target may hold from the village's
        # feeds; put the forged ref in by hand, as a forger would
        path = os.path.join(self.stick, f"daiban-{VILLAGE}-to-{TOWNSHIP}.bundle")
        os.unlink(path)
        subprocess.run(["git", "--git-dir", vrepo, "bundle", "create", "-q", path, sref,
                        f"refs/feeds/{VILLAGE}/{VILLAGE}"], check=True, capture_output=True)
        self.stick_import_refused(t, sref, rf"{VILLAGE} may not carry partition {SIBLING}")

    def test_a_township_forges_a_village_while_relaying(self):
        v, t, c = self.village, self.township, self.county
        a = self.passed_by_stick()
        trepo = os.path.join(t.home, "repo")
        ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        seq = json.loads(git(trepo, "show", f"{ref}:changeset.json"))["last_seq"] + 1
        ev = self.decided_event(a, VILLAGE, seq)
        ev["type"], ev["body"] = "app.withdrawn", {}
        tkey = os.path.join(t.home, "node.key")
        before = state(c)
        forge(trepo, ref, VILLAGE, VILLAGE, [ev], key=tkey)
        r = t.run("sync")       # pushes the relayed feed into the county's repository
        c_r = c.run("sync")
        self.assertEqual(c_r.returncode, 1, c_r.stderr)
        self.assertRegex(c_r.stderr, rf"refused refs/feeds/{VILLAGE}/{VILLAGE}: .*signed with a key \(SHA256:\S+\)"
                         rf" that the roster does not give {VILLAGE}")
        after = state(c)
        self.assertEqual(after[1], before[1], "the county stored a forged event")
        self.assertEqual(after[2], before[2])
        self.assertEqual(c.show(a)["status"], "passed")
        del r

    def test_altered_content_and_reused_signature(self):
        v, t = self.village, self.township
        a = self.passed_by_stick()
        vrepo = os.path.join(v.home, "repo")
        ref = f"refs/feeds/{VILLAGE}/{VILLAGE}"
        # the village's real last commit, its content altered but its
        # signature kept (a re-used signature over other bytes)
        head = git(vrepo, "rev-parse", ref).strip()
        seq = json.loads(git(vrepo, "show", f"{ref}:changeset.json"))["last_seq"]
        ev = self.decided_event(a, VILLAGE, seq + 1)
        ev["type"], ev["body"] = "app.withdrawn", {}
        vkey = os.path.join(v.home, "node.key")
        cid = forge(vrepo, ref, VILLAGE, VILLAGE, [ev], key=vkey, parent=head, sign_other="something else\n")
        v.ok("bundle", "export", self.stick)
        self.stick_import_refused(t, ref, r"bad signature: the signature does not match the content", honest=False,
                                  forged=cid)

    def test_revoked_and_replaced_keys(self):
        v, t, c = self.village, self.township, self.county
        a = self.passed_by_stick()
        seq_before = json.loads(git(os.path.join(v.home, "repo"), "show",
                                    f"refs/feeds/{VILLAGE}/{VILLAGE}:changeset.json"))["last_seq"]
        # the village's PC is stolen: the county revokes its key from the next seq
        c.ok("roster", "revoke", VILLAGE, "--from", str(seq_before + 1), "--reason", "电脑被盗")
        c.ok("sync")
        t.ok("sync")            # the roster reaches the township
        # the thief writes with the stolen key
        v.ok("app", "material", a, "SFZ", "missing")
        v.ok("bundle", "export", self.stick)
        self.stick_import_refused(t, f"refs/feeds/{VILLAGE}/{VILLAGE}", r"a key of 330225101202 that the roster ended"
                                  r" at seq \d+: revoked from seq \d+ by op01: 电脑被盗", honest=False)
        # what the key signed before the revocation stays valid
        self.assertEqual(t.show(a)["status"], "passed")
        self.assertIn("电脑被盗", c.ok("roster", "list"))

    def test_an_unknown_key(self):
        v, t = self.village, self.township
        a = self.passed_by_stick()
        # the village's PC reinstalled: a new key the county has not enrolled
        os.unlink(os.path.join(v.home, "node.key"))
        v.ok("app", "material", a, "HKB", "missing")
        v.ok("bundle", "export", self.stick)
        self.stick_import_refused(t, f"refs/feeds/{VILLAGE}/{VILLAGE}", r"signed with a key \(SHA256:\S+\) that the"
                                  r" roster does not give 330225101202", honest=False)

    def test_equivocation_is_kept_as_evidence(self):
        """A village restored from an old backup signs a second, different
        history of its feed with its own key: the township keeps the one it
        held, keeps the other as evidence and raises an alarm."""
        v, t = self.village, self.township
        a = self.passed_by_stick()
        backup = os.path.join(self.tmp, "backup")
        shutil.copytree(v.home, backup, symlinks=True)
        v.ok("app", "material", a, "SFZ", "missing")
        v.ok("bundle", "export", self.stick)
        t.ok("bundle", "import", self.stick)
        held = refs(os.path.join(t.home, "repo"))[f"refs/feeds/{VILLAGE}/{VILLAGE}"]
        # the PC dies; the backup goes back; the agent works on
        shutil.rmtree(v.home)
        shutil.copytree(backup, v.home, symlinks=True)
        v.ok("app", "material", a, "HKB", "missing")
        v.ok("bundle", "export", self.stick)
        before = state(t)
        r = t.run("bundle", "import", self.stick)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"ALARM: {VILLAGE} signed two different histories of this feed from seq", r.stderr)
        after = state(t)
        self.assertEqual(after[0][f"refs/feeds/{VILLAGE}/{VILLAGE}"], held)
        self.assertEqual(after[1], before[1])
        self.assertEqual(after[2], before[2])
        evidence = [n for n in after[0] if n.startswith(f"refs/evidence/{VILLAGE}/{VILLAGE}/")]
        self.assertEqual(len(evidence), 1, after[0])
        other = after[0][evidence[0]]
        self.assertNotEqual(other, held)
        # both histories are signed by the village's own key: stock git says so
        allowed = os.path.join(self.tmp, "allowed_signers")
        self.county.ok("roster", "export", "--allowed-signers", allowed)
        for cid in (held, other):
            r2 = subprocess.run(["git", "--git-dir", os.path.join(t.home, "repo"), "-c", "gpg.format=ssh", "-c",
                                 f"gpg.ssh.allowedSignersFile={allowed}", "verify-commit", cid],
                                capture_output=True, text=True)
            self.assertEqual(r2.returncode, 0, r2.stderr)
            self.assertIn(f'Good "git" signature for {VILLAGE}', r2.stderr)
        # the alarm, with what to do, in status and in the station's API
        st = json.loads(t.ok("status", "--json"))
        self.assertEqual(len(st["alarms"]), 1)
        alarm = st["alarms"][0]
        self.assertEqual((alarm["kind"], alarm["writer"], alarm["held"], alarm["other"]),
                         ("equivocation", VILLAGE, held, other))
        self.assertIn("revokes the key from seq", alarm["en"])
        self.assertIn("吊销", alarm["zh"])
        self.assertIn("ALARM:", t.ok("status"))
        # importing it again keeps one piece of evidence, not two
        t.run("bundle", "import", self.stick)
        self.assertEqual(len([n for n in refs(os.path.join(t.home, "repo")) if n.startswith("refs/evidence/")]), 1)
        # the restored village is told its own feed came back different
        r3 = v.run("bundle", "import", self.stick)
        self.assertIn("claims to be this node's own feed, but this node never wrote it", r3.stderr)

    def test_old_stick_replayed(self):
        v, t = self.village, self.township
        a = self.passed_by_stick()
        old = os.path.join(self.tmp, "old")
        shutil.copytree(self.stick, old)
        v.ok("app", "material", a, "SFZ", "missing")
        v.ok("bundle", "export", self.stick)
        t.ok("bundle", "import", self.stick)
        before = state(t)
        r = t.run("bundle", "import", old)
        self.assertEqual(state(t)[:2], before[:2])
        self.assertEqual(state(t)[2], before[2])
        del r

    def test_a_forged_roster_is_refused(self):
        v, t, c = self.village, self.township, self.county
        self.passed_by_stick()
        vrepo = os.path.join(v.home, "repo")
        rref = f"refs/roster/{COUNTY}"
        own = json.loads(git(vrepo, "show", f"{rref}:nodes/{COUNTY}.json"))
        # the village rewrites the county's file on the roster to give the
        # county's name its own key
        vkey = os.path.join(v.home, "node.key")
        vpub = subprocess.run(["ssh-keygen", "-y", "-f", vkey], capture_output=True, text=True, check=True).stdout
        for e in own["entries"]:
            e["until"] = 2
        own["entries"].append({"key": vpub.strip(), "from": 1, "until": None, "by": "x", "at": 1, "note": "forged"})
        blob = git(vrepo, "hash-object", "-w", "--stdin", input=json.dumps(own)).strip()
        listing = [line for line in git(vrepo, "ls-tree", f"{rref}:nodes").splitlines()
                   if not line.endswith(f"\t{COUNTY}.json")]
        nodes = git(vrepo, "mktree", input="\n".join(listing + [f"100644 blob {blob}\t{COUNTY}.json"]) + "\n").strip()
        head = git(vrepo, "rev-parse", f"{rref}:county.json").strip()
        tree = git(vrepo, "mktree", input=f"100644 blob {head}\tcounty.json\n040000 tree {nodes}\tnodes\n").strip()
        parent = git(vrepo, "rev-parse", rref).strip()
        d = tempfile.mkdtemp()
        body = (f"tree {tree}\nparent {parent}\nauthor {COUNTY} <daiban@localhost> 1 +0000\n"
                f"committer {COUNTY} <daiban@localhost> 1 +0000\n\nroster: forged\n")
        with open(os.path.join(d, "m"), "w") as f:
            f.write(body)
        subprocess.run(["ssh-keygen", "-q", "-Y", "sign", "-n", "git", "-f", vkey, os.path.join(d, "m")], check=True,
                       capture_output=True)
        with open(os.path.join(d, "m.sig")) as f:
            sig = f.read().rstrip("\n")
        head, rest = body.split("\n\n", 1)
        cid = git(vrepo, "hash-object", "-t", "commit", "-w", "--stdin",
                  input=head + "\ngpgsig " + sig.replace("\n", "\n ") + "\n\n" + rest).strip()
        git(vrepo, "update-ref", rref, cid)
        shutil.rmtree(d)
        # the forger's own daiban no longer trusts its roster either; the
        # stick is written all the same
        r = v.run("bundle", "export", self.stick)
        self.assertIn("the county's roster cannot be trusted", r.stderr)
        before = state(t)
        r = t.run("bundle", "import", self.stick)
        self.assertRegex(r.stderr, r"refused the county's roster: a roster commit is signed by SHA256:\S+, which is"
                         r" not the county's key")
        self.assertEqual(state(t)[0].get(rref), before[0].get(rref))
        # a rewritten chain (no common history) is refused as well
        git(vrepo, "update-ref", rref, git(vrepo, "hash-object", "-t", "commit", "-w", "--stdin",
                                           input=f"tree {tree}\nauthor a <b> 1 +0000\ncommitter a <b> 1 +0000\n\nx\n").strip())
        v.run("bundle", "export", self.stick)
        r = t.run("bundle", "import", self.stick)
        self.assertIn("is not a continuation of the one held", r.stderr)
        self.assertEqual(state(t)[0].get(rref), before[0].get(rref))

    def test_git_verify_commit_checks_every_change_set(self):
        v, t, c = self.village, self.township, self.county
        self.passed_by_stick()
        self.sibling.ok("app", "new", "RS-YL-001", "--data", os.path.join(os.path.dirname(__file__), "..", "data",
                                                                            "apps", "RS-YL-001-valid.json"))
        self.sibling.ok("sync")
        c.ok("sync")
        allowed = os.path.join(self.tmp, "allowed_signers")
        c.ok("roster", "export", "--allowed-signers", allowed)
        cfg = ["-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed}"]
        commits = git(self.hub, "rev-list", "--glob=refs/feeds/*", "--glob=refs/roster/*",
                      "--glob=refs/catalog/*").split()
        self.assertGreater(len(commits), 8)
        for cid in commits:
            r = subprocess.run(["git", "--git-dir", self.hub, *cfg, "verify-commit", cid], capture_output=True,
                               text=True)
            self.assertEqual(r.returncode, 0, (cid, r.stderr))
            self.assertIn('Good "git" signature for 3302', r.stderr)
        # a tampered copy of one fails
        raw = git(self.hub, "cat-file", "commit", commits[0])
        bad = raw.replace("change set:", "change set (altered):", 1) if "change set:" in raw else raw + "x"
        bid = git(self.hub, "hash-object", "-t", "commit", "-w", "--stdin", input=bad).strip()
        r = subprocess.run(["git", "--git-dir", self.hub, *cfg, "verify-commit", bid], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
