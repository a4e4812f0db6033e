"""rsm-broker with real clients (scenarios/broker.sh): x2goclient's
plain-text protocol and python-x2go's JSON on 127.0.0.1:8080 byte by byte
(curl), passwords checked by rsm as a trusted gateway (a wrong one is 401
with no body and rsm's AUTHFAIL line names the client's address), authid
cookies, ACLs, host selection by SSH port, malformed requests, the real
pyhoca-cli listing the profiles, the real x2goclient logging in through its
broker dialog and showing the profile list, and the SSH front end."""

import itertools
import json
import os
import socket
import subprocess
import time
import unittest

from systest import run, wait

URL = "http://127.0.0.1:8080"


def curl(path, data=None, source="127.0.0.1", extra=(), url=URL):
    """(status, body) of a POST (or GET when data is None) from `source`."""
    cmd = ["curl", "-s", "-m", "30", "--interface", source, "-o", "/tmp/broker-body", "-w", "%{http_code}",
           *extra]
    if data is not None:
        cmd += ["--data-raw", data]
    cmd.append(url + path)
    out = run(*cmd, timeout=40)
    with open("/tmp/broker-body", "rb") as f:
        body = f.read().decode()
    return int(out.stdout or "0"), body


def journal(*args):
    return run("journalctl", "--no-pager", "-o", "cat", *args).stdout


def wait_journal(pattern, *args, timeout=15):
    return wait(lambda: pattern in journal(*args) and journal(*args), timeout, f"journal line {pattern!r}")


def screen_column(display, x, height=700):
    """The pixel colours (r, g, b) of column x of the root window."""
    shot = run("import", "-display", display, "-window", "root", "-crop", f"1x{height}+{x}+0", "-depth", "8",
               "txt:-").stdout
    pixels = []
    for line in shot.splitlines()[1:]:
        h = line.split()[2]
        pixels.append((int(h[1:3], 16), int(h[3:5], 16), int(h[5:7], 16)))
    return pixels


def x2goclient_cards(display):
    """How many profile cards x2goclient's session list shows: light runs
    (the cards) between the grey of its list panel, down column 700."""
    def kind(p):
        r, g, b = p
        if min(p) > 200:
            return "L"
        if abs(r - g) < 16 and abs(b - r) < 30 and 80 < r < 150:
            return "G"
        return "."
    runs = [(k, len(list(g))) for k, g in itertools.groupby(kind(p) for p in screen_column(display, 700))]
    if not any(k == "G" for k, _ in runs):
        return 0
    return sum(1 for k, n in runs if k == "L" and n > 60)


