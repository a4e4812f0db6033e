#!/bin/bash
# Manager outages on the real thing: a crash loop (20 kill -9 in a row) and
# the sockets stopped for a minute, with live desktop sessions of two users.
# No session may be lost. The checks are Python in tests/system/py/outage_test.py.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice; make_user bob
    for u in alice bob; do
        printf '#!/bin/sh\nexec xterm -geometry 80x24+10+10\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/outage_test.py"
