#!/bin/bash
# A PAM stack that asks more than a password: pam_unix, then a TOTP code from
# pam_oath (libpam-oath). Only the conversation methods can log in; the
# password shortcut fails with ConversationRequired. Checks in
# tests/system/py/gateway_otp_test.py.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice
    # TOTP secret (hex) for alice; the test computes codes with oathtool.
    install -m 0600 /dev/null /etc/rsm-systest.oath
    echo "HOTP/T30/6 alice - 3132333435363738393031323334353637383930" >/etc/rsm-systest.oath
    cat >/etc/pam.d/rsm-otp <<'PAM'
#%PAM-1.0
auth     requisite pam_unix.so nodelay
auth     required  pam_oath.so usersfile=/etc/rsm-systest.oath window=4 digits=6
@include common-account
@include common-session
PAM
    mkdir -p /etc/rsm/rsm.toml.d
    printf '[pam]\nservice = "rsm-otp"\n' >/etc/rsm/rsm.toml.d/50-otp.toml
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_otp_test.py"
