#!/bin/bash
# org.rsm.Manager1 on the container's real system bus: bus activation of
# rsm-manager, polkit decisions by the real polkitd (remote users are judged
# by allow_any: the test's processes have no logind session), the rsm-admins
# rules file, signals seen by a bus monitor, and rsmctl's output and exit
# codes. The checks are Python in tests/system/py/admin_bus_test.py; this
# script prepares the container. The manager is NOT started here: the first
# test proves that a bus call activates it.
source "$RSM_SYSTEST_LIB"

failed_steps=0
step() {
    local out
    if ! out=$("$@" 2>&1); then
        failed_steps=$((failed_steps + 1))
        diag "setup step failed: $*" "$out"
    fi
}
no_rules_file() { rm -f /etc/polkit-1/rules.d/50-rsm-admins.rules; }
manager_not_running() { [[ $(systemctl is-active rsm-manager.service) != active ]]; }
dropin() {
    mkdir -p /etc/rsm/rsm.toml.d &&
        printf '[session]\nmax_sessions_per_user = 8\n' >/etc/rsm/rsm.toml.d/50-systest.toml
}

step make_user alice
step make_user bob
step make_user carol
step groupadd --system rsm-admins
step usermod -aG rsm-admins carol
# The rules file ships as an example; the tests install and remove it.
step test -f /usr/share/doc/rsm/examples/50-rsm-admins.rules
step no_rules_file
step dropin
# What dbus's dpkg trigger does when a package drops a policy into
# /usr/share/dbus-1/system.d: the bus daemon re-reads its configuration.
step busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
step systemctl enable --now rsm-manager.socket
step manager_not_running
if [[ $failed_steps != 0 ]]; then
    not_ok "scenario setup ($failed_steps steps failed)"
    exit 1
fi
trap - EXIT
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/admin_bus_test.py"
