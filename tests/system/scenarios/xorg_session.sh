#!/bin/bash
# Sessions of type "xorg" on the real thing: Xorg with the xorgxrdp drivers
# (/usr/lib/xorg/Xorg, the server itself, not the Xorg.wrap console wrapper,
# with xrdp's /etc/X11/xrdp/xorg.conf), started as the user the way xrdp's
# sesman starts it, from the default [display.xorg] template. The checks are
# Python in tests/system/py/xorg_session_test.py; this script prepares the
# container (the host's root, so xorgxrdp comes from tools/install-deps).
source "$RSM_SYSTEST_LIB"
for f in /usr/lib/xorg/Xorg /etc/X11/xrdp/xorg.conf /usr/lib/xorg/modules/drivers/xrdpdev_drv.so; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - xorgxrdp is installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    # A real X client keeps the display busy the way a desktop would.
    printf '#!/bin/sh\nexec xterm -geometry 80x24+10+10\n' >/home/alice/.xsession
    chmod 755 /home/alice/.xsession; chown alice: /home/alice/.xsession
    # xrdp's socket directory, where [display.xorg] makes xorgxrdp listen.
    /bin/sh /usr/share/xrdp/socksetup
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/xorg_session_test.py"
