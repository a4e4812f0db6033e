"""Desktop sessions against the container's real systemd, logind, PAM and
display servers (set up by scenarios/sessions.sh): create, connect with fd
hand-off, disconnect, reconnect, takeover, policy, limits, timers, crashes,
kill -9 of the manager and systemctl stop of it (with and without the
sockets)."""

import os
import signal
import time
import unittest

import dbus

import gw
import session_client as sc
import systest
from gw import E
from systest import end_all, pids, record, run, scope, scope_gone, sessions, unit_prop, wait

ADDR = "192.0.2.50"
DROPIN_DIR = "/etc/rsm/rsm.toml.d"


def login(user, addr=ADDR):
    return systest.login(user, addr)


def cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        return f.read().strip()


def reload_manager():
    r = run("systemctl", "reload", "rsm-manager.service")
    assert r.returncode == 0, r.stderr


def set_dropin(name, text):
    path = os.path.join(DROPIN_DIR, name)
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        with open(path, "w") as f:
            f.write(text)
    reload_manager()


class SessionTest(unittest.TestCase):
    def tearDown(self):
        for u in ("alice", "bob"):
            end_all(u, ADDR)


class XvncLifecycleTest(SessionTest):
    def test_create_connect_disconnect_reconnect_terminate(self):
        g = login("alice")
        sid, reused = sc.create_session(g, type="xvnc", width=1024, height=768, depth=24, new=True)
        self.assertRegex(sid, r"^[0-9a-f]{32}$")
        self.assertFalse(reused)

        # The reply came when the display was ready: the record is complete.
        s = sessions(g)[sid]
        self.assertEqual(s["state"], "disconnected")
        self.assertRegex(s["display"], r"^:\d+$")
        self.assertEqual((s["display_type"], s["width"], s["height"], s["depth"]), ("xvnc", 1024, 768, 24))
        rec = record(sid)
        self.assertEqual(rec["COMPLETE"], "1")
        self.assertEqual(rec["UNIT"], scope(sid))

        # The executor lives in its own scope in rsm.slice, the user's
        # processes in the logind session pam_systemd registered.
        self.assertEqual(unit_prop(scope(sid), "ActiveState"), "active")
        self.assertEqual(unit_prop(scope(sid), "Slice"), "rsm.slice")
        executor = int(rec["EXECUTOR_PID"])
        self.assertIn(f"/rsm.slice/{scope(sid)}", cgroup_of(executor))
        self.assertNotIn("rsm-manager.service", cgroup_of(executor))
        status = run("systemctl", "status", "--no-pager", scope(sid)).stdout
        self.assertIn("rsm-session", status)
        logind = rec["LOGIND_SESSION"]
        self.assertTrue(logind, "pam_systemd registered no logind session")
        props = dict(line.split("=", 1) for line in run("loginctl", "show-session", logind).stdout.split("\n")
                     if "=" in line)
        self.assertEqual(props["Name"], "alice")
        self.assertEqual(props["Remote"], "yes")
        self.assertEqual(props["RemoteHost"], ADDR)
        self.assertEqual(props["Type"], "x11")
        self.assertEqual(props["Class"], "user")
        self.assertEqual(props["Service"], "rsm")
        self.assertEqual(props["Display"], s["display"])
        self.assertIn(f"session-{logind}.scope", cgroup_of(int(rec["LEADER_PID"])))
        xvnc = pids("alice", "Xvnc")
        self.assertEqual(len(xvnc), 1, "Xvnc runs as alice")
        self.assertIn(f"session-{logind}.scope", cgroup_of(xvnc[0]))

        # Connect: the display fd speaks RFB, the control channel D-Bus.
        fds, details = sc.connect_session(g, sid, client_name="laptop")
        self.assertEqual(details["protocol"], "rfb")
        self.assertEqual(details["display"], s["display"])
        width, height, _name = sc.rfb_handshake(fds["display"])
        self.assertEqual((width, height), (1024, 768))
        ctl = sc.ControlChannel(fds["control"])
        info = ctl.call("GetSession")
        self.assertEqual(info["session_id"], sid)
        s = sessions(g)[sid]
        self.assertEqual(s["state"], "active")
        self.assertEqual((s["client_address"], s["client_name"]), (ADDR, "laptop"))

        # Closing the control channel marks the session disconnected.
        ctl.close()
        fds["display"].close()
        s = wait(lambda: (lambda x: x if x["state"] == "disconnected" else None)(sessions(g)[sid]), 20,
                 "disconnected state")
        self.assertGreater(s["disconnected_usec"], 0)

        # Create again: the policy (UBD) hands back the same session.
        sid2, reused = sc.create_session(g, type="xvnc", width=1024, height=768, depth=24)
        self.assertEqual((sid2, reused), (sid, True))
        fds, _ = sc.connect_session(g, sid)
        self.assertEqual(sc.rfb_handshake(fds["display"])[:2], (1024, 768))
        reconnects = "/home/alice/.rsm-reconnects"
        wait(lambda: os.path.exists(reconnects) and "reconnect DISPLAY=" + s["display"] in open(reconnects).read(),
             20, "the reconnect script")
        for f in fds.values():
            f.close()

        # systemctl stop of the scope ends the session cleanly.
        vnc_socket = f"/run/rsm/user/{s['uid']}/vnc-{sid}"
        self.assertTrue(os.path.exists(vnc_socket))
        self.assertEqual(run("systemctl", "stop", scope(sid)).returncode, 0)
        wait(lambda: sid not in sessions(g), 30, "the session to leave ListSessions")
        wait(lambda: record(sid) is None, 10, "the record to go")
        wait(lambda: not pids("alice", "Xvnc"), 20, "Xvnc to exit")
        wait(lambda: scope_gone(sid), 20, "the scope to go")
        wait(lambda: run("loginctl", "show-session", "-P", "State", logind).stdout.strip() in ("", "closing")
             and not pids("alice", "xterm"), 20, "the logind session to close")
        self.assertFalse(os.path.exists(vnc_socket))
        self.assertFalse(os.path.exists(f"/run/rsm/user/{s['uid']}/Xauthority-{sid}"))


