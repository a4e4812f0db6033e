#!/bin/bash
# A broker selection leads to a real X2Go session (issue #14): rsm-broker on
# 127.0.0.1:8080 offers alice a profile whose servers are a dead port and
# the real sshd (Debian's openssh-server) on 127.0.0.1:22470 in front of
# Debian's x2goserver (x2goagent, i.e. nxagent). The real pyhoca-cli
# (python-x2go, JSON broker protocol) logs in to the broker, asks it to
# select a server for the profile, logs in to that server over SSH and
# starts the profile's command, a green xterm, which its nxproxy draws on a
# private Xvfb; x2golistsessions shows the session. Ctrl+C in pyhoca-cli
# suspends it; a second pyhoca-cli is sent to the same server by the broker
# and resumes the same session. The checks are
# tests/system/py/broker_x2go_test.py.
# Binds 8080 and 22470 on the shared host network: the harness holds the
# ports lock.
# systest-lock: ports
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/pyhoca-cli /usr/bin/x2golistsessions /usr/sbin/x2godbadmin /usr/bin/x2goagent /usr/bin/nxproxy \
        /usr/sbin/sshd /usr/bin/Xvfb /usr/bin/xwd /usr/bin/convert /usr/bin/xterm; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - pyhoca-cli, x2goserver, nxproxy, sshd, Xvfb, xwd, ImageMagick and xterm are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    # The profile's command: an xterm that paints its window green.
    printf '#!/bin/sh\nexec xterm -bg "#00ff00" -fg "#00ff00" -geometry 200x70+0+0\n' >/usr/local/bin/green-xterm
    chmod 755 /usr/local/bin/green-xterm
    # x2goserver's session database (SQLite, the package's default backend),
    # fresh, as its postinst would create it.
    rm -f /var/lib/x2go/x2go_sessions
    x2godbadmin --createdb
    # The X2Go server's sshd: the real one, with PAM (a logind session for
    # alice, as on any X2Go server) and passwords, on a port of its own.
    rm -rf /tmp/x2gossh; mkdir -p /tmp/x2gossh /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f /tmp/x2gossh/host_key
    printf '%s\n' 'HostKey /tmp/x2gossh/host_key' 'ListenAddress 127.0.0.1:22470' \
        'PasswordAuthentication yes' 'KbdInteractiveAuthentication no' 'UsePAM yes' \
        'PermitRootLogin no' 'AllowUsers alice' 'PrintMotd no' 'LogLevel VERBOSE' \
        'PidFile /run/x2go-sshd.pid' 'Subsystem sftp internal-sftp' >/tmp/x2gossh/sshd_config
    /usr/sbin/sshd -t -f /tmp/x2gossh/sshd_config
    # Debian's sshd tells systemd when it listens (Type=notify).
    systemd-run --unit=x2go-sshd -p Type=notify /usr/sbin/sshd -D -e -f /tmp/x2gossh/sshd_config
    mkdir -p /etc/rsm
    cat >/etc/rsm/broker.toml <<'TOML'
[broker]
profiles = ""
[hosts]
probe_timeout_ms = 500
# The first server never answers: the broker selects the second, the real
# X2Go server.
[profiles.x2go]
name = "Real X2Go server"
host = ["down (127.0.0.1:22462)", "x2go (127.0.0.1:22470)"]
command = "/usr/local/bin/green-xterm"
rootless = true
sound = false
TOML
    systemctl enable --now rsm-manager.socket rsm-broker.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/broker_x2go_test.py"
