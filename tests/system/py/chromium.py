"""A headless Chromium driven through its DevTools protocol (python3-websocket):
open a page, evaluate JavaScript in it, take a screenshot as rgb bytes (the
format rdp_client.colour_share() reads). With `ca`, Chromium trusts that CA
certificate (PEM) for servers: an NSS database in a HOME of its own, as
certutil (libnss3-tools) makes it for a user's Chromium on Linux."""

import base64
import json
import os
import shutil
import subprocess
import urllib.request

import websocket

from systest import wait


class Chromium:
    """A context manager; one page."""

    def __init__(self, port=9333, size=(1280, 900), profile="/tmp/chromium-systest", args=(), ca=None):
        self.port, self.size, self.profile, self.args, self.ca = port, size, profile, list(args), ca
        self.proc = self.ws = None
        self.next_id = 0
        self.log = None

    def __enter__(self):
        shutil.rmtree(self.profile, ignore_errors=True)
        self.log = open("/tmp/chromium.log", "ab")
        env = dict(os.environ)
        if self.ca:
            env["HOME"] = home = self.profile + "/home"
            nssdb = "sql:" + home + "/.pki/nssdb"
            os.makedirs(home + "/.pki/nssdb")
            for cmd in (["certutil", "-N", "-d", nssdb, "--empty-password"],
                        ["certutil", "-A", "-d", nssdb, "-n", "rsm test CA", "-t", "C,,", "-i", self.ca]):
                r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
                assert r.returncode == 0, f"{cmd}: {r.stderr}"
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-extensions", f"--user-data-dir={self.profile}",
             # A page left must really close (its WebSockets with it), not
             # wait in the back-forward cache.
             "--disable-features=BackForwardCache",
             f"--remote-debugging-port={self.port}", "--remote-allow-origins=*",
             f"--window-size={self.size[0]},{self.size[1]}", *self.args, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=env)
        pages = wait(lambda: [p for p in self._targets() if p.get("type") == "page"], 60,
                     "Chromium's DevTools endpoint with a page")
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")
        return self

    def __exit__(self, *exc):
        if self.ws:
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _targets(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list", timeout=5) as r:
                return json.load(r)
        except OSError:
            return []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    def navigate(self, url):
        """DevTools' answer: its "errorText" says why a navigation failed (net::ERR_CERT_...)."""
        return self.call("Page.navigate", url=url)

    def evaluate(self, expression):
        """The expression's value (JSON-able), None on an exception in the page."""
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            return None
        return r.get("result", {}).get("value")

    def screenshot(self):
        """The page as rgb bytes (ImageMagick converts Chromium's PNG), or None."""
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        rgb = subprocess.run(["/usr/bin/convert", "png:-", "-depth", "8", "rgb:-"], input=png, capture_output=True,
                             timeout=30)
        return rgb.stdout if rgb.returncode == 0 else None

    def save_screenshot(self, path):
        png = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        with open(path, "wb") as f:
            f.write(png)
        os.chmod(path, 0o644)
