#!/usr/bin/env python3
"""Integration: where `daiban serve` listens and who writes the home.

Beyond loopback the daemon refuses to start without HTTPS unless told
--insecure-http; with a certificate it serves HTTPS and its session
cookie is Secure. The CLI and the daemon write the same home at the same
time without losing or duplicating anything, and every event the daemon
writes records the signed-in operator."""
import http.client
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from station import DAIBAN, Station, app_file  # noqa: E402

MATERIALS = [{"material": m, "state": "provided"} for m in ("SFZ", "HKB", "HDSQ", "YHK", "SRZM")]


class Daemon:
    def __init__(self, home, *args):
        self.home = home
        self.proc = subprocess.Popen([DAIBAN, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=home.env(operator=None))
        line = self.proc.stdout.readline()
        m = re.search(r"(https?)://([0-9.]+):(\d+)/", line)
        if not m:
            self.stop()
            raise AssertionError("serve did not start: " + line + self.proc.stderr.read())
        self.scheme, self.port = m.group(1), int(m.group(3))

    def conn(self):
        if self.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


class Client:
    """A signed-in browser: cookie and CSRF token."""

    def __init__(self, d, operator, password):
        self.d = d
        c = d.conn()
        c.request("POST", "/api/session", json.dumps({"operator": operator, "password": password}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, (r.status, body)
        self.set_cookie = r.getheader("Set-Cookie")
        self.cookie = self.set_cookie.split(";")[0]
        self.csrf = json.loads(body)["csrf"]
        c.close()

    def call(self, method, path, obj=None):
        c = self.d.conn()
        h = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf, "Content-Type": "application/json"}
        c.request(method, path, json.dumps(obj) if obj is not None else None, h)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, json.loads(body) if body else None


def dibao_data():
    with open(app_file("MZ-DB-001-valid.json"), encoding="utf-8") as f:
        return json.load(f)


class Listen(unittest.TestCase):
    def setUp(self):
        self.s = Station(operator="wxh")
        r = subprocess.run([DAIBAN, "operator", "passwd", "wxh"], input="secret-1\n", capture_output=True, text=True,
                           env=self.s.env(operator=None))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_beyond_loopback_needs_https_or_the_flag(self):
        r = subprocess.run([DAIBAN, "serve", "--listen", "0.0.0.0:0"], capture_output=True, text=True, timeout=20,
                           env=self.s.env(operator=None))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn("--insecure-http", r.stderr)
        self.assertIn("--cert", r.stderr)
        d = Daemon(self.s, "--listen", "0.0.0.0:0", "--insecure-http")
        try:
            self.assertEqual(d.scheme, "http")
            c = d.conn()
            c.request("GET", "/api/session")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            d.stop()

    def test_https_and_a_secure_cookie(self):
        cert, key = os.path.join(self.s.root, "c.pem"), os.path.join(self.s.root, "c.key")
        self.s.ok("hall", "cert", "--cert", cert, "--key", key, operator=None)
        d = Daemon(self.s, "--listen", "0.0.0.0:0", "--cert", cert, "--key", key)
        try:
            self.assertEqual(d.scheme, "https")
            cl = Client(d, "wxh", "secret-1")
            for attr in ("HttpOnly", "SameSite=Strict", "Secure"):
                self.assertIn(attr, cl.set_cookie)
            st, j = cl.call("GET", "/api/status")
            self.assertEqual(st, 200, j)
            # plain HTTP to the HTTPS port gets no session
            raw = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
            with self.assertRaises((http.client.HTTPException, ConnectionError, OSError)):
                raw.request("GET", "/api/session")
                r = raw.getresponse()
                if r.status == 200:
                    self.fail("plain HTTP was answered by the HTTPS station")
                raise ConnectionError("refused")
            raw.close()
        finally:
            d.stop()


def memory_holds(pid, needle):
    """Where the process's writable memory holds these bytes (root reads
    /proc/PID/mem)."""
    found = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            f = line.split()
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if "w" not in f[1] or (len(f) > 5 and f[5].startswith("/")):
                continue        # code and mapped files cannot hold a request
            if hi - lo > 1 << 30:
                continue        # a sanitizer's shadow: reserved, not a heap
            pos, tail = lo, b""
            while pos < hi:
                try:
                    mem.seek(pos)
                    chunk = tail + mem.read(min(hi - pos, 16 << 20))
                except OSError:
                    break
                at = chunk.find(needle)
                if at >= 0:
                    found.append(f"{f[5] if len(f) > 5 else 'anon'}+{pos - len(tail) + at - lo:#x}")
                    break
                tail = chunk[-len(needle):]
                pos += min(hi - pos, 16 << 20)
    return found


class Secrets(unittest.TestCase):
    def test_a_password_does_not_stay_in_the_daemons_memory(self):
        """After a sign-in over HTTPS, the password is nowhere in the
        daemon's memory: neither OpenSSL's decrypted record, nor the
        request's buffers, nor the parsed JSON keep a copy once freed."""
        if os.geteuid() != 0:
            self.fail("reading another process's memory needs root (CI runs as root)")
        password = "pw-" + os.urandom(12).hex()
        s = Station(operator="wxh")
        r = subprocess.run([DAIBAN, "operator", "passwd", "wxh"], input=password + "\n", capture_output=True, text=True,
                           env=s.env(operator=None))
        self.assertEqual(r.returncode, 0, r.stderr)
        cert, key = os.path.join(s.root, "c.pem"), os.path.join(s.root, "c.key")
        s.ok("hall", "cert", "--cert", cert, "--key", key, operator=None)
        d = Daemon(s, "--listen", "127.0.0.1:0", "--cert", cert, "--key", key)
        try:
            wrong = "pw-" + os.urandom(12).hex()
            c = d.conn()
            c.request("POST", "/api/session", json.dumps({"operator": "wxh", "password": wrong}),
                      {"Content-Type": "application/json"})
            self.assertEqual(c.getresponse().status, 401)
            c.close()
            cl = Client(d, "wxh", password)
            # scanned at once: no later request has reused the freed memory
            held = memory_holds(d.proc.pid, password.encode())
            # the scan can see: the session's cookie token is (rightly) held
            self.assertTrue(memory_holds(d.proc.pid, cl.cookie.split("=", 1)[1].encode()),
                            "the memory scan found not even the live session token")
            self.assertEqual(held, [], "the password stayed in memory")
            self.assertEqual(memory_holds(d.proc.pid, wrong.encode()), [], "a wrong password stayed in memory")
            st, _ = cl.call("GET", "/api/status")
            self.assertEqual(st, 200)
        finally:
            d.stop()


class SharedHome(unittest.TestCase):
    def test_cli_and_daemon_write_at_once_and_events_name_the_operator(self):
        s = Station(operator="wxh")
        r = subprocess.run([DAIBAN, "operator", "passwd", "wxh"], input="secret-1\n", capture_output=True, text=True,
                           env=s.env(operator=None))
        self.assertEqual(r.returncode, 0, r.stderr)
        s.ok("operator", "add", "lsm", "--name", "李四妹")
        d = Daemon(s, "--listen", "127.0.0.1:0")
        try:
            cl = Client(d, "wxh", "secret-1")
            data = dibao_data()
            api_ids, cli_ids, errors = [], [], []
            mats = s.write_json(MATERIALS, "mats.json")

            def by_api():
                for _ in range(12):
                    st, j = cl.call("POST", "/api/apps", {"matter": "MZ-DB-001", "data": data, "materials": MATERIALS})
                    if st != 201:
                        errors.append(("api", st, j))
                        continue
                    api_ids.append(j["id"])

            def by_cli():
                for _ in range(12):
                    r = s.run("app", "new", "MZ-DB-001", "--data", app_file("MZ-DB-001-valid.json"), "--materials",
                              mats, "--submit", operator="lsm")
                    if r.returncode != 0:
                        errors.append(("cli", r.returncode, r.stderr))
                        continue
                    cli_ids.append(r.stdout.split()[0])

            ts = [threading.Thread(target=by_api), threading.Thread(target=by_cli)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errors, [])
            self.assertEqual(len(api_ids), 12)
            self.assertEqual(len(cli_ids), 12)
            listed = json.loads(s.ok("app", "list", "--limit", "100", "--json"))["applications"]
            ids = {a["id"] for a in listed}
            self.assertEqual(ids, set(api_ids) | set(cli_ids))
            receipts = [a["receipt"] for a in listed]
            self.assertEqual(len(receipts), len(set(receipts)), "a receipt number was issued twice")
            # each event names who did it: the signed-in operator for the
            # daemon's, the CLI's --operator for the others
            for aid, who in ((api_ids[0], "wxh"), (cli_ids[0], "lsm")):
                log = json.loads(s.ok("app", "log", aid, "--json"))
                self.assertTrue(log)
                self.assertEqual({e["operator"] for e in log}, {who}, aid)
            s.ok("rebuild", "--verify")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
