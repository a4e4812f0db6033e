#!/bin/bash
# xpra through rsm: the display type "xpra" (an xpra 3.1.3 server per
# session, seamless) and rsm-gateway's xpra protocol on the RFB port
# (127.0.0.1:5900). The real xpra client under a private Xvfb attaches with
# `xpra attach tcp://alice@127.0.0.1:5900/ --password-file=F`. The checks are
# Python in tests/system/py/xpra_test.py; this script prepares the container.
# Binds 5900: the harness holds the ports lock (below).
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/xpra /usr/bin/Xvfb /usr/bin/xwd /usr/bin/convert /usr/bin/xdotool /usr/bin/xsetroot /usr/bin/openssl; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - xpra, Xvfb, xwd, xdotool and ImageMagick are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    make_user bob
    # The session program: rsm's startwm.sh, which starts a terminal for a
    # seamless xpra session; its resources make it a red window whose
    # picture the check can count. A whole desktop (xpra-desktop) gets a
    # blue root window first: only a desktop shows its root.
    mkdir -p /usr/local/share/rsm-systest /etc/rsm/rsm.toml.d
    printf 'XTerm*background: red\nXTerm*foreground: red\nXTerm*geometry: 100x40+0+0\n' \
        >/usr/local/share/rsm-systest/xterm.ad
    printf '#!/bin/sh\nexport XENVIRONMENT=/usr/local/share/rsm-systest/xterm.ad\n%s\nexec /etc/rsm/startwm.sh\n' \
        '[ "$RSM_DISPLAY_TYPE" = xpra-desktop ] && xsetroot -solid blue' \
        >/usr/local/bin/rsm-systest-session
    chmod 755 /usr/local/bin/rsm-systest-session
    printf '[session]\nstart_script = "/usr/local/bin/rsm-systest-session"\n' >/etc/rsm/rsm.toml.d/50-xpra.toml
    systemctl enable --now rsm-manager.socket rsm-gateway.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/xpra_test.py"
