"""Gateway-side helpers for desktop sessions, on top of gw.py.

  create_session(gw, **opts)          Gateway1.CreateSession -> (id, reused)
  connect_session(gw, id, **opts)     Gateway1.ConnectSession -> (fds, details):
                                      fds are Python socket objects ("display",
                                      "control"), details plain Python values
  list_sessions(gw)                   Gateway1.ListSessions as a list of dicts
  rfb_handshake(sock)                 RFB 3.8 client handshake, security None
                                      -> (width, height, desktop name)
  x11_handshake(sock, name, data)     X11 connection setup with a cookie
                                      -> X11Setup(success, reason, width, ...)
  ControlChannel(fd_or_sock)          org.rsm.SessionControl1 on the control fd
                                      (GDBus client, no Hello): call(), signals

`gw` is a gw.Gateway (or anything with a dbus-python `.conn`) or a
dbus-python connection. Every function takes an optional timeout in seconds.
"""

import collections
import socket
import struct
import time

import dbus

GATEWAY = "org.rsm.Gateway1"
GATEWAY_PATH = "/org/rsm/Gateway1"
CONTROL = "org.rsm.SessionControl1"
CONTROL_PATH = "/org/rsm/SessionControl1"

# The D-Bus type of every documented option; anything else is passed as the
# caller built it (so tests can send wrong types on purpose).
OPTION_TYPES = {
    "type": dbus.String,
    "desktop": dbus.String,
    "width": dbus.UInt32,
    "height": dbus.UInt32,
    "depth": dbus.UInt32,
    "client_address": dbus.String,
    "client_name": dbus.String,
    "new": dbus.Boolean,
    "session_id": dbus.String,
}

SESSION_FIELDS = ("id", "uid", "user", "state", "display_type", "display", "desktop", "width", "height",
                  "depth", "created_usec", "disconnected_usec", "client_address", "client_name")


def _conn(gw):
    return getattr(gw, "conn", gw)


def _call(gw, method, signature, args, timeout):
    return _conn(gw).call_blocking(GATEWAY, GATEWAY_PATH, GATEWAY, method, signature, args, timeout=timeout)


def options(**opts):
    """An a{sv} dictionary with the documented D-Bus type for each known key."""
    d = dbus.Dictionary({}, signature="sv")
    for key, value in opts.items():
        if value is None:
            continue
        conv = OPTION_TYPES.get(key)
        # dbus-python's own types (they all have variant_level) pass unchanged.
        d[key] = conv(value) if conv and not hasattr(value, "variant_level") else value
    return d


def to_python(value):
    """dbus-python values to plain Python ones (ay becomes bytes)."""
    if isinstance(value, dbus.Array) and value.signature == "y":
        return bytes(int(b) for b in value)
    if isinstance(value, dbus.ByteArray):
        return bytes(value)
    if isinstance(value, (dbus.Dictionary, dict)):
        return {to_python(k): to_python(v) for k, v in value.items()}
    if isinstance(value, (dbus.Array, dbus.Struct, list, tuple)):
        return [to_python(v) for v in value]
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, (dbus.String, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, (dbus.Byte, dbus.Int16, dbus.UInt16, dbus.Int32, dbus.UInt32, dbus.Int64,
                          dbus.UInt64)):
        return int(value)
    if isinstance(value, dbus.Double):
        return float(value)
    return value


def create_session(gw, timeout=120, **opts):
    """CreateSession(options) -> (session_id, reused). Keyword arguments are
    the options (type, desktop, width, height, depth, client_address,
    client_name, new, session_id). Raises dbus.exceptions.DBusException."""
    sid, reused = _call(gw, "CreateSession", "a{sv}", (options(**opts),), timeout)
    return str(sid), bool(reused)


def connect_session(gw, session_id, timeout=60, **opts):
    """ConnectSession(id, options) -> (fds, details): fds maps "display" and
    "control" to socket.socket objects the caller owns (close them when done);
    details is a plain dict ("protocol", "display", "xauth_name",
    "xauth_data" as bytes)."""
    fds, details = _call(gw, "ConnectSession", "sa{sv}", (session_id, options(**opts)), timeout)
    socks = {}
    try:
        for name, fd in fds.items():
            socks[str(name)] = socket.socket(fileno=fd.take())
    except BaseException:
        for s in socks.values():
            s.close()
        raise
    return socks, to_python(details)


def list_sessions(gw, timeout=60):
    """ListSessions() as a list of dicts keyed by SESSION_FIELDS."""
    return [dict(zip(SESSION_FIELDS, to_python(s))) for s in _call(gw, "ListSessions", "", (), timeout)]


# ---------------------------------------------------------------- wire helpers

