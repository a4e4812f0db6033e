#!/bin/bash
# Gateway logins on the real thing: PAM (service rsm, Debian's common-*
# stacks, pam_unix with its fail delay), real users, journald, with access
# rules and limits from a drop-in. The checks are Python (dbus-python) in
# tests/system/py/gateway_login_test.py; this script prepares the container.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice; make_user bob; make_user carol; make_user dave; make_user dora
    groupadd -f remote
    for u in alice carol dave dora; do usermod -aG remote "$u"; done
    chage -E 0 carol          # account expired: pam_acct_mgmt says no
    chage -d 0 dave           # password must be changed at next login
    echo root:root-pw | chpasswd
    mkdir -p /etc/rsm/rsm.toml.d
    cat >/etc/rsm/rsm.toml.d/50-systest.toml <<'TOML'
[gateway]
max_login_attempts = 3
[access]
allowed_groups = ["remote"]
# The peer-credential checks need it (off by default).
allow_peer_credentials = true
[throttle]
max_failures = 4
window = 300
lockout = 300
TOML
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_login_test.py"
