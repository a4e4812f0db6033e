"""Desktop-session benchmark, run inside the system-tier container by
bench/run-sessions (real systemd, logind, PAM, Xvnc). Prints figures;
asserts nothing.

  a. CreateSession latency until the reply (the display is ready): xvnc vs
     null (median, p99, ratio), plus ConnectSession + RFB ServerInit for xvnc;
  b. reconnect latency: a new gateway connection logs in, CreateSession finds
     the user's disconnected session (reused) and ConnectSession hands it
     over; against the login alone on the same connections (the baseline);
  c. memory (USS = Private_Clean + Private_Dirty from /proc/PID/smaps_rollup)
     of the executor of a null session vs an idle login executor;
  d. rsm-manager's USS after 1000 null create/connect/terminate cycles vs
     after 10 (it should not grow);
  e. with 1000 live null sessions: the time from kill -9 of rsm-manager until
     ListSessions over a new connection shows all of them again, vs the time
     such a listing takes before the kill;
  f. the cost of a create and of logins with 1000 live sessions beside none,
     the CPU systemd, logind and dbus-daemon spend per create, manager fds,
     and a recovery after kill -9 (its timeline from the journal);
  g. ending 1000 sessions at once: the time, and the journal's errors.

The gateway side runs as the benchmark user (a child process under setpriv,
peer-credential logins, driven over a pipe: `session_bench.py agent`); this
process is root and terminates sessions through org.rsm.Manager1, reads
/proc and kills the manager. `session_bench.py configure` writes the
benchmark's rsm.toml drop-in (run by bench/run-sessions before the manager
starts).
"""

import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/system/py"))
sys.path.insert(0, os.path.join(HERE, "../tests/integration"))
import dbus  # noqa: E402
import session_client as sc  # noqa: E402

ADDRESS = "unix:path=/run/rsm/gateway.sock"
GATEWAY, GATEWAY_PATH = "org.rsm.Gateway1", "/org/rsm/Gateway1"
USER = os.environ.get("BENCH_USER", "benchuser")
PASSWORD = os.environ.get("BENCH_PASSWORD", "benchuser-pw")
DROPIN = "/etc/rsm/rsm.toml.d/50-bench.toml"


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


# ===================================================================== agent
# Runs as the benchmark user. One JSON request per line on stdin, one JSON
# answer per line on stdout: {"ok": ...} or {"error": name, "message": text}.

def gateway_call(conn, method, signature="", *args, timeout=120):
    return conn.call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, method, signature, args, timeout=timeout)


def new_login():
    """A fresh gateway connection, logged in with peer credentials."""
    conn = dbus.connection.Connection(ADDRESS)
    try:
        gateway_call(conn, "LoginWithCredentials", timeout=60)
    except BaseException:
        conn.close()
        raise
    return conn


