"""Security, area "loop": nothing a local user does blocks the manager's loop
or makes it speak for someone else, and the hardened unit still runs
desktops.

- GetSessionByPID on org.rsm.Manager1 for a process mallory put in a user
  unit of her own named rsm-session-<alice's id>.scope answers
  NoSessionForPID (to root as to her), never alice's session;
- while mallory floods org.rsm.Manager1 from many raw system-bus
  connections (ListSessions, GetSession, property reads, pipelined, replies
  never read), root's and alice's admin calls on fresh connections and
  Peer.Ping on the gateway socket keep answering within 2 s;
- after `kill -9` of the manager with one session whose executor is
  SIGSTOPped (it never writes its resync marker), the new manager answers
  Peer.Ping on the gateway socket within 1 s of its start and lists the
  other sessions; the stopped one comes back once its executor runs again;
- `systemd-analyze security rsm-manager.service` is at most 9.4, and an
  xvnc session still starts under the hardened unit: its xterm runs without
  no_new_privs or seccomp, with the full capability bounding set and the
  host's namespaces (so sudo and setuid programs work in sessions), and
  with the login umask.

Logins are password logins through the gateway socket.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

import dbus

import gw
import session_client as sc
from systest import end_all, login, pids, ping, record, run, unit_prop, wait

HERE = os.path.dirname(os.path.abspath(__file__))
ADDR = "192.0.2.99"
SERVICE = "rsm-manager.service"
MANAGER_BUS = "org.rsm.Manager1"
MANAGER_PATH = "/org/rsm/Manager1"
NO_SESSION_FOR_PID = "org.rsm.Error.NoSessionForPID"
SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
MAX_EXPOSURE = 9.4




def main_pid():
    return int(unit_prop(SERVICE, "MainPID") or 0)


def new_session(g, kind="xvnc"):
    sid, _ = sc.create_session(g, type=kind, new=True, timeout=90)
    return sid


def pid_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def by_pid_as(user, pid):
    """Manager1.GetSessionByPID(pid) as `user` on a fresh system-bus
    connection: ("ok", path) or ("error", name)."""
    return gw.as_user(user, f"""
bus = dbus.bus.BusConnection({SYSTEM_BUS!r})
try:
    p = bus.call_blocking({MANAGER_BUS!r}, {MANAGER_PATH!r}, {MANAGER_BUS!r}, "GetSessionByPID", "u", [{pid}],
                          timeout=10)
    print(json.dumps(["ok", str(p)]))
except dbus.exceptions.DBusException as e:
    print(json.dumps(["error", e.get_dbus_name()]))
""")


# A raw D-Bus client (no library: it must never read what it is sent).
FLOOD = r"""
import json, os, select, socket, struct, sys, time

def pad(b, n):
    b += b"\0" * ((-len(b)) % n)

def string(b, s):
    pad(b, 4)
    s = s.encode()
    b += struct.pack("<I", len(s)) + s + b"\0"

def message(path, interface, member, destination, signature="", args=()):
    body = bytearray()
    for a in args:
        string(body, a)
    fields = bytearray()
    for code, kind, value in ((1, "o", path), (2, "s", interface), (3, "s", member), (6, "s", destination)) + \
            (((8, "g", signature),) if signature else ()):
        pad(fields, 8)
        fields += bytes([code, 1]) + kind.encode() + b"\0"
        if kind == "g":
            fields += bytes([len(value)]) + value.encode() + b"\0"
        else:
            string(fields, value)
    out = bytearray(b"l\1\0\1") + struct.pack("<III", len(body), 0, len(fields)) + fields
    pad(out, 8)
    return bytes(out + body)

M, MP = "org.rsm.Manager1", "/org/rsm/Manager1"
kinds = [message(MP, "org.freedesktop.DBus.Properties", "Get", M, "ss", (M, "NSessions")),
         message(MP, M, "ListSessions", M),
         message(MP, "org.freedesktop.DBus.Properties", "Get", M, "ss", (M, "Version")),
         message(MP, M, "GetSession", M, "s", (sys.argv[3],))]
