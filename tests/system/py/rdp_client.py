"""The real RDP client side of the xrdp checks: a private Xvfb for the
client's window, xfreerdp 2.11 pointed at the container's xrdp, screenshots
of that Xvfb (xwd + ImageMagick) and the colour statistics the checks use,
and what rsm-scp, xrdp and the manager logged (for failure messages)."""

import glob
import os
import subprocess

from systest import run, wait

RED = (255, 0, 0)
# xrdp's own windows (the "Connection Log" that reports a failed login) are
# grey=dedede in Debian's /etc/xrdp/xrdp.ini.
XRDP_GREY = (0xde, 0xde, 0xde)


class ClientScreen:
    """An Xvfb the RDP client draws into; a context manager."""

    def __init__(self, display=":71", geometry="1280x1024x24"):
        self.display = display
        self.geometry = geometry
        self.proc = None

    def __enter__(self):
        self.proc = subprocess.Popen(["Xvfb", self.display, "-screen", "0", self.geometry, "-nolisten", "tcp"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait(lambda: os.path.exists(f"/tmp/.X11-unix/X{self.display[1:]}"), 20, "the client's Xvfb")
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()

    def screenshot(self):
        """The screen as rgb bytes, or None."""
        xwd = subprocess.run(["xwd", "-root", "-silent", "-display", self.display], capture_output=True,
                             timeout=30)
        if xwd.returncode != 0:
            return None
        rgb = subprocess.run(["/usr/bin/convert", "xwd:-", "-depth", "8", "rgb:-"], input=xwd.stdout,
                             capture_output=True, timeout=30)
        return rgb.stdout if rgb.returncode == 0 else None

    def wait_for(self, what, check, timeout=60, diagnose=None):
        """Polls screenshots until check(shot) holds; returns that shot. On a
        timeout, fails with the screen's colour statistics and what
        diagnose() (default: diagnostics(), the xrdp side) returns."""
        try:
            return wait(lambda: (lambda s: s if s and check(s) else None)(self.screenshot()), timeout, what)
        except AssertionError as e:
            shot = self.screenshot() or b""
            raise AssertionError(f"{e}; colours {colours(shot)}, red {colour_share(shot, RED):.2f}, "
                                 f"grey {colour_share(shot, XRDP_GREY, 4):.2f}\n" + (diagnose or diagnostics)()) from None

    def xfreerdp(self, user, password, size="1024x768", extra=()):
        """Starts xfreerdp against the container's xrdp; returns the Popen."""
        env = dict(os.environ, DISPLAY=self.display)
        # Its output goes to a file that diagnostics() shows.
        with open(f"/tmp/xfreerdp{self.display.replace(':', '-')}.log", "ab") as log:
            log.write(f"--- xfreerdp /u:{user}\n".encode())
            log.flush()
            return self._popen(user, password, size, extra, env, log)

    @staticmethod
    def _popen(user, password, size, extra, env, log):
        return subprocess.Popen(["xfreerdp", "/v:127.0.0.1:3389", f"/u:{user}", f"/p:{password}", "/cert:ignore",
                                 f"/size:{size}",
                                 # xrdp 0.9.21 opens the display-control channel and drops the
                                 # connection if the client refuses it (xrdp_mm.c
                                 # dynamic_monitor_open_response); this makes xfreerdp accept it.
                                 "/dynamic-resolution", *extra], env=env, stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)


def wait_xrdp_listening(timeout=30):
    wait(lambda: subprocess.run(["ss", "-ltn", "sport = :3389"], capture_output=True, text=True)
         .stdout.count("LISTEN"), timeout, "xrdp listening on 3389")


def stop(client):
    client.terminate()
    try:
        client.wait(10)
    except subprocess.TimeoutExpired:
        client.kill()
        client.wait()


def colour_share(rgb, colour, tolerance=0):
    """Share of (sampled) pixels within tolerance of colour on every channel."""
    n = len(rgb) // 3
    hits = 0
    for i in range(0, n * 3, 3 * 7):
        if all(abs(rgb[i + k] - colour[k]) <= tolerance for k in range(3)):
            hits += 1
    return hits / (n / 7)


def colours(rgb):
    return len({rgb[i:i + 3] for i in range(0, len(rgb) - 2, 3 * 5)})


def diagnostics():
    """What rsm-scp, xrdp and the manager said, for a failure message."""
    j = run("journalctl", "--no-pager", "-o", "cat", "-n", "80", "-u", "rsm-scp.service", "-u",
            "xrdp.service", "-u", "rsm-manager.service").stdout
    try:
        with open("/var/log/xrdp.log") as f:
            j += "\n--- xrdp.log\n" + "".join(f.readlines()[-40:])
    except OSError:
        pass
    for path in sorted(glob.glob("/tmp/xfreerdp-*.log")):
        with open(path, errors="replace") as f:
            j += f"\n--- {path}\n" + "".join(f.readlines()[-15:])
    return j
