"""xrdp benchmark, run inside the system-tier container by bench/run-xrdp:
the real xrdp 0.9.21 in front of rsm (rsm-scp + rsm-manager) and in front
of Debian's own xrdp-sesman 0.9.21, in the same container and the same run.
Prints figures; asserts nothing.

  f. time from starting xfreerdp 2.11 (under a private Xvfb) until its window
     shows the session's desktop (the user's red full-screen xterm covers
     more than 30 % of the client's screen);
  s. SCP v0 (the request xrdp sends, code 0 = Xvnc) from request to reply,
     and to "display accepting": the port xrdp then dials (127.0.0.1:5900 +
     display) answers "RFB 003", and on to the ServerInit of an RFB 3.3
     handshake with the password xrdp derives from the reply's GUID.
     xrdp-sesman replies before its Xvnc exists; rsm replies when it is ready.

Both share port 3350, so the two take turns, one round at a time, in the
order rsm, sesman, sesman, rsm, rsm, ... (each switch stops one and starts
the other before the round; neither start is timed). The machine is shared:
its load drifts over minutes, and alternating puts both under the same
conditions; the ABBA order cancels whatever the order within a pair does.
Every round is a fresh session: after it (and, for f, once xrdp has let go
of the display), the user's sessions are ended by each manager's own tool
(rsm: `rsmctl terminate-user`; sesman's sessions are logind sessions through
pam_systemd: `loginctl terminate-session`), and the next round waits until
the user has no process left outside their systemd --user, which lingers
(bench/run-xrdp) so that neither side pays for starting it. The first round
of each (BENCH_WARMUP) is not counted.

Env: BENCH_ROUNDS (counted rounds per side, default 10), BENCH_WARMUP
(default 1), BENCH_ONLY (sections, default "fs"), BENCH_DEBUG (print the
client screen's commonest pixels when the desktop is seen).
"""

import os
import socket
import statistics
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../tests/system/py"))
import frame_screen  # noqa: E402
from rdp_client import RED, XRDP_GREY, stop, wait_xrdp_listening  # noqa: E402
from systest import run, wait  # noqa: E402
from xrdp_scp import recv_exact, scp_request, vnc_response, xrdp_vnc_password  # noqa: E402

USER = os.environ.get("BENCH_USER", "benchuser")
PASSWORD = os.environ.get("BENCH_PASSWORD", "benchuser-pw")
SESMAN_UNIT = "xrdp-sesman-bench.service"
RED_SHARE = 0.3


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def report(name, rsm, sesman):
    def fig(v):
        return statistics.median(v) * 1e3, pct(v, 99) * 1e3
    (rm, rp), (sm, sp) = fig(rsm), fig(sesman)
    print(f"{name:<34} n={len(rsm):<3} rsm median={rm:8.1f} ms p99={rp:8.1f} ms | "
          f"sesman median={sm:8.1f} ms p99={sp:8.1f} ms | rsm/sesman median={rm / sm:5.2f} p99={rp / sp:5.2f}",
          flush=True)


def listening_3350():
    return "LISTEN" in run("ss", "-ltnH", "sport = :3350").stdout


def user_processes():
    """The user's processes outside their systemd --user (which lingers, so
    that neither side pays for starting it)."""
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


def wait_user_gone(what):
    """No process of the user left outside systemd --user (desktop, Xvnc,
    chansrv). Whatever outlives its manager's teardown by 30 s is killed by
    pid (and said), so a slow teardown cannot leak into the next round."""
    try:
        wait(lambda: not user_processes(), 30, f"{what}: {USER}'s processes to exit")
    except AssertionError as e:
        print(f"# {e}; killing {user_processes()}", flush=True)
        for pid in user_processes():
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        wait(lambda: not user_processes(), 30, f"{what}: {USER}'s processes to die")


def systemctl(*args):
    r = run("systemctl", *args)
    if r.returncode != 0:
        raise RuntimeError(f"systemctl {' '.join(args)}: {r.stderr.strip()}")