class XvfbTest(SessionTest):
    def test_x11_display_fd_with_cookie(self):
        g = login("alice")
        sid, _ = sc.create_session(g, type="xvfb", width=800, height=600, depth=24, new=True)
        fds, details = sc.connect_session(g, sid)
        self.assertEqual(details["protocol"], "x11")
        self.assertEqual(details["xauth_name"], "MIT-MAGIC-COOKIE-1")
        self.assertEqual(len(details["xauth_data"]), 16)
        # A wrong cookie is refused by the server: the cookie is real.
        bad = sc.x11_handshake(fds["display"], "MIT-MAGIC-COOKIE-1", b"\0" * 16)
        self.assertFalse(bad.success)
        # A second connect takes over (the first display connection is cut:
        # done in this order, so that cutting a client that was the X
        # server's only one does not make Xvfb reset under the second).
        fds2, details = sc.connect_session(g, sid)
        setup = sc.x11_handshake(fds2["display"], details["xauth_name"], details["xauth_data"])
        self.assertTrue(setup.success, setup.reason)
        self.assertEqual((setup.width, setup.height), (800, 600))


class PolicyAndLimitsTest(SessionTest):
    def test_policy_letters_named_reconnect_new_and_per_user_cap(self):
        g = login("alice")
        a, reused = sc.create_session(g, type="null", width=800, height=600, depth=24)
        self.assertFalse(reused)
        self.assertEqual(sc.create_session(g, type="null", width=800, height=600, depth=24), (a, True))
        # B: another depth is another session; D: another geometry too.
        b, reused = sc.create_session(g, type="null", width=800, height=600, depth=16)
        self.assertNotEqual(b, a)
        self.assertFalse(reused)
        c, _ = sc.create_session(g, type="null", width=1024, height=768, depth=24)
        self.assertNotIn(c, (a, b))
        # Another type never matches.
        d, _ = sc.create_session(g, type="xvfb", width=800, height=600, depth=24)
        self.assertNotIn(d, (a, b, c))
        # Named: that very session; "new" with the cap (4) reached: refused.
        self.assertEqual(sc.create_session(g, type="null", session_id=b), (b, True))
        name, msg = gw.error_name(sc.create_session, g, type="null", new=True)
        self.assertEqual(name, E + "SessionLimit", msg)
        self.assertIn("alice", msg)
        # Another user cannot name, connect to or terminate alice's session.
        h = login("bob")
        self.assertEqual(gw.error_name(sc.create_session, h, type="null", session_id=a)[0], E + "NoSuchSession")
        self.assertEqual(gw.error_name(sc.connect_session, h, a)[0], E + "NoSuchSession")
        self.assertEqual(gw.error_name(h.TerminateSession, a)[0], E + "NoSuchSession")
        self.assertNotIn(a, sessions(h))
        # A terminated session stops counting at once it is gone.
        g.TerminateSession(d, timeout=30)
        wait(lambda: d not in sessions(g), 30, "the xvfb session to end")
        e, reused = sc.create_session(g, type="null", new=True)
        self.assertFalse(reused)

    def test_reload_moves_the_display_range(self):
        g = login("alice")
        first, _ = sc.create_session(g, type="xvfb", new=True)
        before = int(record(first)["DISPLAY_NUMBER"])
        try:
            set_dropin("70-range.toml", "[session]\ndisplay_first = 940\ndisplay_last = 941\n")
            second, _ = sc.create_session(g, type="xvfb", new=True)
            self.assertEqual(record(second)["DISPLAY_NUMBER"], "940")
            # The first session keeps its number and its display.
            self.assertEqual(int(record(first)["DISPLAY_NUMBER"]), before)
            self.assertEqual(record(first)["STATE"], "disconnected")
        finally:
            set_dropin("70-range.toml", None)

    def test_a_refused_create_keeps_the_password_login(self):
        # One display number: the second xvfb session finds none free.
        set_dropin("71-one.toml", "[session]\ndisplay_first = 950\ndisplay_last = 950\n")
        try:
            g1 = login("alice")
            first, _ = sc.create_session(g1, type="xvfb", new=True)
            executors = lambda: set(run("pgrep", "-x", "rsm-session").stdout.split())
            before = executors()
            g2 = login("alice")
            wait(lambda: len(executors() - before) == 1, 20, "the second login's executor")
            (login_executor,) = executors() - before
            name, msg = gw.error_name(sc.create_session, g2, type="xvfb", new=True)
            self.assertEqual(name, E + "SessionLimit", msg)
            g1.TerminateSession(first, timeout=30)
            wait(lambda: first not in sessions(g2), 30, "the first session to end")
            # The retry is opened by the executor that checked the password
            # (its PAM handle), not by a new account-mode one.
            second, reused = sc.create_session(g2, type="xvfb", new=True)
            self.assertFalse(reused)
            self.assertEqual(record(second)["EXECUTOR_PID"], login_executor)
        finally:
            set_dropin("71-one.toml", None)

    def test_bad_options_are_refused_with_the_reason(self):
        g = login("alice")
        for opts, needle in ((dict(type="wayland"), "type"), (dict(depth=7), "depth"),
                             (dict(width=10), "width"), (dict(desktop="../x"), "desktop"),
                             (dict(session_id="xyz"), "session_id"),
                             (dict(desktop="no-such-desktop"), "no-such-desktop")):
            name, msg = gw.error_name(sc.create_session, g, **opts)
            self.assertEqual(name, E + "InvalidArgument", msg)
            self.assertIn(needle, msg)
        name, msg = gw.error_name(sc.create_session, g, bogus=dbus.String("x"))
        self.assertEqual(name, E + "InvalidArgument")
        self.assertIn("bogus", msg)
        self.assertEqual(gw.error_name(gw.gateway().CreateSession, sc.options(type="null"))[0],
                         E + "NotAuthenticated")