class AgentServer:
    def __init__(self):
        self.conn = None

    def persistent(self):
        if self.conn is None:
            self.conn = new_login()
        return self.conn

    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except dbus.exceptions.DBusException:
                pass
            self.conn = None

    @staticmethod
    def _connect(conn, sid, handshake):
        """ConnectSession, optionally the display handshake; closes the fds
        after (the session is then disconnected)."""
        t0 = time.perf_counter()
        fds, details = sc.connect_session(conn, sid)
        out = {"t_connect": time.perf_counter() - t0, "protocol": details.get("protocol")}
        try:
            if handshake and "display" in fds:
                if details.get("protocol") == "rfb":
                    out["geometry"] = sc.rfb_handshake(fds["display"])[:2]
                elif details.get("protocol") == "x11":
                    r = sc.x11_handshake(fds["display"], details["xauth_name"], details["xauth_data"])
                    out["geometry"] = (r.width, r.height)
                out["t_display"] = time.perf_counter() - t0
        finally:
            for s in fds.values():
                s.close()
        return out

    def create(self, opts):
        t0 = time.perf_counter()
        sid, reused = sc.create_session(self.persistent(), **opts)
        return {"id": sid, "reused": reused, "t": time.perf_counter() - t0}

    def connect(self, id, handshake=False):  # noqa: A002
        return self._connect(self.persistent(), id, handshake)

    def hold_logins(self, k):
        """Keeps k more logged-in connections open (idle login executors)."""
        self.held = getattr(self, "held", []) + [new_login() for _ in range(k)]
        return len(self.held)

    def release_logins(self):
        for c in getattr(self, "held", []):
            c.close()
        self.held = []
        return 0

    def list(self):
        return [(s["id"], s["state"]) for s in sc.list_sessions(self.persistent())]

    def fresh_list(self):
        t0 = time.monotonic()
        conn = new_login()
        try:
            sessions = sc.list_sessions(conn)
        finally:
            conn.close()
        return {"t": time.monotonic() - t0, "n": len(sessions),
                "starting": sum(1 for s in sessions if s["state"] == "starting")}

    def reconnect_loop(self, opts, n, handshake):
        """One session of `opts`, then n times: new connection + login
        (baseline), CreateSession (must be reused) + ConnectSession, and for
        a display the handshake; all fds and the connection closed after."""
        first = sc.create_session(self.persistent(), new=True, **opts)[0]
        self._connect(self.persistent(), first, False)   # leaves it disconnected
        login, reconnect, display, reused = [], [], [], 0
        for _ in range(n):
            t0 = time.perf_counter()
            conn = new_login()
            t1 = time.perf_counter()
            try:
                sid, was_reused = sc.create_session(conn, **opts)
                fds, details = sc.connect_session(conn, sid)
                t2 = time.perf_counter()
                try:
                    if handshake and details.get("protocol") == "rfb":
                        sc.rfb_handshake(fds["display"])
                        display.append(time.perf_counter() - t1)
                finally:
                    for s in fds.values():
                        s.close()
            finally:
                conn.close()
            login.append(t1 - t0)
            reconnect.append(t2 - t1)
            reused += bool(was_reused and sid == first)
        return {"id": first, "login": login, "reconnect": reconnect, "display": display, "reused": reused}

    def login_times(self, n, password=None):
        """n new connections, each logged in (peer credentials, or the
        password if given) and closed; the time of each login."""
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn = dbus.connection.Connection(ADDRESS)
            try:
                if password is None:
                    gateway_call(conn, "LoginWithCredentials", timeout=60)
                else:
                    gateway_call(conn, "LoginWithPassword", "ssa{sv}", USER, password,
                                 dbus.Dictionary({}, signature="sv"), timeout=60)
                out.append(time.perf_counter() - t0)
            finally:
                conn.close()
        return out

    def recover(self, n, t0, timeout=600):
        """Polls ListSessions over new connections until it shows n sessions,
        none starting. Times are from t0 (CLOCK_MONOTONIC, shared with the
        caller)."""
        self.drop()
        attempts, t_first, last = 0, None, None
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            attempts += 1
            try:
                r = self.fresh_list()
            except dbus.exceptions.DBusException as e:
                last = e.get_dbus_name()
                time.sleep(0.002)
                continue
            if t_first is None:
                t_first = time.monotonic() - t0
            last = r
            if r["n"] >= n and r["starting"] == 0:
                return {"t_first": t_first, "t_all": time.monotonic() - t0, "attempts": attempts}
        raise TimeoutError(f"ListSessions never showed {n} sessions within {timeout}s (last: {last})")


def agent_main():
    server = AgentServer()
    for line in sys.stdin:
        req = json.loads(line)
        cmd = req.pop("cmd")
        if cmd == "quit":
            break
        try:
            ans = {"ok": getattr(server, cmd)(**req)}
        except dbus.exceptions.DBusException as e:
            ans = {"error": e.get_dbus_name(), "message": e.get_dbus_message()}
            if e.get_dbus_name() in ("org.freedesktop.DBus.Error.Disconnected",
                                     "org.freedesktop.DBus.Error.NoReply"):
                server.drop()
        except Exception as e:  # noqa: BLE001 - reported to the driver
            ans = {"error": type(e).__name__, "message": str(e)}
        print(json.dumps(ans), flush=True)


class AgentError(Exception):
    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name


