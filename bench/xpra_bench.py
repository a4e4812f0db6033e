"""xpra benchmark, run inside the system-tier container by bench/run-xpra:
the real xpra 3.1.3 client through rsm-gateway (127.0.0.1:5900, the xpra
protocol, PAM through rsm, to the user's rsm session of type "xpra") and
through Debian's own `xpra proxy` 3.1.3 (127.0.0.1:14500, --tcp-auth=pam,
which finds the user's live sessions in their socket directories and
forwards to one through a per-client proxy instance process) to an xpra
server of the same user started with the options of rsm's [display.xpra]
argv (data/rsm.toml). Both sessions run the same red xterm. In the same
container and the same run; prints figures, asserts nothing.

  a. time from starting `xpra attach` (under a private Xvfb, its framebuffer
     read from the file -fbdir writes, every few ms) until the session's red
     xterm covers more than 10 % of the client's screen: a reconnect to a
     session that already exists (the first, warm-up round made rsm's);
  i. `xpra id` through each (a new client process: connect, the PAM login,
     the answer; through rsm the session's server answers, through the xpra
     proxy the proxy itself does);
  m. with the client attached (measured when a's window is seen): USS
     (Private_Clean + Private_Dirty, /proc/PID/smaps_rollup) of what serves
     that one connection — rsm: the rsm-gateway@ instance's processes; xpra
     proxy: its per-client proxy instance process(es), the proxy's children.

The two take turns one round at a time in the order rsm, proxy, proxy, rsm,
rsm, ... (ABBA: the shared machine's load drifts; alternating puts both under
the same conditions, and the order cancels what the order within a pair
does). After each attach round the client is stopped and the next round
waits until its window is gone from the screen and the connection's
server-side process has exited. A failed round is counted and printed, not
fatal. The first BENCH_WARMUP rounds (at least 1) are not counted.
After each pair the same client goes straight to the user's own server's
Unix socket ("direct", as root: no proxy, no authentication), printed for a
and i as the floor both sides add to (the client's own start-up).

Env: BENCH_ROUNDS (counted rounds per side, default 10), BENCH_WARMUP (1),
BENCH_ONLY (sections, default "aim"), BENCH_DEBUG (print the commonest
pixels when the window is seen).
"""

import glob
import json
import os
import pwd
import socket
import statistics
import subprocess
import sys
import time
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "../tests/system/py"))
from rdp_client import stop  # noqa: E402
from systest import run, wait  # noqa: E402
from xrdp_bench import FrameScreen, pct  # noqa: E402
from session_bench import uss_kib  # noqa: E402

USER = os.environ.get("BENCH_USER", "benchuser")
PASSWORD = os.environ.get("BENCH_PASSWORD", "benchuser-pw")
PWFILE = "/root/xpra-bench.pw"
CLIENT_LOG = "/root/xpra-bench-client.log"
SERVER_UNIT, PROXY_UNIT = "xpra-bench-server.service", "xpra-bench-proxy.service"
SERVER_DISPLAY, PROXY_DISPLAY = ":200", ":14"
RSM_PORT, PROXY_PORT = 5900, 14500
RED_SHARE = 0.1
CLIENT_OPTIONS = ["--opengl=no", "--tray=no", "--notifications=no", "--speaker=off", "--microphone=off",
                  "--webcam=no", "--mmap=no", "--printing=no", "--file-transfer=no", "--bell=no",
                  "--system-tray=no", "--clipboard=no", "--pulseaudio=no"]
# What a headless proxy needs, nothing that reaches out (as for the server).
PROXY_OPTIONS = ["--daemon=no", "--bind=none", f"--bind-tcp=127.0.0.1:{PROXY_PORT}", "--tcp-auth=pam",
                 "--mdns=no", "--dbus-proxy=no", "--dbus-control=no", "--systemd-run=no", "--printing=no",
                 "--file-transfer=no", "--html=off", "--ssh-upgrade=no", "--rfb-upgrade=0",
                 "--proxy-start-sessions=no", "--remote-logging=no"]


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


