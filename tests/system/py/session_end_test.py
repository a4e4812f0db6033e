"""How a session ends (scenarios/session_end.sh): nothing of it is left.

The session program (~/.xsession) leaves processes outside its process group
(setsid, a daemon(3)-style double fork) and inside it (a plain double fork,
nohup), then runs an xterm. However the session ends (TerminateSession, its
lifetime limit, its program exiting, its leader killed outright), within 5 s
no process of the user is left outside the user's own manager
(user@<uid>.service, which logind stops on its own schedule), no logind
session of the user is left "closing", the rsm scope is gone, and the display
number is handed out again. A takeover cuts the old gateway's display fd off;
logout after the session program was killed is quick; the leader keeps none
of the executor's descriptors."""

import os
import select
import signal
import time
import unittest

import gw
import session_client as sc
import systest
from systest import record, run, scope, scope_gone, sessions, wait

ADDR = "192.0.2.60"
DROPIN = "/etc/rsm/rsm.toml.d/60-session-end.toml"
USER = "alice"
END_WITHIN = 5.0


def login(addr=ADDR):
    return systest.login(USER, addr)


def set_dropin(text):
    if text is None:
        if os.path.exists(DROPIN):
            os.unlink(DROPIN)
    else:
        with open(DROPIN, "w") as f:
            f.write(text)
    # A manager that is not running (socket activation, exit on idle)
    # reads the drop-in when it starts.
    r = run("systemctl", "try-reload-or-restart", "rsm-manager.service")
    assert r.returncode == 0, r.stderr


def uid(user=USER):
    return int(run("id", "-u", user).stdout)


def cgroup_of(pid):
    try:
        with open(f"/proc/{pid}/cgroup") as f:
            return f.read().strip()
    except OSError:
        return ""


def user_processes(user=USER):
    """{pid: "cmdline (cgroup)"} of the user's processes outside their user
    manager (user@<uid>.service: systemd --user and (sd-pam), shared by every
    session of the user and stopped by logind after UserStopDelaySec)."""
    out = {}
    manager = f"user@{uid(user)}.service"
    for pid in (int(p) for p in run("pgrep", "-u", user).stdout.split()):
        cg = cgroup_of(pid)
        if not cg or manager in cg:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out[pid] = f"{cmd} ({cg.splitlines()[-1]})"
    return out


def logind_sessions(user=USER):
    """{logind session id: State} of the user's logind sessions."""
    out = {}
    for line in run("loginctl", "list-sessions", "--no-legend").stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == user:
            out[fields[0]] = run("loginctl", "show-session", "-P", "State", fields[0]).stdout.strip()
    return out


