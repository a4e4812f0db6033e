"""Browser-side benchmark, run inside the system-tier container by
bench/run-web: a scripted WebSocket RFB client (python3-websocket, what
noVNC does on the wire) through rsm-gateway (ws://127.0.0.1:5900/websockify,
VeNCrypt Plain, PAM through rsm, to the user's existing rsm xvnc session)
and through Debian's websockify 0.10 (ws://127.0.0.1:6080/, the usual
noVNC-without-rsm setup) in front of an Xvnc of the same user (127.0.0.1:5950,
-SecurityTypes None,VncAuth; same geometry, depth and xterm as rsm's
session). In the same container and the same run; prints figures, asserts
nothing.

  l. WebSocket connect -> RFB ServerInit. rsm: including the VeNCrypt Plain
     login through rsm's PAM and ConnectSession reconnecting the user's
     existing (disconnected) session; websockify: security type None, no
     login at all. Also printed: websockify with VncAuth (a DES challenge,
     no PAM) and the same client straight to each Xvnc (no proxy).
  t. throughput: after ServerInit the client asks for Raw only and requests
     full non-incremental FramebufferUpdates of the whole screen, the next
     as soon as one has arrived, for BENCH_SECONDS; the RFB bytes received
     per second through each, with the mean WebSocket message size and the
     CPU share of the proxy's processes and of this client while streaming
     (the streaming client reads frames straight off the upgraded socket:
     WsFrames). Floors: the same client straight to the baseline Xvnc over
     TCP and to the rsm session's Xvnc Unix socket (no proxy, no login).
  m. memory per connection: USS (Private_Clean + Private_Dirty,
     /proc/PID/smaps_rollup) of what serves that one connection, measured
     idle after ServerInit and at the end of the throughput run. rsm: the
     rsm-gateway@ instance's processes; websockify: its per-connection
     child (multiprocessing, forked from the listener, so pages it still
     shares with the listener are not counted; the listener's own USS is
     printed once).

rsm and websockify take turns one round at a time (ABBA: the shared
machine's load drifts, alternating gives both the same); websockify+VncAuth
and the two direct floors run after each pair. Each round waits until the previous
connection's serving process has exited. A failed round is counted and
printed, not fatal. The first BENCH_WARMUP rounds (at least 1; the first
makes rsm's session) are not counted.

Env: BENCH_ROUNDS (counted rounds per side, default 10), BENCH_WARMUP (1),
BENCH_SECONDS (throughput seconds per round, 5), BENCH_ONLY ("ltm"),
BENCH_WSLIB (stream through python3-websocket's recv). bench/run-web's
BENCH_BUSY=1 makes the xterm on both sides run `yes`.
"""

import glob
import json
import os
import pwd
import socket
import statistics
import struct
import sys
import time

import websocket

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "../tests/system/py"))
from systest import run, wait  # noqa: E402
from xrdp_bench import pct  # noqa: E402
from session_bench import uss_kib  # noqa: E402
from xrdp_scp import vnc_response  # noqa: E402

USER = os.environ.get("BENCH_USER", "benchuser")
PASSWORD = os.environ.get("BENCH_PASSWORD", "benchuser-pw")
VNC_PASSWORD = "bench-vnc"
RSM_PORT, WS_PORT, XVNC_PORT = 5900, 6080, 5950
WS_UNIT, XVNC_UNIT, XTERM_UNIT = "websockify-bench.service", "xvnc-bench.service", "xterm-bench.service"
XVNC_DISPLAY = ":50"
SESSION_PROGRAM = "/usr/local/bin/rsm-bench-web-xterm"  # rsm's start_script too (bench/run-web)
RAW, DESKTOP_SIZE = 0, -223


def env_int(name, default):
    return int(os.environ.get(name, str(default)))


