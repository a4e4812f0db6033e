"""rsm-gateway run by a normal user (scenarios/gateway_user.sh): alice's
user manager runs rsm-gateway.socket on 127.0.0.1:5901 and an
`rsm-gateway --user-mode` process of hers per connection. TigerVNC's
vncviewer with her password shows her desktop; bob's credentials on her
port are refused with "Authentication failed" before rsm is asked, and
create nothing; the manager takes her gateway for an untrusted peer (the
client address it names is not believed); the system gateway on 5900 is
unchanged."""

import json
import os
import pwd
import subprocess
import unittest

from rdp_client import RED, ClientScreen, colour_share, stop
from gateway_common import journal
from gateway_rfb_test import gateway_processes, vencrypt_login
from systest import login, run, sessions, wait
from xpra_test import xpra_exchange

USER_PORT = 5901
ALICE = pwd.getpwnam("alice").pw_uid


def manager_journal(prefix):
    """rsm-manager's journal entries (dicts) whose MESSAGE starts with `prefix`."""
    out = run("journalctl", "--no-pager", "-o", "json", "-t", "rsm-manager").stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in entries if str(e.get("MESSAGE", "")).startswith(prefix)]


def diagnostics():
    j = run("journalctl", "--no-pager", "-o", "cat", "-n", "60", "-t", "rsm-gateway", "-t", "rsm-manager").stdout
    j += run("journalctl", "--no-pager", "-o", "cat", "-n", "30", f"_UID={ALICE}").stdout
    try:
        with open("/tmp/vncviewer.log", errors="replace") as f:
            j += "\n--- vncviewer\n" + "".join(f.readlines()[-20:])
    except OSError:
        pass
    return j


def user_sessions(user):
    g = login(user, "127.0.0.1")
    try:
        return sessions(g)
    finally:
        g.Close()