def report(name, unit, scale, rsm, proxy, failed):
    if not rsm or not proxy:
        print(f"{name:<34} no figures (rsm {len(rsm)}, xpra-proxy {len(proxy)} rounds; failed rsm "
              f"{failed['rsm']}, xpra-proxy {failed['proxy']})", flush=True)
        return

    def fig(v):
        return statistics.median(v) * scale, pct(v, 99) * scale
    (rm, rp), (pm, pp) = fig(rsm), fig(proxy)
    print(f"{name:<34} n={len(rsm)}/{len(proxy)} rsm median={rm:8.1f} {unit} p99={rp:8.1f} {unit} | "
          f"xpra-proxy median={pm:8.1f} {unit} p99={pp:8.1f} {unit} | rsm/xpra-proxy median={rm / pm:5.2f} "
          f"p99={rp / pp:5.2f} | failed rounds rsm={failed['rsm']} xpra-proxy={failed['proxy']}", flush=True)


def floor(name, v, failed):
    if v:
        print(f"{name:<34} n={len(v)} median={statistics.median(v) * 1e3:8.1f} ms p99={pct(v, 99) * 1e3:8.1f} ms "
              f"(the client's own floor, no proxy, no auth) | failed rounds={failed}", flush=True)


def listening(port):
    return "LISTEN" in run("ss", "-ltnH", f"sport = :{port}").stdout


def main_pid(unit):
    return run("systemctl", "show", "-P", "MainPID", unit).stdout.strip()


def server_argv(uid):
    """rsm's [display.xpra] argv for a server of the user's own: the
    display, its default sockets (the socket directories, where the proxy
    looks) instead of rsm's --bind and --displayfd, no -auth file."""
    # rsm's installed defaults (meson's datadir; /etc/rsm/rsm.toml overrides)
    path = next(p for p in ("/etc/rsm/rsm.toml", "/usr/share/rsm/rsm.toml", "/usr/local/share/rsm/rsm.toml")
                if os.path.exists(p))
    with open(path, "rb") as f:
        argv = tomllib.load(f)["display"]["xpra"]["argv"]
    out = []
    for a in argv:
        if a == ":%d":
            a = SERVER_DISPLAY
        elif a.startswith(("--displayfd=", "--bind=")):
            continue
        elif a.startswith("--xvfb="):
            a = a.replace(" -auth %a", "")
        out.append(a)
    return out + ["--start=/usr/local/bin/rsm-bench-xterm"]


def server_socket(uid):
    # xpra 3.1 names its socket HOSTNAME-N in each socket directory.
    paths = glob.glob(f"/run/user/{uid}/xpra/*-{SERVER_DISPLAY[1:]}")
    for p in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(p)
            return p
        except OSError:
            pass
        finally:
            s.close()
    return None


def start_baseline():
    pw = pwd.getpwnam(USER)
    run("systemctl", "reset-failed", SERVER_UNIT, PROXY_UNIT)
    r = run("systemd-run", f"--unit={SERVER_UNIT}", f"--uid={pw.pw_uid}", f"--gid={pw.pw_gid}",
            f"--setenv=HOME={pw.pw_dir}", f"--setenv=XDG_RUNTIME_DIR=/run/user/{pw.pw_uid}",
            f"--setenv=USER={USER}", "-p", f"WorkingDirectory={pw.pw_dir}", *server_argv(pw.pw_uid))
    if r.returncode != 0:
        raise RuntimeError(f"xpra server: {r.stderr.strip()}")
    wait(lambda: server_socket(pw.pw_uid), 60, f"{USER}'s own xpra server on {SERVER_DISPLAY}")
    r = run("systemd-run", f"--unit={PROXY_UNIT}", "xpra", "proxy", PROXY_DISPLAY, *PROXY_OPTIONS)
    if r.returncode != 0:
        raise RuntimeError(f"xpra proxy: {r.stderr.strip()}")
    wait(lambda: listening(PROXY_PORT), 60, f"xpra proxy on {PROXY_PORT}")


