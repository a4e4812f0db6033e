"""A PNG of an RFB (VNC) desktop, seen through a real VNC client.

    from vnc_screenshot import screenshot
    info = screenshot(sock, "shot.png")      # sock: a connected RFB stream

`sock` is a connected stream on which the RFB server has not been answered
yet (it speaks first: "RFB 003.008\\n"), e.g. the "display" fd that
org.rsm.Gateway1.ConnectSession returns for an xvnc session. The stream is
used up: the viewer runs the whole protocol on it.

How: a private Xvfb on a free display (-displayfd says when it is ready and
which display it took, -auth with a fresh cookie), TigerVNC's vncviewer on it
connected to a loopback TCP port of ours, and a relay that copies bytes
between that port and `sock`. When the viewer's window is mapped and shows a
picture that is not one flat colour and has stopped changing, `xwd -root`
takes the screen and ImageMagick (/usr/bin/convert) crops it to the viewer's
window and writes the PNG. Everything started is stopped, and the temporary
directory removed, on every exit path.

Command line: tools/vnc-screenshot (the same module).
"""

import argparse
import hashlib
import os
import re
import select
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

CONVERT = "/usr/bin/convert"   # full path: a `convert` stand-in may sit earlier on PATH
POLL_INTERVAL = 0.05           # between two looks at the viewer's window


class ScreenshotError(Exception):
    pass