# "bus": every other call goes to the bus daemon itself, which keeps it busy
# (the round trip a synchronous lookup would wait for gets longer).
if len(sys.argv) > 6 and sys.argv[6] == "bus":
    driver = message("/org/freedesktop/DBus", "org.freedesktop.DBus", "GetConnectionUnixUser",
                     "org.freedesktop.DBus", "s", (":1.1",))
    kinds = [k for pair in zip(kinds, [driver] * len(kinds)) for k in pair]
hello = message("/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello", "org.freedesktop.DBus")

def batch(serial, n):
    out = bytearray()
    for i in range(n):
        m = bytearray(kinds[(serial + i) % len(kinds)])
        struct.pack_into("<I", m, 8, serial + i)
        out += m
    return out

conns = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect("/run/dbus/system_bus_socket")
    s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
    reply = b""
    while not reply.endswith(b"\r\n"):
        reply += s.recv(256)
    assert reply.startswith(b"OK"), reply
    m = bytearray(hello)
    struct.pack_into("<I", m, 8, 1)
    s.sendall(b"BEGIN\r\n" + m)
    s.setblocking(False)
    conns.append([s, bytearray(), 2])
print("ready", flush=True)
# Every connection queues `burst` more calls each `interval` seconds (well
# under the bus daemon's 128 pending replies per connection while the
# manager keeps up), and writes whatever its socket takes.
burst, interval = int(sys.argv[4]), float(sys.argv[5])
sent = 0
deadline = time.monotonic() + float(sys.argv[2])
next_burst = 0.0
while time.monotonic() < deadline:
    if time.monotonic() >= next_burst:
        for c in conns:
            c[1] += batch(c[2], burst)
            c[2] += burst
        next_burst = time.monotonic() + interval
    pending = [c[0] for c in conns if c[1]]
    _, writable, _ = select.select([], pending, [], min(0.05, max(0.0, next_burst - time.monotonic())))
    for c in conns:
        if c[0] not in writable:
            continue
        try:
            n = c[0].send(c[1])
        except BlockingIOError:
            continue
        sent += n
        del c[1][:n]
print(json.dumps({"bytes": sent, "calls": sum(c[2] - 2 for c in conns)}), flush=True)
"""

# 10 connections for 14 s, each queueing 50 calls every 0.2 s, half of them
# to the bus daemon itself: about 1250 calls a second reach the manager. On
# 2 busy cores the old manager (a blocking GetConnectionCredentials round
# trip per call) fell seconds behind at that rate; this one stays within
# about 0.1 s.
FLOOD_ARGS = ("10", "14")
FLOOD_PACE = ("50", "0.2", "bus")

# Runs as alice during the flood: her admin calls on fresh connections.
PROBE = r"""
import json, sys, time
import dbus
sid, until = sys.argv[1], time.monotonic() + float(sys.argv[2])
worst, errors, n = 0.0, [], 0
while time.monotonic() < until:
    bus = dbus.bus.BusConnection("unix:path=/run/dbus/system_bus_socket")
    for method, sig, args in (("GetSession", "s", [sid]), ("ListSessions", "", [])):
        t = time.monotonic()
        try:
            bus.call_blocking("org.rsm.Manager1", "/org/rsm/Manager1", "org.rsm.Manager1", method, sig, args,
                              timeout=5)
        except dbus.exceptions.DBusException as e:
            errors.append(method + ": " + e.get_dbus_name())
        worst = max(worst, time.monotonic() - t)
        n += 1
    bus.close()
    time.sleep(0.2)