class Agent:
    """The driver's handle on the agent process."""

    def __init__(self, user):
        self.proc = subprocess.Popen(
            ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--reset-env",
             "/usr/bin/python3", os.path.abspath(__file__), "agent"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd="/")

    def __call__(self, cmd, **kw):
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AgentError("AgentDied", f"the agent exited with status {self.proc.wait()}")
        ans = json.loads(line)
        if "error" in ans:
            raise AgentError(ans["error"], ans["message"])
        return ans["ok"]

    def close(self):
        try:
            self("quit")
        except (AgentError, BrokenPipeError, ValueError):
            pass
        self.proc.wait(10)


# ==================================================================== driver

def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, samples, baseline=None, unit="ms", scale=1e3):
    med, p99 = statistics.median(samples) * scale, pct(samples, 99) * scale
    line = f"{name:<52} n={len(samples):<4} median={med:8.2f} {unit}  p99={p99:8.2f} {unit}"
    if baseline:
        bmed, bp99 = statistics.median(baseline) * scale, pct(baseline, 99) * scale
        line += f"  ratio(median)={med / bmed:6.2f}  ratio(p99)={p99 / bp99:6.2f}"
    print(line, flush=True)


def figure(name, text):
    print(f"{name:<52} {text}", flush=True)


def uss_kib(pid):
    """Private_Clean + Private_Dirty of a process, in KiB (None if gone)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return total


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def unit_prop(unit, prop):
    return subprocess.run(["systemctl", "show", "-P", prop, unit], capture_output=True, text=True).stdout.strip()


def unit_pids(unit):
    """Every process in the unit's cgroup and below."""
    cg = unit_prop(unit, "ControlGroup")
    pids = []
    if not cg:
        return pids
    # cgroup v2, or the hybrid/v1 layouts (systemd's own hierarchy).
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"):
        if not os.path.exists(os.path.join(base + cg, "cgroup.procs")):
            continue
        for root, _dirs, files in os.walk(base + cg):
            if "cgroup.procs" in files:
                with open(os.path.join(root, "cgroup.procs")) as f:
                    pids += [int(x) for x in f.read().split()]
        break
    return pids


def manager_pid():
    return int(unit_prop("rsm-manager.service", "MainPID") or 0)


def executors():
    r = subprocess.run(["pgrep", "-x", "rsm-session"], capture_output=True, text=True)
    return {int(p) for p in r.stdout.split()}


def kib(v):
    return f"{v / 1024:8.2f} MiB" if v >= 10240 else f"{v:8.0f} KiB"


class Sessions:
    """Ends sessions as root: org.rsm.Manager1.TerminateSession on the system
    bus (uid 0 is never asked about by polkit), or, without Manager1,
    `systemctl stop` of the session's scope; and waits until they are gone."""

    def __init__(self):
        self.bus = dbus.SystemBus()
        self.via_manager = True

    def _manager(self, method, signature="", *args):
        return self.bus.call_blocking("org.rsm.Manager1", "/org/rsm/Manager1", "org.rsm.Manager1", method,
                                      signature, args, timeout=60)

    def ids(self):
        if self.via_manager:
            try:
                return {str(s[0]) for s in self._manager("ListSessions")}
            except dbus.exceptions.DBusException:
                self.via_manager = False
        out = subprocess.run(["systemctl", "list-units", "--plain", "--no-legend", "--all", "rsm-session-*.scope"],
                             capture_output=True, text=True).stdout
        return {line.split()[0][len("rsm-session-"):-len(".scope")] for line in out.splitlines() if line.strip()}

    def logind_session(self, sid):
        """The session's logind session id (Session1.LogindSession), or ""."""
        try:
            path = self._manager("GetSession", "s", sid)
            return str(self.bus.call_blocking("org.rsm.Manager1", path, "org.freedesktop.DBus.Properties", "Get",
                                              "ss", ("org.rsm.Session1", "LogindSession"), timeout=60))
        except dbus.exceptions.DBusException:
            return ""

    def terminate(self, ids, wait=True, timeout=120):
        for sid in ids:
            if self.via_manager:
                try:
                    self._manager("TerminateSession", "s", sid)
                    continue
                except dbus.exceptions.DBusException as e:
                    if e.get_dbus_name() == "org.rsm.Error.NoSuchSession":
                        continue
                    self.via_manager = False
            subprocess.run(["systemctl", "stop", "--no-block", f"rsm-session-{sid}.scope"], check=False)
        if wait:
            self.wait_gone(ids, timeout)

    def gone(self, sid):
        try:
            self._manager("GetSession", "s", sid)
            return False
        except dbus.exceptions.DBusException as e:
            return e.get_dbus_name() == "org.rsm.Error.NoSuchSession"

    def wait_gone(self, ids, timeout=120):
        ids = set(ids)
        deadline = time.monotonic() + timeout
        # A few sessions: ask for each. A ListSessions poll would make the
        # manager marshal every live session each 5 ms, and its CPU figures
        # would grow with the number of sessions for that reason alone.
        while self.via_manager and 0 < len(ids) <= 4:
            ids = {sid for sid in ids if not self.gone(sid)}
            if not ids:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids)} session(s) still there after {timeout}s")
            time.sleep(0.005)
        while ids & self.ids():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids & self.ids())} session(s) still there after {timeout}s")
            time.sleep(0.005)


