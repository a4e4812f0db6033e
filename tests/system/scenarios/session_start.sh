#!/bin/bash
# A session start that stalls, on the real thing: every step the manager
# waits for has a deadline, and a start that misses one answers the gateway
# org.rsm.Error.TimedOut and leaves nothing behind (its slot under
# max_sessions, its display number, executor, scope and the user's
# processes). The stalls are real: systemd holding the scope's start job (a
# slice ordered after a oneshot that never finishes), PAM's account stack
# blocking (pam_exec), an executor stopped with SIGSTOP while its display
# server is starting. The checks are Python in
# tests/system/py/session_start_test.py; this script prepares the container.
source "$RSM_SYSTEST_LIB"
set -e
{
    make_user alice
    printf '#!/bin/sh\nexec xterm -geometry 80x24+10+10\n' >/home/alice/.xsession
    chmod 755 /home/alice/.xsession; chown alice: /home/alice/.xsession
    # A slice whose start job waits for a start job that never finishes: a
    # scope placed in it (session.slice) is never started, and systemd sends
    # no JobRemoved for it until the job is cancelled.
    cat >/etc/systemd/system/rsm-test-hold.service <<'UNIT'
[Unit]
Description=rsm test: a start job that does not finish
[Service]
Type=oneshot
ExecStart=/bin/sleep infinity
UNIT
    cat >/etc/systemd/system/rsm-held.slice <<'UNIT'
[Unit]
Description=rsm test: a slice that starts after rsm-test-hold.service
Wants=rsm-test-hold.service
After=rsm-test-hold.service
UNIT
    systemctl daemon-reload
    # /etc/pam.d/rsm with an account module that blocks while
    # /run/rsm-test-stall-account exists (pam_exec waits for its program).
    cat >/usr/local/bin/rsm-test-stall-account <<'SH'
#!/bin/sh
[ -e /run/rsm-test-stall-account ] || exit 0
echo "$PPID" >/run/rsm-test-stall-account.executor
echo "$$" >/run/rsm-test-stall-account.pid
exec sleep 1000
SH
    chmod 755 /usr/local/bin/rsm-test-stall-account
    sed -e '/^account *required *pam_nologin.so$/i account    required     pam_exec.so quiet /usr/local/bin/rsm-test-stall-account' \
        /etc/pam.d/rsm >/etc/pam.d/rsm-stall
    grep -q rsm-test-stall-account /etc/pam.d/rsm-stall
    # One session and one display number in all: a start that keeps either
    # makes the next CreateSession fail.
    mkdir -p /etc/rsm/rsm.toml.d
    cat >/etc/rsm/rsm.toml.d/50-systest.toml <<'TOML'
[session]
max_sessions = 1
display_first = 60
display_last = 60
TOML
    systemctl enable --now rsm-manager.socket
} >/dev/null 2>&1 || { echo "1..1"; echo "not ok 1 - scenario setup"; exit 1; }
set +e
exec /usr/bin/python3 "$RSM_SOURCE_ROOT/tests/integration/tap.py" \
    "$RSM_SOURCE_ROOT/tests/system/py/session_start_test.py"