class Stream:
    """RFB bytes from a WebSocket or a TCP socket; counts what arrived."""

    def __init__(self, recv, send):
        self.recv_message, self.send = recv, send
        self.buf, self.pos, self.total, self.messages = bytearray(), 0, 0, 0

    def _fill(self):
        data = self.recv_message()
        if not data:
            raise EOFError("the server closed the connection")
        if isinstance(data, str):
            raise RuntimeError("a text frame: not binary RFB")
        self.total += len(data)
        self.messages += 1
        if self.pos >= len(self.buf):
            self.buf, self.pos = bytearray(data), 0
        else:
            del self.buf[:self.pos]
            self.pos = 0
            self.buf += data

    def read(self, n):
        while len(self.buf) - self.pos < n:
            self._fill()
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def skip(self, n):
        while n > 0:
            avail = len(self.buf) - self.pos
            if avail == 0:
                self._fill()
                continue
            k = min(avail, n)
            self.pos += k
            n -= k

    def u32(self):
        return struct.unpack(">I", self.read(4))[0]


class WsFrames:
    """Server-to-client WebSocket messages read straight off the socket
    python3-websocket upgraded (it reads exactly what each frame needs, so
    nothing of the stream is left in its buffers after the handshake):
    256 KiB reads and a header parse per frame, so that the client is not
    what limits the throughput (python3-websocket's recv makes several
    2..16384-byte reads per message; BENCH_WSLIB=1 uses it anyway)."""

    def __init__(self, sock):
        self.sock, self.buf, self.pos = sock, bytearray(), 0

    def _need(self, n):
        while len(self.buf) - self.pos < n:
            if self.pos:
                del self.buf[:self.pos]
                self.pos = 0
            chunk = self.sock.recv(1 << 18)
            if not chunk:
                raise EOFError("the proxy closed the connection")
            self.buf += chunk

    def recv(self):
        while True:
            self._need(2)
            b0, b1 = self.buf[self.pos], self.buf[self.pos + 1]
            head, n = 2, b1 & 0x7F
            if b1 & 0x80:
                raise RuntimeError("a masked frame from the server")
            if n == 126:
                self._need(4)
                n, head = struct.unpack_from(">H", self.buf, self.pos + 2)[0], 4
            elif n == 127:
                self._need(10)
                n, head = struct.unpack_from(">Q", self.buf, self.pos + 2)[0], 10
            self._need(head + n)
            start = self.pos + head
            payload = bytes(self.buf[start:start + n])
            self.pos = start + n
            opcode = b0 & 0x0F
            if opcode in (0, 2):
                if n:
                    return payload
            elif opcode == 8:
                return b""
            elif opcode == 1:
                raise RuntimeError("a text frame: not binary RFB")
            # ping (9), pong (10): not answered, not counted


def rfb_handshake(s, auth):
    """RFB 3.8 up to ServerInit: (width, height, bytes per pixel).
    auth: "plain" (VeNCrypt Plain with USER/PASSWORD), "none", "vnc"."""
    version = s.read(12)
    if not version.startswith(b"RFB 003."):
        raise RuntimeError(f"not RFB: {version!r}")
    s.send(b"RFB 003.008\n")
    n = s.read(1)[0]
    if n == 0:
        raise RuntimeError(f"refused: {s.read(s.u32())!r}")
    types = s.read(n)
    if auth == "plain":
        if 19 not in types:
            raise RuntimeError(f"no VeNCrypt among {list(types)}")
        s.send(bytes([19]))
        if s.read(2) != b"\x00\x02":
            raise RuntimeError("VeNCrypt version is not 0.2")
        s.send(b"\x00\x02")
        if s.read(1) != b"\x00":
            raise RuntimeError("VeNCrypt 0.2 refused")
        k = s.read(1)[0]
        subtypes = struct.unpack(f">{k}I", s.read(4 * k))
        if 256 not in subtypes:
            raise RuntimeError(f"no Plain among VeNCrypt sub-types {subtypes}")
        u, p = USER.encode(), PASSWORD.encode()
        s.send(struct.pack(">I", 256))
        s.send(struct.pack(">II", len(u), len(p)) + u + p)
    elif auth == "vnc":
        if 2 not in types:
            raise RuntimeError(f"no VncAuth among {list(types)}")
        s.send(bytes([2]))
        s.send(vnc_response(s.read(16), VNC_PASSWORD))
    else:
        if 1 not in types:
            raise RuntimeError(f"no None among {list(types)}")
        s.send(bytes([1]))
    if s.u32() != 0:
        raise RuntimeError(f"authentication failed: {s.read(s.u32())!r}")
    s.send(b"\x01")  # ClientInit: shared
    w, h = struct.unpack(">HH", s.read(4))
    bpp = s.read(16)[0] // 8
    s.read(s.u32())  # the desktop's name
    return w, h, bpp


