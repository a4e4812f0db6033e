#!/bin/bash
# xrdp uses rsm as its session manager: the real xrdp 0.9.21 from Debian,
# switched to rsm with docs/xrdp.md's two commands and started by Debian's own
# xrdp.service, pointed at rsm-scp (socket-activated on [::1]:3350 and
# 127.0.0.1:3350), and the real xfreerdp under a private Xvfb. The checks are
# Python in tests/system/py/xrdp_test.py; this script prepares the container.
# Other containers keep xrdp's units masked; this one starts them:
# systest-unmask: xrdp.service xrdp-sesman.service
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/sbin/xrdp /usr/bin/xfreerdp /usr/bin/Xvfb /usr/bin/xwd; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - xrdp, xfreerdp, Xvfb and xwd are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    # alice, bob: the RDP and SCP checks; carol: reconnect and manager
    # crash; rdp01..rdp10: ten users logging in at once.
    for u in alice bob carol rdp01 rdp02 rdp03 rdp04 rdp05 rdp06 rdp07 rdp08 rdp09 rdp10; do
        make_user $u
        # A desktop whose picture is known: a pure red xterm that covers
        # most of the screen (the RDP check counts its colour) and, in its
        # corner, a clock with a second hand (a picture that keeps changing).
        printf '#!/bin/sh\nxclock -update 1 -geometry 120x120+0+0 &\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+130+0\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    # xrdp: straight to the Xvnc section with the client's credentials (no
    # login dialog), the way a site using only Xvnc configures it.
    sed -i -e 's/^autorun=.*/autorun=Xvnc/' /etc/xrdp/xrdp.ini
    # DEBUG: xrdp logs "chansrv connect successful" only at this level
    # (xrdp_xorg.py checks that xrdp reached chansrv at the first try).
    sed -i -e 's/^LogLevel=INFO/LogLevel=DEBUG/' /etc/xrdp/xrdp.ini
    # xrdp's TLS key (Debian's snakeoil key) is readable by group ssl-cert,
    # which Debian's postinst puts xrdp into only on some installs; without
    # TLS, xfreerdp 2.11 and xrdp 0.9.21 fail on standard RDP security.
    usermod -aG ssl-cert xrdp
    # docs/xrdp.md, "Switching a Debian xrdp install to rsm", word for word.
    systemctl disable --now xrdp-sesman.service
    systemctl enable --now rsm-manager.socket rsm-scp.socket rsm-scp.service && systemctl restart xrdp
} >/run/xrdp-setup.log 2>&1 || {
    echo "1..1"; echo "not ok 1 - scenario setup"; sed -e 's/^/# /' /run/xrdp-setup.log; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/xrdp_test.py"