def password_login(i):
    """A new gateway connection logged in with the benchmark user's password."""
    c = dbus.connection.Connection(ADDRESS)
    gateway_call(c, "LoginWithPassword", "ssa{sv}", USER, PASSWORD,
                 dbus.Dictionary({"address": f"198.51.100.{i % 250 + 1}"}, signature="sv"), timeout=60)
    return c


def section(title):
    print(f"\n# {title}", flush=True)


def bench_create(agent, sessions):
    section("a. CreateSession until the display is ready (new session each time; terminated after)")
    results = {}
    for kind, n in (("null", env_int("BENCH_NULL_CREATES", 50)), ("xvnc", env_int("BENCH_XVNC_CREATES", 20))):
        agent("create", opts={"type": kind, "new": True, "width": 1024, "height": 768})  # warm-up
        sessions.terminate(sessions.ids())
        create, display = [], []
        for _ in range(n):
            r = agent("create", opts={"type": kind, "new": True, "width": 1024, "height": 768})
            create.append(r["t"])
            if kind != "null":
                c = agent("connect", id=r["id"], handshake=True)
                display.append(r["t"] + c["t_display"])
            sessions.terminate([r["id"]])
        results[kind] = (create, display)
    report("CreateSession, type null", results["null"][0])
    report("CreateSession, type xvnc (vs null)", results["xvnc"][0], results["null"][0])
    report("  + ConnectSession + RFB ServerInit, xvnc", results["xvnc"][1], results["null"][0])


def bench_reconnect(agent, sessions):
    section("b. reconnect: new connection + login, CreateSession (reused) + ConnectSession")
    n = env_int("BENCH_RECONNECTS", 50)
    for kind in ("null", "xvnc"):
        r = agent("reconnect_loop", opts={"type": kind, "width": 1024, "height": 768}, n=n, handshake=True)
        figure(f"{kind}: sessions reused", f"{r['reused']}/{n}")
        report(f"connect + login (baseline), {kind} run", r["login"])
        report(f"CreateSession(reused) + ConnectSession, {kind}", r["reconnect"], r["login"])
        if r["display"]:
            report("  + RFB ServerInit, xvnc", r["display"], r["login"])
        sessions.terminate([r["id"]])


