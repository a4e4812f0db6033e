#!/bin/bash
# Sessions of type "nxagent" (nx-libs' nxagent) with the real nxproxy as
# the NX client: readiness from nxagent's "Waiting for connection" line,
# the cookie in a file of the user's (not on the command line), the port on
# 127.0.0.1 only, ConnectSession's socket to it, the session's xterm on the
# client's screen (xwd + ImageMagick), the transport going away = the
# session disconnected, and a reconnect resuming the same session. The
# checks are Python in tests/system/py/nx_test.py; this script prepares the
# container. nxagent listens on 127.0.0.1:4000+N of the shared host network.
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/nxagent /usr/bin/nxproxy /usr/bin/Xvfb /usr/bin/xwd /usr/bin/convert; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - nxagent, nxproxy, Xvfb, xwd and ImageMagick are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    make_user bob
    # A desktop whose picture is known: a red xterm over most of the screen.
    printf '#!/bin/sh\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+0+0\n' >/home/alice/.xsession
    chmod 755 /home/alice/.xsession; chown alice: /home/alice/.xsession
    # Containers share the host's network namespace, so X displays'
    # abstract sockets and NX ports of other runs are visible here; nxagent
    # binds its display only once its first client came (docs/nx.md), so
    # another run's rsm could pick the same number meanwhile. Keep to a range
    # of our own (NX ports 4730..4739).
    mkdir -p /etc/rsm/rsm.toml.d
    printf '[session]\ndisplay_first = 730\ndisplay_last = 739\n' >/etc/rsm/rsm.toml.d/50-systest.toml
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/nx_test.py"