class Rsm:
    name = "rsm"

    def activate(self):
        # Both services running before the clock starts: socket activation of
        # rsm-scp (or of the manager after an idle exit) is not what is timed.
        systemctl("start", "rsm-manager.socket", "rsm-scp.socket")
        systemctl("start", "rsm-manager.service", "rsm-scp.service")
        wait(listening_3350, 20, "rsm-scp on 3350")

    def deactivate(self):
        systemctl("stop", "rsm-scp.socket", "rsm-scp.service")
        wait(lambda: not listening_3350(), 20, "3350 free of rsm-scp")

    def end_sessions(self):
        run("rsmctl", "terminate-user", USER)  # exits non-zero when there is none
        wait(lambda: not run("rsmctl", "list").stdout.count(USER), 30, "rsm to forget the sessions")
        wait_user_gone("rsm")


class Sesman:
    name = "sesman"

    def activate(self):
        run("systemctl", "reset-failed", SESMAN_UNIT)
        # As Debian's xrdp-sesman.service runs it (root, its own sesman.ini).
        r = run("systemd-run", f"--unit={SESMAN_UNIT}", "--collect", "/usr/sbin/xrdp-sesman", "--nodaemon")
        if r.returncode != 0:
            raise RuntimeError(f"xrdp-sesman: {r.stderr.strip()}")
        wait(listening_3350, 20, "xrdp-sesman on 3350")

    def deactivate(self):
        run("systemctl", "stop", SESMAN_UNIT)
        wait(lambda: not listening_3350(), 20, "3350 free of xrdp-sesman")

    def end_sessions(self):
        for line in run("loginctl", "list-sessions", "--no-legend").stdout.splitlines():
            f = line.split()
            if len(f) >= 3 and f[2] == USER:
                run("loginctl", "terminate-session", f[0])
        wait_user_gone("sesman")


class FrameScreen(frame_screen.FrameScreen):
    """The client's Xvfb, its framebuffer read from its -fbdir file."""

    def __init__(self):
        super().__init__(":71", "1100x820x24", "xrdp-bench-fb.")

    def debug(self, what):
        from collections import Counter
        data = self.pixels()
        c = Counter(data[i:i + 4] for i in range(0, len(data), 4 * 13))
        print(f"# {what}: {[(k.hex(), n) for k, n in c.most_common(5)]}", flush=True)

    def share(self, rgb):
        """Share of the screen's pixels of colour rgb as xfreerdp draws them
        (LSBFirst, top byte 0xff: b g r ff), counted by bytes.count at C
        speed. For red (00 00 ff ff) a match across two pixels needs one with
        no green and no red before one with full blue: not on this screen
        (the red desktop, black, xrdp's greys)."""
        data = self.pixels()
        return data.count(bytes((rgb[2], rgb[1], rgb[0], 0xff))) * 4 / max(1, len(data))


def frame_round(mgr, screen):
    """Seconds from starting xfreerdp to the red desktop in its window."""
    t0 = time.perf_counter()
    client = screen.xfreerdp(USER, PASSWORD)
    try:
        deadline = t0 + 90
        while screen.share(RED) < RED_SHARE:
            if screen.share(XRDP_GREY) > 0.05:
                raise RuntimeError(f"{mgr.name}: xrdp shows its login-failed dialog")
            if client.poll() is not None:
                raise RuntimeError(f"{mgr.name}: xfreerdp exited ({client.returncode}) before the desktop showed")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{mgr.name}: no desktop in the RDP client after 90 s")
            time.sleep(0.005)
        t = time.perf_counter() - t0
        if os.environ.get("BENCH_DEBUG"):
            screen.debug(f"{mgr.name} at {t:.3f}s")
        return t
    finally:
        stop(client)
        # The user closed the client; the session ends after xrdp has let go
        # of the display (its per-connection process exits). Ending it while
        # xrdp still holds the display would leave the display's port in
        # TIME_WAIT on the server side (rsm-scp binds without SO_REUSEADDR).
        wait(lambda: not run("pgrep", "-P", xrdp_pid()).stdout.strip(), 30, "xrdp to drop the connection")
        mgr.end_sessions()


def xrdp_pid():
    return run("systemctl", "show", "-P", "MainPID", "xrdp-bench.service").stdout.strip()


