"""The real xrdp 0.9.21 and the real xfreerdp: the user's desktop on the RDP
client's screen, and xrdp's own message when the login fails."""

import unittest

from rdp_client import RED, XRDP_GREY, ClientScreen, colour_share, stop, wait_xrdp_listening
from systest import end_all


class RdpClientTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.screen = ClientScreen().__enter__()
        wait_xrdp_listening()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)

    def tearDown(self):
        end_all("alice", "127.0.0.1")

    def test_desktop_appears(self):
        client = self.screen.xfreerdp("alice", "alice-pw")
        try:
            self.screen.wait_for("the session's red xterm in the RDP client's window",
                          lambda s: colour_share(s, RED) > 0.3)
        finally:
            stop(client)

    def test_wrong_password_shows_xrdp_dialog(self):
        client = self.screen.xfreerdp("alice", "wrong-pw")
        try:
            # xrdp's "Connection Log" window (400x400, grey) with "login
            # failed for user alice": the client is not left black, and
            # none of the session's red shows.
            shot = self.screen.wait_for("xrdp's login-failed dialog", lambda s: colour_share(s, XRDP_GREY, 4) > 0.05)
            self.assertLess(colour_share(shot, RED), 0.01)
        finally:
            stop(client)


if __name__ == "__main__":
    unittest.main()
