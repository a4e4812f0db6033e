"""NX benchmark, run inside the system-tier container by bench/run-nx: the
`nxagent` display type through the real rsm-nxserver dialogue and Debian's
nxproxy, against the `xvnc` display type through Gateway1 and TigerVNC's
vncviewer, in the same container and the same run. Prints figures; asserts
nothing.

Per round and type, a fresh session of 1024x768 whose desktop is the user's
red full-screen xterm; the client draws on one private Xvfb (1280x1024,
-noreset, its framebuffer in a file with -fbdir and read every 5 ms, no
screenshot client; the desktop is "shown" when more than 20 % of the screen
is that red):

  nx    rsm-nxserver run as the `nx` account on pipes with SSH_CONNECTION set
        (as sshd runs it; tests/system/py/nxserver_test.py), logged in (not
        timed); then
        start:   `startsession` sent -> "NX> 710 Session status: running"
                 (the session is ready and ConnectSession done), and -> the
                 xterm on nxproxy's screen (bye, nxproxy started over the
                 stream, first frame);
        restore: after nxproxy is killed (rsm-nxserver exits, the session is
                 disconnected, nxagent suspends and listens again: waited
                 for, not timed) a new dialogue, logged in (not timed):
                 `restoresession` sent -> "NX> 710", and -> the same xterm on
                 a fresh nxproxy's screen.
  xvnc  a Gateway1 connection logged in by password (not timed); then
        start:   CreateSession(type xvnc) -> its reply (the display is ready),
                 and -> ConnectSession, the display fd relayed to a local
                 port, vncviewer started on it, the xterm on its screen;
        restore: after vncviewer is killed and the fds closed (the session
                 is disconnected: waited for), ConnectSession -> its reply,
                 and -> the xterm on a fresh vncviewer's screen.

The two take turns one round at a time in ABBA order (nx, xvnc, xvnc, nx,
...): the machine is shared and its load drifts, alternating gives both the
same conditions. After each round the session is terminated and the next
waits for the user's processes outside systemd --user (which lingers) to be
gone. A round that fails (a deadline passed) is counted and left out; the
first BENCH_WARMUP rounds of each are not counted.

Env: BENCH_ROUNDS (counted rounds per type, default 10), BENCH_WARMUP (1).
"""

import array
import os
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/system/py"))
import session_client as sc  # noqa: E402
from nx_test import Relay, free_display, listening, nxproxy  # noqa: E402
from nxserver_test import PROMPT, Bridge, NxServer, info_lines  # noqa: E402
import frame_screen  # noqa: E402
from systest import login, pids, run, sessions, wait  # noqa: E402

USER = "benchuser"
PASSWORD = "benchuser-pw"
GEOMETRY = (1024, 768)
RED_SHARE = 0.2
DEADLINE = 90
NX_PORT_BASE = 4000
LOG = "/tmp/nxproxy.log"
VNC_LOG = "/tmp/vncviewer.log"


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, nx, xvnc):
    if not nx or not xvnc:
        print(f"{name:<40} n={len(nx)}/{len(xvnc)}: not enough rounds", flush=True)
        return

    def fig(v):
        return statistics.median(v) * 1e3, pct(v, 99) * 1e3
    (nm, np_), (vm, vp) = fig(nx), fig(xvnc)
    print(f"{name:<40} n={len(nx):<3} nx median={nm:8.1f} ms p99={np_:8.1f} ms | "
          f"xvnc median={vm:8.1f} ms p99={vp:8.1f} ms | nx/xvnc median={nm / vm:5.2f} p99={np_ / vp:5.2f}",
          flush=True)


class FrameScreen(frame_screen.FrameScreen):
    """The client's Xvfb, its framebuffer read from its -fbdir file;
    -noreset (docs/nx.md)."""

    def __init__(self):
        super().__init__(free_display(), "1280x1024x24", "nx-bench-fb.", noreset=True)

    def red(self):
        """Share of the screen's pixels that are pure red (the pad byte
        either 0 or 0xff, as the client drew them)."""
        px = array.array("I", self.pixels())
        return (px.count(0x00ff0000) + px.count(0xffff0000)) / max(1, len(px))

    def wait_red(self, what, client, t0):
        """Seconds since t0 until the red desktop is on the screen."""
        while self.red() < RED_SHARE:
            if client.poll() is not None:
                raise RuntimeError(f"{what}: the client exited ({client.returncode}) before the desktop showed")
            if time.perf_counter() - t0 > DEADLINE:
                raise RuntimeError(f"{what}: no desktop on the client's screen within {DEADLINE} s")
            time.sleep(0.005)
        return time.perf_counter() - t0

    def wait_clear(self, what):
        wait(lambda: self.red() < 0.01, 30, f"{what}: the client's screen to clear")