class TakeoverTest(SessionTest):
    def test_second_gateway_takes_the_session_over(self):
        g1 = login("alice")
        sid, _ = sc.create_session(g1, type="null", new=True)
        fds1, _ = sc.connect_session(g1, sid, client_name="first")
        self.assertEqual(sorted(fds1), ["control"])
        ctl1 = sc.ControlChannel(fds1["control"])
        g2 = login("alice", addr="192.0.2.51")
        fds2, _ = sc.connect_session(g2, sid, client_name="second")
        name, args = ctl1.wait_signal("DisconnectRequested", timeout=10)
        self.assertIn("taken over", args[0])
        self.assertTrue(ctl1.wait_closed(10))
        s = sessions(g2)[sid]
        self.assertEqual((s["state"], s["client_name"], s["client_address"]), ("active", "second", "192.0.2.51"))
        # Either side may end the connection: the gateway asks to disconnect.
        ctl2 = sc.ControlChannel(fds2["control"])
        ctl2.call("Disconnect")
        wait(lambda: sessions(g2)[sid]["state"] == "disconnected", 10, "disconnected after Disconnect()")


class TimerTest(SessionTest):
    def tearDown(self):
        set_dropin("60-timers.toml", None)
        super().tearDown()

    def test_disconnected_limit_terminates(self):
        set_dropin("60-timers.toml", "[session]\ndisconnected_timeout = 2\n")
        g = login("alice")
        sid, _ = sc.create_session(g, type="null", new=True)
        fds, _ = sc.connect_session(g, sid)
        self.assertIn(sid, sessions(g))
        fds["control"].close()
        wait(lambda: sid not in sessions(g), 20, "the disconnected session to be terminated")
        self.assertTrue(gw.wait_journal("disconnected too long", "-o", "cat"))

    def test_reload_reaches_running_sessions(self):
        """A shorter limit after a reload applies to sessions already running,
        counted from when their countdown started (Executor1.SetLimits)."""
        g = login("alice")
        sid, _ = sc.create_session(g, type="null", new=True)
        fds, _ = sc.connect_session(g, sid)
        fds["control"].close()
        wait(lambda: sessions(g)[sid]["state"] == "disconnected", 20, "the session to be disconnected")
        set_dropin("60-timers.toml", "[session]\ndisconnected_timeout = 2\n")
        wait(lambda: sid not in sessions(g), 20, "the disconnected session to end under the reloaded limit")
        self.assertTrue(gw.wait_journal("takes the reloaded time limits", "-o", "cat"))

    def test_idle_limit_disconnects(self):
        set_dropin("60-timers.toml", "[session]\nidle_timeout = 2\n")
        g = login("alice")
        sid, _ = sc.create_session(g, type="null", new=True)
        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        name, args = ctl.wait_signal("DisconnectRequested", timeout=15)
        self.assertIn("idle", args[0])
        wait(lambda: sessions(g)[sid]["state"] == "disconnected", 10, "disconnected by the idle limit")

    def test_activity_keeps_an_idle_limited_session_connected(self):
        set_dropin("60-timers.toml", "[session]\nidle_timeout = 2\n")
        g = login("alice")
        sid, _ = sc.create_session(g, type="null", new=True)
        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            ctl.call("ReportActivity")
            with self.assertRaises(TimeoutError):
                ctl.wait_signal("DisconnectRequested", timeout=0.5)
        self.assertEqual(sessions(g)[sid]["state"], "active")

    def test_maximum_lifetime_terminates(self):
        set_dropin("60-timers.toml", "[session]\nmax_lifetime = 3\n")
        g = login("alice")
        sid, _ = sc.create_session(g, type="null", new=True)
        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        name, args = ctl.wait_signal("SessionEnding", timeout=20)
        self.assertIn("lifetime", args[0])
        wait(lambda: sid not in sessions(g), 20, "the session to end at its maximum lifetime")


