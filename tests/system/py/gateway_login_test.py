"""Gateway logins against the real PAM stack, logind, journald and users of
the system-tier container (set up by scenarios/gateway_login.sh)."""

import json
import subprocess
import time
import unittest

import dbus

import gw
from gw import E


class PasswordLoginTest(unittest.TestCase):
    def test_right_password(self):
        g = gw.gateway()
        uid, user, messages = g.LoginWithPassword("alice", "alice-pw", gw.client("192.0.2.10"), timeout=60)
        self.assertEqual(str(user), "alice")
        self.assertEqual(int(uid), int(subprocess.check_output(["id", "-u", "alice"])))
        self.assertEqual([str(x) for x in g.GetLoginState()], ["authenticated", str(int(uid)), "alice"])
        out = gw.wait_journal("Login succeeded for user 'alice' (password)", "-t", "rsm-manager", "-o", "verbose")
        self.assertIn("RSM_CLIENT_ADDRESS=192.0.2.10", out)
        self.assertIn("RSM_GATEWAY=rsm-systest", out)
        self.assertIn("RSM_USER=alice", out)

    def test_wrong_password_logs_authfail(self):
        g = gw.gateway()
        name, msg = gw.error_name(g.LoginWithPassword, "alice", "wrong", gw.client("192.0.2.11"), timeout=60)
        self.assertEqual(name, E + "AuthenticationFailed", msg)
        self.assertEqual(str(g.GetLoginState()[0]), "unauthenticated")
        out = gw.wait_journal("AUTHFAIL: user=alice ip=192.0.2.11 time=", "-t", "rsm-manager")
        self.assertRegex(out, r"AUTHFAIL: user=alice ip=192\.0\.2\.11 time=\d{10}")

    def test_unknown_user_fails_like_a_wrong_password(self):
        g = gw.gateway()
        name, msg = gw.error_name(g.LoginWithPassword, "nosuchuser", "x", gw.client("192.0.2.12"), timeout=60)
        self.assertEqual(name, E + "AuthenticationFailed", msg)
        self.assertNotIn("nosuchuser", msg.replace("'nosuchuser'", ""))

    def test_retries_exhausted_closes_the_connection(self):
        # max_login_attempts = 3 in the scenario's configuration.
        g = gw.gateway()
        for _ in range(2):
            self.assertEqual(gw.error_name(g.LoginWithPassword, "alice", "bad", gw.client("192.0.2.13"),
                                           timeout=60)[0], E + "AuthenticationFailed")
        name, _ = gw.error_name(g.LoginWithPassword, "alice", "bad", gw.client("192.0.2.13"), timeout=60)
        self.assertEqual(name, E + "TooManyAttempts")
        name, _ = gw.error_name(g.GetLoginState)
        self.assertIn(name, ("org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Disconnected"))

    def test_source_is_throttled_across_connections(self):
        # [throttle] max_failures = 4: the 5th attempt from the same address
        # is refused without asking PAM, even with the right password.
        for _ in range(2):
            g = gw.gateway()
            for _ in range(2):
                gw.error_name(g.LoginWithPassword, "alice", "bad", gw.client("192.0.2.14"), timeout=60)
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "alice", "alice-pw",
                                  gw.client("192.0.2.14"), timeout=60)
        self.assertEqual(name, E + "Throttled", msg)
        self.assertIn("192.0.2.14", msg)
        # Another source is unaffected.
        uid, user, _ = gw.gateway().LoginWithPassword("alice", "alice-pw", gw.client("192.0.2.15"), timeout=60)
        self.assertEqual(str(user), "alice")

    def test_logout_then_another_user(self):
        g = gw.gateway()
        g.LoginWithPassword("alice", "alice-pw", gw.client("192.0.2.16"), timeout=60)
        g.Logout()
        self.assertEqual(str(g.GetLoginState()[0]), "unauthenticated")
        uid, user, _ = g.LoginWithPassword("dora", "dora-pw", gw.client("192.0.2.16"), timeout=60)
        self.assertEqual(str(user), "dora")

    def test_login_process_is_released_on_logout(self):
        g = gw.gateway()
        g.LoginWithPassword("alice", "alice-pw", gw.client("192.0.2.17"), timeout=60)
        pids = lambda: subprocess.run(["pgrep", "-x", "rsm-session"], capture_output=True, text=True).stdout.split()
        before = len(pids())
        self.assertGreaterEqual(before, 1)
        g.Logout()
        deadline = time.monotonic() + 15
        while len(pids()) >= before and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertLess(len(pids()), before)


