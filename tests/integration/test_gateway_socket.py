"""The gateway socket speaks D-Bus that clients nobody here wrote understand:
busctl, gdbus and dbus-python, with and without Hello, after real socket
activation by systemd-socket-activate."""

import os
import subprocess
import xml.etree.ElementTree as ET

import dbus

from fixture import GATEWAY, GATEWAY_PATH, ManagerTestCase

SOURCE_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")


class GatewaySocketTest(ManagerTestCase):
    def busctl(self, *args):
        return subprocess.run(["busctl", "--address=" + self.address, *args],
                              capture_output=True, text=True, timeout=30)

    def test_manager_starts_only_on_first_connection(self):
        # Before any connection systemd-socket-activate itself holds the
        # socket and the manager has not run yet.
        self.assertNotIn("rsm-manager", self.read_log())
        with open(f"/proc/{self.manager_pid()}/comm") as f:
            self.assertTrue(f.read().startswith("systemd-socket"))
        self.ping()
        with open(f"/proc/{self.manager_pid()}/comm") as f:
            self.assertEqual(f.read().strip(), "rsm-manager")

    def test_busctl_ping_and_property(self):
        r = self.busctl("call", GATEWAY, GATEWAY_PATH, "org.freedesktop.DBus.Peer", "Ping")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.busctl("get-property", GATEWAY, GATEWAY_PATH, GATEWAY, "Version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r'^s "\d+\.\d+\.\d+"$')

    def test_busctl_call_method(self):
        r = self.busctl("call", GATEWAY, GATEWAY_PATH, GATEWAY, "GetLoginState")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), 'sus "unauthenticated" 0 ""')

    def test_gdbus_call(self):
        r = subprocess.run(["gdbus", "call", "--address", self.address, "--dest", GATEWAY,
                            "--object-path", GATEWAY_PATH, "--method", GATEWAY + ".GetLoginState"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "('unauthenticated', uint32 0, '')")

    def test_dbus_python_peer_connection(self):
        conn = self.connect(hello=False)
        state = self.gateway(conn).GetLoginState()
        self.assertEqual(str(state[0]), "unauthenticated")

    def test_dbus_python_bus_connection_says_hello(self):
        conn = self.connect(hello=True)
        self.assertRegex(conn.get_unique_name(), r"^:1\.\d+$")
        self.assertEqual(str(self.gateway(conn).GetLoginState()[0]), "unauthenticated")

    def test_second_hello_is_refused(self):
        conn = self.connect(hello=True)
        with self.assertRaises(dbus.exceptions.DBusException) as cm:
            conn.call_blocking("org.freedesktop.DBus", "/org/freedesktop/DBus",
                               "org.freedesktop.DBus", "Hello", "", [])
        self.assertEqual(cm.exception.get_dbus_name(), "org.freedesktop.DBus.Error.Failed")

    def test_introspection_matches_documented_xml(self):
        """Every method and argument in dbus/org.rsm.Gateway1.xml is what the
        daemon really serves (the XML is the documentation of record)."""
        conn = self.connect()
        xml = conn.call_blocking(GATEWAY, GATEWAY_PATH, "org.freedesktop.DBus.Introspectable",
                                 "Introspect", "", [])

        def signature(root):
            iface = root.find(f"interface[@name='{GATEWAY}']")
            self.assertIsNotNone(iface)
            methods = {}
            for m in iface.findall("method"):
                methods[m.get("name")] = [(a.get("name"), a.get("type"), a.get("direction", "in"))
                                          for a in m.findall("arg")]
            props = {p.get("name"): p.get("type") for p in iface.findall("property")}
            return methods, props

        served = signature(ET.fromstring(str(xml)))
        documented = signature(ET.parse(os.path.join(SOURCE_ROOT, "dbus/org.rsm.Gateway1.xml")).getroot())
        self.assertEqual(served, documented)

    def test_manager_exits_cleanly_on_sigterm(self):
        self.ping()
        self.activator.terminate()
        self.assertEqual(self.activator.wait(timeout=10), 0)
