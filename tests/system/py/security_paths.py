"""Security, area "paths": no path a user can influence (the socket
directory /run/rsm/user/<uid>, /tmp/.X11-unix, /tmp/.X<n>-lock) lets a local
user redirect or block a root process, and sessions start like a login.

Every attack runs as mallory (gw.as_user), logged in through the gateway
socket with her password, against her own sessions:

- the display socket ConnectSession connects to (Xvnc's vnc-<id>, Xvfb's
  /tmp/.X11-unix/X<n>) swapped for a symlink to the system bus, the
  manager's executor socket or systemd's private socket, or for a listener
  of her own: ConnectSession must refuse, and no fd handed out may answer
  "\\0AUTH EXTERNAL 30" (uid 0) with OK;
- a FIFO at /tmp/.X<n>-lock when her session ends: the manager must keep
  answering Peer.Ping within 2 s, and the number must be handed out again;
- a FIFO or a symlink to /etc/shadow planted at her
  /run/rsm/user/<uid>/Xauthority-<id> while the session starts: CreateSession
  answers, the session works with a fresh file, /etc/shadow is untouched,
  TerminateSession ends it. The id is unknown until CreateSession runs, so
  a second process of hers polls ListSessions on its own connection and
  plants the moment the id shows; the leader writes the file only after
  pam_open_session (a logind round trip later), so the plant wins. Whether it
  did is known exactly: mkfifo/symlink fail with EEXIST once the leader's
  file exists. A lost race is retried (3 attempts), never counted as a pass;
- a FIFO at /tmp/.X<n>-lock (above) is what the old manager blocked on.

And the session's processes get soft RLIMIT_NOFILE 1024 (or what
limits.conf says) and the login umask.
"""

import hashlib
import json
import os
import pwd
import stat
import subprocess
import time
import unittest

import dbus

import gw
import session_client as sc
from systest import end_all, login, pids, ping, run, scope_gone, wait

ATTACKER = "mallory"
ADDR = "192.0.2.77"
E = "org.rsm.Error."

# Runs as mallory: the beginning of every attack (a logged-in gateway
# connection of her own).
PRELUDE = """
import os, socket, time
import session_client as sc
g = gw.gateway()
g.LoginWithPassword("mallory", "mallory-pw", gw.client("127.0.0.1"), timeout=60)
uid = os.getuid()
"""

# Runs as mallory after PRELUDE, with `sid` and `target` (the display socket
# path) set: ConnectSession, then the question any uid-0 D-Bus server
# answers with OK on an fd authenticated as root.
CONNECT = """
result = {"sid": sid}
try:
    fds, details = sc.connect_session(g, sid, timeout=30)
except dbus.exceptions.DBusException as e:
    result["error"] = e.get_dbus_name()
    result["message"] = e.get_dbus_message()
else:
    d = fds["display"]
    d.settimeout(5)
    try:
        d.sendall(b"\\0AUTH EXTERNAL 30\\r\\n")
        result["reply"] = d.recv(256).decode(errors="replace")
    except OSError as e:
        result["reply"] = "error: " + str(e)
    for f in fds.values():
        f.close()
try:
    g.TerminateSession(sid, timeout=30)
except dbus.exceptions.DBusException as e:
    result["terminate_error"] = e.get_dbus_name()
print(json.dumps(result))
"""


def replace_with_symlink(path_expr, target):
    return f"""
path = {path_expr}
tmp = path + ".planted"
os.symlink({target!r}, tmp)
os.rename(tmp, path)
"""


def replace_with_listener(path_expr):
    # Her own listener where the display server's was; it never accepts
    # (the backlog is enough for a connect).
    return f"""
path = {path_expr}
os.unlink(path)
fake = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
fake.bind(path)
fake.listen(8)
"""


VNC_SESSION = """
sid, _ = sc.create_session(g, type="xvnc", new=True, timeout=60)
"""
VNC_PATH = 'f"/run/rsm/user/{uid}/vnc-{sid}"'

XVFB_SESSION = """
sid, _ = sc.create_session(g, type="xvfb", new=True, timeout=60)
display = [s for s in sc.list_sessions(g) if s["id"] == sid][0]["display"]
"""
X11_PATH = 'f"/tmp/.X11-unix/X{display[1:]}"'

TARGETS = {
    "system_bus": "/run/dbus/system_bus_socket",
    "executor_socket": "/run/rsm/executor.sock",
    "systemd_private": "/run/systemd/private",
}




