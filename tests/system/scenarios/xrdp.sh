#!/bin/bash
# xrdp uses rsm as its session manager: the real xrdp 0.9.21 from Debian,
# started by hand in the container (the container masks its units at boot),
# pointed at rsm-scp (socket-activated on [::1]:3350 and 127.0.0.1:3350), and
# the real xfreerdp under a private Xvfb. The checks are Python in
# tests/system/py/xrdp_test.py; this script prepares the container.
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
    systemctl enable --now rsm-manager.socket rsm-scp.socket
    # xrdp itself, by hand, as its unit would run it (User=xrdp, socksetup
    # first): the unit is masked for the whole boot, and it Requires=
    # xrdp-sesman.service, which rsm-scp replaces.
    /bin/sh /usr/share/xrdp/socksetup
    # xrdp's TLS key (Debian's snakeoil key) is readable by group ssl-cert,
    # which Debian's postinst puts xrdp into only on some installs; without
    # TLS, xfreerdp 2.11 and xrdp 0.9.21 fail on standard RDP security.
    usermod -aG ssl-cert xrdp
    systemd-run --unit=xrdp-systest -p User=xrdp -p Group=xrdp /usr/sbin/xrdp --nodaemon
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/xrdp_test.py"
