"""The gateway socket under attack by a local account (issue #9: "Manager
hung by a peer that never reads", "Any local user speaks for a remote
client", "Exhaustion by one uid", the timing half of "Account
enumeration"). The attacker is mallory, an ordinary account; root is a
trusted gateway (it always is).

- A peer that pipelines thousands of calls and never reads does not stop
  the manager: another client's Peer.Ping keeps answering within 2 s,
  also past the login deadline (the old code flushed with a blocking
  sd_bus_flush there and stopped for good).
- An untrusted peer's client address is not believed: mallory's failures
  "from 203.0.113.7" are recorded and throttled as uid:<mallory>, nothing
  is logged or throttled under 203.0.113.7, and root logging in for that
  address is not throttled by them.
- Throttling is keyed on (source, user): a success for alice does not clear
  the failures against bob.
- Logout loops run out of the unauthenticated-time budget; a uid cannot
  hold more than max_connections_per_uid connections; mallory's idle
  connections evict her own, not alice's.
- A wrong password, an unknown user and a user refused by the access rules
  are all answered failure_delay_ms (1.5 s here) after the login began,
  within 10 % of each other.

Each class writes its own drop-in (60-gateway.toml) and restarts the
manager; none is left behind.
"""

import json
import os
import pwd
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest

import dbus

import gw
import systest

E = gw.E
DROPIN = "/etc/rsm/rsm.toml.d/60-gateway.toml"
HERE = os.path.dirname(os.path.abspath(__file__))


def set_dropin(text):
    systest.write_dropin(DROPIN, text)
    systest.restart_manager()


def uid_of(user):
    return pwd.getpwnam(user).pw_uid


def cursor():
    out = subprocess.run(["journalctl", "-n0", "--show-cursor", "--no-pager"], capture_output=True,
                         text=True).stdout
    return out.strip().rsplit("cursor: ", 1)[-1]


def journal_after(cur, *args):
    return gw.journal(f"--after-cursor={cur}", *args)


def ping_time(timeout):
    conn = gw.connect()
    try:
        t = time.monotonic()
        conn.call_blocking(gw.GATEWAY, gw.GATEWAY_PATH, "org.freedesktop.DBus.Peer", "Ping", "", [],
                           timeout=timeout)
        return time.monotonic() - t
    finally:
        conn.close()


