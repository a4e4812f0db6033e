"""The integration tier's fixture.

Runs the real daemons as plain processes: a private dbus-daemon (system-bus
configuration) with python3-dbusmock stand-ins for systemd and polkit on it,
and rsm-manager behind systemd-socket-activate listening on a private
gateway socket, exactly as rsm-manager.socket would pass it. Nothing here
needs a booted systemd; the system tier covers the real thing.

Tests subclass ManagerTestCase; the manager starts lazily on the first
connection (real socket activation), from the build tree given by the
RSM_BUILD_ROOT environment variable.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import dbus
import dbusmock

from gateway_client import GATEWAY, GATEWAY_PATH, Gateway

BUILD_ROOT = os.environ.get("RSM_BUILD_ROOT", os.path.join(os.path.dirname(__file__), "../../build"))
MANAGER = os.path.join(BUILD_ROOT, "daemons/rsm-manager/rsm-manager")
EXECUTOR = os.path.join(BUILD_ROOT, "daemons/rsm-session/rsm-session")

# A configuration for running as root on the host: root may log in by peer
# credentials (the tests run as root; peer-credential login is off by
# default), nobody too (its shell is nologin), and PAM uses the "other"
# service, since /etc/pam.d/rsm is only installed inside the system tier's
# container.
DEFAULT_CONFIG = """
[gateway]
login_timeout = 30
[access]
allow_root = true
allow_peer_credentials = true
allow_any_shell = true
[pam]
service = "other"
"""


def wait_until(predicate, timeout=10.0, what="condition"):
    """Polls predicate until it is true (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class ManagerTestCase(dbusmock.DBusTestCase):
    """A private system bus with systemd and polkit stand-ins, and a
    socket-activated rsm-manager per test."""

    config = DEFAULT_CONFIG

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.start_system_bus()
        cls.system_bus = cls.get_dbus(system_bus=True)
        cls.systemd_mock, cls.systemd_obj = cls.spawn_server_template(
            "systemd", {}, stdout=subprocess.DEVNULL)
        cls.polkit_mock, cls.polkit_obj = cls.spawn_server_template(
            "polkitd", {}, stdout=subprocess.DEVNULL)

    @classmethod
    def tearDownClass(cls):
        for proc in (cls.polkit_mock, cls.systemd_mock):
            proc.terminate()
            proc.wait()
        super().tearDownClass()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="rsm-it-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.socket_path = os.path.join(self.tmp, "gateway.sock")
        self.address = "unix:path=" + self.socket_path
        self.runtime_dir = os.path.join(self.tmp, "run")
        os.makedirs(self.runtime_dir)
        with open(os.path.join(self.tmp, "rsm.toml"), "w") as f:
            f.write(self.config)
        os.makedirs(os.path.join(self.tmp, "rsm.toml.d"))
        self.log_path = os.path.join(self.tmp, "manager.log")
        self.log = open(self.log_path, "w+")
        self.addCleanup(self.log.close)
        env = dict(os.environ)
        env["RSM_DEBUG"] = "1"
        self.activator = subprocess.Popen(
            ["systemd-socket-activate", "-l", self.socket_path, "--fdname=gateway",
             "-E", "RSM_DEBUG=1", "-E", "ASAN_OPTIONS", "-E", "UBSAN_OPTIONS",
             "-E", "LSAN_OPTIONS", "-E", "DBUS_SYSTEM_BUS_ADDRESS",
             MANAGER,
             "--config", os.path.join(self.tmp, "rsm.toml"),
             "--config-dropins", os.path.join(self.tmp, "rsm.toml.d"),
             "--executor", EXECUTOR,
             "--runtime-dir", self.runtime_dir],
            stdout=self.log, stderr=self.log, stdin=subprocess.DEVNULL, env=env)
        self.addCleanup(self._stop_manager)
        # systemd-socket-activate says "Listening on ..." once the socket is bound.
        wait_until(lambda: "Listening on" in self.read_log(), what="the activation socket")

    def _stop_manager(self):
        if self.activator.poll() is None:
            self.activator.send_signal(signal.SIGTERM)
            try:
                self.activator.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.activator.kill()
                self.activator.wait()
        if self._outcome_failed() or os.environ.get("RSM_TEST_SHOW_LOG"):
            print(self.read_log())

    def _outcome_failed(self):
        outcome = getattr(self, "_outcome", None)
        result = getattr(outcome, "result", None)
        if result is None:
            return False
        return any(t is self for t, _ in result.failures + result.errors)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    # -- helpers -------------------------------------------------------------

    def manager_pid(self):
        """systemd-socket-activate execs the manager in its own process."""
        return self.activator.pid

    def manager_fd_count(self):
        return len(os.listdir(f"/proc/{self.manager_pid()}/fd"))

    def connect(self, hello=False):
        """A dbus-python connection to the gateway socket."""
        if hello:
            return dbus.bus.BusConnection(self.address)
        return dbus.connection.Connection(self.address)

    def gateway(self, conn):
        return Gateway(conn)

    def raw_socket(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(self.socket_path)
        return s

    def ping(self):
        conn = self.connect()
        try:
            conn.call_blocking(GATEWAY, GATEWAY_PATH, "org.freedesktop.DBus.Peer", "Ping", "", [])
        finally:
            conn.close()

    def assertDBusError(self, name, fn, *args, **kwargs):
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            fn(*args, **kwargs)
        self.assertEqual(cm.exception.get_dbus_name(), name, cm.exception.get_dbus_message())
        return cm.exception.get_dbus_message()
