"""A two-prompt PAM stack (password, then a TOTP code from pam_oath) driven
through BeginLogin/ContinueLogin."""

import subprocess
import unittest

import gw
from gw import E

SECRET = "3132333435363738393031323334353637383930"


def totp():
    return subprocess.check_output(["oathtool", "--totp", "-d", "6", SECRET], text=True).strip()


class OtpTest(unittest.TestCase):
    def test_password_and_code_through_the_conversation(self):
        g = gw.gateway()

        def answer(style, text):
            return totp() if "One-time password" in text else "alice-pw"

        state, seen = gw.converse(g, g.BeginLogin("alice", gw.client("192.0.2.50"), timeout=60), answer)
        self.assertEqual(state, "authenticated", seen)
        texts = [t for _, t in seen]
        self.assertTrue(any("Password" in t for t in texts), seen)
        self.assertTrue(any("One-time password (OATH) for `alice'" in t for t in texts), seen)
        self.assertEqual([str(x) for x in g.GetLoginState()][::2], ["authenticated", "alice"])

    def test_wrong_code_fails(self):
        g = gw.gateway()

        def answer(style, text):
            return "000000" if "One-time password" in text else "alice-pw"

        with self.assertRaises(Exception) as cm:
            gw.converse(g, g.BeginLogin("alice", gw.client("192.0.2.51"), timeout=60), answer)
        self.assertEqual(cm.exception.get_dbus_name(), E + "AuthenticationFailed")

    def test_password_shortcut_needs_the_conversation(self):
        name, msg = gw.error_name(gw.gateway().LoginWithPassword, "alice", "alice-pw", gw.client("192.0.2.52"),
                                  timeout=60)
        self.assertEqual(name, E + "ConversationRequired", msg)
