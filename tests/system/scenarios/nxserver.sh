#!/bin/bash
# rsm-nxserver, the nxserver an NX client speaks to (docs/nx.md), run as the
# `nx` account (a member of rsm-gateway, so rsm trusts the client address it
# names) with the client's stream on pipes, as sshd would run it as that
# account's login shell. A scripted NX client logs in as alice, starts an
# nxagent session, says bye, and the real nxproxy, bridged to the same
# stream, shows the session's red xterm; killing nxproxy suspends the
# session, restoresession resumes the same xterm, terminate ends it; a wrong
# password is NX> 404 with nothing created, another version is refused, an
# unknown command answered; bob's attachsession of alice's session asks
# alice in her session (xmessage) and is refused without an answer or with
# Deny, and shows her xterm through a shadowing nxagent with Allow. The
# checks are tests/system/py/nxserver_test.py.
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/nxagent /usr/bin/nxproxy /usr/bin/Xvfb /usr/bin/xwd /usr/bin/convert /usr/bin/setpriv /usr/sbin/sshd /usr/bin/ssh /usr/bin/xmessage /usr/bin/xdotool; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - nxagent, nxproxy, Xvfb, xwd, ImageMagick, setpriv, sshd, ssh, xmessage and xdotool are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    make_user bob
    printf '#!/bin/sh\nexec xterm -bg "#ff0000" -fg "#ff0000" -geometry 200x70+0+0\n' >/home/alice/.xsession
    chmod 755 /home/alice/.xsession; chown alice: /home/alice/.xsession
    # The nx account: rsm-nxserver as its shell, trusted by rsm as a gateway.
    id -u nx >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/libexec/rsm-nxserver --groups rsm-gateway nx
    # No password for nx, but not locked ('!'): sshd without PAM refuses
    # locked accounts. (With UsePAM, Debian's pam_motd writes the motd to the
    # channel before rsm-nxserver's banner: docs/nx.md.)
    usermod -p '*' nx
    # sshd for the nx account, run as `sshd -i` by the client's ssh
    # (ProxyCommand): the real sshd, no port on the shared network. The
    # client key stands for the NX client's (NoMachine clients ship one for
    # the nx account); StrictModes is off because the files are in /tmp.
    rm -rf /tmp/nxssh; mkdir -p /tmp/nxssh /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f /tmp/nxssh/host_key
    ssh-keygen -q -t ed25519 -N '' -f /tmp/nxssh/client_key
    cp /tmp/nxssh/client_key.pub /tmp/nxssh/authorized_keys
    printf '%s\n' 'HostKey /tmp/nxssh/host_key' 'AuthorizedKeysFile /tmp/nxssh/authorized_keys' \
        'StrictModes no' 'PasswordAuthentication no' 'KbdInteractiveAuthentication no' \
        'PubkeyAuthentication yes' 'UsePAM no' 'PermitRootLogin no' 'AllowUsers nx' \
        'PrintMotd no' 'LogLevel VERBOSE' >/tmp/nxssh/sshd_config
    /usr/sbin/sshd -t -f /tmp/nxssh/sshd_config
    # NX ports 4740..4749 of the shared host network: not the nx scenario's.
    mkdir -p /etc/rsm/rsm.toml.d
    printf '[session]\ndisplay_first = 740\ndisplay_last = 749\n[shadow]\nconsent_timeout = 8\n' \
        >/etc/rsm/rsm.toml.d/50-systest.toml
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/nxserver_test.py"
