"""A dbus-python client for org.rsm.Gateway1 with the signatures written out
(dbus-python's introspection is asynchronous and would make argument types a
guess on a connection without a main loop). Shared by the integration and
system tiers."""

import dbus

GATEWAY = "org.rsm.Gateway1"
GATEWAY_PATH = "/org/rsm/Gateway1"

SIGNATURES = {
    "LoginWithCredentials": "",
    "LoginWithPassword": "ssa{sv}",
    "BeginLogin": "sa{sv}",
    "ContinueLogin": "as",
    "GetLoginState": "",
    "Logout": "",
    "Close": "",
    "CreateSockdir": "",
    "ListSessions": "",
    "CreateSession": "a{sv}",
    "ConnectSession": "sa{sv}",
    "TerminateSession": "s",
}


class Gateway:
    """gw.Method(args..., timeout=seconds) calls org.rsm.Gateway1.Method."""

    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, method):
        signature = SIGNATURES[method]

        def call(*args, timeout=30):
            return self.conn.call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, method, signature, args,
                                           timeout=timeout)
        call.__name__ = method
        return call