class CrashTest(SessionTest):
    def test_display_server_crash_cleans_up(self):
        g = login("alice")
        sid, _ = sc.create_session(g, type="xvnc", new=True)
        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        rec = record(sid)
        (xvnc,) = pids("alice", "Xvnc")
        os.kill(xvnc, signal.SIGKILL)
        name, args = ctl.wait_signal("SessionEnding", timeout=20)
        self.assertIn("display server", args[0])
        self.assertTrue(ctl.wait_closed(20))
        wait(lambda: sid not in sessions(g), 20, "the session to go")
        wait(lambda: record(sid) is None and scope_gone(sid), 20, "record and scope to go")
        wait(lambda: not pids("alice", "xterm"), 20, "the session program to go")
        self.assertFalse(os.path.exists(f"/proc/{rec['EXECUTOR_PID']}"))
        self.assertFalse(os.path.exists(f"/run/rsm/user/{rec['UID']}/vnc-{sid}"))
        # Xvnc died without removing its socket (and lock, had it taken one):
        # the number is free again.
        n = rec["DISPLAY_NUMBER"]
        self.assertFalse(os.path.exists(f"/tmp/.X{n}-lock"))
        self.assertFalse(os.path.exists(f"/tmp/.X11-unix/X{n}"))

    def test_executor_crash_cleans_up_and_tells_the_gateway(self):
        g = login("alice")
        sid, _ = sc.create_session(g, type="xvnc", new=True)
        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        rec = record(sid)
        os.kill(int(rec["EXECUTOR_PID"]), signal.SIGKILL)
        # The gateway learns it from its control channel closing.
        self.assertTrue(ctl.wait_closed(20))
        wait(lambda: sid not in sessions(g), 20, "the session to go")
        wait(lambda: record(sid) is None and scope_gone(sid), 20, "record and scope to go")
        wait(lambda: not pids("alice", "Xvnc") and not pids("alice", "xterm"), 20, "the user's processes to go")
        wait(lambda: run("loginctl", "show-session", "-P", "State", rec["LOGIND_SESSION"]).stdout.strip()
             in ("", "closing"), 20, "the logind session to close")
        self.assertFalse(os.path.exists(f"/run/rsm/user/{rec['UID']}/vnc-{sid}"))

    def test_session_program_failure_is_reported(self):
        g = login("alice")
        with open("/home/alice/.xsession-broken", "w") as f:
            f.write("#!/bin/sh\nexit 3\n")
        os.chmod("/home/alice/.xsession-broken", 0o755)
        os.rename("/home/alice/.xsession", "/home/alice/.xsession-good")
        os.rename("/home/alice/.xsession-broken", "/home/alice/.xsession")
        try:
            sid, _ = sc.create_session(g, type="xvfb", new=True)
            # The display was ready, so the call succeeded; the session ends
            # when its program exits and leaves nothing behind.
            wait(lambda: sid not in sessions(g), 20, "the session to end with its program")
            wait(lambda: not pids("alice", "Xvfb") and scope_gone(sid), 20, "Xvfb and the scope to go")
            self.assertTrue(gw.wait_journal("session program exited with status 3", "-o", "cat"))
        finally:
            os.rename("/home/alice/.xsession", "/home/alice/.xsession-broken")
            os.rename("/home/alice/.xsession-good", "/home/alice/.xsession")

    def test_display_server_that_cannot_start_fails_the_create(self):
        set_dropin("61-broken.toml", '[display.xvfb]\nargv = ["/usr/bin/false", ":%d"]\n')
        try:
            g = login("alice")
            name, msg = gw.error_name(sc.create_session, g, type="xvfb", new=True)
            self.assertEqual(name, E + "SessionFailed", msg)
            self.assertIn("display server exited with status 1", msg)
            wait(lambda: not sessions(g), 20, "no session left")
        finally:
            set_dropin("61-broken.toml", None)