def read_update(s, bpp):
    """Reads server messages up to and including one FramebufferUpdate."""
    while True:
        t = s.read(1)[0]
        if t == 0:
            (n,) = struct.unpack(">xH", s.read(3))
            for _ in range(n):
                _, _, w, h, enc = struct.unpack(">HHHHi", s.read(12))
                if enc == RAW:
                    s.skip(w * h * bpp)
                elif enc != DESKTOP_SIZE:
                    raise RuntimeError(f"unexpected encoding {enc}")
            return
        if t == 2:  # Bell
            continue
        if t == 3:  # ServerCutText
            s.read(3)
            s.skip(s.u32())
            continue
        raise RuntimeError(f"unexpected server message {t}")


def vnc_obfuscated(password):
    """TigerVNC's password file: the password DES-encrypted with VNC's fixed
    key (d3des takes key bits in reverse order, as vnc_response does)."""
    try:
        from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
    except ImportError:
        from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES
    from cryptography.hazmat.primitives.ciphers import Cipher, modes
    key = bytes(int(f"{b:08b}"[::-1], 2) for b in (23, 82, 107, 6, 35, 78, 88, 7))
    enc = Cipher(TripleDES(key), modes.ECB()).encryptor()
    return enc.update(password.encode()[:8].ljust(8, b"\0")) + enc.finalize()


def start_baseline():
    """USER's own Xvnc (rsm's [display.xvnc] geometry and depth, RFB on
    127.0.0.1:5950, None or VncAuth), the same xterm as rsm's session on it,
    and websockify in front of it, each a transient unit."""
    pw = pwd.getpwnam(USER)
    units = (WS_UNIT, XTERM_UNIT, XVNC_UNIT)
    run("systemctl", "stop", *units)
    run("systemctl", "reset-failed", *units)
    vnc_dir = os.path.join(pw.pw_dir, ".vnc")
    os.makedirs(vnc_dir, exist_ok=True)
    passwd = os.path.join(vnc_dir, "bench-passwd")
    with open(passwd, "wb") as f:
        f.write(vnc_obfuscated(VNC_PASSWORD))
    for p in (vnc_dir, passwd):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(passwd, 0o600)
    as_user = [f"--uid={pw.pw_uid}", f"--gid={pw.pw_gid}", f"--setenv=HOME={pw.pw_dir}", f"--setenv=USER={USER}",
               "-p", f"WorkingDirectory={pw.pw_dir}"]
    r = run("systemd-run", f"--unit={XVNC_UNIT}", *as_user, "Xvnc", XVNC_DISPLAY, "-geometry", "1280x800",
            "-depth", "24", "-SecurityTypes", "None,VncAuth", "-PasswordFile", passwd, "-rfbport", str(XVNC_PORT),
            "-localhost", "-nolisten", "tcp")
    if r.returncode != 0:
        raise RuntimeError(f"Xvnc: {r.stderr.strip()}")
    wait(lambda: "LISTEN" in run("ss", "-ltnH", f"sport = :{XVNC_PORT}").stdout, 30, "Xvnc on 5950")
    r = run("systemd-run", f"--unit={XTERM_UNIT}", *as_user, f"--setenv=DISPLAY={XVNC_DISPLAY}", SESSION_PROGRAM)
    if r.returncode != 0:
        raise RuntimeError(f"xterm: {r.stderr.strip()}")
    r = run("systemd-run", f"--unit={WS_UNIT}", "-p", "DynamicUser=yes", "websockify",
            f"127.0.0.1:{WS_PORT}", f"127.0.0.1:{XVNC_PORT}")
    if r.returncode != 0:
        raise RuntimeError(f"websockify: {r.stderr.strip()}")


