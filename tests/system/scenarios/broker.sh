#!/bin/bash
# rsm-broker, the X2Go session broker: socket-activated on 127.0.0.1:8080
# (x2gobroker-daemon's address), unprivileged, checking passwords through
# rsm-manager as a trusted gateway. curl checks both protocols byte by
# byte, the real pyhoca-cli (python-x2go, JSON) lists the profiles under a
# private Xvfb, the real x2goclient logs in through its broker dialog and
# shows the profile list, and the SSH front end (rsm-broker --task) prints the same
# body. The checks are Python in tests/system/py/broker_test.py; this
# script prepares the container.
# Binds 8080 on the shared host network: the harness holds the ports lock (below).
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/curl /usr/bin/pyhoca-cli /usr/bin/x2goclient /usr/bin/Xvfb /usr/bin/xdotool /usr/bin/import; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - curl, pyhoca-cli, x2goclient, Xvfb, xdotool and ImageMagick are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    for u in alice bob carol; do make_user $u; done
    groupadd -f staff
    usermod -aG staff carol
    mkdir -p /etc/x2go/broker /etc/rsm
    # Two fake X2Go servers' SSH ports: 22461 answers (broker_test.py
    # listens there), 22462 and 22463 never do.
    cat >/etc/x2go/broker/x2gobroker-sessionprofiles.conf <<'PROFILES'
# As a site's x2gobroker would have it.
[DEFAULT]
command=TERMINAL
user=BROKER_USER
sshport=22

[pool]
name=Pool
host=down (127.0.0.1:22462),up (127.0.0.1:22461)
command=xfce
# x2gobroker's semantics: with user rules, a user they do not name is
# denied, so "everyone but bob" is allow ALL + deny bob (deny-allow).
acl-users-allow=ALL
acl-users-deny=bob

[alldown]
name=All down
host=a (127.0.0.1:22462),b (127.0.0.1:22463)

; only for the staff group
[staff-only]
name=Staff desk
host=127.0.0.1
acl-groups-allow=staff
PROFILES
    cat >/etc/rsm/broker.toml <<'TOML'
[auth]
authid_lifetime = 120
[hosts]
probe_timeout_ms = 500
# A profile in rsm's own TOML, beside X2Go's file: only for group staff
# (the group lookup runs on the broker's worker threads, real NSS).
[profiles.toml-staff]
name = "Staff pool (TOML)"
host = ["up (127.0.0.1:22461)"]
command = "TERMINAL"
acl-groups-allow = ["staff"]
TOML
    systemctl enable --now rsm-manager.socket rsm-broker.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/broker_test.py"
