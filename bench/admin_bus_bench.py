"""org.rsm.Manager1 benchmark on the system bus, run inside the system-tier
container by bench/run-admin-bus (real dbus-daemon, polkitd, systemd, logind,
PAM). Prints figures; asserts nothing.

  1. baselines with no session: Properties.Get(Version) and ListSessions as
     root (never asked to polkit), ListSessions as the (unprivileged) bench
     user (one polkit check for org.rsm.list-sessions per call);
  2. BENCH_SESSIONS live "null" sessions of the bench user, made through the
     gateway socket by 4 connections in parallel (creation rate reported);
  3. the same calls with those sessions, with the ratio to the baselines;
  4. TerminateSession as root, one session at a time: latency of the reply
     and until the SessionRemoved signal, beside Get(Version) on the same
     connection;
  5. TerminateUser of the rest, until the last SessionRemoved (clean-up).

The system-bus client is GDBus (python3-gi) on one connection; replies are
not unpacked into Python objects (the message itself is parsed by GDBus).
"""

import os
import statistics
import subprocess
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "../tests/integration"))
sys.path.insert(0, os.path.join(here, "../tests/system/py"))
import dbus  # noqa: E402
import gi  # noqa: E402

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

import session_client as sc  # noqa: E402
from gateway_client import Gateway  # noqa: E402

GATEWAY_ADDRESS = "unix:path=/run/rsm/gateway.sock"
BUS_NAME = "org.rsm.Manager1"
PATH = "/org/rsm/Manager1"
IFACE = "org.rsm.Manager1"
USER = "benchuser"


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, samples, baseline=None):
    med, p99 = statistics.median(samples) * 1e3, pct(samples, 99) * 1e3
    line = f"{name:<58} n={len(samples):<4} median={med:8.3f} ms  p99={p99:8.3f} ms"
    if baseline:
        bmed, bp99 = statistics.median(baseline) * 1e3, pct(baseline, 99) * 1e3
        line += f"  ratio(median)={med / bmed:6.2f}  ratio(p99)={p99 / bp99:6.2f}"
    print(line, flush=True)


class Manager:
    def __init__(self):
        self.conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        self.removed = {}  # session id -> perf_counter() when SessionRemoved was dispatched
        self.conn.signal_subscribe(None, IFACE, "SessionRemoved", PATH, None, Gio.DBusSignalFlags.NONE,
                                   self._on_removed)

    def _on_removed(self, _conn, _sender, _path, _iface, _name, params):
        self.removed[params.get_child_value(0).get_string()] = time.perf_counter()

    def call(self, method, params=None, iface=IFACE, timeout_ms=120000):
        return self.conn.call_sync(BUS_NAME, PATH, iface, method, params, None, Gio.DBusCallFlags.NONE,
                                   timeout_ms, None)

    def version(self):
        return self.call("Get", GLib.Variant("(ss)", (IFACE, "Version")), iface="org.freedesktop.DBus.Properties")

    def list_sessions(self):
        return self.call("ListSessions")

    def nsessions(self):
        v = self.call("Get", GLib.Variant("(ss)", (IFACE, "NSessions")), iface="org.freedesktop.DBus.Properties")
        return v.get_child_value(0).get_variant().get_uint32()

    def pump(self):
        ctx = GLib.MainContext.default()
        while ctx.iteration(False):
            pass

    def wait_removed(self, sid, timeout=60):
        ctx = GLib.MainContext.default()
        deadline = time.monotonic() + timeout
        while sid not in self.removed:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no SessionRemoved for {sid} within {timeout}s")
            # A wake-up at least every 100 ms so the deadline is honoured.
            GLib.timeout_add(100, lambda: False)
            ctx.iteration(True)
        return self.removed[sid]


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def list_as_user(n):
    """ListSessions as the bench user (polkit is asked each call): n
    latencies in seconds, measured inside a process of that user."""
    code = f"""
import time, gi
gi.require_version("Gio", "2.0")
from gi.repository import Gio
c = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
for _ in range(5):  # warm-up (polkitd's first checks of this caller)
    c.call_sync({BUS_NAME!r}, {PATH!r}, {IFACE!r}, "ListSessions", None, None, Gio.DBusCallFlags.NONE, 120000, None)
out = []
for _ in range({n}):
    t = time.perf_counter()
    c.call_sync({BUS_NAME!r}, {PATH!r}, {IFACE!r}, "ListSessions", None, None, Gio.DBusCallFlags.NONE, 120000, None)
    out.append(time.perf_counter() - t)
print(" ".join(map(str, out)))
"""
    r = subprocess.run(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--init-groups", "/usr/bin/python3",
                        "-c", code], capture_output=True, text=True, check=True, timeout=600)
    return [float(x) for x in r.stdout.split()]


