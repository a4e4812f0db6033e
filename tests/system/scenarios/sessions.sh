#!/bin/bash
# Desktop sessions on the real thing: transient scopes from the container's
# systemd, PAM sessions registered with its logind (pam_systemd), Xvnc and
# Xvfb as the user, records in /run/rsm/sessions, timers and limits, a crash
# of the display server and kill -9 of the manager. The checks are Python in
# tests/system/py/sessions_test.py; this script prepares the container.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice; make_user bob
    for u in alice bob; do
        # The start script execs ~/.xsession: a real X client keeps the
        # display busy the way a desktop would.
        printf '#!/bin/sh\nexec xterm -geometry 80x24+10+10\n' >/home/$u/.xsession
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    cat >/usr/local/bin/rsm-test-reconnect <<'SH'
#!/bin/sh
# Runs in the session on every reconnect: leaves a trace the test reads.
echo "reconnect DISPLAY=$DISPLAY USER=$USER" >>"$HOME/.rsm-reconnects"
SH
    chmod 755 /usr/local/bin/rsm-test-reconnect
    # Desktop entries (DesktopEntryTest): an X11 one and a Wayland one whose
    # program writes its environment down and stays.
    cat >/usr/local/bin/rsm-test-desktop <<'SH'
#!/bin/sh
env >"$HOME/.rsm-desktop-env.tmp"; echo END >>"$HOME/.rsm-desktop-env.tmp"
mv "$HOME/.rsm-desktop-env.tmp" "$HOME/.rsm-desktop-env"
exec sleep infinity
SH
    chmod 755 /usr/local/bin/rsm-test-desktop
    mkdir -p /usr/share/xsessions /usr/share/wayland-sessions
    printf '[Desktop Entry]\nName=rsm test\nExec=/usr/local/bin/rsm-test-desktop\nType=Application\nDesktopNames=RsmTest;Extra;\n' \
        >/usr/share/xsessions/rsmtest.desktop
    printf '[Desktop Entry]\nName=rsm wayland test\nExec=/usr/local/bin/rsm-test-desktop\nType=Application\nDesktopNames=RsmWl\n' \
        >/usr/share/wayland-sessions/rsmwl.desktop
    # The same stack as /etc/pam.d/rsm without pam_systemd (Debian's
    # common-session-noninteractive is common-session minus pam_systemd),
    # for the "no logind registration" case.
    sed -e 's/^@include common-session$/@include common-session-noninteractive/' /etc/pam.d/rsm \
        >/etc/pam.d/rsm-nosystemd
    ! grep -q pam_systemd /etc/pam.d/rsm-nosystemd /etc/pam.d/common-session-noninteractive
    mkdir -p /etc/rsm/rsm.toml.d
    cat >/etc/rsm/rsm.toml.d/50-systest.toml <<'TOML'
[session]
max_sessions_per_user = 4
reconnect_script = "/usr/local/bin/rsm-test-reconnect"
reconnect_policy = "UBD"
[access]
# One check logs in by peer credentials (off by default).
allow_peer_credentials = true
TOML
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/sessions_test.py"
