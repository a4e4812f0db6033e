"""org.rsm.Manager1 on the container's real system bus (set up by
scenarios/admin_bus.sh): bus activation, polkit decisions of the real polkitd
for remote users (the processes here have no logind session, so polkit
judges them by allow_any), the rsm-admins rules file, signals seen by
`busctl monitor`, and rsmctl's output and exit codes (rsmctl(1), EXIT STATUS).

Sessions are made through the gateway socket (type "null": no display
server, the session program is `sleep infinity`). Users act through
`setpriv --reuid=U --regid=U --init-groups`, as a remote user's process would.
unittest runs the classes in name order: A00ActivationTest must come first,
before anything talks to the manager.
"""

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import unittest

import gw
import session_client as sc
import systest
from systest import end_sessions, record, run, scope, scope_state, unit_prop, wait

ADDR = "192.0.2.60"
SERVICE = "rsm-manager.service"
BUS_NAME = "org.rsm.Manager1"
MANAGER_PATH = "/org/rsm/Manager1"
MANAGER = "org.rsm.Manager1"
SESSION_PREFIX = "/org/rsm/Manager1/session/"
RULES_SRC = "/usr/share/doc/rsm/examples/50-rsm-admins.rules"
RULES_DST = "/etc/polkit-1/rules.d/50-rsm-admins.rules"
NO_SUCH_ID = "0123456789abcdef0123456789abcdef"

# rsmctl(1), EXIT STATUS.
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_NO_SUCH, EXIT_DENIED = 0, 1, 2, 3, 4


# ------------------------------------------------------------------ helpers

def rsmctl(*args, user=None):
    return run("rsmctl", *args, user=user)


def describe(r):
    return f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"


def busctl_json(*args, user=None):
    """busctl --system --json=short ARGS; the parsed reply ({"type", "data"})."""
    r = run("busctl", "--system", "--json=short", *args, user=user)
    if r.returncode != 0:
        raise AssertionError("busctl " + " ".join(args) + " failed: " + describe(r))
    return json.loads(r.stdout)


def bus_list_sessions(user=None):
    """Manager1.ListSessions over the system bus with busctl: {id: (uid, user,
    state, type, display, path)}."""
    reply = busctl_json("call", BUS_NAME, MANAGER_PATH, MANAGER, "ListSessions", user=user)
    assert reply["type"] == "a(susssso)", reply
    return {s[0]: tuple(s[1:]) for s in reply["data"][0]}


def scope_gone(sid):
    """The session's scope has stopped: inactive, or no longer loaded at all
    (ActiveState of an unknown unit is "inactive" too); not "failed"."""
    return scope_state(sid) in ("inactive", "")


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def login(user):
    return systest.login(user, ADDR)


def gateway_ids(g):
    return {s["id"] for s in sc.list_sessions(g)}


def polkit_allows(user, action):
    """pkcheck for a process of `user` (no logind session, like the callers
    here): True if polkitd answers "authorized" without authentication."""
    r = run("sh", "-c", f"exec pkcheck --action-id {action} --process $$", user=user)
    return r.returncode == 0


def install_rules():
    shutil.copy(RULES_SRC, RULES_DST)
    os.chmod(RULES_DST, 0o644)
    # polkitd notices the change itself (inotify) and re-reads its rules.
    wait(lambda: polkit_allows("carol", "org.rsm.terminate-session"), 30,
         "polkitd to load the rsm-admins rules (carol authorized)")


def remove_rules():
    if os.path.exists(RULES_DST):
        os.unlink(RULES_DST)
    wait(lambda: not polkit_allows("carol", "org.rsm.terminate-session"), 30,
         "polkitd to drop the rsm-admins rules (carol no longer authorized)")


