"""Who may have a desktop, and what a refusal tells (issue #9: "Every local
uid gets a desktop by peer credentials", "Account enumeration").

- Peer-credential login is off by default (LoginDenied), on with
  access.allow_peer_credentials, and limited to peer_credential_groups.
- The service account svcacct (uid below UID_MIN) and nologinuser (shell
  /usr/sbin/nologin) are refused for both login kinds: by password exactly
  like a wrong password, by peer credentials with LoginDenied.
- No enumeration by error name: a user refused by the access rules with the
  right password, a wrong password and an unknown user get the same error
  and message (password and conversation logins); the reason is in the
  journal only.
- A connection that logged in by password still starts a second session
  (an "account"-mode login process) with peer-credential login off.

Each class writes its own drop-in (60-login.toml) and restarts the manager
(Type=notify: restart returns once it is ready); none is left behind.
"""

import itertools
import os
import subprocess
import unittest

import dbus

import gw
import session_client as sc
import systest

E = gw.E
DROPIN = "/etc/rsm/rsm.toml.d/60-login.toml"
PEER_GROUP = "rsm-login-peers"

# One client address per login, so no check is throttled by another's
# failures (TEST-NET-3, unused by the other security modules' checks).
_addresses = (f"203.0.113.{i}" for i in itertools.count(100))


def client():
    return gw.client(next(_addresses))


def set_dropin(text):
    systest.write_dropin(DROPIN, text)
    systest.restart_manager()


def password_login(user, password):
    """(error name, message) of a password login, or ("ok", user)."""
    try:
        _, name, _ = gw.gateway().LoginWithPassword(user, password, client(), timeout=60)
        return "ok", str(name)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()


def conversation_login(user, answer):
    """(error name, message) of a conversation login answering every
    prompt with `answer`, or ("ok", user)."""
    g = gw.gateway()
    try:
        state, _ = gw.converse(g, g.BeginLogin(user, client(), timeout=60), lambda style, text: answer)
        return ("ok", str(g.GetLoginState()[2])) if state == "authenticated" else ("state", state)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()


def peer_login(user):
    """LoginWithCredentials run as `user`: ["ok", uid, name] or [error name, message]."""
    return gw.as_user(user, (
        "g = gw.gateway()\n"
        "try:\n"
        "    uid, name = g.LoginWithCredentials(timeout=60)\n"
        "    print(json.dumps(['ok', int(uid), str(name)]))\n"
        "except dbus.exceptions.DBusException as e:\n"
        "    print(json.dumps([e.get_dbus_name(), e.get_dbus_message()]))\n"))


def as_template(result, user):
    """The reply with the user's name taken out, to compare replies for
    different users."""
    name, msg = result
    return name, msg.replace(f"'{user}'", "'<user>'")


WRONG = as_template((E + "AuthenticationFailed", "Authentication failed for user 'x'"), "x")


class DropinTestCase(unittest.TestCase):
    dropin = None  # this class's 60-login.toml, or None for the scenario's defaults

    @classmethod
    def setUpClass(cls):
        set_dropin(cls.dropin)

    @classmethod
    def tearDownClass(cls):
        set_dropin(None)


class PeerCredentialsOffByDefaultTest(DropinTestCase):
    def test_peer_credential_login_is_refused(self):
        r = peer_login("alice")
        self.assertEqual(r[0], E + "LoginDenied", r)
        self.assertIn("allow_peer_credentials", r[1])

    def test_password_login_still_starts_a_second_session(self):
        # The first session takes over the login's own process; the second
        # needs a new one, which checks the account by uid ("account" mode)
        # and must not need the peer-credential permission.
        def account_logins():
            return gw.journal("-t", "rsm-session", "-o", "verbose").count("RSM_LOGIN_MODE=account")

        before = account_logins()
        g = systest.login("alice", next(_addresses))
        self.addCleanup(g.Close)
        self.addCleanup(systest.end_sessions, g, "alice")
        a, _ = sc.create_session(g, type="null", new=True, timeout=60)
        b, reused = sc.create_session(g, type="null", new=True, timeout=60)
        self.assertFalse(reused)
        self.assertNotEqual(a, b)
        self.assertEqual(set(systest.sessions(g)), {a, b})
        # The second one did go through an "account"-mode login process.
        systest.wait(lambda: account_logins() > before, 15, "the account-mode login in the journal")