print(json.dumps({"worst": worst, "errors": errors, "calls": n}))
"""


class LoopTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.alice = login("alice", ADDR)

    @classmethod
    def tearDownClass(cls):
        for user in ("alice", "mallory"):
            try:
                end_all(user, ADDR)
            except Exception as e:  # noqa: BLE001 - cleanup only
                print(f"# cleanup of {user}'s sessions: {e}", file=sys.stderr)
        run("loginctl", "disable-linger", "mallory")

    def alice_gw(self):
        """alice's gateway connection (a new login if a manager restart
        closed the old one)."""
        try:
            sc.list_sessions(self.alice, timeout=5)
        except dbus.exceptions.DBusException:
            type(self).alice = login("alice", ADDR)
        return self.alice

    # ------------------------------------------------------------ sd-login

    def test_user_unit_named_like_a_victim_scope_is_not_her_session(self):
        sid = new_session(self.alice_gw())
        uid = int(run("id", "-u", "mallory").stdout)
        self.assertEqual(run("loginctl", "enable-linger", "mallory").returncode, 0)
        wait(lambda: unit_prop(f"user@{uid}.service", "ActiveState") == "active", 30, "mallory's user manager")
        env = ["env", f"XDG_RUNTIME_DIR=/run/user/{uid}", f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{uid}/bus"]
        # Her own scope, named like alice's: a user unit, inside
        # user@<uid>.service (systemd-run --scope stays in the foreground).
        subprocess.Popen(["setpriv", "--reuid=mallory", "--regid=mallory", "--init-groups", *env,
                          "systemd-run", "--user", "--scope", f"--unit=rsm-session-{sid}", "--",
                          "sh", "-c", "echo $$ >/dev/shm/rsm-loop-fake-scope; exec sleep 300"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
        pid = int(wait(lambda: os.path.exists("/dev/shm/rsm-loop-fake-scope") and
                       open("/dev/shm/rsm-loop-fake-scope").read().strip(), 15, "the fake scope's process"))
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                cgroup = f.read()
            self.assertIn(f"/rsm-session-{sid}.scope", cgroup, "the attack needs the look-alike unit")
            # Root (an admin tool asking "whose session is this process in?").
            self.assertEqual(by_pid_as("root", pid), ["error", NO_SESSION_FOR_PID])
            # And mallory about her own process.
            self.assertEqual(by_pid_as("mallory", pid), ["error", NO_SESSION_FOR_PID])
            # The real thing still answers: alice's executor is in her session.
            executor = int(record(sid)["EXECUTOR_PID"])
            self.assertEqual(by_pid_as("root", executor)[0], "ok")
        finally:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.unlink("/dev/shm/rsm-loop-fake-scope")
            self.alice.TerminateSession(sid, timeout=30)

    # ------------------------------------------------------------ flooding

    def test_admin_calls_answer_while_another_client_floods(self):
        g = self.alice_gw()
        sid = new_session(g)
        flood = subprocess.Popen(["setpriv", "--reuid=mallory", "--regid=mallory", "--init-groups",
                                  "/usr/bin/python3", "-c", FLOOD, *FLOOD_ARGS, sid, *FLOOD_PACE],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True)
        try:
            self.assertEqual(flood.stdout.readline().strip(), "ready", flood.stderr.read() if flood.poll() else "")
            time.sleep(1)  # let the flood build up (it runs 14 s; the checks below take ~10 s)
            probe = subprocess.Popen(["setpriv", "--reuid=alice", "--regid=alice", "--init-groups",
                                      "/usr/bin/python3", "-c", PROBE, sid, "8"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
            worst = {"ping": 0.0, "root ListSessions": 0.0}
            until = time.monotonic() + 8
            while time.monotonic() < until:
                worst["ping"] = max(worst["ping"], ping(timeout=5))
                bus = dbus.bus.BusConnection(SYSTEM_BUS)
                t = time.monotonic()
                listed = bus.call_blocking(MANAGER_BUS, MANAGER_PATH, MANAGER_BUS, "ListSessions", "", [], timeout=5)
                worst["root ListSessions"] = max(worst["root ListSessions"], time.monotonic() - t)
                bus.close()
                self.assertIn(sid, [str(s[0]) for s in listed])
                time.sleep(0.2)
            out, err = probe.communicate(timeout=30)
            alice = json.loads(out) if out.strip() else {"worst": 99, "errors": [err], "calls": 0}
            self.assertIsNone(flood.poll(), "the flood must still be running during the checks")
        finally:
            flood.kill()
            flood_out, flood_err = flood.communicate(timeout=30)
            self.alice.TerminateSession(sid, timeout=30)
        print(f"# flood: {flood_out.strip()} {flood_err.strip()[-300:]}; worst latencies: {worst}, "
              f"alice: {alice}", file=sys.stderr)
        self.assertLess(worst["ping"], 2.0, worst)
        self.assertLess(worst["root ListSessions"], 2.0, worst)
        self.assertEqual(alice["errors"], [], alice)
        self.assertGreater(alice["calls"], 0, alice)
        self.assertLess(alice["worst"], 2.0, alice)

    # ------------------------------------------------------------ recovery

    def test_restart_does_not_wait_for_a_stopped_executor(self):
        g = self.alice_gw()
        stuck, fine = new_session(g), new_session(g)
        stuck_executor = int(record(stuck)["EXECUTOR_PID"])
        old = main_pid()
        os.kill(stuck_executor, signal.SIGSTOP)
        try:
            os.kill(old, signal.SIGKILL)
            pid = wait(lambda: (p := main_pid()) not in (0, old) and p, 30, "the new manager")
            ping(timeout=10)
            answered = time.monotonic()
            started = int(unit_prop(SERVICE, "ExecMainStartTimestampMonotonic")) / 1e6
            self.assertEqual(main_pid(), pid)
            self.assertLess(answered - started, 1.0, "Peer.Ping answered this long after the new manager started")
            g = login("alice", ADDR)
            type(self).alice = g
            listed = set(systest_sessions(g))
            self.assertIn(fine, listed)
            self.assertLess(time.monotonic() - started, 3.0, "the other session was listed this late")
        finally:
            os.kill(stuck_executor, signal.SIGCONT)
        # Dropped at the deadline, it re-announces itself once it runs again.
        wait(lambda: stuck in systest_sessions(self.alice_gw()), 40, "the stopped session to come back")
        for sid in (stuck, fine):
            self.alice_gw().TerminateSession(sid, timeout=30)

    # ------------------------------------------------------------ hardening

    def test_unit_exposure_is_at_most_the_recorded_figure(self):
        r = run("systemd-analyze", "security", "--no-pager", SERVICE, timeout=120)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
        self.assertIsNotNone(m, r.stdout[-2000:] + r.stderr)
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, r.stdout)
        self.assertEqual(unit_prop(SERVICE, "MemoryMax"), str(1 << 30))
        self.assertEqual(unit_prop(SERVICE, "DevicePolicy"), "closed")

    def test_hardened_unit_still_runs_desktops(self):
        before = set(pids("alice", "xterm"))
        sid = new_session(self.alice_gw())
        try:
            xterm = wait(lambda: sorted(set(pids("alice", "xterm")) - before), 30, "the session's xterm")[0]
            status, init = pid_status(xterm), pid_status(1)
            # What sudo, pkexec and setuid programs started from the desktop need.
            # (The container's init has nspawn's own seccomp filter: nothing
            # more than that may be stacked on the session.)
            self.assertEqual(status["NoNewPrivs"].strip(), "0")
            for key in ("Seccomp", "Seccomp_filters", "CapBnd"):
                self.assertEqual(status.get(key), init.get(key), key)
            for ns in ("mnt", "net", "ipc", "uts", "user", "cgroup", "pid"):
                self.assertEqual(os.readlink(f"/proc/{xterm}/ns/{ns}"), os.readlink(f"/proc/1/ns/{ns}"), ns)
            # The login umask, not the unit's UMask=.
            self.assertEqual(status["Umask"], "0022")
            # The manager is in its bounded cgroup; the session is not below it.
            with open(f"/proc/{xterm}/cgroup") as f:
                self.assertNotIn("rsm-manager.service", f.read())
        finally:
            self.alice_gw().TerminateSession(sid, timeout=30)


def systest_sessions(g):
    return {s["id"] for s in sc.list_sessions(g, timeout=10)}


if __name__ == "__main__":
    unittest.main()