class GatewayUser(unittest.TestCase):
    screen = None

    @classmethod
    def setUpClass(cls):
        cls.screen = ClientScreen(":73", "1280x1024x24").__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.screen.__exit__(None, None, None)

    def test_1_the_user_socket_is_alices(self):
        out = run("systemctl", "--user", "-M", "alice@", "is-active", "rsm-gateway.socket").stdout.strip()
        self.assertEqual(out, "active", diagnostics())
        listen = run("systemctl", "--user", "-M", "alice@", "show", "-P", "Listen", "rsm-gateway.socket").stdout
        self.assertIn(f"127.0.0.1:{USER_PORT}", listen)

    def test_2_vncviewer_reaches_alices_desktop(self):
        env = dict(os.environ, DISPLAY=self.screen.display, VNC_USERNAME="alice", VNC_PASSWORD="alice-pw")
        with open("/tmp/vncviewer.log", "ab") as log:
            v = subprocess.Popen(["timeout", "60", "vncviewer", "-SecurityTypes", "TLSPlain",
                                  f"127.0.0.1::{USER_PORT}"], env=env, stdin=subprocess.DEVNULL, stdout=log,
                                 stderr=log)
        try:
            self.screen.wait_for("alice's red desktop through her own rsm-gateway",
                                 lambda shot: colour_share(shot, RED) > 0.3, 60, diagnostics)
            entry = wait(lambda: journal(MESSAGE="VNC viewer connected to its session", RSM_USER="alice"), 30,
                         "alice's connection in the gateway's journal")[-1]
            self.assertEqual(entry["RSM_VENCRYPT_SUBTYPE"], "259")
            # Her gateway: processes of hers (all four uids), in her user
            # manager's cgroup, not in group rsm-gateway.
            procs = gateway_processes()
            self.assertTrue(procs, "no rsm-gateway process while the viewer is connected")
            gid = int(run("getent", "group", "rsm-gateway").stdout.split(":")[2])
            for pid, (uids, groups) in procs.items():
                self.assertEqual(uids, [ALICE] * 4, f"rsm-gateway {pid} does not run as alice")
                self.assertNotIn(gid, groups, f"rsm-gateway {pid} is in group rsm-gateway")
                with open(f"/proc/{pid}/cgroup") as f:
                    self.assertIn(f"/user@{ALICE}.service/", f.read())
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    self.assertIn(b"--user-mode", f.read().split(b"\0"))
        finally:
            stop(v)
        sid = entry["RSM_SESSION_ID"]
        # The manager's view: an untrusted peer, uid alice; the address it
        # named only recorded as a claim, and not in the session's record.
        ok = wait(lambda: [e for e in manager_journal("Login succeeded for user 'alice' (password)")
                           if e.get("RSM_SOURCE") == f"uid:{ALICE}" and e.get("RSM_GATEWAY") == "rsm-gateway"], 30,
                  "the manager's login line")[-1]
        self.assertEqual(ok["RSM_TRUSTED_GATEWAY"], "no")
        self.assertEqual(ok["RSM_PEER_UID"], str(ALICE))
        self.assertIn("127.0.0.1", ok.get("RSM_CLAIMED_ADDRESS", ""))
        self.assertNotIn("RSM_CLIENT_ADDRESS", ok)
        self.assertEqual(user_sessions("alice")[sid]["client_address"], "")

    def test_3_selectors_and_a_wrong_password(self):
        wait(lambda: not gateway_processes(), 30, "the previous relay to end")
        before = user_sessions("alice")
        self.assertEqual(len(before), 1)
        sid = next(iter(before))
        s, result, reason, offered = vencrypt_login("alice:" + sid[:8], "alice-pw", port=USER_PORT)
        s.close()
        self.assertEqual((result, reason), (0, ""), diagnostics())
        self.assertEqual(offered, (259, 256))
        s, result, reason, _ = vencrypt_login("alice", "not-alices-password", subtype=256, port=USER_PORT)
        s.close()
        self.assertEqual((result, reason), (1, "Authentication failed"))
        # Checked by rsm's PAM, as any login: the failure is the manager's.
        wait(lambda: [e for e in manager_journal("Login failed for user 'alice'")
                      if e.get("RSM_SOURCE") == f"uid:{ALICE}"], 30, "the manager's failed login line")

    def test_4_bobs_credentials_on_alices_port_are_refused(self):
        wait(lambda: not gateway_processes(), 30, "the previous relay to end")
        for subtype in (259, 256):
            for name in ("bob", "bob:new"):
                s, result, reason, _ = vencrypt_login(name, "bob-pw", subtype=subtype, port=USER_PORT)
                s.close()
                self.assertEqual((result, reason), (1, "Authentication failed"), f"{name} over {subtype}")
        refused = journal(MESSAGE="VNC login or session failed", RSM_USER="bob")
        self.assertEqual(len(refused), 4)
        self.assertIn("serves no other user", refused[-1]["RSM_ERROR"])
        # xpra clients share the login: the same refusal, in xpra's words.
        self.assertEqual(xpra_exchange("bob", "bob-pw", "", port=USER_PORT), [b"disconnect", b"authentication failed"])
        turned_away = journal(MESSAGE="xpra client turned away", RSM_USER="bob")
        self.assertEqual(len(turned_away), 1)
        self.assertIn("serves no other user", turned_away[-1]["RSM_ERROR"])
        # Never asked rsm: no login of bob's at all, and nothing of his.
        self.assertEqual(manager_journal("Login succeeded for user 'bob'"), [])
        self.assertEqual(manager_journal("Login failed for user 'bob'"), [])
        self.assertEqual(user_sessions("bob"), {}, "bob's credentials on alice's port made a session")

    def test_5_the_system_gateway_is_unchanged(self):
        s, result, reason, _ = vencrypt_login("bob", "bob-pw", port=5900)
        s.close()
        self.assertEqual((result, reason), (0, ""), diagnostics())
        ok = wait(lambda: [e for e in manager_journal("Login succeeded for user 'bob' (password)")
                           if e.get("RSM_GATEWAY") == "rsm-gateway"], 30, "bob's login through the system gateway")[-1]
        self.assertEqual(ok["RSM_TRUSTED_GATEWAY"], "yes")
        self.assertEqual(ok["RSM_CLIENT_ADDRESS"], "127.0.0.1")


if __name__ == "__main__":
    unittest.main()
