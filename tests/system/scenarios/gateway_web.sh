#!/bin/bash
# rsm-gateway for browsers: on the same socket-activated port as VNC viewers
# (127.0.0.1:5900), noVNC's files from Debian's novnc package over HTTP, and
# the real noVNC 1.3 in a headless Chromium logging alice in over the
# WebSocket (VeNCrypt Plain: the browser is on loopback), then the same
# over HTTPS/wss:// with a test CA's certificate in gateway.toml (Chromium
# trusts the CA through an NSS database: certutil). The checks are
# Python in tests/system/py/gateway_web_test.py (Chromium driven through its
# DevTools protocol); this script prepares the container.
# Binds 5900: the harness holds the ports lock (below).
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/chromium /usr/share/novnc/vnc.html /usr/bin/curl /usr/bin/convert /usr/bin/openssl /usr/bin/certutil; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - chromium, novnc, curl, ImageMagick and certutil are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
if ! /usr/bin/python3 -c 'import websocket' 2>/dev/null; then
    echo "1..1"; echo "not ok 1 - python3-websocket is installed (run tools/install-deps)"; exit 1
fi
set -e
{
    for u in alice bob; do
        make_user $u
        # A desktop whose picture is known: a pure red xterm over most of
        # the screen (the check counts its colour in Chromium's screenshot).
        printf '#!/bin/sh\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+0+0\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    systemctl enable --now rsm-manager.socket rsm-gateway.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_web_test.py"