def _log(verbose, msg):
    if verbose:
        print(f"vnc-screenshot: {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ the relay

class Relay:
    """Accepts one TCP connection on 127.0.0.1:<free port> and copies bytes
    both ways between it and `upstream` until either side closes or stop()."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self.bytes_down = self.bytes_up = 0
        self.error = None
        self.client = None
        self._thread = threading.Thread(target=self._run, name="rfb-relay", daemon=True)
        self._thread.start()

    def _run(self):
        sel = selectors.DefaultSelector()
        try:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.register(self.listener, selectors.EVENT_READ)
            while self.client is None:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    self.client, _ = self.listener.accept()
            sel.unregister(self.listener)
            self.upstream.setblocking(True)
            self.client.setblocking(True)
            sel.register(self.upstream, selectors.EVENT_READ)
            sel.register(self.client, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    src = key.fileobj
                    dst = self.client if src is self.upstream else self.upstream
                    data = src.recv(65536)
                    if not data:
                        return
                    dst.sendall(data)
                    if src is self.upstream:
                        self.bytes_down += len(data)
                    else:
                        self.bytes_up += len(data)
        except OSError as e:
            self.error = e
        finally:
            sel.close()

    def stop(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self.client is not None:
            try:
                self.client.shutdown(socket.SHUT_RDWR)   # unblocks a sendall to the viewer
            except OSError:
                pass
        self._thread.join(5)
        for s in (self.client, self.listener, self._wake_r, self._wake_w):
            if s is not None:
                s.close()


# ---------------------------------------------------------------------- Xvfb

def _start_xvfb(tmp, screen, timeout, verbose):
    """Xvfb on a free display, with a fresh MIT-MAGIC-COOKIE-1. Returns
    (process, display ":N", Xauthority path) once it accepts connections."""
    cookie = os.urandom(16).hex()
    auth = os.path.join(tmp, "Xauthority")
    with open(auth, "wb"):
        pass
    # The server loads every cookie in the file whatever the display; the
    # entry for the display it picks is added for the clients afterwards.
    subprocess.run(["xauth", "-q", "-f", auth, "add", ":0", "MIT-MAGIC-COOKIE-1", cookie],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    r, w = os.pipe()
    log = open(os.path.join(tmp, "Xvfb.log"), "wb")
    try:
        proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-auth", auth, "-nolisten", "tcp", "-noreset",
             "-screen", "0", f"{screen}x24"],
            pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    finally:
        os.close(w)
        log.close()
    try:
        data = b""
        deadline = time.monotonic() + timeout
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                raise ScreenshotError(f"Xvfb did not report a display within {timeout:.0f}s")
            chunk = os.read(r, 64)
            if not chunk:
                raise ScreenshotError("Xvfb exited before it was ready: " + _tail(tmp, "Xvfb.log"))
            data += chunk
    except BaseException:
        _stop(proc)
        raise
    finally:
        os.close(r)
    display = ":" + data.decode().strip()
    subprocess.run(["xauth", "-q", "-f", auth, "add", display, "MIT-MAGIC-COOKIE-1", cookie],
                   check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    _log(verbose, f"Xvfb {display} ready (pid {proc.pid}, screen {screen})")
    return proc, display, auth


def _tail(tmp, name, n=2000):
    try:
        with open(os.path.join(tmp, name), "rb") as f:
            return f.read()[-n:].decode(errors="replace").strip()
    except OSError:
        return ""


def _stop(proc, grace=3.0):
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


# ------------------------------------------------------------ X inspection

_CHILD = re.compile(r'^\s*(0x[0-9a-f]+) (?:"(.*)"|\(has no name\)): \((.*)\)\s+(\d+)x(\d+)\+(-?\d+)\+(-?\d+)')


def _viewer_window(env, display):
    """(id, width, height, x, y) of the viewer's mapped top-level window, or None."""
    r = subprocess.run(["xwininfo", "-display", display, "-root", "-children"], env=env,
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        m = _CHILD.match(line)
        if not m or not ("tigervnc" in m.group(3).lower() or "vncviewer" in m.group(3).lower()):
            continue
        wid, w, h, x, y = m.group(1), int(m.group(4)), int(m.group(5)), int(m.group(6)), int(m.group(7))
        if w < 16 or h < 16:
            continue
        info = subprocess.run(["xwininfo", "-display", display, "-id", wid], env=env,
                              capture_output=True, text=True).stdout
        if "Map State: IsViewable" in info:
            return wid, w, h, x, y
    return None


def xwd_image(data):
    """(width, height, digest, uniform) of an XWD dump: uniform is True when
    every pixel has the same value."""
    if len(data) < 100:
        raise ScreenshotError("short xwd output")
    h = struct.unpack(">25I", data[:100])
    header_size, width, height = h[0], h[4], h[5]
    bits_per_pixel, bytes_per_line, ncolors = h[11], h[12], h[19]
    off = header_size + 12 * ncolors
    bpp = max(1, bits_per_pixel // 8)
    row_len = width * bpp
    pixels = data[off:off + bytes_per_line * height]
    if len(pixels) < bytes_per_line * height or width == 0 or height == 0:
        raise ScreenshotError("truncated xwd output")
    first = pixels[:bpp] * width
    uniform = all(pixels[y * bytes_per_line:y * bytes_per_line + row_len] == first for y in range(height))
    return width, height, hashlib.sha1(pixels).hexdigest(), uniform


def _xwd(env, display, target):
    args = ["xwd", "-display", display, "-silent"] + (["-root"] if target == "root" else ["-id", target])
    r = subprocess.run(args, env=env, capture_output=True)
    if r.returncode != 0:
        raise ScreenshotError("xwd failed: " + r.stderr.decode(errors="replace").strip())
    return r.stdout


# ------------------------------------------------------------------ the tool

def screenshot(sock, out_png, timeout=30.0, screen="2560x1600", crop=True, allow_blank=False,
               settle=0.5, verbose=False):
    """Writes a PNG of the RFB desktop behind `sock` (a connected socket
    object or a file descriptor number; the stream is used up, the caller
    still closes it). Returns a dict: width, height (of the picture), window
    (the viewer's geometry on the private screen), display (the private Xvfb
    display), bytes (RFB bytes received), blank (True only with
    allow_blank when the desktop never showed more than one colour).
    The picture is taken once it has not changed for `settle` seconds (so a
    window manager starting beside the first client is caught settled).
    Raises ScreenshotError (with the viewer's log) after `timeout` seconds."""
    owned = None
    if not isinstance(sock, socket.socket):
        owned = sock = socket.socket(fileno=os.dup(int(sock)))
    for tool in ("Xvfb", "vncviewer", "xwd", "xwininfo", "xauth"):
        if shutil.which(tool) is None:
            raise ScreenshotError(f"{tool} not found (tools/install-deps installs it)")
    if not os.access(CONVERT, os.X_OK):
        raise ScreenshotError(f"{CONVERT} not found (imagemagick)")

    deadline = time.monotonic() + timeout
    tmp = tempfile.mkdtemp(prefix="rsm-vncshot.")
    xvfb = viewer = relay = None
    try:
        xvfb, display, auth = _start_xvfb(tmp, screen, timeout, verbose)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "DISPLAY": display,
               "XAUTHORITY": auth, "LANG": "C.UTF-8"}
        relay = Relay(sock)
        _log(verbose, f"relay on 127.0.0.1:{relay.port}")
        vlog = open(os.path.join(tmp, "vncviewer.log"), "wb")
        try:
            viewer = subprocess.Popen(
                ["vncviewer", "-display", display, "-SecurityTypes=None", "-Shared=1", "-ViewOnly=1",
                 "-RemoteResize=0", "-FullScreen=0", "-AutoSelect=0", "-PreferredEncoding=Raw",
                 "-FullColor=1", "-ReconnectOnError=0", "-AlertOnFatalError=0", "-MenuKey=",
                 f"127.0.0.1::{relay.port}"],
                env=env, cwd=tmp, stdin=subprocess.DEVNULL, stdout=vlog, stderr=vlog,
                start_new_session=True)
        finally:
            vlog.close()

        win = None
        last = None        # (digest, window) of the previous look
        since = 0.0        # when the picture last changed
        shown = None       # the last look that showed a picture
        stable = False
        while time.monotonic() < deadline:
            if viewer.poll() is not None:
                raise ScreenshotError(f"vncviewer exited with status {viewer.returncode}: "
                                      + _tail(tmp, "vncviewer.log"))
            if relay.error is not None:
                raise ScreenshotError(f"relay failed: {relay.error}")
            win = _viewer_window(env, display)
            if win is not None:
                _w, _h, digest, uniform = xwd_image(_xwd(env, display, win[0]))
                now = time.monotonic()
                if last != (digest, win):
                    last, since = (digest, win), now
                if not uniform:
                    shown = win
                    if now - since >= settle:
                        stable = True
                        break
            time.sleep(POLL_INTERVAL)
        blank = False
        if not stable:
            if shown is not None:
                win = shown           # a picture, still changing: take it as it is now
            elif win is not None and allow_blank:
                blank = True
            else:
                what = "the viewer's window never appeared" if win is None else "the desktop stayed blank"
                raise ScreenshotError(f"{what} within {timeout:.0f}s (RFB bytes received: {relay.bytes_down}); "
                                      "vncviewer said: " + _tail(tmp, "vncviewer.log"))

        wid, w, h, x, y = win
        raw = os.path.join(tmp, "screen.xwd")
        with open(raw, "wb") as f:
            f.write(_xwd(env, display, "root"))
        args = [CONVERT, f"xwd:{raw}"]
        if crop:
            args += ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
        out_png = os.path.abspath(out_png)
        r = subprocess.run(args + [f"png:{out_png}"], capture_output=True, text=True)
        if r.returncode != 0:
            raise ScreenshotError("convert failed: " + r.stderr.strip())
        _log(verbose, f"wrote {out_png} ({w}x{h} window {wid} at +{x}+{y})")
        return {"width": w if crop else int(screen.split("x")[0]),
                "height": h if crop else int(screen.split("x")[1]),
                "window": (w, h, x, y), "display": display, "bytes": relay.bytes_down, "blank": blank,
                "path": out_png}
    finally:
        _stop(viewer)
        if relay is not None:
            relay.stop()
        _stop(xvfb)
        if owned is not None:
            owned.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="vnc-screenshot",
        description="Write a PNG of the RFB desktop on a connected stream, through TigerVNC's vncviewer "
                    "on a private Xvfb.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--fd", type=int, help="an inherited file descriptor: a connected RFB stream")
    src.add_argument("--socket", metavar="PATH", help="a UNIX socket path to connect to (e.g. Xvnc -rfbunixpath)")
    src.add_argument("--tcp", metavar="HOST:PORT", help="a TCP RFB server to connect to")
    p.add_argument("output", help="the PNG to write")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds before giving up (default 30)")
    p.add_argument("--screen", default="2560x1600",
                   help="size of the private Xvfb screen; must hold the remote desktop (default 2560x1600)")
    p.add_argument("--no-crop", action="store_true", help="keep the whole private screen")
    p.add_argument("--settle", type=float, default=0.5,
                   help="seconds the picture must stay unchanged before it is taken (default 0.5)")
    p.add_argument("--allow-blank", action="store_true", help="accept a desktop of one flat colour")
    p.add_argument("-v", "--verbose", action="store_true")
    a = p.parse_args(argv)

    if a.fd is not None:
        sock = socket.socket(fileno=a.fd)
    elif a.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(a.socket)
    else:
        host, _, port = a.tcp.rpartition(":")
        sock = socket.create_connection((host, int(port)))
    try:
        info = screenshot(sock, a.output, timeout=a.timeout, screen=a.screen, crop=not a.no_crop,
                          allow_blank=a.allow_blank, settle=a.settle, verbose=a.verbose)
    except ScreenshotError as e:
        print(f"vnc-screenshot: {e}", file=sys.stderr)
        return 1
    finally:
        sock.close()
    print(f"{info['path']} {info['width']}x{info['height']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
