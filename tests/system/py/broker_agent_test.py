"""rsm-broker selects with x2gobroker-agent (scenarios/broker_agent.sh,
issue #14). The profile `x2go` has two servers, "x2go-a" (127.0.0.1:22470)
and this machine's hostname (127.0.0.2:22471); the broker asks the real
x2gobroker-agent on each, over the real sshd with its own key, for alice's
sessions (listsessions) and the servers' loads (getservers).
 1. x2go-a is busy (a session of bob's recorded under its name in
    x2goserver's database): the broker sends alice to the least-loaded
    server, the second one, although the first answers too; pyhoca-cli
    starts her session there. Ctrl+C suspends it.
 2. x2go-a is idle again, the second server has alice's suspended session:
    the session comes first. The plain reply is SERVER:127.0.0.2:22471 then
    SESSION_INFO:<her x2golistsessions line> (status S), the JSON reply has
    it as selected_session.session_info, and pyhoca-cli, sent there,
    resumes the same session.
 3. Broker autologin (profile x2go-auto): a selection with python-x2go's
    public key; the broker has the agent add it to alice's
    ~/.x2go/authorized_keys with an expiry-time= and x2gobroker's options
    and answers authentication_pubkey ACCEPTED; pyhoca-cli, given no
    password, logs in with the private key (as its own ~/.ssh/id_rsa) (sshd: "Accepted publickey for
    alice") and gets its session; after [autologin] key_lifetime (8 s) the
    agent has deleted the key and it logs in no more. With that session
    running and pyhoca-cli attached, a selection for profile x2go has the
    agent suspend it (suspendsession) and sends it with status S."""

import json
import os
import pwd
import socket
import sqlite3
import subprocess
import unittest
import urllib.parse

import broker_x2go_test as bx
from nx_test import free_display
from rdp_client import ClientScreen
from systest import run, wait

DB = "/var/lib/x2go/x2go_sessions"
HOST_B = socket.gethostname()


def broker(path, data):
    """One request to rsm-broker: (HTTP status, body)."""
    out = subprocess.run(["curl", "-s", "-m", "30", "-o", "/tmp/broker-agent-body", "-w", "%{http_code}",
                          "--data", data, "http://127.0.0.1:8080" + path], capture_output=True, text=True)
    with open("/tmp/broker-agent-body", errors="replace") as f:
        return out.stdout, f.read()


def bob_on_a(present):
    """A session of bob's on x2go-a in x2goserver's session database, which
    the agents' getservers reports as that server's load."""
    con = sqlite3.connect(DB)
    try:
        if present:
            con.execute("insert into sessions (session_id, display, uname, server, client, status, cookie, agent_pid,"
                        " gr_port, sound_port, fs_port) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        ("bob-999-1700000000_stRxterm_dp24", 999, "bob", "x2go-a", "127.0.0.1", "S", "0" * 32, 1,
                         39001, 39002, 39003))
        else:
            con.execute("delete from sessions where uname = 'bob'")
        con.commit()
    finally:
        con.close()


def agent_calls():
    return bx.journal("-u", "x2go-sshd").count("Accepted publickey for x2gobroker")


