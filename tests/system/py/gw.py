"""Helpers for system-tier scenarios that talk to the real rsm-manager in the
container over /run/rsm/gateway.sock with dbus-python."""

import json
import os
import subprocess
import sys
import time

import dbus

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../integration"))
from gateway_client import GATEWAY, GATEWAY_PATH, Gateway  # noqa: E402

SOCKET = "/run/rsm/gateway.sock"
ADDRESS = "unix:path=" + SOCKET
E = "org.rsm.Error."

ECHO_OFF, ECHO_ON, ERROR_MSG, TEXT_INFO = 1, 2, 3, 4


def connect():
    return dbus.connection.Connection(ADDRESS)


def gateway(conn=None):
    return Gateway(conn or connect())


def client(address, host="client.example", gateway_name="rsm-systest"):
    return dbus.Dictionary({"address": address, "host_name": host, "gateway": gateway_name},
                           signature="sv")


def as_user(user, code, timeout=60):
    """Runs python code as `user` (uid, gid and groups from passwd) and
    returns its stdout parsed as JSON."""
    prelude = ("import json, dbus, sys\n"
               f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
               "import gw\n")
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
                        "/usr/bin/python3", "-c", prelude + code],
                       capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"as_user {user} failed: {r.stderr}")
    return json.loads(r.stdout)


def journal(*args):
    return subprocess.run(["journalctl", "--no-pager", *args], capture_output=True, text=True).stdout


def wait_journal(pattern, *args, timeout=15):
    """Polls the journal for a line containing pattern (journald writes
    asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = journal(*args)
        if pattern in out:
            return out
        time.sleep(0.1)
    raise AssertionError(f"journal never showed {pattern!r}")


def error_name(fn, *args, **kwargs):
    """Calls fn and returns (error name, message); fails if it succeeds."""
    try:
        fn(*args, **kwargs)
    except dbus.exceptions.DBusException as e:
        return e.get_dbus_name(), e.get_dbus_message()
    raise AssertionError(f"{fn} succeeded but should have failed")


def converse(gw, first, answer_for):
    """Drives a BeginLogin/ContinueLogin conversation. `first` is the reply
    of BeginLogin; answer_for(style, text) answers one prompt. Returns the
    list of all prompts seen and the final state."""
    seen = []
    state, prompts = first
    while str(state) == "prompt":
        answers = []
        for style, text in prompts:
            seen.append((int(style), str(text)))
            answers.append(answer_for(int(style), str(text)) if int(style) in (ECHO_OFF, ECHO_ON) else "")
        state, prompts = gw.ContinueLogin(answers, timeout=60)
    for style, text in prompts:
        seen.append((int(style), str(text)))
    return str(state), seen