def bench_memory(agent, sessions):
    section("c. memory per process (USS = Private_Clean + Private_Dirty)")
    k = env_int("BENCH_MEMORY_SESSIONS", 20)

    def idle_login_executors(hold, release):
        before = executors()
        hold()
        uss = [u for u in (uss_kib(p) for p in executors() - before) if u is not None]
        release()
        return uss

    def password_logins():
        conns.extend(password_login(i) for i in range(k))
    conns = []
    login_uss = {
        "password": idle_login_executors(password_logins, lambda: [c.close() for c in conns]),
        "peer credentials": idle_login_executors(lambda: agent("hold_logins", k=k),
                                                 lambda: agent("release_logins")),
    }

    ids, scope_uss, leader_uss, nproc = [], [], [], []
    for _ in range(k):
        ids.append(agent("create", opts={"type": "null", "new": True})["id"])
    for sid in ids:
        pids = unit_pids(f"rsm-session-{sid}.scope")
        scope_uss.append(sum(uss_kib(p) or 0 for p in pids))
        nproc.append(len(pids))
        logind = sessions.logind_session(sid)
        if logind:
            scope = subprocess.run(["loginctl", "show-session", logind, "-P", "Scope"],
                                   capture_output=True, text=True).stdout.strip()
            if scope:
                leader_uss.append(sum(uss_kib(p) or 0 for p in unit_pids(scope)))
    sessions.terminate(ids)

    for kind, uss in login_uss.items():
        figure(f"idle login executor ({kind} login)",
               f"{kib(statistics.median(uss))} median of {len(uss)}" if uss else "no new rsm-session process seen")
    base = login_uss["peer credentials"] or login_uss["password"]
    figure("null session: rsm-session-<id>.scope", f"{kib(statistics.median(scope_uss))} median of {k}, "
           f"{statistics.median(nproc):.0f} process(es)"
           + (f"  ratio to an idle login executor={statistics.median(scope_uss) / statistics.median(base):5.2f}"
              if base else ""))
    if leader_uss:
        figure("null session: its logind session scope", f"{kib(statistics.median(leader_uss))} median "
               "(session leader + start script)")
        figure("null session: both", f"{kib(statistics.median(scope_uss) + statistics.median(leader_uss))}")


def bench_cycles(agent, sessions):
    section("d. rsm-manager memory over null create/connect/terminate cycles")
    total = env_int("BENCH_CYCLES", 1000)
    marks = sorted({10, 100, total} & set(range(1, total + 1)))
    pid = manager_pid()
    done, figures = 0, {}
    t0 = time.monotonic()
    for mark in marks:
        while done < mark:
            sid = agent("create", opts={"type": "null", "new": True})["id"]
            agent("connect", id=sid)
            sessions.terminate([sid])
            done += 1
        if manager_pid() != pid:
            figure("rsm-manager", f"restarted during the cycles (pid {pid} -> {manager_pid()})")
            return
        figures[mark] = (uss_kib(pid), rss_kib(pid))
        figure(f"rsm-manager after {mark} cycles", f"USS {kib(figures[mark][0])}  RSS {kib(figures[mark][1])}")
    elapsed = time.monotonic() - t0
    first, last = figures[marks[0]][0], figures[marks[-1]][0]
    figure(f"growth {marks[0]} -> {marks[-1]} cycles", f"{last - first:+d} KiB ({(last - first) / max(1, marks[-1] - marks[0]):+.2f} KiB/cycle)"
           f"  ratio={last / first:5.2f}")
    figure("cycle rate", f"{done / elapsed:8.1f} cycles/s")


def create_null_sessions(agent, n):
    """n new null sessions; False (and a figure saying where it stopped) if
    one could not be created."""
    for i in range(n):
        try:
            agent("create", opts={"type": "null", "new": True})
        except AgentError as e:
            figure("creating sessions", f"stopped at {i}: {e}")
            return False
    return True


def bench_recover(agent, sessions):
    n = env_int("BENCH_RECOVER_SESSIONS", 1000)
    section(f"e. {n} live null sessions: kill -9 rsm-manager until ListSessions shows them all again")
    sessions.terminate(sessions.ids())
    t0 = time.monotonic()
    if not create_null_sessions(agent, n):
        return
    figure(f"created {n} null sessions", f"{time.monotonic() - t0:8.1f} s ({n / (time.monotonic() - t0):.1f}/s)")
    base = [agent("fresh_list")["t"] for _ in range(env_int("BENCH_LIST_REPEAT", 10))]
    report(f"connect + login + ListSessions ({n}), before", base)

    old = manager_pid()
    t_kill = time.monotonic()
    os.kill(old, 9)
    r = agent("recover", n=n, t0=t_kill)
    new = manager_pid()
    figure("first ListSessions answer after kill -9", f"{r['t_first'] * 1e3:8.2f} ms")
    figure(f"all {n} sessions listed again after kill -9", f"{r['t_all'] * 1e3:8.2f} ms  "
           f"ratio to a listing before={r['t_all'] / statistics.median(base):6.1f}  "
           f"({r['attempts']} attempts, manager pid {old} -> {new})")
    after = [agent("fresh_list")["t"] for _ in range(env_int("BENCH_LIST_REPEAT", 10))]
    report(f"connect + login + ListSessions ({n}), after", after, base)


