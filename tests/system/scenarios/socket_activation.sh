#!/usr/bin/env bash
# rsm-manager is socket-activated: nothing runs until a gateway connects;
# the first connection starts the service; after a stop, the next
# connection starts a fresh instance.
. "${RSM_SYSTEST_LIB:?run through tests/system/harness.sh}"

GW=/run/rsm/gateway.sock
SOCK=rsm-manager.socket
XSOCK=rsm-manager-executor.socket
SVC=rsm-manager.service

ping_gw() { timeout 15 busctl --timeout=10 --address="unix:path=$GW" call org.freedesktop.DBus / org.freedesktop.DBus.Peer Ping; }
# busctl and gdbus send a Hello of their own on an address (and a second one
# is refused, as by dbus-daemon); dbus-python's plain Connection sends none,
# so it calls Hello explicitly.
hello_gw() { timeout 15 /usr/bin/python3 -c "import dbus; c = dbus.connection.Connection('unix:path=$GW'); print(c.call_blocking('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus', 'Hello', '', []))"; }
# The listening socket itself is held by the daemon (it got it from systemd).
daemon_holds_listener() { ss -xlpn | grep -F "$GW" | grep -q '"rsm-manager"'; }
daemon_holds_executor_listener() { ss -xlpn | grep -F /run/rsm/executor.sock | grep -q '"rsm-manager"'; }
# Both sockets trigger the service (the order systemd lists them in varies).
triggered_by() { unit_prop "$SVC" TriggeredBy | tr ' ' '\n' | sort | tr '\n' ' '; }
svc_started_after_socket() {
    local s v
    s=$(unit_prop "$SOCK" ActiveEnterTimestampMonotonic)
    v=$(unit_prop "$SVC" ExecMainStartTimestampMonotonic)
    [[ $s -gt 0 && $v -gt $s ]]
}

# --- before any connection ---------------------------------------------------
check "units are installed" systemctl cat "$SOCK" "$SVC"
check "systemctl enable --now $SOCK" systemctl enable --now "$SOCK"
check_eq "$SOCK is active" active systemctl is-active "$SOCK"
check_eq "$SOCK is listening" listening unit_prop "$SOCK" SubState
check_eq "$SOCK listens on $GW" "$GW (Stream)" unit_prop "$SOCK" Listen
check "$GW is a socket" test -S "$GW"
check_eq "$XSOCK came with $SOCK (Wants=)" active systemctl is-active "$XSOCK"
check_eq "the executors' socket is root's only" "600 root" stat -c '%a %U' /run/rsm/executor.sock
check_eq "$SVC is inactive before the first connection" inactive systemctl is-active "$SVC"
check_eq "$SVC has no main process yet" 0 unit_prop "$SVC" MainPID
check_eq "$SVC was never started" 0 unit_prop "$SVC" ExecMainStartTimestampMonotonic

# --- first connection: socket activation ---------------------------------------
check "first connection: Peer.Ping over $GW (busctl)" ping_gw
wait_for "$SVC becomes active" 15 unit_active "$SVC"
check_eq "$SVC is running" running unit_prop "$SVC" SubState
pid1=$(unit_prop "$SVC" MainPID)
inv1=$(unit_prop "$SVC" InvocationID)
diag "first instance: MainPID=$pid1 InvocationID=$inv1"
check "$SVC has a main process" test "${pid1:-0}" -gt 0
check "$SVC has an invocation id" test -n "$inv1"
check "$SVC was started by the connection (after the socket)" svc_started_after_socket
check_eq "$SVC is triggered by $SOCK and $XSOCK" "$XSOCK $SOCK" triggered_by
check "the daemon holds the listening socket systemd made" daemon_holds_listener
check "the daemon holds the executors' socket too" daemon_holds_executor_listener
check_match "Hello returns a unique name" '^:1\.[0-9]+$' hello_gw
check "Peer.Ping with gdbus" timeout 15 gdbus call --timeout 10 --address "unix:path=$GW" --dest org.rsm.Gateway1 \
    --object-path / --method org.freedesktop.DBus.Peer.Ping
check_eq "the same instance served the later connections" "$pid1" unit_prop "$SVC" MainPID
check_eq "no restarts" 0 unit_prop "$SVC" NRestarts

# --- stop, then a new connection starts it again --------------------------------
check "systemctl stop $SVC" systemctl stop "$SVC"
check_eq "$SVC is inactive after stop" inactive systemctl is-active "$SVC"
check_eq "$SOCK is still listening" listening unit_prop "$SOCK" SubState
check_eq "$SVC exited cleanly on SIGTERM" success unit_prop "$SVC" Result
check "new connection: Peer.Ping over $GW" ping_gw
wait_for "$SVC becomes active again" 15 unit_active "$SVC"
pid2=$(unit_prop "$SVC" MainPID)
inv2=$(unit_prop "$SVC" InvocationID)
diag "second instance: MainPID=$pid2 InvocationID=$inv2"
check "a new main process ($pid1 -> $pid2)" test "${pid2:-0}" -gt 0 -a "$pid2" != "$pid1"
check "a new invocation id" test -n "$inv2" -a "$inv2" != "$inv1"
check "the new instance answers Hello" hello_gw
check_eq "still no restarts (activation, not Restart=)" 0 unit_prop "$SVC" NRestarts
check "$SVC logged under its first invocation" \
    test -n "$(journalctl -q --no-pager _SYSTEMD_INVOCATION_ID="$inv1" -o cat)"