def stop_baseline():
    run("systemctl", "stop", WS_UNIT, XTERM_UNIT, XVNC_UNIT)


def pids_uss(pids):
    vals = [uss_kib(p) for p in pids]
    vals = [v for v in vals if v is not None]
    return sum(vals) if vals else None


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def main_pid(unit):
    return run("systemctl", "show", "-P", "MainPID", unit).stdout.strip()


class Side:
    ws_url = None
    auth = "none"
    unix = False

    def open(self):
        if self.ws_url is None and self.unix:
            paths = glob.glob("/run/rsm/user/*/vnc-*")
            if len(paths) != 1:
                raise RuntimeError(f"not one rsm session's Xvnc socket: {paths}")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(60)
            sock.connect(paths[0])
            return sock, Stream(lambda: sock.recv(1 << 18), sock.sendall)
        if self.ws_url is None:
            sock = socket.create_connection(("127.0.0.1", XVNC_PORT), timeout=60)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock, Stream(lambda: sock.recv(1 << 18), sock.sendall)
        ws = websocket.create_connection(self.ws_url, timeout=60, subprotocols=["binary"],
                                         origin=self.origin, sockopt=((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),))
        return ws, Stream(ws.recv, ws.send_binary)

    def connection_pids(self):
        return []

    def wait_idle(self):
        pass


class Rsm(Side):
    name, label, auth = "rsm", "rsm", "plain"
    ws_url, origin = f"ws://127.0.0.1:{RSM_PORT}/websockify", f"http://127.0.0.1:{RSM_PORT}"

    def connection_pids(self):
        return run("pgrep", "-x", "rsm-gateway").stdout.split()

    def wait_idle(self):
        wait(lambda: not self.connection_pids(), 30, "rsm-gateway to exit after the client left")


class Websockify(Side):
    name, label = "ws", "websockify"
    ws_url, origin = f"ws://127.0.0.1:{WS_PORT}/", f"http://127.0.0.1:{WS_PORT}"

    def connection_pids(self):
        return run("pgrep", "-P", main_pid(WS_UNIT)).stdout.split()

    def wait_idle(self):
        wait(lambda: not self.connection_pids(), 30, "websockify's connection process to exit")


class WebsockifyVnc(Websockify):
    name, label, auth = "wsvnc", "websockify+VncAuth", "vnc"


class Direct(Side):
    name, label = "direct", "direct TCP to Xvnc"


class DirectUnix(Side):
    """The rsm session's own Xvnc, straight to its Unix socket (as root)."""
    name, label, unix = "unix", "direct to rsm's Xvnc socket", True


def login_round(side):
    """(seconds from connect to ServerInit, idle USS KiB of the connection)."""
    t0 = time.perf_counter()
    conn, s = side.open()
    try:
        rfb_handshake(s, side.auth)
        t = time.perf_counter() - t0
        return t, pids_uss(side.connection_pids())
    finally:
        conn.close()
        side.wait_idle()


def throughput_round(side, seconds):
    """(RFB bytes per second, frames per second, USS KiB at the end, mean
    bytes per recv (a WebSocket message; 256 KiB reads over TCP), the
    serving processes' CPU seconds per second, the client's)."""
    conn, s = side.open()
    try:
        w, h, bpp = rfb_handshake(s, side.auth)
        if side.ws_url is not None and not os.environ.get("BENCH_WSLIB"):
            s.recv_message = WsFrames(conn.sock).recv
        s.send(struct.pack(">BxHi", 2, 1, RAW))  # SetEncodings: Raw only
        request = struct.pack(">BBHHHH", 3, 0, 0, 0, w, h)
        pids = side.connection_pids()
        frames, start_bytes, start_messages, cpu0 = 0, s.total, s.messages, cpu_seconds(pids)
        t0, c0 = time.perf_counter(), time.process_time()
        while True:
            s.send(request)
            read_update(s, bpp)
            frames += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        cpu = (cpu_seconds(pids) - cpu0) / elapsed
        client_cpu = (time.process_time() - c0) / elapsed
        uss = pids_uss(side.connection_pids())
        got = s.total - start_bytes
        return got / elapsed, frames / elapsed, uss, got / max(1, s.messages - start_messages), cpu, client_cpu
    finally:
        conn.close()
        side.wait_idle()