class BenchNxServer(NxServer):
    def login(self, password=PASSWORD):
        self.read_until(PROMPT)
        self.command("hello NXCLIENT - Version 3.5.0")
        self.command("SET SHELL_MODE SHELL")
        self.command("login", b"NX> 101 User: ")
        self.command(USER, b"NX> 102 Password: ")
        self.proc.stdin.write(password.encode() + b"\n")
        said = self.read_until(PROMPT)
        if "NX> 103 Welcome to" not in said:
            raise RuntimeError(f"NX login failed: {said!r}")


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def state(g, sid):
    row = sessions(g).get(sid)
    return row["state"] if row else None


def user_processes():
    out = []
    for pid in run("pgrep", "-u", USER).stdout.split():
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                if "/user@" in f.read():
                    continue
        except OSError:
            continue
        out.append(int(pid))
    return out


def end_round(g):
    """Terminates the user's sessions and waits until their processes are
    gone (killed by pid after 30 s, and said)."""
    for sid in sessions(g):
        try:
            g.TerminateSession(sid, timeout=30)
        except Exception:  # noqa: BLE001 (already going)
            pass
    wait(lambda: not sessions(g), 60, "the sessions to end")
    try:
        wait(lambda: not user_processes(), 30, "the user's processes to exit")
    except AssertionError as e:
        print(f"# {e}; killing {user_processes()}", flush=True)
        for pid in user_processes():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


def nx_dialogue_to_screen(screen, s, line, log):
    """Sends line (startsession or restoresession) on a logged-in dialogue;
    returns (t to NX> 710, t to the desktop shown, session id, display,
    nxproxy, bridge)."""
    t0 = time.perf_counter()
    s.proc.stdin.write(line.encode() + b"\n")
    reply = s.read_until(b"NX> 710 Session status: running\n", DEADLINE)
    t_ready = time.perf_counter() - t0
    info = info_lines(reply)
    s.read_until(PROMPT)
    s.command("bye", b"NX> 999 Bye.\n")
    bridge = Bridge(s)
    proxy = nxproxy(screen, bridge.port, info[701], log)
    t_frame = screen.wait_red("nxproxy", proxy, t0)
    return t_ready, t_frame, info[700], int(info[705]), proxy, bridge


def nx_round(screen, g, log):
    s = BenchNxServer()
    s.login()
    t_start, t_start_frame, sid, display, proxy, bridge = nx_dialogue_to_screen(
        screen, s, f'startsession --type="unix-desktop" --geometry="{GEOMETRY[0]}x{GEOMETRY[1]}" --link="lan"', log)
    xterms = pids(USER, "xterm")
    if sessions(g)[sid]["display_type"] != "nxagent" or len(xterms) != 1:
        raise RuntimeError(f"nx: session {sessions(g)[sid]}, xterms {xterms}")
    stop(proxy)
    bridge.done.wait(30)
    s.proc.wait(30)
    wait(lambda: state(g, sid) == "disconnected", 30, "nx: the session to be disconnected")
    wait(lambda: listening(NX_PORT_BASE + display), 30, "nx: nxagent to listen again")
    screen.wait_clear("nx")
    s2 = BenchNxServer()
    s2.login()
    t_restore, t_restore_frame, sid2, _, proxy2, bridge2 = nx_dialogue_to_screen(
        screen, s2, f'restoresession --id="{sid}" --type="unix-desktop"', log)
    if sid2 != sid:
        raise RuntimeError(f"nx: restoresession gave {sid2}, not {sid}")
    if pids(USER, "xterm") != xterms:
        raise RuntimeError(f"nx: xterms {pids(USER, 'xterm')} after restore, {xterms} before")
    stop(proxy2)
    bridge2.done.wait(30)
    s2.proc.wait(30)
    return t_start, t_start_frame, t_restore, t_restore_frame