def escaped_ones_running(user=USER):
    """The processes that leave the session program's process group run."""
    cmds = " ".join(user_processes(user).values())
    return "sleep 1000" in cmds and "time.sleep(1001)" in cmds


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def read_until_eof(sock, timeout):
    """True if the socket reaches EOF (recv returns b"") within timeout s;
    whatever data comes first is read and dropped."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if sock.recv(65536) == b"":
                return True
        except TimeoutError:
            return False
        except ConnectionError:
            return True


class SessionEndTest(unittest.TestCase):
    """Every check ends with nothing of the user left; what a failed check
    left behind is cleaned up here (by pid), so the next starts afresh."""

    def tearDown(self):
        set_dropin(None)
        for path in ("/home/alice/.rsm-exit-after",):
            if os.path.exists(path):
                os.unlink(path)
        try:
            systest.end_all(USER, ADDR)
        except Exception:  # noqa: BLE001 - cleanup of a failed check goes on
            pass
        for sid in logind_sessions():
            run("loginctl", "terminate-session", sid)
        for pid in user_processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        wait(lambda: not user_processes() and not logind_sessions(), 30, "the cleanup of the user's processes")

    def start(self, g, **opts):
        sid, _ = sc.create_session(g, new=True, **opts)
        rec = record(sid)
        self.assertTrue(rec and rec["LEADER_PID"], rec)
        return sid, rec

    def assert_nothing_left(self, g, sid, started, what):
        """Within END_WITHIN s of `started`: no process of the user, no
        logind session of theirs in closing, the scope and the session gone."""
        def gone():
            return (not user_processes() and "closing" not in logind_sessions().values()
                    and scope_gone(sid) and sid not in sessions(g))
        deadline = started + END_WITHIN
        while not gone():
            if time.monotonic() >= deadline:
                self.fail(f"{what}: {END_WITHIN} s later, left: processes {user_processes()}, "
                          f"logind sessions {logind_sessions()}, scope {systest.scope_state(sid)!r}, "
                          f"listed {sid in sessions(g)}")
            time.sleep(0.1)
        print(f"# {what}: everything gone {time.monotonic() - started:.2f} s after the end began", flush=True)


class EndOfSessionTest(SessionEndTest):
    def test_terminate_leaves_no_process_and_no_closing_logind_session(self):
        g = login()
        sid, rec = self.start(g, type="xvnc")
        self.assertTrue(rec["LOGIND_SESSION"], "pam_systemd registered no logind session")
        wait(escaped_ones_running, 20, "the session program's daemons")
        started = time.monotonic()
        g.TerminateSession(sid, timeout=30)
        self.assert_nothing_left(g, sid, started, "TerminateSession")

    def test_lifetime_limit_leaves_no_process(self):
        set_dropin("[session]\nmax_lifetime = 5\n")
        g = login()
        sid, _ = self.start(g, type="xvnc")
        wait(escaped_ones_running, 20, "the session program's daemons")
        # The end begins when the executor's timer fires, 5 s after the start.
        wait(lambda: (sessions(g).get(sid) or {}).get("state") != "disconnected", 20,
             "the lifetime limit to end the session")
        self.assert_nothing_left(g, sid, time.monotonic(), "max_lifetime")
        self.assertTrue(gw.wait_journal("maximum lifetime reached", "-o", "cat"))

    def test_session_program_exiting_leaves_no_process(self):
        with open("/home/alice/.rsm-exit-after", "w") as f:
            f.write("2\n")
        g = login()
        sid, _ = self.start(g, type="xvfb")
        wait(escaped_ones_running, 20, "the session program's daemons")
        # The program exits 2 s after it started (it started with the reply).
        wait(lambda: (sessions(g).get(sid) or {}).get("state") != "disconnected", 20,
             "the session program to exit")
        self.assert_nothing_left(g, sid, time.monotonic(), "session program exit")
        self.assertTrue(gw.wait_journal("session program exited with status 0", "-o", "cat"))

    def test_without_pam_systemd_the_scope_stop_ends_everything(self):
        set_dropin('[pam]\nservice = "rsm-nosystemd"\n')
        g = login()
        sid, rec = self.start(g, type="xvfb")
        self.assertEqual(rec["LOGIND_SESSION"], "")
        wait(escaped_ones_running, 20, "the session program's daemons")
        started = time.monotonic()
        g.TerminateSession(sid, timeout=30)
        self.assert_nothing_left(g, sid, started, "TerminateSession without pam_systemd")


class StartTimeoutTest(SessionEndTest):
    def test_a_start_stuck_in_pam_after_pam_systemd_leaves_no_logind_session(self):
        """pam_systemd registered the session and moved the leader into its
        session-<n>.scope; then a session module never returns, so the
        leader never says which logind session it is in. The start times
        out (startup_timeout + the manager's 30 s margin) and the sweep must
        still end that logind session: stopping the rsm scope does not
        reach the leader."""
        set_dropin('[pam]\nservice = "rsm-hang"\n[session]\nstartup_timeout = 3\n')
        g = login()
        name, message = gw.error_name(sc.create_session, g, type="xvfb", new=True)
        self.assertEqual(name, gw.E + "TimedOut", message)
        ended = time.monotonic()
        deadline = ended + 10
        while user_processes() or logind_sessions():
            if time.monotonic() >= deadline:
                self.fail(f"10 s after the timeout, left: processes {user_processes()}, "
                          f"logind sessions {logind_sessions()}")
            time.sleep(0.1)
        print(f"# stuck start: everything gone {time.monotonic() - ended:.2f} s after the timeout", flush=True)
        self.assertTrue(gw.wait_journal("Found the logind session of a session that never named it", "-o", "cat"))
        wait(lambda: not sessions(g), 10, "the start's entry to go")


class LeaderKilledTest(SessionEndTest):
    def test_sigkill_of_the_leader_takes_the_session_down(self):
        g = login()
        sid, rec = self.start(g, type="xvnc")
        number = rec["DISPLAY_NUMBER"]
        wait(lambda: systest.pids(USER, "Xvnc") and systest.pids(USER, "xterm"), 20, "Xvnc and the xterm")
        started = time.monotonic()
        os.kill(int(rec["LEADER_PID"]), signal.SIGKILL)
        self.assert_nothing_left(g, sid, started, "leader SIGKILL")
        self.assertFalse(systest.pids(USER, "Xvnc") or systest.pids(USER, "xterm"))
        # The number was held until its server was gone, and is free now.
        sid2, rec2 = self.start(g, type="xvnc")
        self.assertEqual(rec2["DISPLAY_NUMBER"], number, "the display number is handed out again")
        g.TerminateSession(sid2, timeout=30)


class TakeoverTest(SessionEndTest):
    def test_takeover_and_disconnect_cut_the_display_connection_off(self):
        g1 = login()
        sid, _ = self.start(g1, type="xvnc")
        fds1, _ = sc.connect_session(g1, sid, client_name="first")
        self.assertEqual(sc.rfb_handshake(fds1["display"])[:2], (1024, 768))
        ctl1 = sc.ControlChannel(fds1["control"])

        g2 = login(addr="192.0.2.61")
        fds2, _ = sc.connect_session(g2, sid, client_name="second")
        started = time.monotonic()
        self.assertTrue(read_until_eof(fds1["display"], 2.0),
                        "the first gateway's display fd reads EOF after the takeover")
        print(f"# takeover: EOF on the old display fd after {time.monotonic() - started:.3f} s", flush=True)
        self.assertTrue(ctl1.wait_closed(10))
        # The new one speaks to the display server.
        self.assertEqual(sc.rfb_handshake(fds2["display"])[:2], (1024, 768))

        # Disconnect cuts it off the same way.
        ctl2 = sc.ControlChannel(fds2["control"])
        ctl2.call("Disconnect")
        self.assertTrue(read_until_eof(fds2["display"], 2.0), "the display fd reads EOF after Disconnect")
        wait(lambda: sessions(g2)[sid]["state"] == "disconnected", 10, "disconnected after Disconnect()")
        for f in list(fds1.values()) + list(fds2.values()):
            f.close()
        ctl1.close()
        ctl2.close()


class ManyAtOnceTest(SessionEndTest):
    """Ending many sessions at once (Manager1.TerminateUser) ends every one
    without an error: the manager's sweep calls to systemd and logind stay
    under dbus-daemon's 128 replies per connection (a queue of 64 in
    flight), and the leaders' pam_close_session (pam_systemd's own system
    bus connection, as root) take one of 32 slots. Without the queue, 200
    sessions ending at once had sweeps refused ("Session scope not
    stopped", LimitsExceeded)."""

    MANY = 200

    def tearDown(self):
        run("busctl", "--system", "call", "org.rsm.Manager1", "/org/rsm/Manager1", "org.rsm.Manager1",
            "TerminateUser", "u", str(uid("carol")), timeout=120)
        try:
            wait(lambda: not logind_sessions("carol"), 60, "the cleanup of carol's sessions")
        finally:
            super().tearDown()

    def test_ending_many_sessions_at_once_has_no_error(self):
        set_dropin("[session]\nmax_sessions = 0\nmax_sessions_per_user = 0\n")
        g = systest.login("carol", ADDR)
        for _ in range(self.MANY):
            sc.create_session(g, type="null", new=True)
        self.assertEqual(len(logind_sessions("carol")), self.MANY)
        cursor = run("journalctl", "-q", "-n", "0", "--show-cursor").stdout.strip().split("cursor: ", 1)[-1]
        started = time.monotonic()
        r = run("busctl", "--system", "call", "org.rsm.Manager1", "/org/rsm/Manager1", "org.rsm.Manager1",
                "TerminateUser", "u", str(uid("carol")), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        wait(lambda: not sessions(g), 120, f"{self.MANY} sessions to end")
        wait(lambda: not logind_sessions("carol"), 60, "carol's logind sessions to go")
        print(f"# {self.MANY} sessions ended {time.monotonic() - started:.2f} s after TerminateUser", flush=True)
        problems = ("Session scope not stopped", "Cannot terminate the logind session", "Failed to release session",
                    "maximum number of pending replies", "Cannot kill the processes")
        log = run("journalctl", "-q", "--after-cursor", cursor, "-o", "cat").stdout.splitlines()
        bad = [line for line in log if any(p in line for p in problems)]
        self.assertEqual(bad[:5], [], f"{len(bad)} error lines while ending {self.MANY} sessions")
        g.Close()


class LeaderTest(SessionEndTest):
    def test_logout_after_the_session_program_is_killed_is_quick(self):
        g = login()
        sid, rec = self.start(g, type="xvnc")
        leader = int(rec["LEADER_PID"])
        wait(lambda: systest.pids(USER, "xterm"), 20, "the xterm")
        # The session program: startwm.sh, which exec'd ~/.xsession, which
        # exec'd xterm (the leader's other children are the display server
        # and what it adopted as their subreaper).
        (program,) = [p for p in children(leader) if comm(p) == "xterm"]
        pidfd = os.pidfd_open(leader)
        try:
            started = time.monotonic()
            os.kill(program, signal.SIGKILL)
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            self.assertTrue(poller.poll(10_000), "the leader exits")
            leader_gone = time.monotonic() - started
        finally:
            os.close(pidfd)
        wait(lambda: sid not in sessions(g), 10, "the session to leave ListSessions")
        unlisted = time.monotonic() - started
        print(f"# logout after SIGKILL of the session program: leader exit {leader_gone * 1000:.0f} ms, "
              f"gone from ListSessions {unlisted * 1000:.0f} ms (display_exit_grace was 500 ms)", flush=True)
        self.assertLess(leader_gone, 0.3)
        self.assertTrue(gw.wait_journal("session program killed by signal SIGKILL", "-o", "cat"))

    def test_leader_keeps_none_of_the_executors_descriptors(self):
        g = login()
        sid, rec = self.start(g, type="xvnc")
        leader, executor = rec["LEADER_PID"], rec["EXECUTOR_PID"]
        # fd 3 of the executor is its link to the manager.
        link = os.readlink(f"/proc/{executor}/fd/3")
        self.assertTrue(link.startswith("socket:"), link)
        held = {fd: os.readlink(f"/proc/{leader}/fd/{fd}") for fd in os.listdir(f"/proc/{leader}/fd")}
        self.assertNotIn(link, held.values(), f"the leader holds the manager link: {held}")
        for kind in ("[eventpoll]", "[timerfd]", "[pidfd]"):
            self.assertFalse([t for t in held.values() if t == "anon_inode:" + kind],
                             f"the leader holds the executor's {kind}: {held}")
        g.TerminateSession(sid, timeout=30)


if __name__ == "__main__":
    unittest.main()
