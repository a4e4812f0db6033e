"""Helpers the session-level system tests share (sessions_test,
xorg_session_test, admin_bus_test): commands, polling, the session's scope,
record and processes, and gateway logins that end their sessions."""

import os
import subprocess
import time

import dbus

import gw
import session_client as sc


def run(*cmd, user=None, timeout=60):
    """Runs cmd (as `user` through setpriv, else as root) with stdin from
    /dev/null; returns the CompletedProcess with text output."""
    if user is not None:
        cmd = ("setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups") + tuple(cmd)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def wait(cond, timeout=30, what="condition"):
    """Polls cond() every 0.1 s until it returns something true (returned),
    or fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def write_dropin(path, text):
    """Writes the rsm.toml drop-in `path`, or removes it when text is None.
    Applying it (reload or restart) is the caller's choice."""
    if text is None:
        if os.path.exists(path):
            os.unlink(path)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)


def restart_manager():
    """A fresh manager with the current configuration. Tests restart it often:
    reset systemd's start rate limit first, or a fast run trips it and the
    sockets go down with it."""
    units = ("rsm-manager.service", "rsm-manager.socket", "rsm-manager-executor.socket")
    run("systemctl", "reset-failed", *units)
    r = run("systemctl", "start", *units[1:])
    assert r.returncode == 0, r.stderr
    r = run("systemctl", "restart", units[0])
    assert r.returncode == 0, r.stderr


def ping(timeout=2):
    """Peer.Ping on a new gateway connection; the seconds it took, connecting
    included (raises on a timeout)."""
    start = time.monotonic()
    conn = gw.connect()
    try:
        conn.call_blocking(gw.GATEWAY, gw.GATEWAY_PATH, "org.freedesktop.DBus.Peer", "Ping", "", [],
                           timeout=timeout)
    finally:
        conn.close()
    return time.monotonic() - start


def unit_prop(unit, prop):
    return run("systemctl", "show", "-P", prop, unit).stdout.strip()


def scope(sid):
    return f"rsm-session-{sid}.scope"


def scope_state(sid):
    """ActiveState of the session's scope ("inactive" or "" once unloaded)."""
    return unit_prop(scope(sid), "ActiveState")


def scope_gone(sid):
    return scope_state(sid) in ("inactive", "failed", "")


def record(sid):
    """The session record file as a dict, or None."""
    try:
        with open(f"/run/rsm/sessions/{sid}") as f:
            return dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except FileNotFoundError:
        return None


def pids(user, name):
    return [int(p) for p in run("pgrep", "-u", user, "-x", name).stdout.split()]


def login(user, addr):
    """A gateway connection logged in as `user` (password NAME-pw) for a
    client at `addr`."""
    g = gw.gateway()
    g.LoginWithPassword(user, user + "-pw", gw.client(addr), timeout=60)
    return g


def sessions(g):
    """Gateway1.ListSessions as {id: session dict}."""
    return {s["id"]: s for s in sc.list_sessions(g)}


def end_sessions(g, who):
    """Terminates every session the gateway connection `g` lists and waits
    until they are gone."""
    for sid in sessions(g):
        try:
            g.TerminateSession(sid, timeout=30)
        except dbus.exceptions.DBusException:
            pass
    wait(lambda: not sessions(g), 60, f"{who}'s sessions to end")


def end_all(user, addr):
    """Logs in as `user`, ends all of their sessions, closes the connection."""
    g = login(user, addr)
    end_sessions(g, user)
    g.Close()