class BusMonitor:
    """`busctl --system --json=short monitor --match=sender=org.rsm.Manager1`
    in the background, its output in a file read with poll loops."""

    def __init__(self):
        self.out = tempfile.NamedTemporaryFile(prefix="rsm-monitor.", suffix=".json", delete=False)
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "busctl", "--system", "--json=short", "monitor", f"--match=sender={BUS_NAME}"],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)
        # Ready once it shows the manager's traffic.
        self.mark(20)

    def mark(self, timeout=10):
        """Makes the manager send a distinctive reply (an error naming a
        random session id) and returns its index in messages(): the manager
        sends in order, so everything it sent before the call comes before
        the index. The first calls may come before the monitor is in place,
        hence the retries."""
        token = secrets.token_hex(16)

        def index():
            run("busctl", "--system", "call", BUS_NAME, MANAGER_PATH, MANAGER, "GetSession", "s", token)
            for i, m in enumerate(self.messages()):
                if m.get("type") != "signal" and token in json.dumps(m.get("payload", {})):
                    return i + 1
            return None
        return wait(index, timeout, "busctl monitor to show the manager's traffic") - 1

    def messages(self):
        msgs = []
        with open(self.out.name) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        msgs.append(json.loads(line))
                    except ValueError:
                        pass  # a line still being written
        return msgs

    def signals(self, member, path=None):
        return [m for m in self.messages()
                if m.get("type") == "signal" and m.get("member") == member and (path is None or m.get("path") == path)]

    def wait_signal(self, what, pred, timeout=20):
        def found():
            for m in self.messages():
                if m.get("type") == "signal" and pred(m):
                    return m
            return None
        try:
            return wait(found, timeout, what)
        except AssertionError:
            raise AssertionError(f"no {what} in busctl monitor's output:\n" + open(self.out.name).read()[-4000:])

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()
        os.unlink(self.out.name)


def bus_path(sid):
    """The object path of a session, escaped as sd_bus_path_encode() does
    (bus_label_escape: every byte but [A-Za-z0-9], and a leading digit,
    becomes _XX), e.g. "0f..." -> "/org/rsm/Manager1/session/_30f...".
    The tests compare it with the paths the manager hands out."""
    out = []
    for i, ch in enumerate(sid):
        if ch.isascii() and (ch.isalpha() or (ch.isdigit() and i > 0)):
            out.append(ch)
        else:
            out.extend("_%02x" % b for b in ch.encode())
    return SESSION_PREFIX + ("".join(out) or "_")


def payload(m):
    return m.get("payload", {}).get("data", [])


# ------------------------------------------------------------------- tests