class DesktopEntryTest(SessionTest):
    """A desktop entry named in CreateSession: its Exec= runs, logind and the
    session see the entry's name as XDG_SESSION_DESKTOP and its DesktopNames
    as XDG_CURRENT_DESKTOP; a Wayland entry needs the null type."""

    def session_env(self, user):
        path = f"/home/{user}/.rsm-desktop-env"
        wait(lambda: os.path.exists(path) and open(path).read().endswith("END\n"), 30, "the desktop's environment")
        with open(path) as f:
            env = dict(line.split("=", 1) for line in f.read().splitlines() if "=" in line)
        os.unlink(path)
        return env

    def logind_desktop(self, user):
        ls = run("loginctl", "list-sessions", "--no-legend").stdout.splitlines()
        ids = [line.split()[0] for line in ls if f" {user} " in f" {line} "]
        self.assertEqual(len(ids), 1, ls)
        return run("loginctl", "show-session", ids[0], "-p", "Desktop", "-p", "Type", "--value").stdout.split()

    def test_x11_entry_names_the_desktop(self):
        g = login("alice")
        sid, _ = sc.create_session(g, type="xvfb", desktop="rsmtest", new=True)
        env = self.session_env("alice")
        self.assertEqual(env.get("XDG_SESSION_DESKTOP"), "rsmtest")
        self.assertEqual(env.get("XDG_CURRENT_DESKTOP"), "RsmTest:Extra")
        self.assertEqual(env.get("XDG_SESSION_TYPE"), "x11")
        self.assertEqual(record(sid).get("DESKTOP"), "rsmtest")
        self.assertEqual(self.logind_desktop("alice"), ["rsmtest", "x11"])

    def test_wayland_entry_needs_the_null_type(self):
        g = login("alice")
        name, msg = gw.error_name(sc.create_session, g, type="xvnc", desktop="rsmwl", new=True)
        self.assertEqual(name, E + "InvalidArgument", msg)
        self.assertIn("Wayland", msg)
        sc.create_session(g, type="null", desktop="rsmwl", new=True)
        env = self.session_env("alice")
        self.assertEqual(env.get("XDG_SESSION_TYPE"), "wayland")
        self.assertEqual(env.get("XDG_SESSION_DESKTOP"), "rsmwl")
        self.assertEqual(env.get("XDG_CURRENT_DESKTOP"), "RsmWl")
        self.assertEqual(self.logind_desktop("alice"), ["rsmwl", "wayland"])