class Xvfb:
    """A private Xvfb on `display` for a client that needs DISPLAY set."""
    def __init__(self, display):
        self.display = display

    def __enter__(self):
        self.proc = subprocess.Popen(["Xvfb", self.display, "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait(lambda: os.path.exists(f"/tmp/.X11-unix/X{self.display[1:]}"), 20, "Xvfb")
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def profile_ids(plain):
    return [line[1:-1] for line in plain.splitlines() if line.startswith("[") and line.endswith("]")]


class Broker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # The one X2Go server whose SSH port answers.
        cls.ssh = socket.socket()
        cls.ssh.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        cls.ssh.bind(("127.0.0.1", 22461))
        cls.ssh.listen(16)

    @classmethod
    def tearDownClass(cls):
        cls.ssh.close()

    def test_01_listsessions_plain(self):
        status, body = curl("/plain/inifile/", "task=listsessions&user=alice&password=alice-pw&authid=")
        self.assertEqual(status, 200, body)
        lines = body.splitlines()
        self.assertRegex(lines[0], r"^AUTHID:[0-9a-f]{32}$")
        self.assertEqual(lines[1:4], ["Access granted", "START_USER_SESSIONS", ""])
        self.assertEqual(lines[-1], "END_USER_SESSIONS")
        # staff-only is hidden from alice (not in group staff).
        self.assertEqual(profile_ids(body), ["alldown", "pool"])
        pool = body[body.index("[pool]"):]
        self.assertIn("\nuser=alice\n", pool)          # BROKER_USER
        self.assertIn("\ncommand=XFCE\n", pool)        # desktop sessions upper-cased
        self.assertIn("\nrootless=0\n", pool)
        self.assertIn("\nhost=down,up\n", pool)
        # ACLs: bob is denied pool; carol (group staff) sees staff-only and
        # toml-staff (broker.toml's [profiles.toml-staff]).
        _, bob = curl("/plain/", "task=listsessions&user=bob&password=bob-pw")
        self.assertEqual(profile_ids(bob), ["alldown"])
        _, carol = curl("/plain/", "task=listsessions&user=carol&password=carol-pw")
        self.assertEqual(profile_ids(carol), ["alldown", "pool", "staff-only", "toml-staff"])
        self.assertIn("\nname=Staff pool (TOML)\n", carol[carol.index("[toml-staff]"):])
        _, body = curl("/plain/", "task=selectsession&sid=toml-staff&user=carol&password=carol-pw")
        self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:127.0.0.1:22461"])

    def test_02_selectsession_plain(self):
        status, body = curl("/plain/", "task=selectsession&sid=pool&user=alice&password=alice-pw&authid=&login=alice")
        self.assertEqual(status, 200, body)
        self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:127.0.0.1:22461"])
        _, body = curl("/plain/", "task=selectsession&sid=alldown&user=alice&password=alice-pw")
        self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:no-X2Go-Server-available:22"])
        _, body = curl("/plain/", "task=selectsession&sid=nosuch&user=alice&password=alice-pw")
        self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:no-server-available:22"])
        # A profile the ACLs hide cannot be selected either.
        _, body = curl("/plain/", "task=selectsession&sid=pool&user=bob&password=bob-pw")
        self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:no-server-available:22"])

    def test_03_wrong_password(self):
        status, body = curl("/plain/", "task=listsessions&user=alice&password=wrong&authid=", source="127.0.0.2")
        self.assertEqual((status, body), (401, ""))
        # rsm believed the broker (a trusted gateway) about the client's address.
        out = wait_journal("AUTHFAIL: user=alice ip=127.0.0.2 ", "-t", "rsm-manager")
        self.assertRegex(out, r"AUTHFAIL: user=alice ip=127\.0\.0\.2 time=\d+")
        status, body = curl("/json/", "task=listprofiles&user=alice&password=", source="127.0.0.2")
        self.assertEqual((status, body), (401, ""))

    def test_04_authid_cookie(self):
        _, body = curl("/plain/", "task=listsessions&user=alice&password=alice-pw&authid=")
        cookie = body.splitlines()[0].split(":", 1)[1]
        # The cookie stands in for the password once, from the same address.
        status, body = curl("/plain/", f"task=listsessions&user=alice&password=&authid={cookie}")
        self.assertEqual(status, 200, body)
        fresh = body.splitlines()[0].split(":", 1)[1]
        self.assertNotEqual(fresh, cookie)
        status, _ = curl("/plain/", f"task=listsessions&user=alice&password=&authid={cookie}")
        self.assertEqual(status, 401)
        status, _ = curl("/plain/", f"task=listsessions&user=bob&password=&authid={fresh}")
        self.assertEqual(status, 401)

    def test_05_json(self):
        status, body = curl("/json/inifile/", "task=listprofiles&user=alice&password=alice-pw")
        self.assertEqual(status, 200, body)
        reply = json.loads(body)
        self.assertEqual(reply["task"], "listprofiles")
        self.assertEqual(reply["auth-status"], "Access granted")
        self.assertRegex(reply["next-authid"], r"^[0-9a-f]{32}$")
        self.assertEqual(sorted(reply["profiles"]), ["alldown", "pool"])
        self.assertEqual(reply["profiles"]["pool"]["host"], ["down", "up"])
        self.assertIs(reply["profiles"]["pool"]["fullscreen"], False)
        status, body = curl("/json/", "task=selectsession&profile-id=pool&user=alice&password=alice-pw&pubkey=")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["selected_session"], {"server": "127.0.0.1", "port": "22461"})

    def test_06_malformed(self):
        self.assertEqual(curl("/plain/", "task=bogus&user=alice&password=alice-pw"), (400, "unknown task 'bogus'\n"))
        self.assertEqual(curl("/plain/", "task=listsessions&user=al%0Aice&password=x"), (400, "invalid user name\n"))
        self.assertEqual(curl("/plain/", "task=listsessions&user=a&user=b"), (400, "form field 'user' given twice\n"))
        self.assertEqual(curl("/plain/")[0], 405)
        self.assertEqual(curl("/uccs/", "task=listsessions&user=alice")[0], 404)
        self.assertEqual(curl("/plain/zeroconf/", "task=listsessions&user=alice")[0], 404)
        status, _ = curl("/plain/", "x=" + "a" * 70000)
        self.assertEqual(status, 413)
        # x2goclient bug 138: a form without a Content-Type is still read.
        status, body = curl("/plain/", "task=testcon&user=alice&password=alice-pw", extra=("-H", "Content-Type:"))
        self.assertEqual((status, body), (200, "OK"))
        self.assertIn("Malformed broker request", journal("-t", "rsm-broker"))

    def test_07_sandbox(self):
        pid = run("systemctl", "show", "-P", "MainPID", "rsm-broker.service").stdout.strip()
        self.assertNotEqual(pid, "0")
        status = open(f"/proc/{pid}/status").read()
        uid = int(status.split("Uid:")[1].split()[0])
        self.assertNotEqual(uid, 0)
        gid = int(run("getent", "group", "rsm-gateway").stdout.split(":")[2])
        self.assertIn(str(gid), status.split("Groups:")[1].splitlines()[0].split())
        self.assertEqual(run("systemctl", "show", "-P", "DynamicUser", "rsm-broker.service").stdout.strip(), "yes")

    def test_08_pyhoca_cli(self):
        display = ":47"
        with Xvfb(display):
            env = dict(os.environ, DISPLAY=display, HOME="/root")
            out = subprocess.run(["pyhoca-cli", "--broker-url", "http://alice@127.0.0.1:8080/json/",
                                  "--broker-password", "alice-pw", "--list-profiles"],
                                 env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
            text = out.stdout + out.stderr
            self.assertIn("Available X2Go session profiles", text)
            self.assertIn("Profile ID: pool", text)
            self.assertIn("Profile Name: Pool", text)
            self.assertIn("Profile ID: alldown", text)
            self.assertNotIn("Profile ID: staff-only", text)
            # With a wrong password pyhoca-cli lists nothing.
            out = subprocess.run(["pyhoca-cli", "--broker-url", "http://alice@127.0.0.1:8080/json/",
                                  "--broker-password", "nope", "--list-profiles"],
                                 env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
            self.assertNotIn("Profile ID: pool", out.stdout + out.stderr)

    def test_10_x2goclient(self):
        """The real x2goclient with a plain-text broker URL: its broker
        login dialog, the password typed into it, then its session list
        shows alice's two profiles; choosing one (and Ok in its session
        dialog) sends selectsession, answered with the server that answers."""
        display = ":48"
        xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = None
        try:
            wait(lambda: os.path.exists("/tmp/.X11-unix/X48"), 20, "Xvfb")
            home = "/root/x2goclient-home"
            os.makedirs(home, exist_ok=True)
            env = dict(os.environ, DISPLAY=display, HOME=home)
            cursor = run("journalctl", "-n", "0", "--show-cursor", "-q").stdout.split("cursor: ")[-1].strip()
            log = open("/tmp/x2goclient.log", "w")
            client = subprocess.Popen(["x2goclient", "--broker-url=http://alice@127.0.0.1:8080/plain/", "--no-menu"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            # The dialog is drawn when its password field (light grey) is there.
            field = (379, 359)
            wait(lambda: min(screen_column(display, field[0], field[1] + 1)[field[1]]) > 220, 60,
                 "x2goclient's broker login dialog")
            env_x = dict(os.environ, DISPLAY=display)
            subprocess.run(["xdotool", "mousemove", str(field[0]), str(field[1]), "click", "1"], env=env_x, check=True)
            subprocess.run(["xdotool", "type", "--delay", "50", "alice-pw"], env=env_x, check=True)
            subprocess.run(["xdotool", "key", "Return"], env=env_x, check=True)
            wait(lambda: "Profiles listed" in journal("-t", "rsm-broker", f"--after-cursor={cursor}", "USER=alice"),
                 30, "x2goclient's listsessions")
            self.assertEqual(wait(lambda: x2goclient_cards(display), 30, "x2goclient's session list"), 2)
            run("import", "-display", display, "-window", "root", "/var/lib/rsm-systest/broker-x2goclient.png")
            # Choosing the second card (pool) opens the session's login
            # dialog; its Ok makes x2goclient send selectsession with the sid.
            selected = lambda: journal("-t", "rsm-broker", "-o", "verbose", "RSM_BROKER_PROFILE=pool",
                                       "MESSAGE=Server selected").count("RSM_BROKER_HOST=127.0.0.1")
            before = selected()
            subprocess.run(["xdotool", "mousemove", "700", "235", "click", "1"], env=env_x, check=True)
            field = (299, 359)
            wait(lambda: min(screen_column(display, field[0], field[1] + 1)[field[1]]) > 220, 30,
                 "x2goclient's session login dialog")
            subprocess.run(["xdotool", "mousemove", str(field[0]), str(field[1]), "click", "1"], env=env_x, check=True)
            subprocess.run(["xdotool", "type", "--delay", "50", "alice-pw"], env=env_x, check=True)
            subprocess.run(["xdotool", "key", "Return"], env=env_x, check=True)
            try:
                wait(lambda: selected() > before, 30, "x2goclient's selectsession of pool")
            except AssertionError:
                raise AssertionError(f"no selectsession of pool (before: {before}):\n"
                                     + journal("-t", "rsm-broker", "-o", "verbose", "-n", "12")) from None
            self.assertIn("USER=alice", journal("-t", "rsm-broker", "-o", "verbose", "RSM_BROKER_PROFILE=pool"))
        finally:
            if client:
                client.terminate()
                client.wait()
            xvfb.terminate()
            xvfb.wait()

    def test_09_ssh_frontend(self):
        uid = run("id", "-u", "alice").stdout.strip()
        # As x2goclient's ssh:// broker runs it (an empty authid vanishes in its shell line).
        out = run("/usr/bin/rsm-broker", "--user", "alice", "--authid", "--task", "listsessions", user=uid)
        self.assertEqual(out.returncode, 0, out.stderr)
        _, http = curl("/plain/", "task=listsessions&user=alice&password=alice-pw")
        # The same body, without the cookie line (SSH authenticated alice).
        self.assertEqual(out.stdout, http.split("\n", 1)[1])
        out = run("/usr/bin/rsm-broker", "--task", "selectsession", "--sid", "pool", user=uid)
        self.assertEqual(out.stdout, "Access granted\nSERVER:127.0.0.1:22461\n")
        out = run("/usr/bin/rsm-broker", "--task", "listsessions", "--user", "bob", user=uid)
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("may only name the calling user", out.stderr)

    def test_11_reload(self):
        """systemctl reload: the profiles are read again in the same process;
        a file with an error changes nothing."""
        pid = run("systemctl", "show", "-P", "MainPID", "rsm-broker.service").stdout.strip()
        self.assertNotEqual(pid, "0")
        original = open("/etc/rsm/broker.toml").read()
        try:
            with open("/etc/rsm/broker.toml", "a") as f:
                f.write('[profiles.reloaded]\nname = "Added by a reload"\nhost = ["up (127.0.0.1:22461)"]\n')
            self.assertEqual(run("systemctl", "reload", "rsm-broker.service").returncode, 0)
            wait(lambda: "reloaded" in profile_ids(curl("/plain/", "task=listsessions&user=alice&password=alice-pw")[1]),
                 15, "the reloaded profile listed")
            self.assertEqual(run("systemctl", "show", "-P", "MainPID", "rsm-broker.service").stdout.strip(), pid)
            _, body = curl("/plain/", "task=selectsession&sid=reloaded&user=alice&password=alice-pw")
            self.assertEqual(body.splitlines()[1:], ["Access granted", "SERVER:127.0.0.1:22461"])
            # A broken file: refused with file, line and key; the profiles stay.
            with open("/etc/rsm/broker.toml", "a") as f:
                f.write('[profiles.broken]\nsshport = "abc"\n')
            self.assertEqual(run("systemctl", "reload", "rsm-broker.service").returncode, 0)
            line = wait_journal("Profile reload refused", "-u", "rsm-broker.service", "-o", "verbose")
            self.assertIn("[broken] sshport: 'abc' is not an integer", line)
            ids = profile_ids(curl("/plain/", "task=listsessions&user=alice&password=alice-pw")[1])
            self.assertIn("reloaded", ids)
            self.assertNotIn("broken", ids)
            self.assertEqual(run("systemctl", "show", "-P", "MainPID", "rsm-broker.service").stdout.strip(), pid)
        finally:
            with open("/etc/rsm/broker.toml", "w") as f:
                f.write(original)
            run("systemctl", "reload", "rsm-broker.service")
            wait(lambda: "reloaded" not in profile_ids(curl("/plain/", "task=listsessions&user=alice&password=alice-pw")[1]),
                 15, "the original profiles back")

    def test_12_https(self):
        """[tls] in broker.toml: the port serves HTTPS (curl and the real
        pyhoca-cli verify the test certificate), plain HTTP no more."""
        cert, key = "/etc/rsm/broker-cert.pem", "/etc/rsm/broker-key.pem"
        made = run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                   "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1")
        self.assertEqual(made.returncode, 0, made.stderr)
        # Readable by the service's transient user through group rsm-gateway only.
        run("chgrp", "rsm-gateway", key)
        os.chmod(key, 0o640)
        original = open("/etc/rsm/broker.toml").read()
        try:
            with open("/etc/rsm/broker.toml", "w") as f:
                f.write(f'[tls]\ncertificate = "{cert}"\nkey = "{key}"\n' + original)
            since = run("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
            self.assertEqual(run("systemctl", "restart", "rsm-broker.service").returncode, 0)
            line = wait_journal("rsm-broker serving X2Go clients", "-u", "rsm-broker.service", "--since", since,
                                "-o", "verbose")
            self.assertIn("RSM_TLS=yes", line)
            status, body = curl("/plain/", "task=listsessions&user=alice&password=alice-pw",
                                extra=("--cacert", cert), url="https://127.0.0.1:8080")
            self.assertEqual(status, 200, body)
            self.assertIn("Access granted", body)
            self.assertEqual(profile_ids(body), ["alldown", "pool"])
            # Plain HTTP on the HTTPS port gets no broker answer.
            self.assertNotEqual(curl("/plain/", "task=listsessions&user=alice&password=alice-pw")[0], 200)
            with Xvfb(":49"):
                # python-x2go posts with requests, which verifies against REQUESTS_CA_BUNDLE.
                env = dict(os.environ, DISPLAY=":49", HOME="/root", REQUESTS_CA_BUNDLE=cert)
                out = subprocess.run(["pyhoca-cli", "--broker-url", "https://alice@127.0.0.1:8080/json/",
                                      "--broker-password", "alice-pw", "--list-profiles"],
                                     env=env, capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
                self.assertIn("Profile ID: pool", out.stdout + out.stderr)
        finally:
            with open("/etc/rsm/broker.toml", "w") as f:
                f.write(original)
            run("systemctl", "restart", "rsm-broker.service")


if __name__ == "__main__":
    unittest.main()
