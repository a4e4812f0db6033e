#!/bin/bash
# Security on the real thing: an ordinary local account (mallory) attacks
# rsm in the container, one check per attack of the threat model
# (docs/design-notes.md, "Security"). The checks are Python modules
# tests/system/py/security_*.py, collected by security_test.py; this script
# prepares the users and the configuration they start from.
source "$RSM_SYSTEST_LIB"
set -e
{
    # Victims and the attacker: ordinary accounts with a desktop.
    for u in alice bob mallory; do
        make_user $u
        printf '#!/bin/sh\nexec xterm -geometry 80x24+10+10\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    # A service account (uid below UID_MIN, a real shell) and an ordinary
    # uid whose shell is nologin: neither may get a desktop by default.
    id -u svcacct >/dev/null 2>&1 || useradd -r -m -s /bin/bash svcacct
    printf 'svcacct:svcacct-pw\n' | chpasswd
    id -u nologinuser >/dev/null 2>&1 || useradd -m -s /usr/sbin/nologin nologinuser
    printf 'nologinuser:nologinuser-pw\n' | chpasswd
    mkdir -p /etc/rsm/rsm.toml.d
    cat >/etc/rsm/rsm.toml.d/50-systest.toml <<'TOML'
[session]
max_sessions_per_user = 5
TOML
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/security_test.py"