def vncviewer(screen, port):
    log = open(VNC_LOG, "ab")
    env = dict(os.environ, DISPLAY=screen.display)
    return subprocess.Popen(["vncviewer", "-SecurityTypes", "None", "-AlertOnFatalError=0", "-ReconnectOnError=0",
                             f"127.0.0.1::{port}"], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)


def xvnc_to_screen(screen, g, sid, t0, what):
    fds, details = sc.connect_session(g, sid)
    t_ready = time.perf_counter() - t0
    if details.get("protocol") != "rfb":
        raise RuntimeError(f"xvnc: protocol {details.get('protocol')!r}")
    relay = Relay(fds["display"], fds["control"])
    viewer = vncviewer(screen, relay.port)
    t_frame = screen.wait_red(what, viewer, t0)
    return t_ready, t_frame, viewer, relay


def xvnc_round(screen, g):
    t0 = time.perf_counter()
    sid, _ = sc.create_session(g, type="xvnc", width=GEOMETRY[0], height=GEOMETRY[1], new=True)
    t_start = time.perf_counter() - t0
    _, t_start_frame, viewer, relay = xvnc_to_screen(screen, g, sid, t0, "vncviewer")
    xterms = pids(USER, "xterm")
    if sessions(g)[sid]["display_type"] != "xvnc" or len(xterms) != 1:
        raise RuntimeError(f"xvnc: session {sessions(g)[sid]}, xterms {xterms}")
    stop(viewer)
    relay.done.wait(30)
    wait(lambda: state(g, sid) == "disconnected", 30, "xvnc: the session to be disconnected")
    screen.wait_clear("xvnc")
    t0 = time.perf_counter()
    t_restore, t_restore_frame, viewer2, relay2 = xvnc_to_screen(screen, g, sid, t0, "vncviewer (reconnect)")
    if pids(USER, "xterm") != xterms:
        raise RuntimeError(f"xvnc: xterms {pids(USER, 'xterm')} after reconnect, {xterms} before")
    stop(viewer2)
    relay2.done.wait(30)
    return t_start, t_start_frame, t_restore, t_restore_frame


def main():
    rounds, warmup = env_int("BENCH_ROUNDS", 10), env_int("BENCH_WARMUP", 1)
    print(f"# rsm-nxserver + nxagent + nxproxy against Gateway1 + xvnc + vncviewer, {GEOMETRY[0]}x{GEOMETRY[1]}, "
          f"{rounds} rounds each (+{warmup} warm-up), order ABBA, fresh session per round", flush=True)
    figures = {k: [] for k in ("nx", "xvnc")}
    failed = {k: 0 for k in figures}
    log = open(LOG, "ab")
    g = login(USER, "127.0.0.1")
    with FrameScreen() as screen:
        end_round(g)
        for i in range(warmup + rounds):
            for kind in (("nx", "xvnc") if i % 2 == 0 else ("xvnc", "nx")):
                try:
                    r = nx_round(screen, g, log) if kind == "nx" else xvnc_round(screen, g)
                    if i >= warmup:
                        figures[kind].append(r)
                except Exception as e:  # noqa: BLE001 (counted, the run goes on)
                    failed[kind] += 1
                    print(f"# round {i + 1} {kind} failed: {str(e)[-600:]}", flush=True)
                try:
                    end_round(g)
                    screen.wait_clear(kind)
                except AssertionError as e:
                    print(f"# round {i + 1} {kind}: cleanup: {e}", flush=True)
            print(f"# round {i + 1}/{warmup + rounds}{'' if i >= warmup else ' (warm-up)'} done", flush=True)
    g.Close()
    log.close()
    for k, what in enumerate(("start -> session ready", "start -> first frame",
                              "restore -> session ready", "restore -> first frame")):
        report(what, [r[k] for r in figures["nx"]], [r[k] for r in figures["xvnc"]])
    print(f"# failed rounds: nx {failed['nx']}, xvnc {failed['xvnc']} (of {warmup + rounds} each)", flush=True)


if __name__ == "__main__":
    main()