def dial(port, timeout):
    """Connects as xrdp 0.9.21 does to "127.0.0.1" (os_calls.c
    g_tcp_connect): [::1] first, then 127.0.0.1. xrdp-sesman, told to
    listen on 127.0.0.1, binds [::1] only (bind_loopback: the first of
    [::1], 127.0.0.1 and [::ffff:127.0.0.1] that works)."""
    refused = None
    for family, addr in ((socket.AF_INET6, ("::1", port, 0, 0)), (socket.AF_INET, ("127.0.0.1", port))):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(addr)
            return s
        except ConnectionRefusedError as e:
            s.close()
            refused = e
        except BaseException:
            s.close()
            raise
    raise refused


def scp_round(mgr):
    """(reply, display answers, ServerInit) in seconds from the request."""
    t0 = time.perf_counter()
    with dial(3350, 60) as c:
        c.sendall(scp_request(USER, PASSWORD, description="127.0.0.1:40000 - socket: 12"))
        head = recv_exact(c, 8)
        reply = head + recv_exact(c, struct.unpack(">I", head[4:])[0] - 8)
        t_reply = time.perf_counter() - t0
    try:
        _, size, cmd, ok, display = struct.unpack(">IIHHH", reply[:14])
        if (size, cmd, ok) != (30, 3, 1):
            raise RuntimeError(f"{mgr.name}: SCP deny or odd reply {reply.hex()}")
        guid = reply[14:30]
        deadline = time.perf_counter() + 30
        while True:  # what xrdp's VNC module does, only faster: dial until it answers
            try:
                v = dial(5900 + display, 10)
                break
            except ConnectionRefusedError:
                if time.perf_counter() > deadline:
                    raise RuntimeError(f"{mgr.name}: nothing on port {5900 + display} after 30 s") from None
                time.sleep(0.002)
        with v:
            version = recv_exact(v, 12)
            t_accept = time.perf_counter() - t0
            if not version.startswith(b"RFB 003"):
                raise RuntimeError(f"{mgr.name}: port {5900 + display} said {version!r}")
            v.sendall(b"RFB 003.003\n")
            if struct.unpack(">I", recv_exact(v, 4))[0] != 2:
                raise RuntimeError(f"{mgr.name}: no VNC authentication offered")
            v.sendall(vnc_response(recv_exact(v, 16), xrdp_vnc_password(guid)))
            if struct.unpack(">I", recv_exact(v, 4))[0] != 0:
                raise RuntimeError(f"{mgr.name}: VNC authentication failed")
            v.sendall(b"\x01")
            recv_exact(v, 24)  # ServerInit up to the name length
            t_init = time.perf_counter() - t0
        return t_reply, t_accept, t_init
    finally:
        mgr.end_sessions()


def main():
    rounds, warmup = env_int("BENCH_ROUNDS", 10), env_int("BENCH_WARMUP", 1)
    only = os.environ.get("BENCH_ONLY", "fs")
    print(f"# xrdp 0.9.21 + rsm against xrdp 0.9.21 + xrdp-sesman 0.9.21, Xvnc type, "
          f"{rounds} rounds each (+{warmup} warm-up), order ABBA, fresh session per round", flush=True)
    wait_xrdp_listening()
    sides = {"rsm": Rsm(), "sesman": Sesman()}
    frames = {k: [] for k in sides}
    scp = {k: [] for k in sides}
    with FrameScreen() as screen:
        current = None
        for i in range(warmup + rounds):
            order = ("rsm", "sesman") if i % 2 == 0 else ("sesman", "rsm")
            for name in order:
                mgr = sides[name]
                if current is not mgr:
                    if current is not None:
                        current.deactivate()
                    mgr.activate()
                    current = mgr
                counted = i >= warmup
                if "f" in only:
                    t = frame_round(mgr, screen)
                    if counted:
                        frames[name].append(t)
                if "s" in only:
                    t = scp_round(mgr)
                    if counted:
                        scp[name].append(t)
            print(f"# round {i + 1}/{warmup + rounds}{'' if i >= warmup else ' (warm-up)'} done", flush=True)
        current.deactivate()
    if "f" in only:
        report("xfreerdp start -> desktop shown", frames["rsm"], frames["sesman"])
    if "s" in only:
        for k, what in enumerate(("SCP request -> reply", "SCP request -> display answers",
                                  "SCP request -> RFB ServerInit")):
            report(what, [x[k] for x in scp["rsm"]], [x[k] for x in scp["sesman"]])


if __name__ == "__main__":
    main()