def stop_baseline():
    run("systemctl", "stop", PROXY_UNIT, SERVER_UNIT)


def pids_uss(pids):
    vals = [uss_kib(p) for p in pids]
    return sum(v for v in vals if v is not None)


class Rsm:
    name, label, port = "rsm", "rsm", RSM_PORT

    def url(self):
        return f"tcp://{USER}@127.0.0.1:{self.port}/"

    def connection_pids(self):
        return run("pgrep", "-x", "rsm-gateway").stdout.split()

    def wait_idle(self):
        wait(lambda: not self.connection_pids(), 30, "rsm-gateway to exit after the client left")


class Proxy:
    name, label, port = "proxy", "xpra-proxy", PROXY_PORT

    def url(self):
        return f"tcp://{USER}@127.0.0.1:{self.port}/"

    def connection_pids(self):
        return run("pgrep", "-P", main_pid(PROXY_UNIT)).stdout.split()

    def wait_idle(self):
        wait(lambda: not self.connection_pids(), 30, "the xpra proxy instance to exit after the client left")


class Direct:
    """The floor: the same client straight to the user's own server's Unix
    socket (as root; no proxy, no authentication)."""
    name, label = "direct", "direct"

    def url(self):
        return "socket://" + server_socket(pwd.getpwnam(USER).pw_uid)

    def connection_pids(self):
        return []

    def wait_idle(self):
        pass


def red_share(screen):
    """Share of the client screen's pixels that are pure red (LSBFirst
    00 00 ff, the pad byte 0xff or 0x00), counted by bytes.count."""
    screen.fb.seek(screen.offset)
    data = screen.fb.read()
    n = data.count(b"\x00\x00\xff\xff") + data.count(b"\x00\x00\xff\x00")
    return n * 4 / max(1, len(data))


def client(screen, mode, side, extra=()):
    env = dict(os.environ, DISPLAY=screen.display)
    log = open(CLIENT_LOG, "ab")
    log.write(f"--- xpra {mode} via {side.label}\n".encode())
    log.flush()
    return subprocess.Popen(["timeout", "120", "xpra", mode, side.url(),
                             f"--password-file={PWFILE}", *CLIENT_OPTIONS, *extra],
                            env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT if mode == "attach" else log)


def attach_round(side, screen, measure_memory):
    """(seconds from starting the client to the red window, USS KiB)."""
    t0 = time.perf_counter()
    c = client(screen, "attach", side)
    uss = None
    try:
        deadline = t0 + 90
        while red_share(screen) < RED_SHARE:
            if c.poll() is not None:
                raise RuntimeError(f"{side.label}: xpra attach exited ({c.returncode}) before the window showed")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{side.label}: no red window on the client's screen after 90 s")
            time.sleep(0.005)
        t = time.perf_counter() - t0
        if os.environ.get("BENCH_DEBUG"):
            screen.debug(f"{side.label} at {t:.3f}s")
        if measure_memory:
            uss = pids_uss(side.connection_pids())
        return t, uss
    finally:
        stop(c)
        wait(lambda: red_share(screen) < 0.01, 30, "the client's window to go")
        side.wait_idle()


def id_round(side, screen):
    t0 = time.perf_counter()
    r = subprocess.run(["timeout", "60", "xpra", "id", side.url(),
                        f"--password-file={PWFILE}"], capture_output=True, text=True,
                       env=dict(os.environ, DISPLAY=screen.display), stdin=subprocess.DEVNULL)
    t = time.perf_counter() - t0
    if r.returncode != 0 or "uuid=" not in r.stdout:
        raise RuntimeError(f"{side.label}: xpra id exited {r.returncode}: {(r.stdout + r.stderr)[-300:]!r}")
    side.wait_idle()
    return t