def recovery_timeline(pid, t_kill):
    """Where a recovery's time goes: the new manager's journal messages
    (their CLOCK_MONOTONIC stamps, the clock of t_kill) from the kill to the
    recovery's notice, READY ("ready") and the last "recovered" line."""
    out = subprocess.run(["journalctl", "-q", "-o", "json", f"_PID={pid}", "--output-fields=MESSAGE"],
                         capture_output=True, text=True).stdout
    marks, recovered = [], None
    for line in out.splitlines():
        try:
            entry = json.loads(line)
            t = int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6 - t_kill
            msg = str(entry.get("MESSAGE", ""))
        except (ValueError, KeyError):
            continue
        if msg.startswith("Session recovered"):
            recovered = t
        elif msg.startswith(("Recovering", "Waiting in the loop", "rsm-manager")) and len(marks) < 6:
            marks.append((t, msg[:48]))
    for t, msg in marks:
        figure(f"  +{t * 1e3:7.1f} ms", msg)
    if recovered is not None:
        figure(f"  +{recovered * 1e3:7.1f} ms", "last \"Session recovered\"")


def manager_cpu():
    """rsm-manager's CPU time so far, in seconds (schedstat: nanoseconds,
    where stat counts 10 ms ticks)."""
    with open(f"/proc/{manager_pid()}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def manager_fds():
    """rsm-manager's open fds by kind: socket, pidfd, eventpoll, ..."""
    pid, kinds = manager_pid(), {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if target.startswith("socket:") else target
        if kind.startswith("anon_inode:"):
            kind = kind[len("anon_inode:"):]
        elif kind.startswith("/"):
            kind = "file"
        kinds[kind] = kinds.get(kind, 0) + 1
    return sum(kinds.values()), kinds


def fds_text():
    total, kinds = manager_fds()
    return f"{total:6d}  (" + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])) + ")"


def system_cpu():
    """CPU seconds so far of the system's daemons a session start talks to:
    {name: seconds} for systemd (PID 1), systemd-logind and dbus-daemon."""
    out = {}
    for name, pid in (("systemd", 1), ("logind", unit_prop("systemd-logind.service", "MainPID")),
                      ("dbus-daemon", unit_prop("dbus.service", "MainPID"))):
        try:
            with open(f"/proc/{int(pid)}/schedstat") as f:
                out[name] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError):
            pass
    return out


def per_session_round(agent, sessions, n):
    """n times CreateSession(null) (terminated after), n peer-credential and
    n password logins; manager CPU per create, and that of systemd, logind
    and dbus-daemon per create and terminate (printed)."""
    create = []
    cpu0, sys0 = manager_cpu(), system_cpu()
    for _ in range(n):
        r = agent("create", opts={"type": "null", "new": True})
        create.append(r["t"])
        sessions.terminate([r["id"]])
    cpu = (manager_cpu() - cpu0) / n
    sys1 = system_cpu()
    figure("  CPU per create + terminate", "  ".join(f"{k} {(sys1[k] - sys0[k]) / n * 1e3:6.2f} ms"
                                                    for k in sys1 if k in sys0))
    peer = agent("login_times", n=n)
    password = agent("login_times", n=n, password=PASSWORD)
    return create, peer, password, cpu