class A00ActivationTest(unittest.TestCase):
    """Runs first (unittest sorts classes by name): nothing has talked to the
    manager yet."""

    def test_a_bus_call_activates_the_manager(self):
        activatable = run("busctl", "--system", "list", "--activatable", "--no-legend").stdout
        self.assertIn(BUS_NAME, activatable)
        self.assertEqual(run("systemctl", "is-active", SERVICE).stdout.strip(), "inactive")
        self.assertEqual(unit_prop(SERVICE, "ExecMainStartTimestampMonotonic"), "0", "never started before")
        # An unprivileged user introspecting the object starts the manager.
        r = run("busctl", "--system", "introspect", BUS_NAME, MANAGER_PATH, user="alice")
        self.assertEqual(r.returncode, 0, describe(r))
        for member in ("org.rsm.Manager1", "ListSessions", "TerminateSession", "SessionNew", "SessionRemoved",
                       "NSessions", "Version"):
            self.assertIn(member, r.stdout)
        self.assertEqual(run("systemctl", "is-active", SERVICE).stdout.strip(), "active")
        # The name's owner is the service's main process.
        owner = busctl_json("call", "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                            "GetConnectionUnixProcessID", "s", BUS_NAME)["data"][0]
        self.assertEqual(str(owner), unit_prop(SERVICE, "MainPID"))
        self.assertEqual(unit_prop(SERVICE, "NRestarts"), "0")


class AdminTestBase(unittest.TestCase):
    def setUp(self):
        self.gateways = {}
        self.addCleanup(self.end_all)

    def gw(self, user):
        if user not in self.gateways:
            self.gateways[user] = login(user)
        return self.gateways[user]

    def new_session(self, user):
        sid, reused = sc.create_session(self.gw(user), type="null", new=True)
        self.assertFalse(reused)
        self.assertEqual(unit_prop(scope(sid), "ActiveState"), "active")
        return sid

    def end_all(self):
        for user, g in self.gateways.items():
            end_sessions(g, user)
            g.Close()

    def assert_exit(self, r, code, msg=""):
        self.assertEqual(r.returncode, code, (msg + "\n" if msg else "") + describe(r))

    def assert_terminated(self, sid, rec, user):
        """The session is really gone: scope stopped, record removed,
        executor and leader exited, the gateway no longer lists it."""
        wait(lambda: scope_gone(sid), 30, f"{scope(sid)} to stop")
        wait(lambda: record(sid) is None, 20, f"the record of {sid} to go")
        wait(lambda: not pid_alive(int(rec["EXECUTOR_PID"])), 20, "the executor to exit")
        wait(lambda: not pid_alive(int(rec["LEADER_PID"])), 20, "the session leader to exit")
        wait(lambda: sid not in gateway_ids(self.gw(user)), 20, "the session to leave Gateway1.ListSessions")


class ListTest(AdminTestBase):
    def test_a_user_lists_only_their_own_sessions(self):
        a1, a2 = self.new_session("alice"), self.new_session("alice")
        b1 = self.new_session("bob")

        r = rsmctl("list", user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assertIn(a1, r.stdout)
        self.assertIn(a2, r.stdout)
        self.assertNotIn(b1, r.stdout)
        self.assertNotIn("bob", r.stdout)
        self.assertRegex(r.stdout.splitlines()[0], r"^SESSION\s+UID\s+USER\s+STATE\s+TYPE\s+DISPLAY$")
        uid = pwd.getpwnam("alice").pw_uid
        self.assertRegex(r.stdout, rf"(?m)^{a1} +{uid} alice +disconnected +null\s*$")
        self.assertIn("2 sessions listed.", r.stdout)
        r = rsmctl("list", "--no-legend", user="alice")
        self.assertEqual(sorted(line.split()[0] for line in r.stdout.splitlines()), sorted([a1, a2]))

        r = rsmctl("list", "--json", user="alice")
        self.assert_exit(r, EXIT_OK)
        rows = json.loads(r.stdout)
        self.assertEqual(sorted(row["session"] for row in rows), sorted([a1, a2]))
        for row in rows:
            self.assertEqual(set(row), {"session", "uid", "user", "state", "type", "display", "path"})
            self.assertEqual((row["user"], row["type"], row["state"], row["display"]),
                             ("alice", "null", "disconnected", ""))
            self.assertTrue(row["path"].startswith(SESSION_PREFIX), row["path"])

        # The same over the bus with busctl, as alice and as bob.
        self.assertEqual(set(bus_list_sessions(user="alice")), {a1, a2})
        self.assertEqual(set(bus_list_sessions(user="bob")), {b1})
        self.assertEqual(bus_list_sessions(user="bob")[b1][1], "bob")
        # NSessions counts what the caller may see.
        r = rsmctl("show", user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assertIn("NSessions=2", r.stdout.splitlines())
        self.assertRegex(r.stdout, r"(?m)^Version=\S+")

        # Root sees everyone's.
        everyone = bus_list_sessions()
        self.assertTrue({a1, a2, b1} <= set(everyone), everyone)
        r = rsmctl("list", "--json")
        self.assertTrue({a1, a2, b1} <= {row["session"] for row in json.loads(r.stdout)})
        r = rsmctl("list")
        self.assertIn(b1, r.stdout)
        self.assertIn(a1, r.stdout)

        # Another user's session does not exist for alice.
        for verb in ("status", "show"):
            r = rsmctl(verb, b1, user="alice")
            self.assert_exit(r, EXIT_NO_SUCH, f"alice: rsmctl {verb} <bob's session>")
        r = run("busctl", "--system", "get-property", BUS_NAME, bus_path(b1), "org.rsm.Session1", "State",
                user="alice")
        self.assertNotEqual(r.returncode, 0, describe(r))


class ActTest(AdminTestBase):
    def test_a_user_terminates_their_own_session_and_is_refused_on_others(self):
        a1, a2 = self.new_session("alice"), self.new_session("alice")
        b1 = self.new_session("bob")
        rec_a1 = record(a1)

        # Another user's session: refused by polkit, naming the action.
        r = rsmctl("terminate", b1, user="alice")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.terminate-session", r.stderr)
        r = rsmctl("disconnect", b1, user="alice")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.disconnect-session", r.stderr)
        r = rsmctl("terminate-user", "bob", user="alice")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.terminate-user", r.stderr)
        r = rsmctl("reload", user="alice")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.reload", r.stderr)
        # The same refusal straight over the bus (busctl, like every systemd
        # tool, prints AccessDenied as a bare "Access denied").
        r = run("busctl", "--system", "call", BUS_NAME, MANAGER_PATH, MANAGER, "TerminateSession", "s", b1,
                user="alice")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("Access denied", r.stderr)
        # The error's name and message as a D-Bus client sees them.
        name, message = gw.as_user("alice", f"""
try:
    dbus.SystemBus().call_blocking({BUS_NAME!r}, {MANAGER_PATH!r}, {MANAGER!r}, "TerminateSession", "s", [{b1!r}])
    print(json.dumps(["no error", ""]))
except dbus.exceptions.DBusException as e:
    print(json.dumps([e.get_dbus_name(), e.get_dbus_message()]))
""")
        self.assertIn(name, ("org.freedesktop.DBus.Error.AccessDenied",
                             "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), message)
        self.assertIn("org.rsm.terminate-session", message)
        # Nothing happened to bob's session.
        self.assertIn(b1, gateway_ids(self.gw("bob")))
        self.assertEqual(unit_prop(scope(b1), "ActiveState"), "active")

        # Her own: allowed; the session really ends.
        r = rsmctl("terminate", a1, user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assertEqual(r.stdout, "")
        self.assert_terminated(a1, rec_a1, "alice")
        self.assertEqual(set(bus_list_sessions(user="alice")), {a2})
        # Terminating it again: it no longer exists.
        self.assert_exit(rsmctl("terminate", a1, user="alice"), EXIT_NO_SUCH)

        # terminate-user of herself is her own business too.
        rec_a2 = record(a2)
        r = rsmctl("terminate-user", "alice", user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assert_terminated(a2, rec_a2, "alice")
        r = rsmctl("terminate-user", "alice", user="alice")
        self.assert_exit(r, EXIT_NO_SUCH, "no sessions left")
        self.assertIn(b1, gateway_ids(self.gw("bob")))

    def test_root_may_do_everything(self):
        a1 = self.new_session("alice")
        b1, b2 = self.new_session("bob"), self.new_session("bob")
        rec_b1, rec_b2, rec_a1 = record(b1), record(b2), record(a1)
        self.assertTrue({a1, b1, b2} <= set(bus_list_sessions()))

        r = rsmctl("terminate", b1)
        self.assert_exit(r, EXIT_OK)
        self.assert_terminated(b1, rec_b1, "bob")

        r = rsmctl("terminate-user", "bob")
        self.assert_exit(r, EXIT_OK)
        self.assert_terminated(b2, rec_b2, "bob")
        self.assert_exit(rsmctl("terminate-user", "bob"), EXIT_NO_SUCH, "bob has no sessions left")
        self.assert_exit(rsmctl("terminate-user", "no-such-user-here"), EXIT_NO_SUCH)

        self.assert_exit(rsmctl("reload"), EXIT_OK)

        # By uid, straight over the bus.
        uid = int(record(a1)["UID"])
        r = run("busctl", "--system", "call", BUS_NAME, MANAGER_PATH, MANAGER, "TerminateUser", "u", str(uid))
        self.assertEqual(r.returncode, 0, describe(r))
        self.assert_terminated(a1, rec_a1, "alice")


class AdminsGroupTest(AdminTestBase):
    def tearDown(self):
        if os.path.exists(RULES_DST):
            remove_rules()

    def carol_is_refused(self, b):
        r = rsmctl("list", "--json", user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assertEqual(json.loads(r.stdout), [], "carol has no sessions and may not see others'")
        self.assertEqual(bus_list_sessions(user="carol"), {})
        self.assert_exit(rsmctl("status", b, user="carol"), EXIT_NO_SUCH)
        r = rsmctl("terminate", b, user="carol")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.terminate-session", r.stderr)
        r = rsmctl("reload", user="carol")
        self.assert_exit(r, EXIT_DENIED)
        self.assertIn("org.rsm.reload", r.stderr)
        r = rsmctl("terminate-user", "bob", user="carol")
        self.assert_exit(r, EXIT_DENIED)
        self.assertEqual(unit_prop(scope(b), "ActiveState"), "active")

    def test_rsm_admins_may_with_the_rules_file_and_not_without(self):
        a1 = self.new_session("alice")
        b1, b2, b3 = self.new_session("bob"), self.new_session("bob"), self.new_session("bob")
        self.assertIn("rsm-admins", run("id", "-nG", "carol").stdout.split())

        # 1. Without the rules file: carol is just another user.
        self.assertFalse(os.path.exists(RULES_DST))
        self.assertFalse(polkit_allows("carol", "org.rsm.list-sessions"))
        self.carol_is_refused(b1)

        # 2. With it: she sees and acts on everyone's sessions.
        install_rules()
        r = rsmctl("list", "--json", user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assertTrue({a1, b1, b2, b3} <= {row["session"] for row in json.loads(r.stdout)}, r.stdout)
        self.assertTrue({a1, b1, b2, b3} <= set(bus_list_sessions(user="carol")))
        r = rsmctl("show", "-p", "User", "--value", b1, user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assertEqual(r.stdout.strip(), "bob")
        r = rsmctl("status", b1, user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assertIn(scope(b1), r.stdout)
        rec = record(b1)
        r = rsmctl("terminate", b1, user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assert_terminated(b1, rec, "bob")
        self.assert_exit(rsmctl("reload", user="carol"), EXIT_OK)
        # The rule is for the group: alice is still refused.
        r = rsmctl("terminate", b2, user="alice")
        self.assert_exit(r, EXIT_DENIED)
        self.assertEqual(set(bus_list_sessions(user="alice")), {a1})

        # 3. Rules removed again: refused again.
        remove_rules()
        self.carol_is_refused(b2)

        # 4. And back: allowed again (terminate-user this time).
        install_rules()
        rec2, rec3 = record(b2), record(b3)
        r = rsmctl("terminate-user", "bob", user="carol")
        self.assert_exit(r, EXIT_OK)
        self.assert_terminated(b2, rec2, "bob")
        self.assert_terminated(b3, rec3, "bob")
        self.assertIn(a1, gateway_ids(self.gw("alice")))


class StatusShowTest(AdminTestBase):
    def test_status_show_and_exit_codes(self):
        sid = self.new_session("alice")
        rec = record(sid)
        executor, leader = int(rec["EXECUTOR_PID"]), int(rec["LEADER_PID"])

        r = rsmctl("status", sid, user="alice")
        self.assert_exit(r, EXIT_OK)
        out = r.stdout
        self.assertRegex(out.splitlines()[0], rf"^{sid} - alice \(\d+\)$")
        self.assertRegex(out, r"(?m)^\s+State: disconnected$")
        self.assertRegex(out, rf"(?m)^\s+Unit: {re.escape(scope(sid))}$")
        self.assertRegex(out, rf"(?m)^\s+Leader: {leader}$")
        # The scope's processes: the rsm-session executor.
        self.assertRegex(out, rf"(?m)^\s+{re.escape(scope(sid))}$")
        self.assertRegex(out, rf"(?m)[└├]─{executor} \S*rsm-session")
        if rec.get("LOGIND_SESSION"):
            self.assertIn(f"session-{rec['LOGIND_SESSION']}.scope", out)
            self.assertRegex(out, rf"(?m)─{leader} ")

        r = rsmctl("status", "--json", sid, user="alice")
        self.assert_exit(r, EXIT_OK)
        st = json.loads(r.stdout)
        self.assertEqual((st["Id"], st["User"], st["State"], st["Type"], st["Unit"]),
                         (sid, "alice", "disconnected", "null", scope(sid)))
        self.assertIn({"unit": scope(sid), "pid": executor},
                      [{"unit": p["unit"], "pid": p["pid"]} for p in st["Processes"]])

        r = rsmctl("show", sid, "-p", "State", user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assertEqual(r.stdout, "State=disconnected\n")
        r = rsmctl("show", "-p", "State", "--value", sid, user="alice")
        self.assertEqual(r.stdout, "disconnected\n")
        r = rsmctl("show", sid, user="alice")
        self.assert_exit(r, EXIT_OK)
        lines = r.stdout.splitlines()
        for want in (f"Id={sid}", "User=alice", "Type=null", f"Unit={scope(sid)}", f"Leader={leader}",
                     "IdleHint=yes"):
            self.assertIn(want, lines)
        self.assertNotIn("Display=", lines, "empty properties are left out")
        self.assertIn("Display=", rsmctl("show", "--all", sid, user="alice").stdout.splitlines())
        r = rsmctl("show", "--json", sid, user="alice")
        self.assertEqual(json.loads(r.stdout)["Id"], sid)

        # GetSessionByPID maps the executor (in the scope) to the session.
        path = busctl_json("call", BUS_NAME, MANAGER_PATH, MANAGER, "GetSessionByPID", "u", str(executor))
        self.assertEqual(path["data"][0], bus_path(sid))
        self.assertEqual(bus_list_sessions(user="alice")[sid][5], bus_path(sid))

        # No such session: 3, for every verb that takes an id.
        for verb in ("status", "show", "terminate", "disconnect"):
            r = rsmctl(verb, NO_SUCH_ID, user="alice")
            self.assert_exit(r, EXIT_NO_SUCH, f"rsmctl {verb} <no such id>")
            self.assertIn(NO_SUCH_ID, r.stderr)
        self.assert_exit(rsmctl("status", NO_SUCH_ID), EXIT_NO_SUCH, "as root")
        # `status` of "this process": we belong to no session.
        self.assert_exit(rsmctl("status", user="alice"), EXIT_NO_SUCH)

        # Usage errors: 2.
        for args in ((), ("frobnicate",), ("terminate",), ("terminate", "not-an-id"), ("status", "XYZ"),
                     ("list", "extra"), ("reload", "extra"), ("--bogus", "list")):
            r = rsmctl(*args, user="alice")
            self.assert_exit(r, EXIT_USAGE, f"rsmctl {' '.join(args)}")
            self.assertTrue(r.stderr.strip(), "a usage error says why")
        self.assert_exit(rsmctl("--version"), EXIT_OK)
        self.assert_exit(rsmctl("--help"), EXIT_OK)


class DisconnectTest(AdminTestBase):
    def test_rsmctl_disconnect_drops_the_gateway(self):
        g = self.gw("alice")
        sid = self.new_session("alice")
        fds, _ = sc.connect_session(g, sid, client_name="laptop")
        ctl = sc.ControlChannel(fds["control"])
        self.addCleanup(ctl.close)
        self.assertEqual(rsmctl("show", "-p", "State", "--value", sid, user="alice").stdout, "active\n")
        r = rsmctl("show", "-p", "ClientName,RemoteHost", sid, user="alice")
        self.assertEqual(r.stdout, f"RemoteHost={ADDR}\nClientName=laptop\n")

        r = rsmctl("disconnect", sid, user="alice")
        self.assert_exit(r, EXIT_OK)
        self.assertTrue(ctl.wait_closed(15), "the control channel was closed")
        wait(lambda: rsmctl("show", "-p", "State", "--value", sid, user="alice").stdout == "disconnected\n", 15,
             "State=disconnected")
        # The session keeps running and can be connected again.
        self.assertEqual(unit_prop(scope(sid), "ActiveState"), "active")
        self.assertEqual([s["state"] for s in sc.list_sessions(g) if s["id"] == sid], ["disconnected"])
        fds2, _ = sc.connect_session(g, sid)
        for f in fds2.values():
            f.close()


class SignalTest(AdminTestBase):
    def test_signals_on_the_bus(self):
        mon = BusMonitor()
        self.addCleanup(mon.close)
        g = self.gw("alice")
        sid = self.new_session("alice")
        path = bus_path(sid)
        mon.wait_signal("SessionNew", lambda m: m.get("member") == "SessionNew"
                        and m.get("path") == MANAGER_PATH and m.get("interface") == MANAGER
                        and payload(m) == [sid, path])
        mon.wait_signal("PropertiesChanged of NSessions",
                        lambda m: m.get("member") == "PropertiesChanged" and m.get("path") == MANAGER_PATH
                        and payload(m)[:1] == [MANAGER] and "NSessions" in payload(m)[2])

        # A state change: connected, then disconnected.
        def state_changed(m):
            if m.get("type") != "signal" or m.get("member") != "PropertiesChanged" or m.get("path") != path:
                return False
            iface, changed, invalidated = payload(m)
            # Names only, never values.
            return iface == "org.rsm.Session1" and not changed and "State" in invalidated

        fds, _ = sc.connect_session(g, sid)
        ctl = sc.ControlChannel(fds["control"])
        self.addCleanup(ctl.close)
        mon.wait_signal("PropertiesChanged(State) on connect", state_changed)
        wait(lambda: rsmctl("show", "-p", "State", "--value", sid, user="alice").stdout == "active\n", 10,
             "State=active")
        after_connect = mon.mark()
        ctl.close()
        wait(lambda: any(state_changed(m) for m in mon.messages()[after_connect:]), 20,
             "PropertiesChanged(State) on disconnect")
        self.assertEqual(rsmctl("show", "-p", "State", "--value", sid, user="alice").stdout, "disconnected\n")

        r = rsmctl("terminate", sid, user="alice")
        self.assert_exit(r, EXIT_OK)
        mon.wait_signal("SessionRemoved", lambda m: m.get("member") == "SessionRemoved"
                        and m.get("path") == MANAGER_PATH and payload(m) == [sid, path])
        wait(lambda: scope_gone(sid), 30, "the scope to stop")
        self.assertEqual(len(mon.signals("SessionNew")), 1, "one SessionNew for one session")


if __name__ == "__main__":
    unittest.main()