class BrokerAgent(unittest.TestCase):
    session = None

    @classmethod
    def setUpClass(cls):
        import os
        import shutil
        shutil.rmtree(bx.HOME, ignore_errors=True)
        os.makedirs(bx.HOME)

    def test_01_least_loaded_server(self):
        bob_on_a(True)
        try:
            before = agent_calls()
            status, body = broker("/plain/", "task=selectsession&sid=x2go&user=alice&password=alice-pw&authid=&login=alice")
            self.assertEqual(status, "200", body)
            self.assertEqual(body, "Access granted\nSERVER:127.0.0.2:22471\n",
                             body + bx.journal("-t", "rsm-broker", "-n", "20"))
            # The broker asked both servers' agents (listsessions, getservers) with its key.
            self.assertGreaterEqual(agent_calls() - before, 4, bx.journal("-u", "x2go-sshd", "-n", "30"))
            log = "/tmp/pyhoca-agent-new.log"
            with ClientScreen(free_display()) as screen:
                client = bx.pyhoca(screen.display, log)
                try:
                    screen.wait_for("the session's green xterm", bx.green(client, log), 120, bx.diagnose(log))
                    with open(log) as f:
                        self.assertIn("connecting to [127.0.0.2]:22471", f.read())
                    raw, listed = bx.x2go_sessions()
                    self.assertEqual([(s["user"], s["server"], s["status"]) for s in listed], [("alice", HOST_B, "R")], raw)
                    client.send_signal(2)  # SIGINT: pyhoca-cli suspends the session
                    self.assertEqual(client.wait(timeout=60), 0, bx.diagnose(log)())
                finally:
                    if client.poll() is None:
                        client.kill()
                        client.wait()
            raw, listed = wait(lambda: (lambda r: r if [s["status"] for s in r[1]] == ["S"] else None)(bx.x2go_sessions()),
                               30, "the session suspended in x2golistsessions")
            BrokerAgent.session = listed[0]
        finally:
            bob_on_a(False)

    def test_02_suspended_session_first(self):
        session = self.session
        self.assertIsNotNone(session, "test_01 left no suspended session")
        # Now x2go-a has no session and the second server has alice's: by
        # load alone the first would win.
        raw, _ = bx.x2go_sessions()
        line = raw.strip()
        status, body = broker("/plain/", "task=selectsession&sid=x2go&user=alice&password=alice-pw&authid=&login=alice")
        self.assertEqual(status, "200", body)
        lines = body.splitlines()
        self.assertEqual(lines[:2], ["Access granted", "SERVER:127.0.0.2:22471"], body + bx.journal("-t", "rsm-broker", "-n", "20"))
        self.assertEqual(len(lines), 3, body)
        self.assertTrue(lines[2].startswith("SESSION_INFO:"), body)
        info = lines[2][len("SESSION_INFO:"):].split("|")
        self.assertEqual((info[1], info[3], info[4], info[11]), (session["name"], HOST_B, "S", "alice"), body)
        self.assertEqual(info[:5], line.split("|")[:5], (body, line))
        status, body = broker("/json/", "task=selectsession&profile-id=x2go&user=alice&password=alice-pw")
        self.assertEqual(status, "200", body)
        selected = json.loads(body)["selected_session"]
        self.assertEqual((selected["server"], selected["port"]), ("127.0.0.2", "22471"), body)
        self.assertEqual(selected["session_info"].split("|")[1], session["name"], body)
        # pyhoca-cli, through the broker, resumes it there.
        log = "/tmp/pyhoca-agent-resume.log"
        with ClientScreen(free_display()) as screen:
            client = bx.pyhoca(screen.display, log, "-R", "NEWEST")
            try:
                screen.wait_for("the resumed session's green xterm", bx.green(client, log), 120, bx.diagnose(log))
                with open(log) as f:
                    self.assertIn("connecting to [127.0.0.2]:22471", f.read())
                raw, listed = bx.x2go_sessions()
                self.assertEqual([(s["name"], s["status"], s["pid"]) for s in listed],
                                 [(session["name"], "R", session["pid"])], raw)
            finally:
                client.kill()
                client.wait()
        run("runuser", "-u", "alice", "--", "x2goterminate-session", session["name"])
        wait(lambda: not bx.x2go_sessions()[1], 30, "the session gone from x2golistsessions")

    def test_03_autologin_by_key(self):
        status, body = broker("/json/", "task=listprofiles&user=alice&password=alice-pw")
        self.assertEqual(status, "200", body)
        profiles = json.loads(body)["profiles"]
        self.assertEqual((profiles["x2go-auto"].get("autologin"), profiles["x2go-auto"].get("key")),
                         (True, "<will-be-exchanged-during-session-selection>"), body)
        self.assertNotIn("autologin", profiles["x2go"], body)
        # The selection as python-x2go's broker client makes it: its own
        # genkeypair, its form fields. (pyhoca-cli 0.6.1 itself cannot finish
        # a broker autologin on Debian 12 with any broker: it deep-copies the
        # paramiko key, which cryptography 38's RSA key refuses, "cannot
        # pickle '_cffi_backend.FFI' object"; so the real pyhoca-cli below
        # logs in with the same key from a file.)
        from x2go.utils import genkeypair
        pubkey, privkey = genkeypair(local_username="root", client_address="127.0.0.1")
        status, body = broker("/json/", "task=selectsession&profile-id=x2go-auto&user=alice&password=alice-pw&pubkey="
                              + urllib.parse.quote(pubkey, safe=""))
        self.assertEqual(status, "200", body)
        selected = json.loads(body)["selected_session"]
        self.assertEqual((selected["server"], selected["port"], selected.get("authentication_pubkey")),
                         ("127.0.0.2", "22471", "ACCEPTED"), body + bx.journal("-t", "rsm-broker", "-n", "20"))
        keys = os.path.join(pwd.getpwnam("alice").pw_dir, ".x2go", "authorized_keys")

        def key_line():
            try:
                with open(keys) as f:
                    return next((l for l in f.read().splitlines() if l.endswith(" rsm-broker-autologin")), None)
            except FileNotFoundError:
                return None
        line = key_line()
        self.assertIsNotNone(line, keys)
        self.assertEqual(line.split(" ")[1:3], pubkey.split(" ")[1:3], (line, pubkey))
        self.assertRegex(line, r'^no-X11-forwarding,no-pty,no-user-rc,expiry-time="\d{14}Z" ssh-rsa \S+ '
                               r'rsm-broker-autologin$')
        # pyhoca-cli finds it as its own key (python-x2go's key discovery:
        # its -i option is lost on the way to paramiko in 0.6.1). The PEM from
        # cryptography itself: python-x2go patches paramiko's key writer into
        # one that fails on Python 3.
        from cryptography.hazmat.primitives import serialization
        pem = privkey.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                        serialization.NoEncryption())
        os.makedirs(os.path.join(bx.HOME, ".ssh"), mode=0o700, exist_ok=True)
        key_file = os.path.join(bx.HOME, ".ssh", "id_rsa")
        if os.path.exists(key_file):
            os.unlink(key_file)
        with os.fdopen(os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(pem)
        self.addCleanup(os.unlink, key_file)
        sshd = bx.journal("-u", "x2go-sshd")
        by_password = sshd.count("Accepted password for alice")
        by_key = sshd.count("Accepted publickey for alice")
        log = "/tmp/pyhoca-agent-autologin.log"
        # x2goserver's session cleaner, for the suspension below (masked in
        # every container; not running for tests 1 and 2, where it would
        # finish bob's session that has no x2goagent).
        self.assertEqual(run("systemctl", "start", "x2goserver.service").returncode, 0)
        self.addCleanup(run, "systemctl", "stop", "x2goserver.service")
        with ClientScreen(free_display()) as screen:
            # No password: only the broker's key can log pyhoca-cli in.
            env = dict(os.environ, DISPLAY=screen.display, HOME=bx.HOME)
            env.pop("SSH_AUTH_SOCK", None)
            client = subprocess.Popen(["pyhoca-cli", "--server", selected["server"], "-p", selected["port"], "-u", "alice",
                                       "--add-to-known-hosts", "-t", "application",
                                       "-c", "/usr/local/bin/green-xterm", "--sound", "none"],
                                      env=env,
                                      stdin=subprocess.DEVNULL, stdout=open(log, "w"), stderr=subprocess.STDOUT)
            try:
                screen.wait_for("the autologin session's green xterm", bx.green(client, log), 120, bx.diagnose(log))
                sshd = bx.journal("-u", "x2go-sshd")
                self.assertGreater(sshd.count("Accepted publickey for alice"), by_key, sshd[-3000:])
                self.assertEqual(sshd.count("Accepted password for alice"), by_password, sshd[-3000:])
                self.assertIn("Autologin key added for the client", bx.journal("-t", "rsm-broker"))
                # Deleted after key_lifetime (8 s); the session goes on, the key logs in no more.
                wait(lambda: key_line() is None, 30, "the broker's key deleted from " + keys)
                self.assertIn("Autologin key deleted", bx.journal("-t", "rsm-broker"))
                self.assertIsNone(client.poll(), bx.diagnose(log)())
                again = run("ssh", "-F", "none", "-i", key_file, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", "-p", "22471", "alice@127.0.0.2", "true")
                self.assertEqual(again.returncode, 255, again.stderr)
                self.assertIn("Permission denied", again.stderr)
                # 4. The session is running, pyhoca-cli attached: a selection
                # for profile x2go (whose second server is this one) has the
                # agent suspend it first (suspendsession) and sends it as
                # suspended, for the new client to resume.
                raw, listed = bx.x2go_sessions()
                self.assertEqual([s["status"] for s in listed], ["R"], raw)
                running = listed[0]
                status, body = broker("/plain/", "task=selectsession&sid=x2go&user=alice&password=alice-pw&authid=&login=alice")
                self.assertEqual(status, "200", body)
                lines = body.splitlines()
                self.assertEqual(lines[:2], ["Access granted", "SERVER:127.0.0.2:22471"],
                                 body + bx.journal("-t", "rsm-broker", "-n", "20"))
                info = lines[2][len("SESSION_INFO:"):].split("|") if len(lines) == 3 else []
                self.assertEqual(info[1:5] if info else None, [running["name"], running["display"], HOST_B, "S"], body)
                self.assertIn("Suspending the user's running session for the client to resume it",
                              bx.journal("-t", "rsm-broker"))
                # The agent only marks it S in x2goserver's database; x2goserver's
                # x2gocleansessions (x2goserver.service, started above) then
                # suspends the running x2goagent (x2gosuspend-session), as on a
                # real X2Go server. No x2golistsessions meanwhile: it would set
                # the status back to R while the agent still runs.
                wait(lambda: "session with ID " + running["name"] + " has been suspended successfully"
                     in bx.journal("--since", "-2min"), 60, "x2gocleansessions suspending the session")
                raw, listed = bx.x2go_sessions()
                self.assertEqual([(s["name"], s["status"]) for s in listed], [(running["name"], "S")], raw)
            finally:
                client.kill()
                client.wait()
        for s in bx.x2go_sessions()[1]:
            run("runuser", "-u", "alice", "--", "x2goterminate-session", s["name"])
        wait(lambda: not bx.x2go_sessions()[1], 30, "the session gone from x2golistsessions")

if __name__ == "__main__":
    unittest.main()