def bench_scaling(agent, sessions):
    """Issue #10: the cost of an operation must not grow with the number of
    idle sessions. Each figure with k live sessions beside the same with none."""
    k = env_int("BENCH_LIVE_SESSIONS", 1000)
    n = env_int("BENCH_SCALING_OPS", 40)
    section(f"f. cost per operation with {k} live null sessions vs none")
    sessions.terminate(sessions.ids())
    agent("create", opts={"type": "null", "new": True})  # warm-up
    sessions.terminate(sessions.ids())
    figure("manager fds, no session", fds_text())
    base = per_session_round(agent, sessions, n)
    t0 = time.monotonic()
    if not create_null_sessions(agent, k):
        return
    figure(f"created {k} null sessions", f"{time.monotonic() - t0:8.1f} s")
    figure(f"manager fds, {k} sessions", fds_text())
    perf = None
    if os.environ.get("BENCH_PERF") == "manager":
        # Where the manager's time goes with k live sessions (stderr).
        perf = subprocess.Popen(["perf", "record", "-q", "--no-inherit", "-o", "/tmp/bench-perf.data", "-p",
                                 str(manager_pid())], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif os.environ.get("BENCH_PERF") == "systemd":
        # Where PID 1's time goes with k live sessions (stderr).
        perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o", "/tmp/bench-perf.data", "-p", "1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    live = per_session_round(agent, sessions, n)
    if perf:
        perf.send_signal(2)
        perf.wait(60)
        views = [["--no-children", "--sort", "dso,symbol", "--percent-limit", "0.7", "-g", "none"]]
        if os.environ.get("BENCH_PERF") == "systemd":
            views.append(["--children", "--sort", "symbol", "--percent-limit", "4", "-g", "none"])
        for view in views:
            out = subprocess.run(["perf", "report", "-i", "/tmp/bench-perf.data", "--stdio"] + view,
                                 capture_output=True, text=True).stdout
            print(out, file=sys.stderr, flush=True)
    report("CreateSession(null), no live session", base[0])
    report(f"CreateSession(null), {k} live", live[0], base[0])
    figure("  manager CPU per create", f"{base[3] * 1e3:8.2f} ms -> {live[3] * 1e3:8.2f} ms")
    report("peer-credential login, no live session", base[1])
    report(f"peer-credential login, {k} live", live[1], base[1])
    report("password login, no live session", base[2])
    report(f"password login, {k} live", live[2], base[2])

    old = manager_pid()
    perf_recovery = None
    if os.environ.get("BENCH_PERF") == "recovery":
        # The whole system for 1.5 s from the kill: who spends the recovery's time (stderr).
        perf_recovery = subprocess.Popen(["perf", "record", "-q", "-a", "-o", "/tmp/bench-perf-rec.data", "--",
                                          "sleep", "1.5"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # perf's own start
    t_kill = time.monotonic()
    os.kill(old, 9)
    r = agent("recover", n=k, t0=t_kill)
    recovery_timeline(manager_pid(), t_kill)
    if perf_recovery:
        perf_recovery.wait(60)
        for sort in ("comm", "comm,dso,symbol"):
            out = subprocess.run(["perf", "report", "-i", "/tmp/bench-perf-rec.data", "--stdio", "--sort", sort,
                                  "--percent-limit", "1"], capture_output=True, text=True).stdout
            print(out, file=sys.stderr, flush=True)
    figure("first ListSessions answer after kill -9", f"{r['t_first'] * 1e3:8.2f} ms  (target 200 ms)")
    figure(f"all {k} sessions listed after kill -9", f"{r['t_all'] * 1e3:8.2f} ms  (target 1000 ms)")
    figure(f"manager fds, {k} sessions after recovery", fds_text())
    after = per_session_round(agent, sessions, n)
    report(f"CreateSession(null), {k} live, after recovery", after[0], base[0])
    report(f"peer-credential login, {k} live, after recovery", after[1], base[1])
    sessions.terminate(sessions.ids(), timeout=600)


def journal_cursor():
    out = subprocess.run(["journalctl", "-q", "-n", "0", "--show-cursor"], capture_output=True, text=True).stdout
    return out.strip().split("cursor: ", 1)[-1]


def bench_end_all(agent, sessions):
    """Issue #10: ending k sessions at once (Manager1.TerminateUser) ends
    every one without an error: the time until all are gone, and the
    journal's error lines (priority err and worse, pam_systemd's "Failed to
    release session" among them) since the call."""
    k = env_int("BENCH_END_SESSIONS", 1000)
    section(f"g. ending {k} null sessions at once (TerminateUser)")
    sessions.terminate(sessions.ids())
    if not create_null_sessions(agent, k):
        return
    logind_before = len(subprocess.run(["loginctl", "list-sessions", "--no-legend"], capture_output=True,
                                       text=True).stdout.splitlines())
    cursor = journal_cursor()
    uid = int(subprocess.run(["id", "-u", USER], capture_output=True, text=True).stdout)
    t0 = time.monotonic()
    sessions.bus.call_blocking("org.rsm.Manager1", "/org/rsm/Manager1", "org.rsm.Manager1", "TerminateUser", "u",
                               (uid,), timeout=120)
    sessions.wait_gone(sessions.ids(), timeout=600)
    elapsed = time.monotonic() - t0
    errors = subprocess.run(["journalctl", "-q", "--after-cursor", cursor, "-p", "err", "-o", "cat"],
                            capture_output=True, text=True).stdout.splitlines()
    release = [e for e in errors if "Failed to release session" in e]
    logind_after = len(subprocess.run(["loginctl", "list-sessions", "--no-legend"], capture_output=True,
                                      text=True).stdout.splitlines())
    figure(f"all {k} sessions gone", f"{elapsed * 1e3:9.1f} ms  ({k / elapsed:.0f}/s)")
    figure("logind sessions before -> after", f"{logind_before} -> {logind_after}")
    figure("journal errors since the call", f"{len(errors)}  (\"Failed to release session\": {len(release)})")
    for line in sorted(set(errors))[:5]:
        figure("  e.g.", line[:100])
    if os.environ.get("BENCH_DEBUG"):
        out = subprocess.run(["journalctl", "-q", "--after-cursor", cursor, "-p", "warning", "-o", "short-monotonic"],
                             capture_output=True, text=True).stdout.splitlines()
        for line in out[:40]:
            print(line[:300], file=sys.stderr)
        print(os.listdir("/run/rsm/pam-slots") if os.path.isdir("/run/rsm/pam-slots") else "no pam-slots",
              file=sys.stderr)


def configure():
    """Writes the benchmark's drop-in: no per-source throttling, room for the
    many unauthenticated connections of the recovery poll and no session
    limits. Keys the installed rsm does not know are left out (it refuses
    unknown keys), judged by the shipped defaults file."""
    shipped = ""
    for path in ("/usr/share/rsm/rsm.toml", "/usr/local/share/rsm/rsm.toml"):
        if os.path.exists(path):
            shipped = open(path).read()
            break
    want = {"gateway": {"max_unauthenticated": 1024, "max_connections": 4096},
            "throttle": {"max_failures": 0},
            "session": {"max_sessions": 0, "max_sessions_per_user": 0},
            # The peer-credential figures need it (off by default since issue #9).
            "access": {"allow_peer_credentials": "true"}}
    out = []
    for sect, keys in want.items():
        known = [(k, v) for k, v in keys.items() if f"\n{k} =" in shipped]
        if known:
            out.append(f"[{sect}]")
            out += [f"{k} = {v}" for k, v in known]
    os.makedirs(os.path.dirname(DROPIN), exist_ok=True)
    with open(DROPIN, "w") as f:
        f.write("# bench/run-sessions\n" + "\n".join(out) + "\n")
    print(open(DROPIN).read(), end="")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "agent":
        return agent_main()
    if len(sys.argv) > 1 and sys.argv[1] == "configure":
        return configure()
    only = set(os.environ.get("BENCH_ONLY", "abcdefg"))
    print(f"# rsm desktop-session benchmark (user {USER}; sections {''.join(sorted(only))})", flush=True)
    sessions = Sessions()
    agent = Agent(USER)
    try:
        for key, fn in (("a", bench_create), ("b", bench_reconnect), ("c", bench_memory),
                        ("d", bench_cycles), ("e", bench_recover),
                        ("f", bench_scaling), ("g", bench_end_all)):
            if key not in only:
                continue
            try:
                fn(agent, sessions)
            except (AgentError, dbus.exceptions.DBusException, TimeoutError, OSError) as e:
                figure(f"section {key}", f"not measured: {e}")
                if isinstance(e, AgentError) and e.name == "AgentDied":
                    agent = Agent(USER)
    finally:
        agent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