def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def unblock_fifo(path):
    """A root process blocked opening `path` (a FIFO) for writing is let go:
    open it for reading (never blocks with O_NONBLOCK), then close it.
    Cleanup for the old code, which blocks there."""
    try:
        if not stat.S_ISFIFO(os.lstat(path).st_mode):
            return
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        time.sleep(0.5)
        os.close(fd)
        # And one blocked reading it: a writer that closes at once gives EOF.
        fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


class PathsTest(unittest.TestCase):
    maxDiff = None
    fifos = ()

    def tearDown(self):
        # First let go of a root process the old code left blocked on a
        # planted FIFO, or nothing below could end its session.
        for fifo in self.fifos:
            unblock_fifo(fifo)
        # Whatever an attack left running; never let one test's session
        # count against the next one's cap.
        try:
            end_all(ATTACKER, ADDR)
        except Exception:
            pass


class DisplaySocketTest(PathsTest):
    """ConnectSession hands out nothing but the session's own display server."""

    def attack(self, session, path, replace):
        r = gw.as_user(ATTACKER, PRELUDE + session + replace + CONNECT, timeout=120)
        self.assertFalse(r.get("reply", "").startswith("OK"),
                         f"ConnectSession handed out a uid-0 authenticated connection: {r}")
        self.assertNotIn("reply", r, f"ConnectSession handed out an fd to a socket that is not the display server: {r}")
        self.assertIn(r.get("error"), (E + "SessionFailed", E + "Failed"), r)
        self.assertNotIn("terminate_error", r)
        return r

    def test_vnc_socket_symlink_to_system_bus(self):
        r = self.attack(VNC_SESSION, VNC_PATH, replace_with_symlink(VNC_PATH, TARGETS["system_bus"]))
        # Reached as mallory, dbus-daemon accepts; the peer check refuses.
        self.assertEqual(r["error"], E + "SessionFailed")
        self.assertIn("not the session's display server", r["message"])
        gw.wait_journal("is not the session's display server", "-t", "rsm-session", f"RSM_SESSION_ID={r['sid']}")

    def test_vnc_socket_symlink_to_executor_socket(self):
        self.attack(VNC_SESSION, VNC_PATH, replace_with_symlink(VNC_PATH, TARGETS["executor_socket"]))

    def test_vnc_socket_symlink_to_systemd_private(self):
        self.attack(VNC_SESSION, VNC_PATH, replace_with_symlink(VNC_PATH, TARGETS["systemd_private"]))

    def test_vnc_socket_replaced_by_own_listener(self):
        r = self.attack(VNC_SESSION, VNC_PATH, replace_with_listener(VNC_PATH))
        self.assertEqual(r["error"], E + "SessionFailed")

    def test_x11_socket_symlink_to_system_bus(self):
        r = self.attack(XVFB_SESSION, X11_PATH, replace_with_symlink(X11_PATH, TARGETS["system_bus"]))
        self.assertEqual(r["error"], E + "SessionFailed")

    def test_x11_socket_symlink_to_executor_socket(self):
        self.attack(XVFB_SESSION, X11_PATH, replace_with_symlink(X11_PATH, TARGETS["executor_socket"]))

    def test_x11_socket_symlink_to_systemd_private(self):
        self.attack(XVFB_SESSION, X11_PATH, replace_with_symlink(X11_PATH, TARGETS["systemd_private"]))

    def test_x11_socket_replaced_by_own_listener(self):
        r = self.attack(XVFB_SESSION, X11_PATH, replace_with_listener(X11_PATH))
        self.assertEqual(r["error"], E + "SessionFailed")

    def test_untouched_sockets_still_connect(self):
        # The control: the checks let the real display servers through.
        code = PRELUDE + """
out = {}
sid, _ = sc.create_session(g, type="xvnc", new=True, timeout=60)
fds, details = sc.connect_session(g, sid, timeout=30)
out["rfb"] = list(sc.rfb_handshake(fds["display"])[:2])
for f in fds.values():
    f.close()
g.TerminateSession(sid, timeout=30)
sid, _ = sc.create_session(g, type="xvfb", new=True, timeout=60)
fds, details = sc.connect_session(g, sid, timeout=30)
setup = sc.x11_handshake(fds["display"], details["xauth_name"], details["xauth_data"])
out["x11"] = bool(setup.success)
for f in fds.values():
    f.close()
g.TerminateSession(sid, timeout=30)
print(json.dumps(out))
"""
        r = gw.as_user(ATTACKER, code, timeout=120)
        self.assertEqual(r, {"rfb": [1024, 768], "x11": True})