class AccessRulesTest(unittest.TestCase):
    # A password login refused by the rules is answered like a wrong
    # password (no enumeration); a peer-credential one says why.
    def test_root_refused_by_default(self):
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "root", "root-pw", gw.client("192.0.2.20"),
                                  timeout=60)
        self.assertEqual((name, msg), (E + "AuthenticationFailed", "Authentication failed for user 'root'"))
        name, msg = gw.error_name(gw.gateway().LoginWithCredentials)
        self.assertEqual(name, E + "LoginDenied", msg)
        self.assertIn("allow_root", msg)

    def test_user_outside_allowed_groups_refused(self):
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "bob", "bob-pw", gw.client("192.0.2.21"),
                                  timeout=60)
        self.assertEqual((name, msg), (E + "AuthenticationFailed", "Authentication failed for user 'bob'"))
        r = gw.as_user("bob", "g = gw.gateway()\nprint(json.dumps(gw.error_name(g.LoginWithCredentials)))")
        self.assertEqual(r[0], E + "LoginDenied")

    def test_expired_account_refused(self):
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "carol", "carol-pw", gw.client("192.0.2.22"),
                                  timeout=60)
        self.assertEqual(name, E + "AccountUnavailable", msg)
        r = gw.as_user("carol", "g = gw.gateway()\nprint(json.dumps(gw.error_name(g.LoginWithCredentials)))")
        self.assertEqual(r[0], E + "AccountUnavailable")


class PeerCredentialLoginTest(unittest.TestCase):
    def test_normal_user(self):
        r = gw.as_user("alice", "g = gw.gateway()\nprint(json.dumps([str(x) for x in g.LoginWithCredentials()]))")
        self.assertEqual(r[1], "alice")
        self.assertEqual(int(r[0]), int(subprocess.check_output(["id", "-u", "alice"])))
        gw.wait_journal("Login succeeded for user 'alice' (peer-credentials)", "-t", "rsm-manager")

    def test_sockdir_owned_by_the_user(self):
        r = gw.as_user("alice", "g = gw.gateway()\ng.LoginWithCredentials()\nprint(json.dumps(str(g.CreateSockdir())))")
        uid = int(subprocess.check_output(["id", "-u", "alice"]))
        self.assertEqual(r, f"/run/rsm/user/{uid}")
        st = subprocess.check_output(["stat", "-c", "%u %a", r], text=True).split()
        self.assertEqual(st, [str(uid), "700"])


class ConversationTest(unittest.TestCase):
    def test_expired_password_is_changed_through_the_conversation(self):
        # dave must change his password (chage -d 0).
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "dave", "dave-pw", gw.client("192.0.2.30"),
                                  timeout=60)
        self.assertEqual(name, E + "PasswordExpired", msg)

        new = "N3w-Secret-for-dave!"

        def answer(style, text):
            t = text.lower()
            if "new" in t or "retype" in t:
                return new
            return "dave-pw"

        g = gw.gateway()
        state, seen = gw.converse(g, g.BeginLogin("dave", gw.client("192.0.2.30"), timeout=60), answer)
        self.assertEqual(state, "authenticated", seen)
        self.assertGreaterEqual(len([s for s in seen if s[0] == gw.ECHO_OFF]), 3, seen)
        # The new password works for a plain login now.
        uid, user, _ = gw.gateway().LoginWithPassword("dave", new, gw.client("192.0.2.31"), timeout=60)
        self.assertEqual(str(user), "dave")

    def test_plain_password_stack_through_conversation(self):
        g = gw.gateway()
        state, prompts = g.BeginLogin("alice", gw.client("192.0.2.32"), timeout=60)
        self.assertEqual(str(state), "prompt")
        self.assertEqual([int(p[0]) for p in prompts], [gw.ECHO_OFF])
        self.assertEqual(str(g.GetLoginState()[0]), "authenticating")
        name, _ = gw.error_name(g.LoginWithCredentials)
        self.assertEqual(name, E + "LoginInProgress")
        name, msg = gw.error_name(g.ContinueLogin, ["a", "b"])
        self.assertEqual(name, E + "InvalidArgument", msg)
        state, prompts = g.ContinueLogin(["alice-pw"], timeout=60)
        self.assertEqual(str(state), "authenticated")
        self.assertEqual(str(g.GetLoginState()[2]), "alice")


class ForeignClientsTest(unittest.TestCase):
    """busctl and gdbus drive a real password login."""

    def test_busctl_password_login(self):
        r = subprocess.run(["busctl", "--address=" + gw.ADDRESS, "call", gw.GATEWAY, gw.GATEWAY_PATH, gw.GATEWAY,
                            "LoginWithPassword", "ssa{sv}", "alice", "alice-pw", "1", "address", "s", "192.0.2.40"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r'^usa\(us\) \d+ "alice" 0')

    def test_gdbus_password_login(self):
        r = subprocess.run(["gdbus", "call", "--address", gw.ADDRESS, "--dest", gw.GATEWAY, "--object-path",
                            gw.GATEWAY_PATH, "--method", gw.GATEWAY + ".LoginWithPassword", "alice", "alice-pw",
                            "{'address': <'192.0.2.41'>}"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("'alice'", r.stdout)