def report(name, unit, scale, a, b, failed, a_name="rsm", b_name="ws", fmt="8.1f"):
    la, lb = LABELS[a_name], LABELS[b_name]
    if not a or not b:
        print(f"{name:<36} no figures ({la} {len(a)}, {lb} {len(b)} rounds; failed {la} {failed[a_name]}, "
              f"{lb} {failed[b_name]})", flush=True)
        return

    def fig(v):
        return statistics.median(v) * scale, pct(v, 99) * scale
    (am, ap), (bm, bp) = fig(a), fig(b)
    print(f"{name:<36} n={len(a)}/{len(b)} {la} median={am:{fmt}} {unit} p99={ap:{fmt}} {unit} | "
          f"{lb} median={bm:{fmt}} {unit} p99={bp:{fmt}} {unit} | {la}/{lb} median={am / bm:5.2f} "
          f"p99={ap / bp:5.2f} | failed rounds {la}={failed[a_name]} {lb}={failed[b_name]}", flush=True)


def single(name, unit, scale, v, failed, what, fmt="8.1f"):
    if v:
        print(f"{name:<36} n={len(v)} median={statistics.median(v) * scale:{fmt}} {unit} "
              f"p99={pct(v, 99) * scale:{fmt}} {unit} ({what}) | failed rounds={failed}", flush=True)
    else:
        print(f"{name:<36} no figures (failed rounds={failed})", flush=True)


LABELS = {"rsm": "rsm", "ws": "websockify", "wsvnc": "websockify+VncAuth", "direct": "direct"}