def rsmctl_list_wall(n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(["rsmctl", "list", "--no-legend"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       check=True)
        out.append(time.perf_counter() - t)
    return out


def create_sessions(total, workers=4):
    ids, errors = [], []
    lock = threading.Lock()

    def work(count, k):
        conn = dbus.connection.Connection(GATEWAY_ADDRESS)
        g = Gateway(conn)
        g.LoginWithPassword(USER, USER + "-pw", dbus.Dictionary({"address": f"198.51.100.{k + 1}"}, signature="sv"),
                            timeout=60)
        mine = []
        try:
            for _ in range(count):
                sid, _ = sc.create_session(g, type="null", new=True, timeout=120)
                mine.append(sid)
        except dbus.exceptions.DBusException as e:
            errors.append(f"{e.get_dbus_name()}: {e.get_dbus_message()}")
        finally:
            with lock:
                ids.extend(mine)
            conn.close()

    per = [total // workers + (1 if i < total % workers else 0) for i in range(workers)]
    threads = [threading.Thread(target=work, args=(per[i], i)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids, errors


def main():
    n_sessions = int(os.environ.get("BENCH_SESSIONS", "1000"))
    n_calls = int(os.environ.get("BENCH_CALLS", "200"))
    n_term = int(os.environ.get("BENCH_TERMINATES", "100"))
    print(f"# rsm org.rsm.Manager1 benchmark (sessions: {n_sessions}, calls: {n_calls}, "
          f"terminates: {n_term}; {os.cpu_count()} CPUs)", flush=True)

    m = Manager()
    t = time.perf_counter()
    m.version()  # bus activation of rsm-manager
    print(f"{'first call (bus activation of rsm-manager)':<58} {(time.perf_counter() - t) * 1e3:8.1f} ms", flush=True)
    timed(m.version, 20)
    timed(m.list_sessions, 20)  # warm-up

    base_version = timed(m.version, n_calls)
    base_list = timed(m.list_sessions, n_calls)
    base_user_list = list_as_user(max(20, n_calls // 4))
    base_rsmctl = rsmctl_list_wall(20)
    report("Get(Version), 0 sessions", base_version)
    report("ListSessions as root, 0 sessions (baseline)", base_list)
    report("ListSessions as user (polkit check), 0 sessions", base_user_list)
    report("rsmctl list (process wall time), 0 sessions", base_rsmctl)

    t = time.perf_counter()
    ids, errors = create_sessions(n_sessions)
    elapsed = time.perf_counter() - t
    print(f"{'created null sessions (4 gateway connections)':<58} {len(ids):5d} in {elapsed:6.1f} s "
          f"= {len(ids) / elapsed:6.1f}/s", flush=True)
    for e in errors:
        print(f"# creation failed: {e}", flush=True)
    print(f"{'NSessions':<58} {m.nsessions():5d}", flush=True)
    reply = m.list_sessions()
    print(f"{'ListSessions reply':<58} {reply.get_child_value(0).n_children():5d} entries, "
          f"{reply.get_size()} bytes", flush=True)
    m.pump()

    loaded_list = timed(m.list_sessions, n_calls)
    report(f"ListSessions as root, {len(ids)} sessions", loaded_list, base_list)
    report(f"ListSessions as user (polkit check), {len(ids)} sessions", list_as_user(max(20, n_calls // 4)),
           base_user_list)
    report(f"rsmctl list (process wall time), {len(ids)} sessions", rsmctl_list_wall(20), base_rsmctl)
    loaded_version = timed(m.version, n_calls)
    report(f"Get(Version), {len(ids)} sessions (baseline)", loaded_version)

    # TerminateSession, one at a time: reply, and until SessionRemoved.
    replies, removed = [], []
    for sid in ids[:n_term]:
        t0 = time.perf_counter()
        m.call("TerminateSession", GLib.Variant("(s)", (sid,)))
        t1 = time.perf_counter()
        t2 = m.wait_removed(sid)
        replies.append(t1 - t0)
        removed.append(t2 - t0)
    report(f"TerminateSession reply, ~{len(ids)} sessions", replies, loaded_version)
    report(f"TerminateSession until SessionRemoved, ~{len(ids)} sessions", removed, loaded_version)

    rest = ids[n_term:]
    if rest:
        uid = int(subprocess.run(["id", "-u", USER], capture_output=True, text=True, check=True).stdout)
        t0 = time.perf_counter()
        m.call("TerminateUser", GLib.Variant("(u)", (uid,)))
        last = max(m.wait_removed(sid, timeout=300) for sid in rest)
        print(f"{f'TerminateUser ({len(rest)} sessions) until last SessionRemoved':<58} "
              f"{last - t0:8.2f} s", flush=True)
    deadline = time.monotonic() + 120
    while m.nsessions() and time.monotonic() < deadline:
        time.sleep(0.2)
    print(f"{'NSessions at the end':<58} {m.nsessions():5d}", flush=True)


if __name__ == "__main__":
    main()
