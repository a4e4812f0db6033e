"""Gateway1's login state machine and argument validation, on the host with
peer-credential logins (root and nobody). Password and conversation logins
against real PAM users are covered by the system tier."""

import os
import pwd
import stat
import subprocess
import sys

import dbus

from fixture import GATEWAY, GATEWAY_PATH, ManagerTestCase

E = "org.rsm.Error."


class GatewayLoginTest(ManagerTestCase):
    def setUp(self):
        super().setUp()
        self.conn = self.connect()
        self.gw = self.gateway(self.conn)

    def test_peer_credentials_login_as_root(self):
        uid, user = self.gw.LoginWithCredentials()
        self.assertEqual((int(uid), str(user)), (0, "root"))
        self.assertEqual([str(x) for x in self.gw.GetLoginState()], ["authenticated", "0", "root"])
        self.assertIn("Login succeeded for user 'root' (peer-credentials)", self.read_log())

    def test_peer_credentials_login_as_another_user(self):
        """A process running as nobody logs in as nobody, not as root."""
        code = (
            "import dbus, sys\n"
            f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
            "from gateway_client import Gateway\n"
            f"gw = Gateway(dbus.connection.Connection('{self.address}'))\n"
            "print(*gw.LoginWithCredentials())\n")
        os.chmod(self.tmp, 0o755)
        os.chmod(self.socket_path, 0o666)  # as rsm-manager.socket's SocketMode=
        r = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                            "/usr/bin/python3", "-c", code], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), [str(pwd.getpwnam("nobody").pw_uid), "nobody"])

    def test_calls_needing_login_fail_before_it(self):
        self.assertDBusError(E + "NotAuthenticated", self.gw.ListSessions)
        self.assertDBusError(E + "NotAuthenticated", self.gw.CreateSockdir)

    def test_second_login_needs_logout(self):
        self.gw.LoginWithCredentials()
        self.assertDBusError(E + "AlreadyAuthenticated", self.gw.LoginWithCredentials)
        self.gw.Logout()
        self.assertEqual(str(self.gw.GetLoginState()[0]), "unauthenticated")
        self.assertDBusError(E + "NotAuthenticated", self.gw.ListSessions)
        uid, user = self.gw.LoginWithCredentials()
        self.assertEqual(str(user), "root")

    def test_list_sessions_is_empty_and_typed(self):
        self.gw.LoginWithCredentials()
        sessions = self.gw.ListSessions()
        self.assertEqual(list(sessions), [])
        self.assertEqual(sessions.signature, "(susssssuuuttss)")

    def test_create_sockdir(self):
        self.gw.LoginWithCredentials()
        path = str(self.gw.CreateSockdir())
        self.assertEqual(path, os.path.join(self.runtime_dir, "user", "0"))
        st = os.stat(path)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o700)
        # A wrong mode is repaired on the next call.
        os.chmod(path, 0o755)
        self.assertEqual(str(self.gw.CreateSockdir()), path)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o700)

    def test_sockdir_symlink_is_not_followed(self):
        self.gw.LoginWithCredentials()
        os.makedirs(os.path.join(self.runtime_dir, "user"))
        target = os.path.join(self.tmp, "elsewhere")
        os.mkdir(target, 0o755)
        os.symlink(target, os.path.join(self.runtime_dir, "user", "0"))
        self.assertDBusError(E + "Failed", self.gw.CreateSockdir)
        self.assertEqual(stat.S_IMODE(os.stat(target).st_mode), 0o755)

    def test_invalid_user_names_are_refused_at_the_edge(self):
        for bad in ["", "-rf", "a" * 33, "bad/name", "new\nline", "..", "caf\u00e9"]:
            msg = self.assertDBusError(E + "InvalidArgument", self.gw.LoginWithPassword, bad, "pw", {})
            self.assertIn("user", msg)
        self.assertNotIn("AUTHFAIL", self.read_log())

    def test_client_dictionary_is_validated(self):
        msg = self.assertDBusError(E + "InvalidArgument", self.gw.LoginWithPassword, "alice", "pw",
                                   {"colour": "blue"})
        self.assertIn("colour", msg)
        msg = self.assertDBusError(E + "InvalidArgument", self.gw.LoginWithPassword, "alice", "pw",
                                   {"address": dbus.UInt32(5)})
        self.assertIn("address", msg)
        msg = self.assertDBusError(E + "InvalidArgument", self.gw.LoginWithPassword, "alice", "pw",
                                   {"address": "not-an-ip"})
        self.assertIn("address", msg)

    def test_oversized_password_is_refused(self):
        msg = self.assertDBusError(E + "InvalidArgument", self.gw.LoginWithPassword, "alice", "x" * 513, {})
        self.assertIn("password", msg)

    def test_continue_without_begin(self):
        self.assertDBusError(E + "NoLoginInProgress", self.gw.ContinueLogin, ["x"])

    def test_close_ends_the_connection(self):
        self.gw.Close()
        with self.assertRaises(dbus.exceptions.DBusException):
            self.gw.GetLoginState()

    def test_logout_is_allowed_in_any_state(self):
        self.gw.Logout()
        self.assertEqual(str(self.gw.GetLoginState()[0]), "unauthenticated")


class AccessRulesTest(ManagerTestCase):
    """Default access rules: root may not log in, even by peer credentials."""
    config = """
[access]
allow_peer_credentials = true
[pam]
service = "other"
"""

    def test_root_refused_by_default(self):
        gw = self.gateway(self.connect())
        msg = self.assertDBusError(E + "LoginDenied", gw.LoginWithCredentials)
        self.assertIn("root", msg)
        self.assertEqual(str(gw.GetLoginState()[0]), "unauthenticated")


class RetriesTest(ManagerTestCase):
    config = """
[gateway]
max_login_attempts = 2
[access]
allow_peer_credentials = true
[pam]
service = "other"
"""

    def test_retries_exhausted_closes_the_connection(self):
        gw = self.gateway(self.connect())
        self.assertDBusError(E + "LoginDenied", gw.LoginWithCredentials)
        self.assertDBusError(E + "TooManyAttempts", gw.LoginWithCredentials)
        with self.assertRaises(dbus.exceptions.DBusException):
            gw.GetLoginState()

    def test_logout_does_not_reset_the_count(self):
        gw = self.gateway(self.connect())
        self.assertDBusError(E + "LoginDenied", gw.LoginWithCredentials)
        gw.Logout()
        self.assertDBusError(E + "TooManyAttempts", gw.LoginWithCredentials)