def main():
    rounds, warmup = env_int("BENCH_ROUNDS", 10), max(1, env_int("BENCH_WARMUP", 1))
    only = os.environ.get("BENCH_ONLY", "aim")
    with open(PWFILE, "w") as f:  # read whole by the client: no newline
        f.write(PASSWORD)
    os.chmod(PWFILE, 0o600)
    print(f"# xpra 3.1.3 client via rsm-gateway (:{RSM_PORT}, PAM via rsm, rsm session of type xpra) against "
          f"via Debian's xpra proxy 3.1.3 (:{PROXY_PORT}, --tcp-auth=pam, to {USER}'s own xpra server "
          f"{SERVER_DISPLAY} with rsm's [display.xpra] options); {rounds} rounds each (+{warmup} warm-up), "
          f"order ABBA, reconnect to an existing session", flush=True)
    wait(lambda: listening(RSM_PORT), 30, f"rsm-gateway.socket on {RSM_PORT}")
    start_baseline()
    sides = {"rsm": Rsm(), "proxy": Proxy(), "direct": Direct()}
    attach = {k: [] for k in sides}
    memory = {k: [] for k in sides}
    ids = {k: [] for k in sides}
    failed = {"a": {k: 0 for k in sides}, "i": {k: 0 for k in sides}}
    screen = FrameScreen()
    screen.display, screen.geometry = ":74", "1280x1024x24"
    try:
        with screen:
            for i in range(warmup + rounds):
                counted = i >= warmup
                for name in (("rsm", "proxy") if i % 2 == 0 else ("proxy", "rsm")) + ("direct",):
                    side = sides[name]
                    if "a" in only or (i == 0 and name == "rsm"):  # round 0 makes rsm's session
                        try:
                            t, uss = attach_round(side, screen, "m" in only)
                            if counted:
                                attach[name].append(t)
                                if uss is not None:
                                    memory[name].append(uss)
                        except (RuntimeError, AssertionError) as e:
                            failed["a"][name] += 1
                            print(f"# round {i + 1} attach {side.label} failed: {e}", flush=True)
                    if "i" in only:
                        try:
                            t = id_round(side, screen)
                            if counted:
                                ids[name].append(t)
                        except (RuntimeError, AssertionError) as e:
                            failed["i"][name] += 1
                            print(f"# round {i + 1} id {side.label} failed: {e}", flush=True)
                print(f"# round {i + 1}/{warmup + rounds}{'' if counted else ' (warm-up)'} done", flush=True)
    finally:
        stop_baseline()
    # That every rsm round after the first was a reconnect: the gateway's
    # journal entry per connection says whether the session was reused.
    out = run("journalctl", "--no-pager", "-o", "json", "-t", "rsm-gateway").stdout
    entries = [json.loads(x) for x in out.splitlines() if x.strip()]
    conn = [e for e in entries if e.get("MESSAGE") == "xpra client connected to its session"]
    print(f"# rsm: {len(conn)} xpra connections, {sum(e.get('RSM_REUSED') == 'no' for e in conn)} of them to a "
          f"new session, {len({e.get('RSM_SESSION_ID') for e in conn})} session(s)", flush=True)
    if "a" in only:
        report("xpra attach -> window shown", "ms", 1e3, attach["rsm"], attach["proxy"], failed["a"])
        floor("  direct to the server's socket", attach["direct"], failed["a"]["direct"])
    if "m" in only and "a" in only:
        report("USS per connection (attached)", "KiB", 1, memory["rsm"], memory["proxy"], failed["a"])
    if "i" in only:
        report("xpra id round trip", "ms", 1e3, ids["rsm"], ids["proxy"], failed["i"])
        floor("  direct to the server's socket", ids["direct"], failed["i"]["direct"])


if __name__ == "__main__":
    main()