class ManagerCrashTest(SessionTest):
    def test_kill_9_of_the_manager_loses_no_session(self):
        g = login("alice")
        ids = [sc.create_session(g, type="xvnc", new=True)[0]]
        ids += [sc.create_session(g, type="null", new=True)[0] for _ in range(2)]
        fds, _ = sc.connect_session(g, ids[1])
        ctl = sc.ControlChannel(fds["control"])
        before = sessions(g)
        xvnc = pids("alice", "Xvnc")
        old_pid = int(unit_prop("rsm-manager.service", "MainPID"))
        os.kill(old_pid, signal.SIGKILL)
        wait(lambda: unit_prop("rsm-manager.service", "MainPID") not in ("0", str(old_pid))
             and unit_prop("rsm-manager.service", "ActiveState") == "active", 30, "the manager to restart")
        g2 = login("alice")
        after = wait(lambda: (lambda s: s if set(s) == set(ids) else None)(sessions(g2)), 30,
                     "all three sessions to be back")
        for sid in ids:
            for key in ("state", "display", "display_type", "created_usec", "width", "height", "depth"):
                self.assertEqual(after[sid][key], before[sid][key], f"{sid} {key}")
            self.assertEqual(record(sid)["COMPLETE"], "1")
        self.assertEqual(pids("alice", "Xvnc"), xvnc, "Xvnc kept running")
        self.assertFalse(ctl.closed, "the connected gateway's control channel survived")
        self.assertEqual(ctl.call("GetSession")["session_id"], ids[1])
        # Every session is connectable through the new manager.
        fds0, _ = sc.connect_session(g2, ids[0])
        self.assertEqual(len(sc.rfb_handshake(fds0["display"])), 3)
        for sid in ids[1:]:
            f, _ = sc.connect_session(g2, sid)
            self.assertIn("control", f)
        self.assertTrue(gw.wait_journal("Session recovered after a manager restart", "-o", "cat"))


