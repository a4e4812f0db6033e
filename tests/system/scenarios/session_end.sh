#!/bin/bash
# How a session ends, on the real thing: a session program that leaves
# processes behind (setsid, a double fork, nohup) and a leader killed
# outright must not leave a process of the user, a logind session in
# "closing", the scope or the display number behind; a takeover cuts the
# old gateway's display connection off; logout after the session program
# died of a signal is quick; the leader keeps none of the executor's fds; a
# start that times out with the leader stuck in PAM after pam_systemd leaves
# no logind session; 200 sessions ended at once end without an error.
# The checks are Python in tests/system/py/session_end_test.py; this script
# prepares the container (the setup of sessions.sh).
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice; make_user bob
    for u in alice bob; do
        # What desktops do: agents and daemons that leave the session
        # program's process group (setsid, a daemon(3)-style double fork
        # with setsid in between), a double fork that stays in it, nohup;
        # then the X client that keeps the display busy. With
        # ~/.rsm-exit-after the program exits 0 on its own after that many
        # seconds instead.
        cat >/home/$u/.xsession <<'SH'
#!/bin/sh
setsid sleep 1000 &
python3 -c 'import os, time
if os.fork(): os._exit(0)
os.setsid()
if os.fork(): os._exit(0)
time.sleep(1001)' &
sh -c '(sleep 1002 &) &'
nohup sleep 1003 >/dev/null 2>&1 &
if [ -e "$HOME/.rsm-exit-after" ]; then
    sleep "$(cat "$HOME/.rsm-exit-after")"
    exit 0
fi
exec xterm -geometry 80x24+10+10
SH
        chmod 755 /home/$u/.xsession; chown $u: /home/$u/.xsession
    done
    # carol's sessions are many at once (ManyAtOnceTest): her program only sleeps.
    make_user carol
    printf '#!/bin/sh\nexec sleep infinity\n' >/home/carol/.xsession
    chmod 755 /home/carol/.xsession; chown carol: /home/carol/.xsession
    # The same stack as /etc/pam.d/rsm without pam_systemd (Debian's
    # common-session-noninteractive is common-session minus pam_systemd),
    # for the "everything in the rsm scope" case.
    sed -e 's/^@include common-session$/@include common-session-noninteractive/' /etc/pam.d/rsm \
        >/etc/pam.d/rsm-nosystemd
    ! grep -q pam_systemd /etc/pam.d/rsm-nosystemd /etc/pam.d/common-session-noninteractive
    # A session module after pam_systemd that never returns: the leader is
    # then in its logind session but has not said which one.
    { cat /etc/pam.d/rsm; echo 'session required pam_exec.so /bin/sleep 600'; } >/etc/pam.d/rsm-hang
    grep -q '@include common-session$' /etc/pam.d/rsm-hang
    mkdir -p /etc/rsm/rsm.toml.d
    cat >/etc/rsm/rsm.toml.d/50-systest.toml <<'TOML'
[session]
max_sessions_per_user = 4
TOML
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/session_end_test.py"