class SystemAccountsByPasswordTest(DropinTestCase):
    """svcacct and nologinuser know their passwords: the reply is still a
    wrong password's."""

    def assert_like_wrong_password(self, user):
        refused = password_login(user, user + "-pw")
        wrong = password_login(user, "not-the-password")
        self.assertEqual(refused, wrong)
        self.assertEqual(as_template(refused, user), WRONG)

    def test_service_account_refused(self):
        self.assert_like_wrong_password("svcacct")

    def test_nologin_shell_refused(self):
        self.assert_like_wrong_password("nologinuser")

    def test_conversation_login_refused_alike(self):
        for user in ("svcacct", "nologinuser"):
            refused = conversation_login(user, user + "-pw")
            self.assertEqual(refused, conversation_login(user, "not-the-password"))
            self.assertEqual(as_template(refused, user), WRONG)


class PeerCredentialsEnabledTest(DropinTestCase):
    dropin = "[access]\nallow_peer_credentials = true\n"

    def test_ordinary_user_logs_in(self):
        r = peer_login("alice")
        self.assertEqual(r[0], "ok", r)
        self.assertEqual(r[2], "alice")

    def test_service_account_refused(self):
        r = peer_login("svcacct")
        self.assertEqual(r[0], E + "LoginDenied", r)
        self.assertIn("UID_MIN", r[1])

    def test_nologin_shell_refused(self):
        r = peer_login("nologinuser")
        self.assertEqual(r[0], E + "LoginDenied", r)
        self.assertIn("/etc/shells", r[1])


class PeerCredentialGroupsTest(DropinTestCase):
    dropin = f'[access]\nallow_peer_credentials = true\npeer_credential_groups = ["{PEER_GROUP}"]\n'

    @classmethod
    def setUpClass(cls):
        subprocess.run(["groupadd", "-f", PEER_GROUP], check=True)
        subprocess.run(["usermod", "-aG", PEER_GROUP, "alice"], check=True)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        subprocess.run(["gpasswd", "-d", "alice", PEER_GROUP], capture_output=True)
        subprocess.run(["groupdel", PEER_GROUP], capture_output=True)

    def test_member_logs_in(self):
        r = peer_login("alice")
        self.assertEqual(r[0], "ok", r)

    def test_non_member_refused(self):
        r = peer_login("mallory")
        self.assertEqual(r[0], E + "LoginDenied", r)
        self.assertIn("peer_credential_groups", r[1])

    def test_groups_do_not_restrict_password_logins(self):
        self.assertEqual(password_login("mallory", "mallory-pw"), ("ok", "mallory"))


class EnumerationTest(DropinTestCase):
    """bob is refused by the rules; alice is not; nosuchuser does not exist."""
    dropin = '[access]\ndenied_users = ["bob"]\n'

    def test_refused_user_with_right_password_looks_like_a_wrong_password(self):
        refused = password_login("bob", "bob-pw")
        self.assertEqual(refused, password_login("bob", "wrong-pw"))
        self.assertEqual(as_template(refused, "bob"), WRONG)

    def test_refused_wrong_password_and_unknown_user_answer_alike(self):
        replies = {
            "bob": password_login("bob", "bob-pw"),                # refused by the rules
            "alice": password_login("alice", "wrong-pw"),          # wrong password
            "nosuchuser": password_login("nosuchuser", "x-pw"),    # unknown
        }
        self.assertEqual({as_template(r, u) for u, r in replies.items()}, {WRONG}, replies)

    def test_conversation_login_answers_alike(self):
        refused = conversation_login("bob", "bob-pw")
        self.assertEqual(refused, conversation_login("bob", "wrong-pw"))
        self.assertEqual(as_template(refused, "bob"), WRONG)
        self.assertEqual(as_template(conversation_login("nosuchuser", "x-pw"), "nosuchuser"), WRONG)

    def test_reason_goes_to_the_journal_only(self):
        name, msg = password_login("bob", "bob-pw")
        self.assertNotIn("denied_users", msg)
        out = gw.wait_journal("listed in access.denied_users", "-t", "rsm-session", "-o", "verbose")
        self.assertIn("RSM_REASON=user 'bob' is not allowed to log in (listed in access.denied_users)", out)

    def test_allowed_user_still_logs_in(self):
        self.assertEqual(password_login("alice", "alice-pw"), ("ok", "alice"))


if __name__ == "__main__":
    unittest.main()