def bounded_ping_time(timeout):
    """ping_time in a thread: connecting itself blocks (SASL has no timeout
    in dbus-python) when the manager's loop is stuck. None if no answer."""
    result = []
    t = threading.Thread(target=lambda: result.append(ping_time(timeout)), daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return result[0] if result else None


def _pad(buf, n):
    return buf + b"\0" * (-len(buf) % n)


def introspect_call(serial):
    """A little-endian D-Bus method call Introspect on /org/rsm/Gateway1
    (answered with several KiB of XML)."""
    fields = b""
    for code, sig, value in ((1, b"o", gw.GATEWAY_PATH), (2, b"s", "org.freedesktop.DBus.Introspectable"),
                             (3, b"s", "Introspect")):
        fields = _pad(fields, 8)
        v = value.encode()
        fields += bytes([code, 1]) + sig + b"\0" + struct.pack("<I", len(v)) + v + b"\0"
    return _pad(b"l\x01\x00\x01" + struct.pack("<III", 0, serial, len(fields)) + fields, 8)


def as_user(user, code, timeout=60):
    """gw.as_user with socket and time imported too."""
    return gw.as_user(user, "import socket, time\n" + code, timeout=timeout)


def spawn_as(user, code):
    """Starts python code as `user` in the background (stdin/stdout pipes)."""
    prelude = ("import json, dbus, socket, sys, time\n"
               f"sys.path.insert(0, {HERE!r})\n"
               "import gw\n")
    return subprocess.Popen(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                             "/usr/bin/python3", "-c", prelude + code],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


class GatewayCase(unittest.TestCase):
    DROPIN_TEXT = None

    @classmethod
    def setUpClass(cls):
        set_dropin(cls.DROPIN_TEXT)

    @classmethod
    def tearDownClass(cls):
        set_dropin(None)


class NonReadingPeerTest(GatewayCase):
    DROPIN_TEXT = "[gateway]\nlogin_timeout = 5\n"

    def test_pipelining_peer_that_never_reads_does_not_stop_the_manager(self):
        ping_time(30)  # the manager is up
        burst_file = "/var/tmp/rsm-gw-burst"
        with open(burst_file, "wb") as f:
            # More unread replies than the manager's socket buffer (sd-bus
            # asks for 8 MiB) holds.
            f.write(b"".join(introspect_call(i + 1) for i in range(5000)))
        os.chmod(burst_file, 0o644)
        uid = uid_of("mallory")
        attacker = spawn_as("mallory", (
            "s = socket.socket(socket.AF_UNIX); s.connect(gw.SOCKET)\n"
            f"s.sendall(b'\\0AUTH EXTERNAL ' + str({uid}).encode().hex().encode() + b'\\r\\n')\n"
            "assert s.recv(4096).startswith(b'OK ')\n"
            "s.sendall(b'BEGIN\\r\\n')\n"
            f"data = open({burst_file!r}, 'rb').read()\n"
            "print('sending', flush=True)\n"
            "s.settimeout(60)\n"
            "try:\n"
            "    s.sendall(data)\n"
            "except OSError:\n"
            "    pass\n"
            "time.sleep(60)\n"))
        try:
            self.assertEqual(attacker.stdout.readline().strip(), "sending")
            # Past the login deadline (5 s) and a drain (2 s), with margin.
            end = time.monotonic() + 5 + 2 + 5
            worst = 0.0
            while time.monotonic() < end:
                t = bounded_ping_time(2)
                self.assertIsNotNone(t, "no Ping reply within 2 s: the manager's loop is stuck")
                worst = max(worst, t)
                time.sleep(0.25)
            self.assertLess(worst, 2.0)
        finally:
            attacker.kill()
            attacker.wait()
            os.unlink(burst_file)


class TrustTest(GatewayCase):
    DROPIN_TEXT = """[gateway]
failure_delay_ms = 1500
[throttle]
max_failures = 3
max_failures_per_source = 50
window = 600
lockout = 600
[access]
denied_users = ["nologinuser"]
"""

    def test_forged_address_from_an_untrusted_peer_leaves_no_trace_under_it(self):
        cur = cursor()
        out = as_user("mallory", (
            "names = []\n"
            "for _ in range(4):\n"
            "    g = gw.gateway()\n"
            "    try:\n"
            "        g.LoginWithPassword('mallory', 'wrong', gw.client('203.0.113.7'), timeout=60)\n"
            "        names.append('ok')\n"
            "    except dbus.exceptions.DBusException as e:\n"
            "        names.append(e.get_dbus_name())\n"
            "print(json.dumps(names))\n"), timeout=120)
        # Throttled as uid:<mallory> (max_failures = 3), whatever address she names.
        self.assertEqual(out, [E + "AuthenticationFailed"] * 3 + [E + "Throttled"])
        mallory = uid_of("mallory")
        text = gw.wait_journal(f"AUTHFAIL: user=mallory ip=uid:{mallory} ", f"--after-cursor={cur}")
        verbose = journal_after(cur, "-o", "verbose")
        self.assertNotIn("ip=203.0.113.7", text)
        self.assertNotIn("RSM_CLIENT_ADDRESS=203.0.113.7", verbose)
        self.assertNotIn("RSM_SOURCE=203.0.113.7", verbose)
        # A trusted gateway (root) logging in for 203.0.113.7 is not
        # throttled by mallory's failures.
        uid, user, _ = gw.gateway().LoginWithPassword("mallory", "mallory-pw", gw.client("203.0.113.7"),
                                                      timeout=60)
        self.assertEqual(str(user), "mallory")

    def test_a_success_for_alice_does_not_clear_bobs_failures(self):
        # One source (mallory's own uid): wrong for bob x2, right for alice,
        # wrong for bob once more -> bob is throttled (max_failures = 3),
        # even with his right password; alice is not.
        out = as_user("mallory", (
            "def login(user, pw):\n"
            "    try:\n"
            "        gw.gateway().LoginWithPassword(user, pw, {}, timeout=60)\n"
            "        return 'ok'\n"
            "    except dbus.exceptions.DBusException as e:\n"
            "        return e.get_dbus_name()\n"
            "print(json.dumps([login('bob', 'x'), login('bob', 'x'), login('alice', 'alice-pw'),\n"
            "                  login('bob', 'x'), login('bob', 'bob-pw'), login('alice', 'alice-pw')]))\n"),
            timeout=120)
        self.assertEqual(out, [E + "AuthenticationFailed", E + "AuthenticationFailed", "ok",
                               E + "AuthenticationFailed", E + "Throttled", "ok"])

    def test_failures_are_answered_after_the_same_delay(self):
        # From root (trusted) with a fresh address per login, so nothing is
        # throttled: a wrong password, an unknown user, a refused user.
        cases = [("alice", "wrong"), ("nosuchuser", "wrong"), ("nologinuser", "nologinuser-pw")]
        times = {}
        for round_ in range(2):
            for i, (user, pw) in enumerate(cases):
                g = gw.gateway()
                t = time.monotonic()
                name, _ = gw.error_name(g.LoginWithPassword, user, pw, gw.client(f"198.51.100.{10 * round_ + i}"),
                                        timeout=60)
                times.setdefault(user, []).append(time.monotonic() - t)
        best = {u: min(v) for u, v in times.items()}
        for user, t in best.items():
            self.assertGreaterEqual(t, 1.5, f"{user} answered after {t:.2f} s: {times}")
        self.assertLessEqual(max(best.values()), 1.1 * min(best.values()), f"reply times differ: {times}")


class LimitsTest(GatewayCase):
    DROPIN_TEXT = """[gateway]
login_timeout = 8
max_login_attempts = 0
max_connections_per_uid = 6
max_unauthenticated = 4
failure_delay_ms = 0
"""

    def test_logout_loop_runs_out_of_budget(self):
        out = as_user("mallory", (
            "g = gw.gateway()\n"
            "start = time.monotonic()\n"
            "closed = None\n"
            "while time.monotonic() - start < 20:\n"
            "    try:\n"
            "        g.BeginLogin('mallory', {}, timeout=10)\n"
            "        g.Logout(timeout=10)\n"
            "    except dbus.exceptions.DBusException as e:\n"
            "        closed = [time.monotonic() - start, e.get_dbus_name()]\n"
            "        break\n"
            "print(json.dumps(closed))\n"), timeout=60)
        self.assertIsNotNone(out, "a BeginLogin/Logout loop kept its connection for 20 s")
        self.assertGreaterEqual(out[0], 7)
        self.assertLess(out[0], 8 + 3)

    def test_a_uid_cannot_open_more_than_max_connections_per_uid(self):
        out = as_user("mallory", (
            # One at a time: logged-in connections are not "unauthenticated",
            # so max_unauthenticated = 4 evicts none of them.
            "conns, users = [], []\n"
            "for _ in range(6):\n"
            "    conns.append(gw.connect())\n"
            "    users.append(str(gw.gateway(conns[-1]).LoginWithPassword('mallory', 'mallory-pw', {},\n"
            "                                                             timeout=60)[1]))\n"
            "s = socket.socket(socket.AF_UNIX); s.connect(gw.SOCKET); s.settimeout(3)\n"
            "print(json.dumps({'users': users, 'seventh': s.recv(100).decode()}))\n"), timeout=120)
        self.assertEqual(out, {"users": ["mallory"] * 6, "seventh": ""})

    def test_idle_connections_of_mallory_do_not_evict_alices(self):
        alice = spawn_as("alice", (
            "g = gw.gateway()\n"
            "print(str(g.GetLoginState()[0]), flush=True)\n"
            "sys.stdin.readline()\n"
            "try:\n"
            "    print(str(g.GetLoginState(timeout=5)[0]), flush=True)\n"
            "except dbus.exceptions.DBusException as e:\n"
            "    print(e.get_dbus_name(), flush=True)\n"))
        try:
            self.assertEqual(alice.stdout.readline().strip(), "unauthenticated")
            # max_unauthenticated = 4: mallory's six idle connections
            # (within her per-uid cap) make room by evicting her own.
            out = as_user("mallory", (
                "conns = [gw.connect() for _ in range(6)]\n"
                "time.sleep(0.5)\n"
                "print(json.dumps([str(gw.gateway(c).GetLoginState()[0]) for c in conns[-3:]]))\n"))
            self.assertEqual(out, ["unauthenticated"] * 3)
            alice.stdin.write("\n")
            alice.stdin.flush()
            self.assertEqual(alice.stdout.readline().strip(), "unauthenticated")
        finally:
            alice.kill()
            alice.wait()