class ManagerStopTest(SessionTest):
    """systemctl stop rsm-manager.service makes systemd drop the fd store, so
    the executors' links reach EOF: they re-announce their sessions on
    /run/rsm/executor.sock, which starts the manager again. (Longer outages,
    with the sockets stopped too, and crash loops: outage_test.py.)"""

    SOCKETS = ("rsm-manager.socket", "rsm-manager-executor.socket")
    SERVICE = "rsm-manager.service"

    def setUp(self):
        # Each test starts the manager several times within seconds: start
        # with a fresh start-rate budget (StartLimitBurst=), not the one the
        # tests before used up.
        run("systemctl", "reset-failed", self.SERVICE, *self.SOCKETS)
        # Journal lines of this test only.
        self.since = f"@{int(time.time()) - 1}"

    def tearDown(self):
        # Whatever a test stopped, both sockets listen again for the others.
        run("systemctl", "reset-failed", self.SERVICE, *self.SOCKETS)
        r = run("systemctl", "start", *self.SOCKETS)
        self.assertEqual(r.returncode, 0, r.stderr)
        super().tearDown()

    def two_sessions(self):
        """An xvnc and a null session of alice; the null one connected, its
        control channel held open."""
        g = login("alice")
        ids = (sc.create_session(g, type="xvnc", new=True)[0], sc.create_session(g, type="null", new=True)[0])
        fds, _ = sc.connect_session(g, ids[1], client_name="held")
        ctl = sc.ControlChannel(fds["control"])
        return g, ids, ctl

    def manager_restarted(self, old_pid):
        return (unit_prop(self.SERVICE, "ActiveState") == "active"
                and unit_prop(self.SERVICE, "MainPID") not in ("0", str(old_pid)))

    def test_stop_of_the_manager_keeps_the_sessions(self):
        g, ids, ctl = self.two_sessions()
        before = sessions(g)
        records = {sid: record(sid) for sid in ids}
        xvnc = pids("alice", "Xvnc")
        self.assertEqual(len(xvnc), 1)
        old_pid = int(unit_prop(self.SERVICE, "MainPID"))
        r = run("systemctl", "stop", self.SERVICE)
        self.assertEqual(r.returncode, 0, r.stderr)

        # Nobody touches the gateway socket: the executors' re-announce on the
        # executor socket starts the manager, which writes the records again.
        wait(lambda: self.manager_restarted(old_pid), 30, "the executor socket to start the manager")
        wait(lambda: all((record(sid) or {}).get("COMPLETE") == "1" for sid in ids), 30,
             "the re-announced records")
        for sid in ids:
            rec = record(sid)
            for key in ("EXECUTOR_PID", "LEADER_PID", "CREATED_USEC", "DISPLAY", "LOGIND_SESSION", "UNIT"):
                self.assertEqual(rec[key], records[sid][key], f"{sid} {key}")
        self.assertTrue(gw.wait_journal("re-announcing the session on /run/rsm/executor.sock",
                                        "--since", self.since, "-o", "cat"))
        self.assertTrue(gw.wait_journal("Session re-announced by its executor after a stop of the manager",
                                        "--since", self.since, "-o", "cat"))

        # A new login sees both sessions complete, with the same ids and times.
        g2 = login("alice")
        after = wait(lambda: (lambda s: s if set(s) == set(ids) else None)(sessions(g2)), 30,
                     "both sessions in ListSessions")
        for sid in ids:
            self.assertEqual(after[sid], before[sid], sid)
        self.assertEqual(after[ids[1]]["state"], "active")
        self.assertEqual(pids("alice", "Xvnc"), xvnc, "Xvnc kept running")
        self.assertFalse(ctl.closed, "the held control channel survived")
        self.assertEqual(ctl.call("GetSession")["session_id"], ids[1])
        fds, _ = sc.connect_session(g2, ids[0])
        self.assertEqual(sc.rfb_handshake(fds["display"])[:2], (1024, 768))
        fds["display"].close()
        fds["control"].close()

        # The re-announced links are in the new manager's fd store and watched
        # by their executors: a kill -9 now is survived as before.
        mid_pid = int(unit_prop(self.SERVICE, "MainPID"))
        os.kill(mid_pid, signal.SIGKILL)
        wait(lambda: self.manager_restarted(mid_pid), 30, "the manager to restart after kill -9")
        g3 = login("alice")
        wait(lambda: set(sessions(g3)) == set(ids)
             and all((record(sid) or {}).get("COMPLETE") == "1" for sid in ids), 30, "both sessions back after kill -9")
        self.assertEqual(pids("alice", "Xvnc"), xvnc)
        self.assertEqual(ctl.call("GetSession")["session_id"], ids[1])
        ctl.close()


class WithoutPamSystemdTest(SessionTest):
    def tearDown(self):
        set_dropin("62-pam.toml", None)
        super().tearDown()

    def test_stack_without_pam_systemd_keeps_everything_in_the_scope(self):
        set_dropin("62-pam.toml", '[pam]\nservice = "rsm-nosystemd"\n')
        g = login("alice")
        sid, _ = sc.create_session(g, type="xvfb", new=True)
        rec = record(sid)
        self.assertEqual(rec["LOGIND_SESSION"], "")
        self.assertIn(f"/rsm.slice/{scope(sid)}", cgroup_of(int(rec["LEADER_PID"])))
        (xvfb,) = pids("alice", "Xvfb")
        self.assertIn(f"/rsm.slice/{scope(sid)}", cgroup_of(xvfb))
        g.TerminateSession(sid, timeout=30)
        wait(lambda: sid not in sessions(g) and scope_gone(sid) and not pids("alice", "Xvfb"), 30,
             "the session to end")


class UnprivilegedGatewayTest(SessionTest):
    def test_a_gateway_running_as_the_user_gets_a_working_control_channel(self):
        # The control socket's peer credentials are the executor's (root);
        # a gateway running as alice authenticates with its own uid and is
        # accepted: holding the fd is what authorises it.
        out = gw.as_user("alice", """
import session_client as sc
g = gw.gateway()
g.LoginWithCredentials(timeout=60)
sid, _ = sc.create_session(g, type="null", new=True)
fds, _ = sc.connect_session(g, sid)
ch = sc.ControlChannel(fds["control"])
info = ch.call("GetSession")
ch.call("ReportActivity")
print(json.dumps({"sid": sid, "seen": info["session_id"], "user": info["user"]}))
""")
        self.assertEqual(out["seen"], out["sid"])
        self.assertEqual(out["user"], "alice")


if __name__ == "__main__":
    unittest.main()