def recv_exact(sock, n, timeout=10.0):
    """Exactly n bytes from sock, or ConnectionError on EOF / TimeoutError."""
    deadline = time.monotonic() + timeout
    buf = bytearray()
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"read {len(buf)} of {n} bytes within {timeout}s")
        sock.settimeout(left)
        try:
            chunk = sock.recv(n - len(buf))
        except socket.timeout:
            raise TimeoutError(f"read {len(buf)} of {n} bytes within {timeout}s") from None
        if not chunk:
            raise ConnectionError(f"peer closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def _send(sock, data, timeout):
    sock.settimeout(timeout)
    sock.sendall(data)


# ------------------------------------------------------------------------ RFB

class RfbError(Exception):
    pass


RFB_SECURITY_NONE = 1


def rfb_handshake(sock, shared=True, timeout=10.0):
    """The client side of an RFB 3.8 handshake on a connected stream where the
    server speaks first: version, security type None, SecurityResult,
    ClientInit, ServerInit. Returns (width, height, name). The stream is then
    ready for normal client messages. Raises RfbError with the server's
    reason if it refuses."""
    version = recv_exact(sock, 12, timeout)
    if not version.startswith(b"RFB ") or not version.endswith(b"\n"):
        raise RfbError(f"not an RFB server: {version!r}")
    major, minor = int(version[4:7]), int(version[8:11])
    if (major, minor) < (3, 8):
        raise RfbError(f"server speaks RFB {major}.{minor}, need 3.8")
    _send(sock, b"RFB 003.008\n", timeout)

    (count,) = struct.unpack("!B", recv_exact(sock, 1, timeout))
    if count == 0:
        (n,) = struct.unpack("!I", recv_exact(sock, 4, timeout))
        raise RfbError("server refused the connection: " + recv_exact(sock, n, timeout).decode(errors="replace"))
    types = list(recv_exact(sock, count, timeout))
    if RFB_SECURITY_NONE not in types:
        raise RfbError(f"server offers no security type None (offers {types})")
    _send(sock, struct.pack("!B", RFB_SECURITY_NONE), timeout)

    (result,) = struct.unpack("!I", recv_exact(sock, 4, timeout))
    if result != 0:
        reason = ""
        try:
            (n,) = struct.unpack("!I", recv_exact(sock, 4, timeout))
            reason = recv_exact(sock, n, timeout).decode(errors="replace")
        except (ConnectionError, TimeoutError):
            pass
        raise RfbError(f"security handshake failed ({result}): {reason}")

    _send(sock, struct.pack("!B", 1 if shared else 0), timeout)
    width, height = struct.unpack("!HH", recv_exact(sock, 4, timeout))
    recv_exact(sock, 16, timeout)  # PIXEL_FORMAT
    (n,) = struct.unpack("!I", recv_exact(sock, 4, timeout))
    name = recv_exact(sock, n, timeout).decode(errors="replace")
    sock.settimeout(None)
    return width, height, name


# ------------------------------------------------------------------------ X11

X11Setup = collections.namedtuple("X11Setup", "success reason width height depth root vendor")


def _pad4(n):
    return (4 - n % 4) % 4


def x11_handshake(sock, cookie_name, cookie_data, timeout=10.0):
    """Sends a little-endian X11 connection setup request carrying the cookie
    (e.g. "MIT-MAGIC-COOKIE-1" and its 16 bytes) and parses the reply.
    Returns X11Setup(success, reason, width, height, depth, root, vendor) for
    the first screen (width/height/depth/root are 0 on failure)."""
    name = cookie_name.encode() if isinstance(cookie_name, str) else bytes(cookie_name)
    data = bytes(cookie_data)
    req = struct.pack("<BxHHHHxx", 0x6C, 11, 0, len(name), len(data))
    req += name + b"\0" * _pad4(len(name)) + data + b"\0" * _pad4(len(data))
    _send(sock, req, timeout)

    status, reason_len, _major, _minor, extra = struct.unpack("<BBHHH", recv_exact(sock, 8, timeout))
    body = recv_exact(sock, extra * 4, timeout)
    if status == 0:    # Failed
        return X11Setup(False, body[:reason_len].decode(errors="replace"), 0, 0, 0, 0, "")
    if status == 2:    # Authenticate
        return X11Setup(False, body.rstrip(b"\0").decode(errors="replace"), 0, 0, 0, 0, "")
    (_release, _rbase, _rmask, _motion, vendor_len, _maxreq, nscreens, nformats) = \
        struct.unpack_from("<IIIIHHBB", body, 0)
    off = 32
    vendor = body[off:off + vendor_len].decode(errors="replace")
    off += vendor_len + _pad4(vendor_len) + 8 * nformats
    if nscreens == 0:
        return X11Setup(True, "", 0, 0, 0, 0, vendor)
    root, _cmap, _white, _black, _masks, width, height = struct.unpack_from("<IIIIIHH", body, off)
    depth = body[off + 38]
    sock.settimeout(None)
    return X11Setup(True, "", width, height, depth, root, vendor)


# ------------------------------------------------------------ control channel

class ControlChannel:
    """org.rsm.SessionControl1 over the control fd from ConnectSession: the
    gateway is the D-Bus client (SASL EXTERNAL, no Hello). Signals are queued
    from the moment the channel exists; wait_signal() runs a private GLib
    main context until one arrives or the timeout passes.

        ch = ControlChannel(fds["control"])
        ch.call("ReportActivity")
        info = ch.call("GetSession")             # a plain dict
        name, args = ch.wait_signal("SessionEnding", timeout=10)
        ch.close()                                # the session is disconnected
    """

    SIGNATURES = {"Disconnect": None, "ReportActivity": None, "GetSession": None}

    def __init__(self, fd_or_sock, timeout=10.0):
        import gi
        gi.require_version("Gio", "2.0")
        from gi.repository import Gio, GLib
        self._Gio, self._GLib = Gio, GLib
        fd = fd_or_sock.detach() if isinstance(fd_or_sock, socket.socket) else int(fd_or_sock)
        self.signals = []       # (name, args) not yet taken by wait_signal
        self.closed = False
        self._ctx = GLib.MainContext.new()
        self._ctx.push_thread_default()
        try:
            gsock = Gio.Socket.new_from_fd(fd)   # owns fd from here on
            stream = gsock.connection_factory_create_connection()
            self.conn = Gio.DBusConnection.new_sync(
                stream, None, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT, None, None)
            self.conn.set_exit_on_close(False)
            self._sub = self.conn.signal_subscribe(None, CONTROL, None, CONTROL_PATH, None,
                                                   Gio.DBusSignalFlags.NONE, self._on_signal)
            self._closed_handler = self.conn.connect("closed", self._on_closed)
        finally:
            self._ctx.pop_thread_default()
        self.timeout = timeout

    def _on_signal(self, _conn, _sender, _path, _iface, name, params):
        self.signals.append((name, params.unpack() if params is not None else ()))

    def _on_closed(self, _conn, _remote_peer_vanished, _error):
        self.closed = True

    def call(self, method, args=None, signature=None, timeout=None):
        """Calls METHOD on /org/rsm/SessionControl1; args is a tuple for
        `signature` ("(...)" form or bare, e.g. "s"). Returns the reply's
        values unpacked: one value alone, several as a tuple, none as None.
        Raises GLib.Error (its message starts with the D-Bus error name as
        GDBus.Error:org.rsm.Error.X)."""
        params = None
        if signature:
            sig = signature if signature.startswith("(") else f"({signature})"
            params = self._GLib.Variant(sig, tuple(args or ()))
        t = self.timeout if timeout is None else timeout
        reply = self.conn.call_sync(None, CONTROL_PATH, CONTROL, method, params, None,
                                    self._Gio.DBusCallFlags.NONE, int(t * 1000), None)
        values = reply.unpack() if reply is not None else ()
        if len(values) == 0:
            return None
        return values[0] if len(values) == 1 else values

    def pending(self):
        """Dispatches whatever has arrived, without blocking."""
        while self._ctx.iteration(False):
            pass

    def _run_until(self, done, timeout):
        """Iterates the private context until done() or timeout; True if done."""
        if done():
            return True
        expired = [False]

        def on_timeout(*_):
            expired[0] = True
            return False
        src = self._GLib.Timeout(max(0, int(timeout * 1000)))
        src.set_callback(on_timeout)
        src.attach(self._ctx)
        try:
            while not done() and not expired[0]:
                self._ctx.iteration(True)
        finally:
            src.destroy()
        return done()

    def wait_signal(self, name=None, timeout=None):
        """The first queued or arriving signal called NAME (any if None) as
        (name, args), removed from the queue; TimeoutError after TIMEOUT s."""
        t = self.timeout if timeout is None else timeout

        def find():
            for i, (n, _a) in enumerate(self.signals):
                if name is None or n == name:
                    return i
            return None
        if not self._run_until(lambda: find() is not None, t):
            raise TimeoutError(f"no signal {name or ''} within {t}s (queued: {[n for n, _ in self.signals]})")
        return self.signals.pop(find())

    def wait_closed(self, timeout=None):
        """True once the peer has closed the channel (within TIMEOUT s)."""
        t = self.timeout if timeout is None else timeout
        return self._run_until(lambda: self.closed, t)

    def close(self):
        if getattr(self, "conn", None) is None:
            return
        try:
            self.conn.signal_unsubscribe(self._sub)
            self.conn.disconnect(self._closed_handler)
            if not self.conn.is_closed():
                self.conn.close_sync(None)
        except Exception:  # noqa: BLE001 - closing twice or after the peer
            pass
        self.pending()
        self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
