#!/bin/bash
# rsm-broker selects among a profile's X2Go servers with what their
# x2gobroker-agents say (issue #14): Debian's real x2gobroker-agent behind
# the real sshd, reached by the broker over SSH with its own key (a
# LoadCredential= of the sandboxed service), host keys checked. The profile
# has two servers: "x2go-a" (127.0.0.1:22470) and this machine's own
# hostname (127.0.0.2:22471, the name x2goserver records its sessions
# under); one sshd listens on both, in front of Debian's x2goserver.
#  - x2go-a looks busy (a session of bob's under its name in x2goserver's
#    session database, which getservers reports): the least-loaded server,
#    the second, is selected, and pyhoca-cli starts alice's session there;
#  - after alice suspends it (and x2go-a is idle again), the session comes
#    first: the second server again, with SESSION_INFO (plain) and
#    session_info (JSON) carrying her x2golistsessions line, status S, and
#    pyhoca-cli resumes it there;
#  - profile "x2go-auto" has broker autologin: a selection with
#    python-x2go's public key, the broker has the agent add it (with sshd's
#    expiry-time=) to alice's ~/.x2go/authorized_keys, which this sshd reads
#    as X2Go sites configure it, pyhoca-cli logs in by that key without a
#    password, and the agent deletes the key after [autologin] key_lifetime;
#  - with that session running, a selection for profile x2go has the agent
#    mark it suspended, x2goserver's x2gocleansessions (x2goserver.service,
#    unmasked here, started by the test) suspends it, and the reply
#    carries it with status S.
# The checks are tests/system/py/broker_agent_test.py.
# Binds 8080, 22470 and 22471 on the shared host network: the harness holds
# the ports lock.
# systest-lock: ports
# systest-unmask: x2goserver.service
source "$RSM_SYSTEST_LIB"
for f in /usr/bin/pyhoca-cli /usr/bin/x2golistsessions /usr/sbin/x2godbadmin /usr/bin/x2goagent /usr/bin/nxproxy \
        /usr/sbin/sshd /usr/bin/ssh /usr/bin/sudo /usr/lib/x2go/x2gobroker-agent /usr/bin/Xvfb /usr/bin/xwd \
        /usr/bin/convert /usr/bin/xterm /usr/bin/curl; do
    if [[ ! -e $f ]]; then
        echo "1..1"; echo "not ok 1 - pyhoca-cli, x2goserver, x2gobroker-agent, sudo, sshd, Xvfb, ImageMagick, xterm and curl are installed (no $f: run tools/install-deps)"; exit 1
    fi
done
set -e
{
    make_user alice
    printf '#!/bin/sh\nexec xterm -bg "#00ff00" -fg "#00ff00" -geometry 200x70+0+0\n' >/usr/local/bin/green-xterm
    chmod 755 /usr/local/bin/green-xterm
    rm -f /var/lib/x2go/x2go_sessions
    x2godbadmin --createdb
    # The X2Go servers' sshd: passwords for alice, keys for the agent's user.
    rm -rf /tmp/x2gossh; mkdir -p /tmp/x2gossh /run/sshd
    ssh-keygen -q -t ed25519 -N '' -f /tmp/x2gossh/host_key
    printf '%s\n' 'HostKey /tmp/x2gossh/host_key' 'ListenAddress 127.0.0.1:22470' 'ListenAddress 127.0.0.2:22471' \
        'PasswordAuthentication yes' 'KbdInteractiveAuthentication no' 'UsePAM yes' \
        'PermitRootLogin no' 'AllowUsers alice x2gobroker' 'PrintMotd no' 'LogLevel VERBOSE' \
        'AuthorizedKeysFile .ssh/authorized_keys .x2go/authorized_keys' 'PidFile /run/x2go-sshd.pid' 'Subsystem sftp internal-sftp' >/tmp/x2gossh/sshd_config
    /usr/sbin/sshd -t -f /tmp/x2gossh/sshd_config
    systemd-run --unit=x2go-sshd -p Type=notify /usr/sbin/sshd -D -e -f /tmp/x2gossh/sshd_config
    # The broker's key, as an X2Go site sets up x2gobroker's: the agent's
    # user runs nothing but the agent with it (its setuid wrapper re-runs
    # the command line the broker sent, SSH_ORIGINAL_COMMAND).
    mkdir -p /etc/rsm
    rm -f /etc/rsm/broker-agent-key /etc/rsm/broker-agent-key.pub
    ssh-keygen -q -t ed25519 -N '' -C rsm-broker -f /etc/rsm/broker-agent-key
    home=$(getent passwd x2gobroker | cut -d: -f6)
    install -d -o x2gobroker -g x2gobroker -m 700 "$home/.ssh"
    printf 'command="/usr/lib/x2go/x2gobroker-agent",no-pty,no-port-forwarding,no-X11-forwarding,no-agent-forwarding %s\n' \
        "$(cat /etc/rsm/broker-agent-key.pub)" >"$home/.ssh/authorized_keys"
    chown x2gobroker:x2gobroker "$home/.ssh/authorized_keys"; chmod 600 "$home/.ssh/authorized_keys"
    # The servers' host key, the only one the broker accepts.
    printf '[127.0.0.1]:22470,[127.0.0.2]:22471 %s\n' "$(cut -d' ' -f1,2 /tmp/x2gossh/host_key.pub)" \
        >/etc/rsm/broker-known-hosts
    chmod 644 /etc/rsm/broker-known-hosts
    mkdir -p /etc/systemd/system/rsm-broker.service.d
    printf '[Service]\nLoadCredential=agent_key:/etc/rsm/broker-agent-key\n' \
        >/etc/systemd/system/rsm-broker.service.d/agent-key.conf
    cat >/etc/rsm/broker.toml <<TOML
[broker]
profiles = ""
[hosts]
probe_timeout_ms = 500
agent = "ssh"
known_hosts = "/etc/rsm/broker-known-hosts"
[profiles.x2go]
name = "Two X2Go servers"
host = ["x2go-a (127.0.0.1:22470)", "$(hostname) (127.0.0.2:22471)"]
command = "/usr/local/bin/green-xterm"
rootless = true
sound = false
[profiles.x2go-auto]
name = "Autologin"
host = ["$(hostname) (127.0.0.2:22471)"]
command = "/usr/local/bin/green-xterm"
rootless = true
sound = false
"broker-session-autologin" = true
[autologin]
key_lifetime = 8
TOML
    systemctl daemon-reload
    systemctl enable --now rsm-manager.socket rsm-broker.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/broker_agent_test.py"