class LockFifoTest(PathsTest):
    """A FIFO at /tmp/.X<n>-lock never blocks the manager."""

    def test_lock_fifo_does_not_freeze_the_manager(self):
        r = gw.as_user(ATTACKER, PRELUDE + XVFB_SESSION + """
n = int(display[1:])
os.mkfifo(f"/tmp/.X{n}-lock", 0o644)
g.TerminateSession(sid, timeout=30)
print(json.dumps({"sid": sid, "n": n}))
""", timeout=120)
        fifo = f"/tmp/.X{r['n']}-lock"
        self.addCleanup(lambda: os.path.exists(fifo) and os.unlink(fifo))
        self.fifos = [fifo]
        g = login(ATTACKER, ADDR)
        try:
            # Until the manager has buried the session, and a moment after:
            # every Ping answers within 2 s.
            deadline = time.monotonic() + 30
            while r["sid"] in {s["id"] for s in sc.list_sessions(g, timeout=2)}:
                self.assertLess(ping(), 2.0)
                self.assertLess(time.monotonic(), deadline, "the session never went")
                time.sleep(0.1)
            for _ in range(10):
                self.assertLess(ping(), 2.0)
                time.sleep(0.1)
            wait(lambda: scope_gone(r["sid"]), 30, "the scope to go")
        except dbus.exceptions.DBusException as e:
            self.fail(f"the manager stopped answering: {e.get_dbus_name()}: {e.get_dbus_message()}")
        finally:
            g.Close()
        # The FIFO is still there (rsm never touches it), and the number is
        # handed out again: nothing outside rsm holds it.
        self.assertTrue(stat.S_ISFIFO(os.lstat(fifo).st_mode))
        again = gw.as_user(ATTACKER, PRELUDE + XVFB_SESSION + """
g.TerminateSession(sid, timeout=30)
print(json.dumps({"n": int(display[1:])}))
""", timeout=120)
        self.assertEqual(again["n"], r["n"])


# Runs as mallory after PRELUDE with `plant(path)` defined: a second process
# polls ListSessions on its own connection for the new session's id and
# plants at its Xauthority path at once, while this one waits in
# CreateSession. mkfifo/symlink fail with EEXIST if the leader had already
# written the file, so "planted" says the race was won.
XAUTH_RACE = """
import json as _json
known = {s["id"] for s in sc.list_sessions(g)}
r, w = os.pipe()
child = os.fork()
if child == 0:
    os.close(r)
    out = {"planted": False}
    try:
        g2 = gw.gateway()
        g2.LoginWithPassword("mallory", "mallory-pw", gw.client("127.0.0.1"), timeout=60)
        os.write(w, b"R")  # ready: the parent may call CreateSession
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = [s["id"] for s in sc.list_sessions(g2) if s["id"] not in known]
            if new:
                path = f"/run/rsm/user/{uid}/Xauthority-{new[0]}"
                try:
                    plant(path)
                    out["planted"] = True
                except FileExistsError:
                    out["lost"] = True
                out["sid"] = new[0]
                break
    except Exception as e:
        out["child_error"] = repr(e)
    os.write(w, _json.dumps(out).encode())
    os._exit(0)
os.close(w)
assert os.read(r, 1) == b"R"
result = {}
start = time.monotonic()
try:
    sid, _ = sc.create_session(g, type="xvfb", new=True, timeout=30)
    result["sid"] = sid
    result["created"] = True
except dbus.exceptions.DBusException as e:
    result["error"] = e.get_dbus_name()
    result["message"] = e.get_dbus_message()
result["create_seconds"] = time.monotonic() - start
data = b""
while True:
    chunk = os.read(r, 4096)
    if not chunk:
        break
    data += chunk
os.waitpid(child, 0)
result.update(_json.loads(data.decode()))
if result.get("created"):
    fds, details = sc.connect_session(g, result["sid"], timeout=30)
    setup = sc.x11_handshake(fds["display"], details["xauth_name"], details["xauth_data"])
    result["x11"] = bool(setup.success)
    path = f"/run/rsm/user/{uid}/Xauthority-{result['sid']}"
    st = os.lstat(path)
    result["regular"] = os.path.isfile(path) and not os.path.islink(path)
    result["owner"] = st.st_uid
    for f in fds.values():
        f.close()
if "sid" in result:
    try:
        g.TerminateSession(result["sid"], timeout=30)
        result["terminated"] = True
    except dbus.exceptions.DBusException as e:
        result["terminate_error"] = e.get_dbus_name() + ": " + e.get_dbus_message()
print(json.dumps(result))
"""


