#!/bin/bash
# Load and abuse on the real manager: 20 wrong-password logins in flight
# while a valid login completes; 500 idle connections. Checks in
# tests/system/py/gateway_load_test.py.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice
    # alice's valid login under load is by peer credentials (off by default).
    # The wrong logins' answers are held 20 s, not 2 (and under the 30 s
    # login_timeout): the test sends the valid login once PAM has judged all
    # 20, which on a loaded machine can take longer than 2 s, and asserts it
    # is answered before any of them.
    mkdir -p /etc/rsm/rsm.toml.d
    printf '[access]\nallow_peer_credentials = true\n[gateway]\nfailure_delay_ms = 20000\n' \
        >/etc/rsm/rsm.toml.d/50-systest.toml
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_load_test.py"
