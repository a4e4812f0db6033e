#!/bin/bash
# Exit on idle ([manager] idle_exit_sec) on the real thing: the manager exits
# by itself (STOPPING=1, status 0, not restarted) once it has had nothing to
# do for idle_exit_sec, and the gateway socket or a call to org.rsm.Manager1
# (bus activation) starts it again with nothing lost; a live session or an
# open connection keeps it up. The checks are Python in
# tests/system/py/idle_exit_test.py; this script prepares the container.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice
    mkdir -p /etc/rsm/rsm.toml.d
    # Short enough for a test, long against the manager's own latencies.
    # login_timeout: how long an idle unauthenticated connection keeps it up.
    cat >/etc/rsm/rsm.toml.d/60-idle.toml <<'TOML'
[manager]
idle_exit_sec = 3
[gateway]
login_timeout = 8
TOML
    # What dbus's dpkg trigger does for a new system.d policy.
    busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/idle_exit_test.py"
