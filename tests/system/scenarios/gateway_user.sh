#!/bin/bash
# rsm-gateway run by a normal user (docs/rsm-gateway.md, "Running it as a
# normal user"): alice's own user manager (lingering) runs the shipped user
# units, rsm-gateway.socket on 127.0.0.1:5901, each connection an
# rsm-gateway --user-mode process of hers. The real TigerVNC vncviewer with
# her password reaches her desktop; bob's credentials there are refused and
# create nothing; the manager does not believe what her gateway says about
# its clients. The system gateway (5900) is enabled too and still serves
# bob as a trusted gateway. The checks are Python in
# tests/system/py/gateway_user_test.py; this script prepares the container.
# Binds 5900 and 5901: the harness holds the ports lock (below).
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
        printf '#!/bin/sh\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+0+0\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    systemctl enable --now rsm-manager.socket rsm-gateway.socket
    loginctl enable-linger alice
    poll 60 systemctl is-active "user@$(id -u alice).service"
    # As alice would: systemctl --user enable --now rsm-gateway.socket.
    systemctl --user -M alice@ enable --now rsm-gateway.socket
} >/tmp/gateway_user_setup.log 2>&1 || {
    echo "1..1"; echo "not ok 1 - scenario setup"; sed -e 's/^/# /' /tmp/gateway_user_setup.log; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/gateway_user_test.py"
