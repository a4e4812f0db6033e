"""Peers that misbehave cannot stall or exhaust the manager: idle
connections, garbage, truncated authentication, oversized messages and
wrong signatures leave it serving, with no file descriptors leaked."""

import os
import socket

import dbus

from fixture import GATEWAY, GATEWAY_PATH, ManagerTestCase, wait_until

E = "org.rsm.Error."


def sasl_external_hello(sock):
    """Authenticates a raw socket with SASL EXTERNAL as the current uid."""
    uid_hex = str(os.getuid()).encode().hex().encode()
    sock.sendall(b"\0AUTH EXTERNAL " + uid_hex + b"\r\n")
    assert sock.recv(4096).startswith(b"OK ")
    sock.sendall(b"BEGIN\r\n")


class AbuseTest(ManagerTestCase):
    config = """
[gateway]
login_timeout = 3
max_unauthenticated = 64
[access]
allow_root = true
allow_peer_credentials = true
[pam]
service = "other"
"""

    def settle_fds(self, baseline):
        wait_until(lambda: self.manager_fd_count() <= baseline, timeout=15,
                   what=f"manager fd count back to {baseline}")

    def baseline(self):
        """The manager's fd count with one known connection open. That
        connection is the test's first (it starts the manager), so no other
        connection can still be closing when the count is taken. It logs in,
        so the login deadline does not close it during the test."""
        self.anchor = self.connect()
        self.gateway(self.anchor).LoginWithCredentials()
        return self.manager_fd_count()

    def test_500_idle_connections_do_not_lock_out_a_valid_login(self):
        base = self.baseline()
        idle = [self.raw_socket() for _ in range(500)]
        self.addCleanup(lambda: [s.close() for s in idle])
        gw = self.gateway(self.connect())
        uid, user = gw.LoginWithCredentials(timeout=20)
        self.assertEqual(str(user), "root")
        self.assertIn("dropping the oldest one of the peer holding most", self.read_log())
        for s in idle:
            s.close()
        del gw
        self.settle_fds(base + 2)  # the logged-in connection's socket (+ its executor link)

    def test_garbage_bytes(self):
        base = self.baseline()
        for payload in [os.urandom(4096), b"\0" * 100, b"\0AUTH BOGUS\r\n" * 50, b"\xff" * 70000]:
            s = self.raw_socket()
            try:
                s.sendall(payload)
            except OSError:
                pass
            s.close()
        self.ping()
        self.settle_fds(base)

    def test_truncated_auth_is_closed_by_the_login_deadline(self):
        base = self.baseline()
        s = self.raw_socket()
        s.sendall(b"\0AUTH EXTERNAL 30")  # no CRLF, then silence
        # The manager closes the socket once login_timeout passes.
        s.settimeout(20)
        self.assertEqual(s.recv(100), b"")
        s.close()
        self.settle_fds(base)

    def test_oversized_message_is_refused(self):
        base = self.baseline()
        gw = self.gateway(self.connect())
        msg = self.assertDBusError(E + "InvalidArgument", gw.LoginWithPassword, "alice", "p" * (8 << 20), {},
                                   timeout=60)
        self.assertIn("password", msg)
        self.assertDBusError(E + "InvalidArgument", gw.LoginWithPassword, "a" * (1 << 20), "pw", {})
        self.assertEqual(str(gw.GetLoginState()[0]), "unauthenticated")
        self.ping()

    def test_wrong_signatures(self):
        conn = self.connect()
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            conn.call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, "LoginWithPassword", "iu", [1, 2])
        self.assertEqual(cm.exception.get_dbus_name(), "org.freedesktop.DBus.Error.InvalidArgs")
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            conn.call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, "NoSuchMethod", "", [])
        self.assertEqual(cm.exception.get_dbus_name(), "org.freedesktop.DBus.Error.UnknownMethod")
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            conn.call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, "ContinueLogin", "ai", [[1, 2]])
        self.assertEqual(cm.exception.get_dbus_name(), "org.freedesktop.DBus.Error.InvalidArgs")
        self.assertEqual(str(self.gateway(conn).GetLoginState()[0]), "unauthenticated")

    def test_raw_message_after_auth_with_lying_length(self):
        """A header announcing a large body that never comes: the connection
        is dropped at the deadline and nothing leaks."""
        base = self.baseline()
        s = self.raw_socket()
        sasl_external_hello(s)
        # Little-endian method call header claiming a 1 MiB body, then nothing.
        s.sendall(b"l\x01\x00\x01" + (1 << 20).to_bytes(4, "little") + b"\x01\x00\x00\x00")
        s.settimeout(20)
        self.assertEqual(s.recv(100), b"")
        s.close()
        self.settle_fds(base)


class ConnectionCapTest(ManagerTestCase):
    config = """
[gateway]
max_connections = 8
[pam]
service = "other"
"""

    def test_connections_beyond_the_cap_are_closed(self):
        held = [self.connect() for _ in range(8)]
        for c in held:
            self.assertEqual(str(self.gateway(c).GetLoginState()[0]), "unauthenticated")
        extra = self.raw_socket()
        extra.settimeout(10)
        self.assertEqual(extra.recv(100), b"")
        self.assertIn("max_connections reached", self.read_log())
        held[0].close()
        wait_until(lambda: self.try_ping(), what="a free slot")

    def try_ping(self):
        try:
            self.ping()
            return True
        except dbus.exceptions.DBusException:
            return False
