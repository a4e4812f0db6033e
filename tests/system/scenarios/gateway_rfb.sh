#!/bin/bash
# rsm-gateway for VNC viewers: socket-activated on 127.0.0.1:5900
# (Accept=yes, one unprivileged process per connection), the real TigerVNC
# vncviewer under a private Xvfb logging in with VeNCrypt TLSPlain, and a
# small Python RFB client for exact failure reasons. The checks are Python
# in tests/system/py/gateway_rfb_test.py; this script prepares the container.
# Binds 5900: the harness holds the ports lock (below; the xrdp scenario uses 59xx).
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/vncviewer /usr/bin/Xvfb /usr/bin/xwd /usr/bin/convert; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - vncviewer, Xvfb, xwd and ImageMagick are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    for u in alice bob; do
        make_user $u
        # A desktop whose picture is known: a pure red xterm over most of
        # the screen (the check counts its colour).
        printf '#!/bin/sh\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+0+0\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    systemctl enable --now rsm-manager.socket rsm-gateway.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_rfb_test.py"