class XauthorityPlantTest(PathsTest):
    """What the user plants at the Xauthority path never blocks or redirects
    the root session leader."""

    attempts = 3

    def plant_attack(self, plant_code):
        for _ in range(self.attempts):
            r = gw.as_user(ATTACKER, PRELUDE + plant_code + XAUTH_RACE, timeout=180)
            if r.get("sid"):
                self.fifos = [*self.fifos, f"/run/rsm/user/{pwd.getpwnam(ATTACKER).pw_uid}/Xauthority-{r['sid']}"]
            if r.get("planted") or "error" in r:
                return r
            # Lost the race (the leader was faster): the session is over; again.
        self.fail(f"could not plant before the leader wrote the file in {self.attempts} attempts: {r}")

    def check_session_survived(self, r):
        self.assertNotIn("child_error", r)
        self.assertTrue(r.get("planted"), r)
        self.assertTrue(r.get("created"), f"CreateSession failed or never answered: {r}")
        self.assertLess(r["create_seconds"], 30)
        self.assertTrue(r["x11"], r)
        self.assertTrue(r["regular"], r)
        self.assertEqual(r["owner"], pwd.getpwnam(ATTACKER).pw_uid)
        self.assertTrue(r.get("terminated"), r)
        wait(lambda: scope_gone(r["sid"]), 30, "the session's scope to go")
        # Nothing of the session is left, root or not.
        wait(lambda: not pids(ATTACKER, "Xvfb"), 20, "Xvfb to go")

    def test_fifo_at_xauthority_path(self):
        r = self.plant_attack("""
def plant(path):
    os.mkfifo(path, 0o666)
""")
        self.check_session_survived(r)

    def test_symlink_to_shadow_at_xauthority_path(self):
        before = sha256("/etc/shadow")
        mode = os.stat("/etc/shadow").st_mode
        r = self.plant_attack("""
def plant(path):
    os.symlink("/etc/shadow", path)
""")
        self.assertEqual(sha256("/etc/shadow"), before)
        self.assertEqual(os.stat("/etc/shadow").st_mode, mode)
        self.check_session_survived(r)


class LoginLimitsTest(PathsTest):
    """A session's processes start like a login's."""

    LIMITS_D = "/etc/security/limits.d/60-rsm-systest-paths.conf"

    def tearDown(self):
        if os.path.exists(self.LIMITS_D):
            os.unlink(self.LIMITS_D)
        super().tearDown()

    @staticmethod
    def nofile(pid):
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return int(soft), int(hard)
        raise AssertionError(f"no open-files limit for pid {pid}")

    @staticmethod
    def umask(pid):
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
        raise AssertionError(f"no umask for pid {pid}")

    def set_login_defs_umask(self, mask):
        """UMASK in /etc/login.defs for this test (put back after): one the
        manager's own umask (systemd's default 0022) cannot pass for."""
        with open("/etc/login.defs") as f:
            original = f.read()
        self.addCleanup(lambda: open("/etc/login.defs", "w").write(original))
        lines = [line for line in original.splitlines() if not line.split()[:1] == ["UMASK"]]
        with open("/etc/login.defs", "w") as f:
            f.write("\n".join(lines + [f"UMASK\t\t{mask:03o}"]) + "\n")

    def session_xterm(self):
        g = login(ATTACKER, ADDR)
        self.addCleanup(g.Close)
        before = set(pids(ATTACKER, "xterm"))
        sc.create_session(g, type="xvnc", new=True, timeout=60)
        (xterm,) = wait(lambda: [p for p in pids(ATTACKER, "xterm") if p not in before], 30, "the session's xterm")
        return xterm

    def manager_hard_nofile(self):
        pid = int(run("systemctl", "show", "-P", "MainPID", "rsm-manager.service").stdout.strip())
        self.assertGreater(pid, 0)
        return self.nofile(pid)[1]

    def test_soft_nofile_1024_and_login_umask(self):
        self.set_login_defs_umask(0o027)
        xterm = self.session_xterm()
        soft, hard = self.nofile(xterm)
        self.assertEqual(soft, 1024)
        self.assertEqual(hard, self.manager_hard_nofile())
        # pam_umask (no options: UMASK of login.defs), and rsm's own setting
        # before the stack, agree.
        self.assertEqual(oct(self.umask(xterm)), oct(0o027))

    def test_limits_conf_applies(self):
        # pam_limits in the stack, after rsm's own reset: limits.conf wins.
        with open(self.LIMITS_D, "w") as f:
            f.write(f"{ATTACKER} soft nofile 2000\n")
        xterm = self.session_xterm()
        self.assertEqual(self.nofile(xterm)[0], 2000)


if __name__ == "__main__":
    unittest.main()