def main():
    rounds, warmup = env_int("BENCH_ROUNDS", 10), max(1, env_int("BENCH_WARMUP", 1))
    seconds = float(os.environ.get("BENCH_SECONDS", "5"))
    only = os.environ.get("BENCH_ONLY", "ltm")
    print(f"# scripted WebSocket RFB client (python3-websocket {websocket.__version__}) via rsm-gateway "
          f"(:{RSM_PORT}/websockify, VeNCrypt Plain, PAM via rsm, reconnect to {USER}'s rsm xvnc session) against "
          f"Debian's websockify 0.10 (:{WS_PORT}, to {USER}'s own Xvnc on :{XVNC_PORT}, security type None); "
          f"{rounds} rounds each (+{warmup} warm-up), order ABBA, throughput {seconds:g} s per round, Raw encoding",
          flush=True)
    wait(lambda: "LISTEN" in run("ss", "-ltnH", f"sport = :{RSM_PORT}").stdout, 30, "rsm-gateway.socket")
    start_baseline()
    wait(lambda: "LISTEN" in run("ss", "-ltnH", f"sport = :{WS_PORT}").stdout, 30, "websockify")
    sides = {"rsm": Rsm(), "ws": Websockify(), "wsvnc": WebsockifyVnc(), "direct": Direct(),
             "unix": DirectUnix()}
    logins = {k: [] for k in sides}
    idle_mem = {k: [] for k in sides}
    rates = {k: [] for k in sides}
    fps = {k: [] for k in sides}
    busy_mem = {k: [] for k in sides}
    msg_size = {k: [] for k in sides}
    cpu = {k: [] for k in sides}
    client_cpu = {k: [] for k in sides}
    failed = {"l": {k: 0 for k in sides}, "t": {k: 0 for k in sides}}
    listener = None
    try:
        for i in range(warmup + rounds):
            counted = i >= warmup
            for name in (("rsm", "ws") if i % 2 == 0 else ("ws", "rsm")) + ("wsvnc", "direct", "unix"):
                side = sides[name]
                if "l" in only or "m" in only or i == 0:
                    try:
                        t, uss = login_round(side)
                        if counted:
                            logins[name].append(t)
                            if uss is not None:
                                idle_mem[name].append(uss)
                    except Exception as e:  # noqa: BLE001 (a failed round is counted, not fatal)
                        failed["l"][name] += 1
                        print(f"# round {i + 1} connect {side.label} failed: {e!r}", flush=True)
                if "t" in only and name != "wsvnc":
                    try:
                        r, f, uss, m, c, cc = throughput_round(side, seconds)
                        if counted:
                            rates[name].append(r)
                            fps[name].append(f)
                            msg_size[name].append(m)
                            cpu[name].append(c)
                            client_cpu[name].append(cc)
                            if uss is not None:
                                busy_mem[name].append(uss)
                    except Exception as e:  # noqa: BLE001 (a failed round is counted, not fatal)
                        failed["t"][name] += 1
                        print(f"# round {i + 1} throughput {side.label} failed: {e!r}", flush=True)
            print(f"# round {i + 1}/{warmup + rounds}{'' if counted else ' (warm-up)'} done", flush=True)
        listener = uss_kib(main_pid(WS_UNIT))
    finally:
        stop_baseline()
    out = run("journalctl", "--no-pager", "-o", "json", "-t", "rsm-gateway").stdout
    entries = [json.loads(x) for x in out.splitlines() if x.strip()]
    conn = [e for e in entries if e.get("MESSAGE") == "VNC viewer connected to its session"]
    print(f"# rsm: {len(conn)} WebSocket connections, {sum(e.get('RSM_REUSED') == 'no' for e in conn)} of them "
          f"to a new session, {len({e.get('RSM_SESSION_ID') for e in conn})} session(s), transports "
          f"{sorted({e.get('RSM_TRANSPORT') for e in conn})}", flush=True)
    if "l" in only:
        print("# NB: rsm's connect figure includes a VeNCrypt Plain login through rsm's PAM and reconnecting the "
              "session; websockify's (security type None) has no login at all", flush=True)
        report("ws connect -> ServerInit", "ms", 1e3, logins["rsm"], logins["ws"], failed["l"])
        report("ws connect -> ServerInit (VncAuth)", "ms", 1e3, logins["rsm"], logins["wsvnc"], failed["l"],
               b_name="wsvnc")
        single("  direct TCP to Xvnc (None)", "ms", 1e3, logins["direct"], failed["l"]["direct"],
               "no proxy, no auth: the floor")
        single("  direct to rsm's Xvnc Unix socket", "ms", 1e3, logins["unix"], failed["l"]["unix"],
               "the rsm session's own Xvnc, no gateway, no login")
    if "t" in only:
        report("throughput (full Raw updates)", "MB/s", 1e-6, rates["rsm"], rates["ws"], failed["t"])
        report("  frames per second", "fps", 1, fps["rsm"], fps["ws"], failed["t"])
        report("  bytes per message received", "KiB", 1 / 1024, msg_size["rsm"], msg_size["ws"], failed["t"])
        report("  proxy CPU while streaming", "%", 100, cpu["rsm"], cpu["ws"], failed["t"])
        report("  client CPU while streaming", "%", 100, client_cpu["rsm"], client_cpu["ws"], failed["t"])
        single("  direct TCP to Xvnc", "MB/s", 1e-6, rates["direct"], failed["t"]["direct"],
               "no proxy, no WebSocket: the floor")
        single("  direct to rsm's Xvnc Unix socket", "MB/s", 1e-6, rates["unix"], failed["t"]["unix"],
               "the rsm session's own Xvnc, no gateway")
    if "m" in only:
        report("USS per connection (idle)", "KiB", 1, idle_mem["rsm"], idle_mem["ws"], failed["l"], fmt="8.0f")
        if "t" in only:
            report("USS per connection (after stream)", "KiB", 1, busy_mem["rsm"], busy_mem["ws"], failed["t"],
                   fmt="8.0f")
        print(f"# websockify's listener process (shared by all connections): USS {listener} KiB",
              flush=True)


if __name__ == "__main__":
    main()
